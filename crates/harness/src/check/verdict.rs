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

use grace_emulator::events::{EnvId, EventKind, LifecycleEvent, Role};
use serde::Serialize;

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

/// A log line's arrival, as the output check needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedLine {
    /// When it arrived, microseconds since the Unix epoch.
    pub time_us: u64,
    /// The environment that wrote it.
    pub env: EnvId,
    /// Whether the runtime wrote it (not the platform or an extension).
    pub function_output: bool,
}

/// The verdicts on the spin-down of environment `env` (the one `invokes` invocations ran in),
/// from the recorded lifecycle `events` and log `lines`.
pub fn shutdown_verdicts(
    events: &[LifecycleEvent],
    env: EnvId,
    lines: &[TimedLine],
    invokes: usize,
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
    let sigterm = ev.iter().find_map(|e| match e.kind {
        EventKind::Sigterm {
            role: Role::Runtime,
            ..
        } => Some(e.time_us),
        _ => None,
    });
    if extensions.is_empty() {
        checks.push(
            Verdict::new("sigterm", "SIGTERM is delivered", Status::Fail, "no extension is registered: Lambda SIGKILLs the runtime with 0 ms of grace")
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
            format!("registered: {}", extensions.join(", ")),
        ));
    }
    let budget_ms = ev.iter().find_map(|e| match e.kind {
        EventKind::ShutdownStart { budget_ms, .. } => Some(budget_ms),
        _ => None,
    });
    let exit = ev.iter().find_map(|e| match &e.kind {
        EventKind::ProcessExit {
            role: Role::Runtime,
            exit,
            ..
        } => Some((e.time_us, exit.clone())),
        _ => None,
    });
    let killed = ev.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::Sigkill {
                role: Role::Runtime,
                ..
            }
        )
    });
    checks.push(match (sigterm, exit, killed) {
        (None, _, _) => Verdict::new("exit", "exits before SIGKILL", Status::Skip, "no SIGTERM, so no chance to exit cleanly"),
        (Some(_), _, true) => {
            let budget = budget_ms.unwrap_or(0);
            Verdict::new("exit", "exits before SIGKILL", Status::Fail, format!("still running {budget} ms after SIGTERM: SIGKILLed"))
                .advise(format!("handle SIGTERM: run the cleanup well inside {budget} ms and exit (lambda-grace: shutdown hooks are bounded by the budget)"))
        }
        (Some(term), Some((at, how)), false) => {
            let took = at.saturating_sub(term) as f64 / 1000.0;
            let budget = budget_ms.unwrap_or(500) as f64;
            let pct = took * 100.0 / budget.max(1.0);
            let detail = format!("exited ({how}) {took:.1} ms after SIGTERM: {pct:.0}% of the {budget:.0} ms budget");
            if pct > 80.0 {
                Verdict::new("exit", "exits before SIGKILL", Status::Warn, detail)
                    .advise("the cleanup uses most of the budget; on a loaded machine it may be SIGKILLed: keep shutdown work short")
            } else {
                Verdict::new("exit", "exits before SIGKILL", Status::Pass, detail)
            }
        }
        (Some(_), None, false) => Verdict::new("exit", "exits before SIGKILL", Status::Warn, "the runtime's exit was not observed"),
    });
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

/// Output written during invocations should appear during them. When none appeared during the
/// invocations but at least one line per invocation arrived at shutdown, stdout is buffered (a
/// pipe is block-buffered) and a frozen environment holds the logs hostage.
fn buffered_output(
    ev: &[&LifecycleEvent],
    lines: &[TimedLine],
    env: EnvId,
    sigterm: Option<u64>,
    invokes: usize,
) -> Verdict {
    let mut windows = Vec::new();
    let mut open = None;
    for e in ev {
        match e.kind {
            EventKind::InvokeStart { .. } => open = Some(e.time_us),
            EventKind::InvokeEnd { .. } => {
                if let Some(from) = open.take() {
                    windows.push((from, e.time_us));
                }
            }
            _ => {}
        }
    }
    let shutdown_from = sigterm
        .or_else(|| {
            ev.iter()
                .find(|e| matches!(e.kind, EventKind::ShutdownStart { .. }))
                .map(|e| e.time_us)
        })
        .unwrap_or(u64::MAX);
    let ours: Vec<&TimedLine> = lines
        .iter()
        .filter(|l| l.env == env && l.function_output)
        .collect();
    let during = ours
        .iter()
        .filter(|l| {
            windows
                .iter()
                .any(|(a, b)| l.time_us >= *a && l.time_us <= *b)
        })
        .count();
    let at_shutdown = ours.iter().filter(|l| l.time_us >= shutdown_from).count();
    if during == 0 && invokes > 0 && at_shutdown >= invokes {
        Verdict::new(
            "output",
            "log output arrives during invocations",
            Status::Fail,
            format!("no output during the {invokes} invocations, {at_shutdown} lines only at shutdown: stdout is buffered"),
        )
        .advise("flush after each line (Python: PYTHONUNBUFFERED=1 or print(..., flush=True); C: setvbuf); on Lambda a frozen environment holds buffered logs, and a killed one loses them")
    } else {
        Verdict::new(
            "output",
            "log output arrives during invocations",
            Status::Pass,
            format!("{during} lines during invocations, {at_shutdown} at shutdown"),
        )
    }
}
