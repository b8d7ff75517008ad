//! Running `wrk` and reading its `--latency` report.
//!
//! Every measurement POSTs [`crate::http::EVENT`] with a small Lua script ([`write_script`]);
//! [`run`] bounds the run (it kills wrk if it overruns) and [`parse`] turns the text report into
//! a [`Sample`].

use crate::error::{Error, Result, unexpected};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use crate::http::EVENT;
use crate::procs::Proc;

/// One wrk run, as reported.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    /// `Requests/sec:` (every completed request, whatever its status; see [`Sample::ok_rps`]).
    pub(crate) rps: f64,
    /// Completed requests.
    pub(crate) requests: u64,
    /// Median latency, microseconds.
    pub(crate) p50_us: f64,
    /// 99th percentile latency, microseconds.
    pub(crate) p99_us: f64,
    /// `Non-2xx or 3xx responses:` (0 when the line is absent).
    pub(crate) non_2xx: u64,
    /// Sum of the `Socket errors:` counters (0 when the line is absent).
    pub(crate) socket_errors: u64,
}

impl Sample {
    /// Successful invokes per second: `Requests/sec` without the non-2xx responses (an emulator
    /// answering errors fast must not look fast).
    pub(crate) fn ok_rps(&self) -> f64 {
        if self.requests == 0 {
            return 0.0;
        }
        let ok = self.requests.saturating_sub(self.non_2xx);
        self.rps * ok as f64 / self.requests as f64
    }

    /// Responses that were not a 2xx plus socket errors.
    pub(crate) fn errors(&self) -> u64 {
        self.non_2xx + self.socket_errors
    }
}

/// How wrk is run: the binary, the Lua script, and its thread count.
#[derive(Debug, Clone)]
pub(crate) struct Wrk {
    pub(crate) bin: PathBuf,
    pub(crate) script: PathBuf,
    /// wrk threads (capped at the connection count).
    pub(crate) threads: u32,
}

/// Writes the Lua script that makes wrk POST [`EVENT`] as JSON; returns its path.
pub(crate) fn write_script(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("post-echo.lua");
    let script = format!(
        "-- written by grace-bench\n\
         wrk.method = \"POST\"\n\
         wrk.body = '{EVENT}'\n\
         wrk.headers[\"Content-Type\"] = \"application/json\"\n"
    );
    fs::write(&path, script).map_err(Error::io(format!("writing {}", path.display())))?;
    Ok(path)
}

impl Wrk {
    /// The wrk command line for one run (also shown in the report).
    pub(crate) fn args(&self, url: &str, connections: u32, seconds: u64) -> Vec<String> {
        let threads = self.threads.clamp(1, connections.max(1));
        vec![
            "-t".into(),
            threads.to_string(),
            "-c".into(),
            connections.to_string(),
            "-d".into(),
            format!("{seconds}s"),
            "--timeout".into(),
            "5s".into(),
            "--latency".into(),
            "-s".into(),
            self.script.display().to_string(),
            url.into(),
        ]
    }

    /// Runs wrk against `url` for `seconds` with `connections` connections and parses its report.
    pub(crate) fn run(&self, url: &str, connections: u32, seconds: u64) -> Result<Sample> {
        let mut cmd = Command::new(&self.bin);
        cmd.args(self.args(url, connections, seconds))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn("wrk", &mut cmd)?;
        let mut stdout = proc.take_stdout().ok_or("wrk stdout not captured")?;
        let reader = thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            text
        });
        let limit = Duration::from_secs(seconds + 15);
        let status = proc.wait_for(limit)?;
        proc.stop();
        let text = reader.join().map_err(|_| "wrk reader thread panicked")?;
        match status {
            None => Err(unexpected!("wrk still running after {limit:?}; killed")),
            Some(s) if !s.success() => Err(unexpected!("wrk failed ({s}): {text}")),
            Some(_) => parse(&text),
        }
    }
}

/// Parses the text wrk prints with `--latency`.
pub(crate) fn parse(text: &str) -> Result<Sample> {
    let mut rps = None;
    let mut requests = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut non_2xx = 0;
    let mut socket_errors = 0;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = v
                .trim()
                .parse()
                .map_err(|_| Error::Parse(format!("wrk: bad line: {line}")))?;
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            for part in v.split(',') {
                let n = part
                    .split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok());
                socket_errors += n.ok_or_else(|| Error::Parse(format!("wrk: bad line: {line}")))?;
            }
        } else if line.contains(" requests in ") {
            requests = line
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok());
        } else if let Some(v) = line.strip_prefix("50%") {
            p50 = Some(parse_time_us(v.trim())?);
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = Some(parse_time_us(v.trim())?);
        }
    }
    let missing = |what: &str| Error::Parse(format!("wrk output has no {what}:\n{text}"));
    Ok(Sample {
        rps: rps.ok_or_else(|| missing("Requests/sec"))?,
        requests: requests.ok_or_else(|| missing("request count"))?,
        p50_us: p50.ok_or_else(|| missing("50% latency (was --latency passed?)"))?,
        p99_us: p99.ok_or_else(|| missing("99% latency"))?,
        non_2xx,
        socket_errors,
    })
}

/// `"140.00us"`, `"1.23ms"`, `"2.00s"`, `"1.00m"` → microseconds.
fn parse_time_us(v: &str) -> Result<f64> {
    let split = v
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| Error::Parse(format!("no unit: {v}")))?;
    let (num, unit) = v.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| Error::Parse(format!("bad number: {v}")))?;
    let scale = match unit {
        "us" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        _ => return Err(Error::Parse(format!("unknown unit in {v}"))),
    };
    Ok(num * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from `wrk -t 1 -c 1 -d 2s --latency -s post-echo.lua` against `grace serve`.
    const SAMPLE: &str = include_str!("../testdata/wrk-sample.txt");

    /// Captured with errors: RIE at 2 connections (it crashed on the second concurrent invoke).
    const SAMPLE_ERRORS: &str = include_str!("../testdata/wrk-sample-errors.txt");

    #[test]
    fn parses_captured_sample() {
        let s = parse(SAMPLE).unwrap();
        assert!(s.rps > 0.0);
        assert!(s.requests > 0);
        assert!(s.p50_us > 0.0 && s.p99_us >= s.p50_us);
        assert_eq!(s.errors(), 0);
    }

    #[test]
    fn parses_errors() {
        let s = parse(SAMPLE_ERRORS).unwrap();
        assert!(s.errors() > 0, "{s:?}");
        assert_eq!(s.ok_rps(), 0.0);
    }

    #[test]
    fn exact_values() {
        let text = "Running 5s test @ http://127.0.0.1:1/x\n  1 threads and 1 connections\n\
            \x20 Latency Distribution\n     50%  140.00us\n     75%  150.00us\n     90%  170.00us\n\
            \x20    99%    1.50ms\n  33500 requests in 5.00s, 5.11MB read\n\
            \x20 Socket errors: connect 1, read 2, write 0, timeout 3\n\
            \x20 Non-2xx or 3xx responses: 4\nRequests/sec:   6700.50\nTransfer/sec:      1.02MB\n";
        let s = parse(text).unwrap();
        assert!((s.ok_rps() - 6700.5 * 33496.0 / 33500.0).abs() < 1e-9);
        assert_eq!(
            s,
            Sample {
                rps: 6700.5,
                requests: 33500,
                p50_us: 140.0,
                p99_us: 1500.0,
                non_2xx: 4,
                socket_errors: 6
            }
        );
    }

    #[test]
    fn time_units() {
        assert_eq!(parse_time_us("2.00s").unwrap(), 2e6);
        assert!(parse_time_us("12").is_err());
        assert!(parse_time_us("1.0xs").is_err());
    }

    #[test]
    fn missing_latency_is_an_error() {
        assert!(parse("Requests/sec: 1.0\n 10 requests in 1.00s, 1KB read\n").is_err());
    }
}
