//! The function's log stream: each process's merged stdout/stderr read line by line, the
//! platform's own lines (START, END, REPORT…) in AWS's format, and the tail of one invocation
//! for `X-Amz-Log-Result`.
//!
//! Output is attributed to an invocation deterministically: when an invocation ends, every pipe
//! of the environment is drained with non-blocking reads before END is written, so whatever the
//! function wrote before it answered lies between START and END.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::unix::pipe;

use crate::events::EnvId;

/// Lambda splits longer lines (256 KB); so do we, so that one runaway line cannot grow memory.
const MAX_LINE: usize = 256 * 1024;
/// How much of an invocation's log is kept for `X-Amz-Log-Result`.
const TAIL_BYTES: usize = grace_protocol::invoke_api::LOG_TAIL_BYTES;

/// Who wrote a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource<'a> {
    /// The runtime (function code).
    Function,
    /// An external extension, by name.
    Extension(&'a str),
    /// The platform (START, END, REPORT, INIT_START…).
    Platform,
}

/// One line of an environment's log.
#[derive(Debug, Clone, Copy)]
pub struct LogLine<'a> {
    pub function: &'a str,
    pub env: EnvId,
    pub source: LogSource<'a>,
    pub text: &'a str,
}

/// Where log lines go (the CLI prints them; tests collect them).
pub type LogSink = Arc<dyn Fn(&LogLine<'_>) + Send + Sync>;

/// One environment's log stream.
pub(crate) struct LogStream {
    function: Arc<str>,
    env: EnvId,
    sink: LogSink,
    telemetry: Option<Arc<crate::telemetry::Hub>>,
    /// Where shutdown report lines are kept for the timeline.
    events: Option<Arc<crate::events::EventLog>>,
    tail: Mutex<Option<Vec<u8>>>,
}

impl std::fmt::Debug for LogStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStream")
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

impl LogStream {
    pub(crate) fn new(
        function: Arc<str>,
        env: EnvId,
        sink: LogSink,
        telemetry: Option<Arc<crate::telemetry::Hub>>,
        events: Option<Arc<crate::events::EventLog>>,
    ) -> Self {
        Self {
            function,
            env,
            sink,
            telemetry,
            events,
            tail: Mutex::new(None),
        }
    }

    /// Writes one platform line.
    pub(crate) fn platform(&self, text: &str) {
        self.emit(LogSource::Platform, text);
    }

    fn emit(&self, source: LogSource<'_>, text: &str) {
        (self.sink)(&LogLine {
            function: &self.function,
            env: self.env,
            source,
            text,
        });
        if let (Some(events), LogSource::Function) = (&self.events, source) {
            events.offer_line(self.env, text);
        }
        if let Some(hub) = &self.telemetry {
            match source {
                LogSource::Function => hub.log_line(None, text),
                LogSource::Extension(name) => hub.log_line(Some(name), text),
                LogSource::Platform => {}
            }
        }
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(buf) = tail.as_mut() {
            buf.extend_from_slice(text.as_bytes());
            buf.push(b'\n');
            if buf.len() > 2 * TAIL_BYTES {
                buf.drain(..buf.len() - TAIL_BYTES);
            }
        }
    }

    /// Starts keeping lines for `X-Amz-Log-Result`.
    pub(crate) fn begin_tail(&self) {
        *self.tail.lock().unwrap_or_else(|e| e.into_inner()) = Some(Vec::new());
    }

    /// The last 4 KB kept since [`Self::begin_tail`]; stops keeping.
    pub(crate) fn take_tail(&self) -> Vec<u8> {
        let buf = self
            .tail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .unwrap_or_default();
        let start = buf.len().saturating_sub(TAIL_BYTES);
        buf[start..].to_vec()
    }
}

/// The read end of one process's output pipe.
pub(crate) struct ProcessOutput {
    rx: pipe::Receiver,
    extension: Option<String>,
    partial: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for ProcessOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessOutput")
            .field("extension", &self.extension)
            .finish_non_exhaustive()
    }
}

impl ProcessOutput {
    /// Wraps the read end of a process's pipe; `extension` names an extension's output.
    pub(crate) fn new(
        reader: std::io::PipeReader,
        extension: Option<String>,
    ) -> std::io::Result<Self> {
        let rx = pipe::Receiver::from_owned_fd(reader.into())?;
        Ok(Self {
            rx,
            extension,
            partial: Mutex::new(Vec::new()),
        })
    }

    /// Reads whatever is in the pipe now, without waiting, and writes out the complete lines.
    /// Returns `true` at end of file. It reads with read(2) itself: tokio's `try_read` answers
    /// from its cached readiness and may report "would block" without looking, and this drain
    /// (at the end of an invocation, before END) must see everything written so far.
    pub(crate) fn drain(&self, stream: &LogStream) -> bool {
        self.drain_with(stream, |buf| {
            nix::unistd::read(std::os::fd::AsFd::as_fd(&self.rx), buf).map_err(std::io::Error::from)
        })
    }

    /// Like [`Self::drain`], through tokio (which keeps its readiness right), for the pump.
    fn drain_ready(&self, stream: &LogStream) -> bool {
        self.drain_with(stream, |buf| self.rx.try_read(buf))
    }

    fn drain_with(
        &self,
        stream: &LogStream,
        mut read: impl FnMut(&mut [u8]) -> std::io::Result<usize>,
    ) -> bool {
        let mut partial = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        // Most drains find the pipe empty: start small (a zeroed 16 KiB array on every drain
        // showed in profiles), and take a larger buffer only when output fills the first.
        let mut small = [0u8; 2048];
        let mut large = Vec::new();
        loop {
            let buf: &mut [u8] = if large.is_empty() {
                &mut small
            } else {
                &mut large
            };
            match read(buf) {
                Ok(0) => {
                    if !partial.is_empty() {
                        self.emit_line(stream, &partial);
                        partial.clear();
                    }
                    return true;
                }
                Ok(n) => {
                    let filled = n == buf.len();
                    self.split_lines(stream, &mut partial, &buf[..n]);
                    if filled && large.is_empty() {
                        large = vec![0u8; 64 * 1024];
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
        }
    }

    fn split_lines(&self, stream: &LogStream, partial: &mut Vec<u8>, mut data: &[u8]) {
        while let Some(pos) = data.iter().position(|&b| b == b'\n') {
            if partial.is_empty() {
                self.emit_line(stream, &data[..pos]);
            } else {
                partial.extend_from_slice(&data[..pos]);
                self.emit_line(stream, partial);
                partial.clear();
            }
            data = &data[pos + 1..];
        }
        partial.extend_from_slice(data);
        if partial.len() >= MAX_LINE {
            self.emit_line(stream, partial);
            partial.clear();
        }
    }

    fn emit_line(&self, stream: &LogStream, line: &[u8]) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        let source = match &self.extension {
            Some(name) => LogSource::Extension(name),
            None => LogSource::Function,
        };
        stream.emit(source, &text);
    }

    /// Copies the pipe to the log until every writer has closed it.
    pub(crate) async fn pump(self: Arc<Self>, stream: Arc<LogStream>) {
        loop {
            if self.rx.readable().await.is_err() || self.drain_ready(&stream) {
                return;
            }
        }
    }
}

/// Milliseconds with microsecond precision (3 decimals): the one conversion behind telemetry
/// metrics, lifecycle events and (printed with two decimals) CloudWatch lines.
pub(crate) fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The REPORT line's fields.
#[derive(Debug)]
pub(crate) struct Report<'a> {
    pub(crate) request_id: &'a str,
    pub(crate) duration: Duration,
    pub(crate) memory_mb: u32,
    pub(crate) max_memory_mb: u64,
    pub(crate) init_duration: Option<Duration>,
    pub(crate) status: Option<&'a str>,
    pub(crate) error_type: Option<&'a str>,
}

impl Report<'_> {
    /// Billed duration: the handler's duration plus init on a cold start (init is billed since
    /// 2025-08), rounded up to the millisecond.
    pub(crate) fn billed_ms(&self) -> u64 {
        let total = self.duration + self.init_duration.unwrap_or_default();
        total.as_micros().div_ceil(1000) as u64
    }

    /// `REPORT RequestId: … Duration: … ms Billed Duration: … ms …`, tab-separated as in
    /// CloudWatch, Init Duration after Max Memory Used (AWS's order, not RIE's).
    pub(crate) fn line(&self) -> String {
        use std::fmt::Write;
        let mut s = format!(
            "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
            self.request_id,
            ms(self.duration),
            self.billed_ms(),
            self.memory_mb,
            self.max_memory_mb
        );
        if let Some(init) = self.init_duration {
            let _ = write!(s, "Init Duration: {:.2} ms\t", ms(init));
        }
        if let Some(status) = self.status {
            let _ = write!(s, "Status: {status}\t");
        }
        if let Some(error_type) = self.error_type {
            let _ = write!(s, "Error Type: {error_type}\t");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_line_has_aws_order_and_rounding() {
        let r = Report {
            request_id: "id",
            duration: Duration::from_micros(38_660),
            memory_mb: 128,
            max_memory_mb: 54,
            init_duration: Some(Duration::from_micros(203_690)),
            status: None,
            error_type: None,
        };
        assert_eq!(
            r.line(),
            "REPORT RequestId: id\tDuration: 38.66 ms\tBilled Duration: 243 ms\tMemory Size: 128 MB\tMax Memory Used: 54 MB\tInit Duration: 203.69 ms\t"
        );
        let warm = Report {
            init_duration: None,
            status: Some("timeout"),
            ..r
        };
        assert!(
            warm.line()
                .ends_with("Max Memory Used: 54 MB\tStatus: timeout\t")
        );
        assert_eq!(warm.billed_ms(), 39);
    }

    #[tokio::test]
    async fn splits_lines_and_keeps_a_tail() {
        use std::io::Write;
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = Arc::clone(&lines);
        let sink: LogSink = Arc::new(move |l| seen.lock().unwrap().push(l.text.to_owned()));
        let stream = LogStream::new(Arc::from("f"), 1, sink, None, None);
        let (reader, mut writer) = std::io::pipe().unwrap();
        let out = ProcessOutput::new(reader, None).unwrap();
        stream.begin_tail();
        writer.write_all(b"one\ntw").unwrap();
        assert!(!out.drain(&stream));
        writer.write_all(b"o\r\nthree").unwrap();
        drop(writer);
        assert!(out.drain(&stream));
        assert_eq!(*lines.lock().unwrap(), vec!["one", "two", "three"]);
        assert_eq!(stream.take_tail(), b"one\ntwo\nthree\n");
        stream.platform("END");
        assert_eq!(stream.take_tail(), b"", "tail stops being kept once taken");
    }

    #[tokio::test]
    async fn drains_output_larger_than_the_first_buffer() {
        use std::io::Write;
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let seen = Arc::clone(&lines);
        let sink: LogSink = Arc::new(move |l| seen.lock().unwrap().push(l.text.to_owned()));
        let stream = LogStream::new(Arc::from("f"), 1, sink, None, None);
        let (reader, mut writer) = std::io::pipe().unwrap();
        let out = ProcessOutput::new(reader, None).unwrap();
        let expected: Vec<String> = (0..3000).map(|i| format!("line {i:05}")).collect();
        writer
            .write_all((expected.join("\n") + "\n").as_bytes())
            .unwrap();
        assert!(!out.drain(&stream));
        assert_eq!(
            *lines.lock().unwrap(),
            expected,
            "30 KB in order, none lost"
        );
    }
}
