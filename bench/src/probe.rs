//! Checking, rather than assuming, that RIE cannot take concurrent invokes: start it, let one
//! invoke echo, then send pairs of simultaneous invokes and describe what happens.

use crate::error::Result;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use crate::http::{self, EVENT};
use crate::matrix::Variant;
use crate::procs;
use crate::systems::{self, Paths, System};

/// Pairs of simultaneous invokes tried before concluding that RIE copes.
const ATTEMPTS: u32 = 5;

/// Starts RIE with `runtime`, tries up to [`ATTEMPTS`] pairs of simultaneous invokes, stops it,
/// and returns a one-paragraph description of what was seen.
pub(crate) fn rie_concurrency(runtime: &Path, paths: &Paths) -> Result<String> {
    let v = Variant {
        system: System::Rie,
        runtime_procs: 1,
    };
    let mut rie = systems::start(v, 1, runtime, paths, "probe")?;
    let mut seen = String::new();
    for attempt in 1..=ATTEMPTS {
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (url, barrier) = (rie.url.clone(), Arc::clone(&barrier));
                thread::spawn(move || {
                    barrier.wait();
                    describe(http::post(&url, EVENT, Duration::from_secs(5)))
                })
            })
            .collect();
        let answers: Vec<String> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| "client thread panicked".into()))
            .collect();
        procs::sleep(Duration::from_millis(300))?;
        let alive = rie.check_alive();
        let both_ok = answers.iter().all(|a| a == "200 echo");
        if both_ok && alive.is_ok() {
            continue;
        }
        seen = format!(
            "pair {attempt} of simultaneous invokes answered [{}]; {}",
            answers.join(", "),
            match &alive {
                Ok(()) => "RIE kept running".to_owned(),
                Err(e) => format!("then {}", crate::error::chain(e)),
            }
        );
        if let Some(line) = last_panic_line(&rie.logs_text()) {
            seen += &format!("; its log: `{line}`");
        }
        if alive.is_ok() {
            let next = describe(http::post(&rie.url, EVENT, Duration::from_secs(5)));
            seen += &format!("; a following single invoke got [{next}]");
        }
        break;
    }
    // A note that RIE "exited before it was stopped" repeats what `seen` already says.
    let notes: Vec<String> = rie
        .stop()
        .into_iter()
        .filter(|n| !n.contains("before it was stopped"))
        .collect();
    let orphans = procs::sweep_orphans();
    if seen.is_empty() {
        seen = format!("{ATTEMPTS} pairs of simultaneous invokes all echoed and RIE kept running");
    }
    if !notes.is_empty() {
        seen += &format!(" (stopping it: {})", notes.join("; "));
    }
    if !orphans.is_empty() {
        seen += &format!(" (left behind: {})", orphans.join(", "));
    }
    Ok(seen)
}

fn describe(r: Result<http::Response>) -> String {
    match r {
        Ok(r) if r.status == 200 && http::is_echo(&r.body) => "200 echo".into(),
        Ok(r) => {
            let body = String::from_utf8_lossy(&r.body);
            let body: String = body.chars().take(120).collect();
            format!("{} {}", r.status, body.trim())
        }
        Err(e) => crate::error::chain(&e),
    }
}

/// The line saying why a Go program died: `panic: …`, `[PANIC] …` or `fatal error: …`.
fn last_panic_line(logs: &str) -> Option<String> {
    logs.lines()
        .map(str::trim)
        .rev()
        .find(|l| l.starts_with("panic:") || l.contains("[PANIC]") || l.starts_with("fatal error:"))
        .map(|l| l.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_panic_line() {
        let logs =
            "INFO ok\npanic: runtime error: nil\n\ngoroutine 53 [running]:\n\t/x/panic.go:1\n";
        assert_eq!(
            last_panic_line(logs).as_deref(),
            Some("panic: runtime error: nil")
        );
        assert_eq!(last_panic_line("nothing"), None);
    }
}
