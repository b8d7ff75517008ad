//! What `grace check` concludes from a function's lifecycle: each [`Verdict`] is a pass, a
//! warning or a failure, with the evidence and plain advice.
//!
//! What the runtime does with its connections is observed from SIGTERM until it is gone (the
//! emulator's `sys::observe`: every close, and the bytes written before it, seen as it
//! happens; the final reading taken while the process is stopped). Each TCP connection open at
//! SIGTERM has a fate, and only a goodbye passes. When the observation could not be made, the
//! verdict says so and warns: it never passes on a guess. `scripts/pg-oracle.sh` measures the
//! agreement with a PostgreSQL server's log (docs/guide.md, "What `grace check` observes").
//!
//! The exit is measured against the runtime's budget for the extensions that registered
//! (`budget`, [`Lambda`]); the output verdict decides from the lines it saw arrive (`output`).

use grace_emulator::events::{EnvId, EventKind, LifecycleEvent, Role};
use serde::Serialize;

pub use super::budget::Lambda;
use super::budget::{RuntimeBudget, exit_verdict};
pub use super::output::TimedLine;
use super::output::buffered_output;

/// A check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Status {
    /// The function does this right.
    Pass,
    /// At risk (e.g. cleanup that uses most of the budget), or not confirmed (a connection seen
    /// open shortly before the exit). Not a pass: `grace check` exits with 1.
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
    // Died of a signal (SIGKILL, or SIGTERM's default action): its own buffers died with it.
    let died_of_a_signal = killed.is_some()
        || exit
            .as_ref()
            .is_some_and(|(_, how)| how.starts_with("signal"));
    checks.push(exit_verdict(sigterm, exit, killed, budget));
    let left = ev.iter().rev().find_map(|e| match &e.kind {
        EventKind::Leftovers {
            at,
            holdings,
            connections,
            unobserved,
            ..
        } => Some((*at, holdings, connections, unobserved.as_deref())),
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
        Some((at, h, connections, unobserved)) => {
            checks.push(super::connections::verdict(connections, unobserved));
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
    checks.push(buffered_output(
        &ev,
        lines,
        env,
        sigterm,
        invokes,
        died_of_a_signal,
    ));
    checks
}

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
