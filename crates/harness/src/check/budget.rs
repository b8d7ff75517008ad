//! The runtime's budget at shutdown, as Lambda sets it for the extensions that registered, and
//! the exit verdict measured against it: 300 ms after SIGTERM with an external extension, 500 ms
//! with internal ones only, no SIGTERM at all without extensions. The 2,000 ms of the whole
//! shutdown phase (what the emulator's `ShutdownStart` records) are the extensions', never the
//! runtime's, so the verdicts never quote them.

use std::time::Duration;

use grace_emulator::{FunctionConfig, ShutdownBudgets};

use super::verdict::{Status, Verdict};

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
pub(super) struct RuntimeBudget {
    pub(super) ms: u64,
    /// "the runtime gets with external extensions"…
    why: &'static str,
    pub(super) memory_mb: u32,
}

impl RuntimeBudget {
    pub(super) fn new(lambda: &Lambda, any_extension: bool, external: bool) -> Self {
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

/// Whether the runtime exited before SIGKILL, measured against the budget it really had.
pub(super) fn exit_verdict(
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

#[cfg(test)]
mod tests {

    use grace_emulator::events::{EventKind, LifecycleEvent, Role};

    use super::*;
    use crate::check::verdict::shutdown_verdicts;

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
        crate::check::test_events(kinds)
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
