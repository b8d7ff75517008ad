//! `grace-bench soak`: many concurrent callers against one `grace serve` for minutes, every
//! invoke carrying a payload no other invoke carries, and every answer checked to be its own
//! request's.
//!
//! Each caller is a thread with one keep-alive connection and one invoke in flight; its payload
//! is `{"caller":C,"seq":N,"pad":…}` with N counting up. An answer is:
//! - **ok**: the JSON of its own request;
//! - **duplicated**: the caller's own earlier payload again;
//! - **crossed**: any other request's payload (another caller's, or a later one);
//! - **lost**: the request was sent and no answer came (connection closed, timeout);
//! - an **error** by kind: HTTP status other than 200, a body that is not such a payload, a
//!   connection that could not be opened or written (the caller reconnects and goes on).
//!
//! `grace serve`'s RSS (VmRSS), open descriptors (/proc/PID/fd) and the processes under it are
//! sampled after the warm-up, every [`SAMPLE_EVERY`], at the end while the callers still run,
//! and once more after they stopped. The report is [`crate::soak_report`].

use std::collections::BTreeMap;
use std::fs;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::{Result, chain, unexpected};
use crate::http::{self, Conn, ConnError};
use crate::procs::{self, Interrupt};
use crate::systems::{self, Paths};

/// How often the emulator is sampled during the soak.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(30);

/// Read and write timeout of every invoke (the echo answers in milliseconds).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// How the soak runs.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) callers: u32,
    pub(crate) environments: u32,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    pub(crate) grace_args: Vec<String>,
}

/// One look at `grace serve`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sample {
    /// Seconds since the callers started.
    pub(crate) at_s: f64,
    pub(crate) rss_kb: u64,
    pub(crate) fds: usize,
    /// Processes under grace serve (runtimes and extensions of every environment).
    pub(crate) procs: usize,
    /// Answers checked so far.
    pub(crate) answered: u64,
}

/// What the callers saw, summed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counts {
    pub(crate) sent: u64,
    pub(crate) ok: u64,
    pub(crate) duplicated: u64,
    pub(crate) crossed: u64,
    pub(crate) lost: u64,
    /// Other failures by kind (e.g. `HTTP 429`, `connect`, `send`, `body`).
    pub(crate) errors: BTreeMap<String, u64>,
    /// One example of each failure kind.
    pub(crate) examples: BTreeMap<String, String>,
}

impl Counts {
    fn error(&mut self, kind: &str, example: String) {
        *self.errors.entry(kind.to_owned()).or_default() += 1;
        self.examples.entry(kind.to_owned()).or_insert(example);
    }

    fn add(&mut self, o: &Self) {
        self.sent += o.sent;
        self.ok += o.ok;
        self.duplicated += o.duplicated;
        self.crossed += o.crossed;
        self.lost += o.lost;
        for (k, v) in &o.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.examples {
            self.examples.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }

    /// Every answer that was not its own request's, and every error.
    pub(crate) fn failures(&self) -> u64 {
        self.duplicated + self.crossed + self.lost + self.errors.values().sum::<u64>()
    }
}

/// Everything the soak measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    pub(crate) counts: Counts,
    /// After the warm-up; then every [`SAMPLE_EVERY`]; the last is at the end (callers running).
    pub(crate) samples: Vec<Sample>,
    /// After the callers stopped (idle environments).
    pub(crate) idle: Option<Sample>,
    /// Answers checked during the measured window (after the warm-up).
    pub(crate) measured_ok: u64,
    pub(crate) measured_s: f64,
    /// Notes from stopping grace serve and sweeping its leftovers.
    pub(crate) notes: Vec<String>,
    /// Processes found after grace serve was stopped (killed by the sweep).
    pub(crate) left_behind: Vec<String>,
}

/// Runs the soak against a fresh `grace serve` serving `runtime`; stops it and sweeps up.
pub(crate) fn run(plan: &Plan, runtime: &std::path::Path, paths: &Paths) -> Result<Outcome> {
    let mut args = vec!["--concurrency".to_owned(), plan.environments.to_string()];
    args.extend(plan.grace_args.iter().cloned());
    let mut running = systems::start_grace_with(paths, runtime, &args, "soak")?;
    let mut out = Outcome::default();
    let result = http::wait_echo(&running.url, Duration::from_secs(30))
        .and_then(|()| {
            let grace = *running
                .pids()
                .0
                .first()
                .ok_or_else(|| unexpected!("grace serve has no pid"))?;
            drive(plan, &running.url, grace, &mut out)
        })
        .and_then(|()| running.check_alive());
    if let Err(e) = &result {
        out.notes
            .push(format!("{}\n{}", chain(e), running.log_tails()));
    }
    out.notes.extend(running.stop());
    out.left_behind = procs::sweep_orphans();
    result.map(|()| out)
}

fn drive(plan: &Plan, url: &str, grace: i32, out: &mut Outcome) -> Result<()> {
    let (addr, path) = http::split_url(url)?;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let totals = Arc::new(Mutex::new(Counts::default()));
    let start = Instant::now();
    let callers: Vec<_> = (0..plan.callers)
        .map(|id| {
            let (stop, answered, totals, path) = (
                Arc::clone(&stop),
                Arc::clone(&answered),
                Arc::clone(&totals),
                path.clone(),
            );
            thread::spawn(move || {
                let counts = caller(id, addr, &path, &stop, &answered);
                if let Ok(mut t) = totals.lock() {
                    t.add(&counts);
                }
            })
        })
        .collect();
    // Stop the callers however this function returns (an interrupt included).
    let sample = |at: Instant| Sample {
        at_s: at.duration_since(start).as_secs_f64(),
        answered: answered.load(Ordering::Relaxed),
        ..look(grace)
    };
    let timed = (|| -> Result<()> {
        procs::sleep(plan.warmup)?;
        let first = sample(Instant::now());
        out.samples.push(first);
        let end = Instant::now() + plan.duration;
        let mut next = Instant::now() + SAMPLE_EVERY;
        while Instant::now() < end {
            procs::sleep(next.min(end).saturating_duration_since(Instant::now()))?;
            if Instant::now() >= next && Instant::now() < end {
                out.samples.push(sample(Instant::now()));
                next += SAMPLE_EVERY;
            }
        }
        let last = sample(Instant::now());
        out.measured_ok = last.answered - first.answered;
        out.measured_s = last.at_s - first.at_s;
        out.samples.push(last);
        Ok(())
    })();
    stop.store(true, Ordering::SeqCst);
    for c in callers {
        let _ = c.join();
    }
    if let Ok(t) = totals.lock() {
        out.counts = t.clone();
    }
    timed?;
    // Idle: every environment back in the pool; connections of the callers closed.
    procs::sleep(Duration::from_secs(1))?;
    out.idle = Some(sample(Instant::now()));
    Interrupt::check()
}

/// One caller: invokes one after another until `stop`, checking each answer.
fn caller(
    id: u32,
    addr: std::net::SocketAddr,
    path: &str,
    stop: &AtomicBool,
    answered: &AtomicU64,
) -> Counts {
    let mut counts = Counts::default();
    let mut conn: Option<Conn> = None;
    let mut seq: u64 = 0;
    while !stop.load(Ordering::Relaxed) && !Interrupt::raised() {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::open(addr, INVOKE_TIMEOUT) {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    counts.error("connect", chain(&e));
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            },
        };
        seq += 1;
        let payload = format!(r#"{{"caller":{id},"seq":{seq},"pad":"grace-bench soak"}}"#);
        counts.sent += 1;
        match c.post(path, &payload) {
            Ok(r) if r.status == 200 => {
                answered.fetch_add(1, Ordering::Relaxed);
                match check(id, seq, &r.body) {
                    Answer::Own => counts.ok += 1,
                    Answer::Duplicated => counts.duplicated += 1,
                    Answer::Crossed => counts.crossed += 1,
                    Answer::NotPayload => {
                        counts.error("body", String::from_utf8_lossy(&r.body).into());
                    }
                }
            }
            Ok(r) => {
                let body: String = String::from_utf8_lossy(&r.body).chars().take(200).collect();
                counts.error(&format!("HTTP {}", r.status), body);
            }
            Err(ConnError::Send(e)) => {
                counts.sent -= 1;
                seq -= 1;
                counts.error("send", chain(&e));
                conn = None;
            }
            Err(ConnError::Receive(e)) => {
                counts.lost += 1;
                counts.examples.entry("lost".into()).or_insert(chain(&e));
                conn = None;
            }
        }
    }
    counts
}

/// What an answer to caller `id`'s invoke number `seq` turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Its own request's payload.
    Own,
    /// An earlier payload of the same caller.
    Duplicated,
    /// Another caller's payload, or a later one of the same caller.
    Crossed,
    /// Not a soak payload at all.
    NotPayload,
}

fn check(id: u32, seq: u64, body: &[u8]) -> Answer {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Answer::NotPayload;
    };
    match (v["caller"].as_u64(), v["seq"].as_u64()) {
        (Some(c), Some(s)) if c == u64::from(id) && s == seq => Answer::Own,
        (Some(c), Some(s)) if c == u64::from(id) && s < seq => Answer::Duplicated,
        (Some(_), Some(_)) => Answer::Crossed,
        _ => Answer::NotPayload,
    }
}

/// VmRSS and open descriptors of `pid`, and how many processes run under it.
fn look(pid: i32) -> Sample {
    let rss_kb = fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0);
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count);
    let table = procs::proc_table();
    let mut under = 0;
    let mut queue = vec![pid];
    while let Some(parent) = queue.pop() {
        for p in table.iter().filter(|p| p.ppid == parent) {
            under += 1;
            queue.push(p.pid);
        }
    }
    Sample {
        rss_kb,
        fds,
        procs: under,
        ..Sample::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_and_failures() {
        let mut a = Counts {
            ok: 5,
            crossed: 1,
            ..Counts::default()
        };
        a.error("HTTP 429", "x".into());
        let mut b = Counts {
            lost: 2,
            ..Counts::default()
        };
        b.error("HTTP 429", "y".into());
        a.add(&b);
        assert_eq!(a.errors["HTTP 429"], 2);
        assert_eq!(a.examples["HTTP 429"], "x");
        assert_eq!(a.failures(), 1 + 2 + 2);
        assert_eq!(Counts::default().failures(), 0);
    }

    #[test]
    fn answers_are_told_apart() {
        let body = |c: u32, s: u64| format!(r#"{{"caller":{c},"seq":{s},"pad":"x"}}"#);
        assert_eq!(check(3, 7, body(3, 7).as_bytes()), Answer::Own);
        assert_eq!(check(3, 7, body(3, 6).as_bytes()), Answer::Duplicated);
        assert_eq!(check(3, 7, body(4, 7).as_bytes()), Answer::Crossed);
        assert_eq!(check(3, 7, body(3, 8).as_bytes()), Answer::Crossed);
        assert_eq!(check(3, 7, b"{\"hello\":1}"), Answer::NotPayload);
        assert_eq!(check(3, 7, b"not json"), Answer::NotPayload);
    }

    #[test]
    fn looks_at_this_process() {
        let s = look(i32::try_from(std::process::id()).unwrap_or(0));
        assert!(s.rss_kb > 0 && s.fds > 0);
    }
}
