//! `grace serve`'s log output: function and platform lines on standard output, gathered while
//! the emulator's thread handles one batch of work and written with one `write(2)` after it.
//!
//! An invoke produces END and REPORT for one invocation and START for the next in the same
//! turn; writing each line at once put three system calls on the invoke path, before the
//! runtime got its next event. Lines are never reordered, and they reach standard output within
//! one turn of the event loop (a few microseconds), or at [`BatchedStdout::flush`] on exit.

use std::io::Write;
use std::sync::{Arc, Mutex};

use grace_emulator::logs::{LogLine, LogSink};
use tokio::sync::Notify;

/// Lines waiting for the next write.
#[derive(Debug, Default)]
pub(crate) struct BatchedStdout {
    pending: Mutex<Vec<u8>>,
    ready: Notify,
}

impl BatchedStdout {
    /// The sink the emulator writes to; lines are prefixed with the function's name when
    /// `prefix`. Start [`Self::run`] on the emulator's runtime, and [`Self::flush`] at exit.
    pub(crate) fn sink(self: &Arc<Self>, prefix: bool) -> LogSink {
        let out = Arc::clone(self);
        Arc::new(move |line: &LogLine<'_>| {
            let mut pending = out.lock();
            let first = pending.is_empty();
            if prefix {
                pending.extend_from_slice(line.function.as_bytes());
                pending.extend_from_slice(b": ");
            }
            pending.extend_from_slice(line.text.as_bytes());
            pending.push(b'\n');
            drop(pending);
            if first {
                out.ready.notify_one();
            }
        })
    }

    /// Writes the lines of each turn once the tasks queued in it have run.
    pub(crate) async fn run(self: Arc<Self>) {
        loop {
            self.ready.notified().await;
            tokio::task::yield_now().await;
            self.flush();
        }
    }

    /// Writes whatever is pending now.
    pub(crate) fn flush(&self) {
        let data = std::mem::take(&mut *self.lock());
        if data.is_empty() {
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&data);
        let _ = out.flush();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(function: &'a str, text: &'a str) -> LogLine<'a> {
        LogLine {
            function,
            env: 1,
            source: grace_emulator::logs::LogSource::Platform,
            text,
        }
    }

    #[tokio::test]
    async fn lines_of_one_turn_are_kept_in_order_until_the_flush() {
        let out = Arc::new(BatchedStdout::default());
        let sink = out.sink(true);
        sink(&line("a", "END RequestId: 1"));
        sink(&line("b", "START RequestId: 2"));
        assert_eq!(
            String::from_utf8(out.lock().clone()).unwrap(),
            "a: END RequestId: 1\nb: START RequestId: 2\n"
        );
        out.flush();
        assert!(out.lock().is_empty(), "a flush empties the batch");
    }

    #[tokio::test]
    async fn the_writer_task_empties_each_batch() {
        let out = Arc::new(BatchedStdout::default());
        let writer = tokio::spawn(Arc::clone(&out).run());
        out.sink(false)(&line("f", "one"));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(out.lock().is_empty(), "written within a few turns");
        writer.abort();
    }
}
