//! What `grace check` concludes from a function's lifecycle: each [`Verdict`] is a pass, a
//! warning or a failure, with the evidence and plain advice.
//!
//! What the runtime leaves behind is read from `/proc` and the kernel's `sock_diag` while it
//! shuts down, as often as the machine allows; the last reading before the exit decides. Two
//! limits follow: on a loaded machine the readings can lag the exit by milliseconds (a
//! connection seen open only then is a warning, not a failure), and a connection that the
//! process closes at teardown without its protocol's goodbye is, at the TCP level, closed (the
//! server's log tells that story). Exact readings at the exit would need a tracer that stops the
//! runtime at `PTRACE_EVENT_EXIT`, before the kernel closes its descriptors.
//! `scripts/pg-oracle.sh` measures how often the connection verdict agrees with a PostgreSQL
//! server's log (docs/guide.md, "What the check observes").
//!
//! Budgets are the runtime's, as Lambda sets them for the extensions that registered ([`Lambda`]):
//! 300 ms after SIGTERM with an external extension, 500 ms with internal ones only, and no SIGTERM
//! at all without extensions. The 2,000 ms of the whole shutdown phase belong to the extensions.

use std::time::Duration;

use grace_emulator::events::{EnvId, EventKind, LifecycleEvent, Role};
use grace_emulator::{FunctionConfig, ShutdownBudgets};
use serde::Serialize;

pub use super::output::TimedLine;
use super::output::buffered_output;

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// The function does this right.
    Pass,
    /// Right here, but at risk (e.g. cleanup that uses most of the budget).
    Warn,
    /// Wrong: `grace check` exits with 1.
    Fail,
    /// Could not be checked (e.g. no SIGTERM, so no chance to exit cleanly).
    Skip,
}

impl Status {
    /// `PASS`, `WARN`, `FAIL` or `SKIP`.
    pub fn tag(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One finding of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Verdict {
    /// A stable identifier: `invokes`, `sigterm`, `exit`, `tcp`, `files`, `children`,
    /// `leftovers`, `output`, and with a reset `reset-sigterm`, `reset-exit` (or `reset`).
    pub id: &'static str,
    /// What is checked, e.g. "SIGTERM is delivered".
    pub title: &'static str,
    /// Pass, warning, failure, or skipped.
    pub status: Status,
    /// The evidence.
    pub detail: String,
    /// What to do about it, for a failure or a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

impl Verdict {
    pub(crate) fn new(
        id: &'static str,
        title: &'static str,
        status: Status,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            id,
            title,
            status,
            detail: detail.into(),
            advice: None,
        }
    }

    pub(crate) fn advise(mut self, advice: impl Into<String>) -> Self {
        self.advice = Some(advice.into());
        self
    }
}

/// What Lambda gives the function at shutdown: the runtime's budgets and the memory size (the CPU
/// share, and so how long the same cleanup takes, follows memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lambda {
    /// The budgets the run used.
    pub budgets: ShutdownBudgets,
    /// The function's memory size, MB.
    pub memory_mb: u32,
}

impl Default for Lambda {
    /// Lambda's documented budgets at 128 MB.
    fn default() -> Self {
        Self {
            budgets: ShutdownBudgets::default(),
            memory_mb: 128,
        }
    }
}

impl From<&FunctionConfig> for Lambda {
    fn from(config: &FunctionConfig) -> Self {
        Self {
            budgets: config.budgets,
            memory_mb: config.memory_mb,
        }
    }
}

/// The runtime's budget after SIGTERM for the extensions that registered, and the words for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RuntimeBudget {
    ms: u64,
    /// "the runtime gets with external extensions"…
    why: &'static str,
    memory_mb: u32,
}

impl RuntimeBudget {
    fn new(lambda: &Lambda, any_extension: bool, external: bool) -> Self {
        let ms = |d: Duration| d.as_millis() as u64;
        let (ms, why) = match (any_extension, external) {
            (false, _) => (0, "the runtime gets without extensions (no SIGTERM at all)"),
            (true, true) => (
                ms(lambda.budgets.runtime_with_external),
                "the runtime gets with external extensions",
            ),
            (true, false) => (
                ms(lambda.budgets.runtime_internal_only),
                "the runtime gets with internal extensions only",
            ),
        };
        Self {
            ms,
            why,
            memory_mb: lambda.memory_mb,
        }
    }
}

/// "the 300 ms the runtime gets with external extensions, at 128 MB".
impl std::fmt::Display for RuntimeBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} ms {}, at {} MB",
            self.ms, self.why, self.memory_mb
        )
    }
}

/// Milliseconds as people read them: `0.4`, `8.2`, `212`.
fn ms(v: f64) -> String {
    if v < 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.0}")
    }
}

/// The verdicts on the spin-down of environment `env` (the one `invokes` invocations ran in),
/// from the recorded lifecycle `events` and log `lines`, with `lambda`'s budgets.
pub fn shutdown_verdicts(
    events: &[LifecycleEvent],
    env: EnvId,
    lines: &[TimedLine],
    invokes: usize,
    lambda: &Lambda,
) -> Vec<Verdict> {
    let ev: Vec<&LifecycleEvent> = events.iter().filter(|e| e.env == env).collect();
    let mut checks = Vec::new();
    let extensions: Vec<String> = ev
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ExtensionRegistered { name, external, .. } => Some(format!(
                "`{name}` ({})",
                if *external { "external" } else { "internal" }
            )),
            _ => None,
        })
        .collect();
    let external = ev.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::ExtensionRegistered { external: true, .. }
        )
    });
    let budget = RuntimeBudget::new(lambda, !extensions.is_empty(), external);
    let sigterm = ev.iter().find_map(|e| match e.kind {
        EventKind::Sigterm {
            role: Role::Runtime,
            ..
        } => Some(e.time_us),
        _ => None,
    });
    if extensions.is_empty() {
        checks.push(
            Verdict::new("sigterm", "SIGTERM is delivered", Status::Fail, "no extension is registered: Lambda sends no SIGTERM and SIGKILLs the runtime at once (0 ms of grace)")
                .advise("add the shutdown-enabler layer (`grace package extension`), or register an internal extension (lambda-grace does it by default; lambda_runtime: spawn_graceful_shutdown_handler; Go: lambda.WithEnableSIGTERM)"),
        );
    } else {
        checks.push(Verdict::new(
            "sigterm",
            "SIGTERM is delivered",
            if sigterm.is_some() {
                Status::Pass
            } else {
                Status::Fail
            },
            format!(
                "registered: {}; after SIGTERM the runtime gets {} ms, at {} MB",
                extensions.join(", "),
                budget.ms,
                budget.memory_mb
            ),
        ));
    }
    let exit = ev.iter().find_map(|e| match &e.kind {
        EventKind::ProcessExit {
            role: Role::Runtime,
            exit,
            ..
        } => Some((e.time_us, exit.clone())),
        _ => None,
    });
    let killed = ev.iter().find_map(|e| match e.kind {
        EventKind::Sigkill {
            role: Role::Runtime,
            ..
        } => Some(e.time_us),
        _ => None,
    });
    checks.push(exit_verdict(sigterm, exit, killed, budget));
    let left = ev.iter().rev().find_map(|e| match &e.kind {
        EventKind::Leftovers {
            at,
            holdings,
            stale_ms,
            ..
        } => Some((*at, holdings.clone(), *stale_ms)),
        _ => None,
    });
    let when = |at: &str| {
        if at == "exit" {
            "when it exited"
        } else {
            "when it was killed"
        }
    };
    match left {
        Some((at, h, stale_ms)) => {
            let tcp = leftover(
                "tcp",
                "no TCP connection left open",
                &h.tcp,
                when(at),
                "close connections in a shutdown hook (drop the pool, send the protocol's goodbye); otherwise the server sees an abrupt disconnect and may keep sessions and locks",
            );
            // The readings lag on a loaded machine: a connection seen open only well before the
            // exit may have been closed in the gap, so that is a warning, not a failure.
            checks.push(if tcp.status == Status::Fail && stale_ms > STALE_MS {
                Verdict {
                    status: Status::Warn,
                    detail: format!(
                        "{} (last seen {stale_ms:.1} ms before the exit began: a close after that cannot be ruled out)",
                        tcp.detail
                    ),
                    ..tcp
                }
            } else {
                tcp
            });
            checks.push(leftover(
                "files",
                "no file left open for writing",
                &h.files,
                when(at),
                "flush and close files in a shutdown hook, and flush buffers before each freeze (a flush hook): data still in user-space buffers is lost",
            ));
            checks.push(leftover(
                "children",
                "no child process left running",
                &h.children,
                when(at),
                "stop child processes on SIGTERM; the platform SIGKILLs them with the environment",
            ));
        }
        None => checks.push(Verdict::new(
            "leftovers",
            "what the runtime held at the end",
            Status::Skip,
            "not observed (the runtime ended before the spin-down)",
        )),
    }
    checks.push(buffered_output(&ev, lines, env, sigterm, invokes));
    checks
}

/// Whether the runtime exited before SIGKILL, measured against the budget it really had.
fn exit_verdict(
    sigterm: Option<u64>,
    exit: Option<(u64, String)>,
    killed: Option<u64>,
    budget: RuntimeBudget,
) -> Verdict {
    const TITLE: &str = "exits before SIGKILL";
    let after = |term: u64, at: u64| at.saturating_sub(term) as f64 / 1000.0;
    match (sigterm, exit, killed) {
        (None, _, _) => Verdict::new(
            "exit",
            TITLE,
            Status::Skip,
            "no SIGTERM, so no chance to exit cleanly",
        ),
        (Some(term), _, Some(kill)) => Verdict::new(
            "exit",
            TITLE,
            Status::Fail,
            format!(
                "still running when SIGKILLed {} ms after SIGTERM, at the end of {budget}",
                ms(after(term, kill))
            ),
        )
        .advise(format!(
            "handle SIGTERM: finish the cleanup well inside {budget}, then exit (lambda-grace: shutdown hooks are bounded by this budget)"
        )),
        (Some(term), Some((at, how)), None) => {
            let took = after(term, at);
            let pct = took * 100.0 / (budget.ms as f64).max(1.0);
            let detail = format!(
                "exited ({how}) {} ms after SIGTERM: {pct:.0} % of {budget}",
                ms(took)
            );
            if pct > 80.0 {
                Verdict::new("exit", TITLE, Status::Warn, detail).advise(format!(
                    "the cleanup uses most of {budget}; on a loaded machine it may be SIGKILLed: keep shutdown work short"
                ))
            } else {
                Verdict::new("exit", TITLE, Status::Pass, detail)
            }
        }
        (Some(_), None, None) => Verdict::new(
            "exit",
            TITLE,
            Status::Warn,
            "the runtime's exit was not observed",
        ),
    }
}

/// A reading older than this before the exit cannot vouch for what the exit found.
const STALE_MS: f64 = 1.0;

fn leftover(
    id: &'static str,
    title: &'static str,
    items: &[String],
    when: &str,
    advice: &str,
) -> Verdict {
    if items.is_empty() {
        Verdict::new(id, title, Status::Pass, format!("none {when}"))
    } else {
        Verdict::new(
            id,
            title,
            Status::Fail,
            format!("{when}: {}", items.join("; ")),
        )
        .advise(advice)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A lifecycle for environment 1: `extensions` (name, external) register, then SIGTERM at
    /// 1 s and `end`: the runtime's exit or SIGKILL `after_ms` later.
    fn lifecycle(extensions: &[(&str, bool)], end: &str, after_ms: u64) -> Vec<LifecycleEvent> {
        let mut kinds: Vec<(u64, EventKind)> = extensions
            .iter()
            .map(|(name, external)| {
                (
                    0,
                    EventKind::ExtensionRegistered {
                        name: (*name).into(),
                        external: *external,
                        events: vec!["SHUTDOWN".into()],
                    },
                )
            })
            .collect();
        // What the emulator records: the whole phase's budget, 2,000 ms with an external one.
        kinds.push((
            999_000,
            EventKind::ShutdownStart {
                reason: "spindown",
                budget_ms: 2000,
            },
        ));
        if !extensions.is_empty() {
            kinds.push((
                1_000_000,
                EventKind::Sigterm {
                    role: Role::Runtime,
                    name: "bootstrap".into(),
                    pid: 7,
                },
            ));
        }
        let at = 1_000_000 + after_ms * 1000;
        kinds.push((
            at,
            match end {
                "exit" => EventKind::ProcessExit {
                    role: Role::Runtime,
                    name: "bootstrap".into(),
                    pid: 7,
                    exit: "exit status 0".into(),
                    during_shutdown: true,
                },
                _ => EventKind::Sigkill {
                    role: Role::Runtime,
                    name: "bootstrap".into(),
                    pid: 7,
                },
            },
        ));
        kinds
            .into_iter()
            .enumerate()
            .map(|(seq, (time_us, kind))| LifecycleEvent {
                seq: seq as u64,
                time_us,
                function: Arc::from("f"),
                env: 1,
                kind,
            })
            .collect()
    }

    fn verdict_on(events: &[LifecycleEvent], id: &str) -> Verdict {
        shutdown_verdicts(events, 1, &[], 0, &Lambda::default())
            .into_iter()
            .find(|v| v.id == id)
            .unwrap_or_else(|| panic!("no {id} verdict"))
    }

    #[test]
    fn the_exit_is_measured_against_the_runtimes_budget_for_the_extensions_present() {
        let v = verdict_on(&lifecycle(&[("logs", true)], "exit", 212), "exit");
        assert_eq!(v.status, Status::Pass);
        assert_eq!(
            v.detail,
            "exited (exit status 0) 212 ms after SIGTERM: 71 % of the 300 ms the runtime gets with external extensions, at 128 MB"
        );
        // Negative control: with internal extensions only, the same exit is measured against 500.
        let v = verdict_on(&lifecycle(&[("enabler", false)], "exit", 212), "exit");
        assert!(
            v.detail
                .contains("42 % of the 500 ms the runtime gets with internal extensions only"),
            "{}",
            v.detail
        );
        // 260 of 300 ms is close to the edge: a warning that names the runtime's budget.
        let v = verdict_on(&lifecycle(&[("logs", true)], "exit", 260), "exit");
        assert_eq!(v.status, Status::Warn);
        let advice = v.advice.unwrap_or_default();
        assert!(advice.contains("the 300 ms the runtime gets"), "{advice}");
        // The same 260 ms with internal extensions only is 52 % of 500: a pass.
        let v = verdict_on(&lifecycle(&[("enabler", false)], "exit", 260), "exit");
        assert_eq!(v.status, Status::Pass);
    }

    #[test]
    fn a_sigkill_names_the_runtimes_budget_not_the_whole_phase() {
        let v = verdict_on(&lifecycle(&[("logs", true)], "kill", 300), "exit");
        assert_eq!(v.status, Status::Fail);
        assert_eq!(
            v.detail,
            "still running when SIGKILLed 300 ms after SIGTERM, at the end of the 300 ms the runtime gets with external extensions, at 128 MB"
        );
        let advice = v.advice.unwrap_or_default();
        assert!(advice.contains("well inside the 300 ms"), "{advice}");
        // Not the 2,000 ms of the whole shutdown phase (the extensions' deadline).
        assert!(!v.detail.contains("2000") && !advice.contains("2000"));
        let v = verdict_on(&lifecycle(&[("enabler", false)], "kill", 500), "exit");
        assert!(
            v.detail
                .contains("the 500 ms the runtime gets with internal extensions only")
        );
    }

    #[test]
    fn without_extensions_there_is_no_sigterm_and_no_grace() {
        let events = lifecycle(&[], "kill", 0);
        let v = verdict_on(&events, "sigterm");
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.contains("no SIGTERM") && v.detail.contains("0 ms"));
        assert_eq!(verdict_on(&events, "exit").status, Status::Skip);
        // Negative control: an extension makes the same runtime's SIGTERM a pass, with its budget.
        let v = verdict_on(&lifecycle(&[("logs", true)], "exit", 5), "sigterm");
        assert_eq!(v.status, Status::Pass);
        assert!(
            v.detail.ends_with("the runtime gets 300 ms, at 128 MB"),
            "{}",
            v.detail
        );
    }

    #[test]
    fn the_memory_size_is_the_functions() {
        let lambda = Lambda {
            memory_mb: 1024,
            ..Lambda::default()
        };
        let v = shutdown_verdicts(
            &lifecycle(&[("logs", true)], "exit", 30),
            1,
            &[],
            0,
            &lambda,
        )
        .into_iter()
        .find(|v| v.id == "exit")
        .unwrap();
        assert!(v.detail.ends_with("at 1024 MB"), "{}", v.detail);
    }
}
