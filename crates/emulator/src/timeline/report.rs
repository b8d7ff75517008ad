//! The shutdown report line of `lambda-grace`, read back from the runtime's output:
//! `[lambda-grace] shutdown: SIGTERM; hooks: flush-metrics ok 11.2ms, close-database-pool ok
//! 21.3ms; 32.5ms of 450ms budget` (the format of `lambda_grace::Report`'s `Display`). It gives
//! the timeline each hook's name, outcome and duration, in the order they ran.

/// The prefix of the report line.
const PREFIX: &str = "[lambda-grace] shutdown: ";

/// How one hook ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Ok,
    TimedOut,
    Failed(String),
}

/// One hook, as the report line names it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hook {
    pub(crate) name: String,
    pub(crate) outcome: Outcome,
    pub(crate) ms: f64,
}

/// The handler that was running at SIGTERM (a reset).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Interrupted {
    pub(crate) request_id: String,
    /// `finished`, `panicked` or `abandoned`.
    pub(crate) how: String,
    pub(crate) ms: f64,
}

/// The whole report line.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ShutdownReport {
    pub(crate) trigger: String,
    pub(crate) interrupted: Option<Interrupted>,
    pub(crate) hooks: Vec<Hook>,
    pub(crate) elapsed_ms: f64,
    pub(crate) budget_ms: u64,
}

/// Whether a line of output is a `lambda-grace` report line (the only lines the timeline keeps).
pub fn is_report_line(text: &str) -> bool {
    text.trim_start().starts_with(PREFIX)
}

/// Parses a report line; `None` if it is not one or does not have the expected shape.
pub(crate) fn parse(text: &str) -> Option<ShutdownReport> {
    let rest = text.trim().strip_prefix(PREFIX)?;
    let (head, rest) = rest.split_once("; hooks: ")?;
    let (hooks, total) = rest.rsplit_once("; ")?;
    let (elapsed, budget) = total.strip_suffix("ms budget")?.split_once(" of ")?;
    let (trigger, interrupted) = match head.split_once(" during invocation ") {
        Some((trigger, inv)) => (trigger, Some(interrupted(inv)?)),
        None => (head, None),
    };
    Some(ShutdownReport {
        trigger: trigger.to_owned(),
        interrupted,
        hooks: if hooks == "none" {
            Vec::new()
        } else {
            parse_hooks(hooks)?
        },
        elapsed_ms: ms(elapsed)?,
        budget_ms: budget.parse().ok()?,
    })
}

/// `req-9, handler finished 12.0ms`
fn interrupted(text: &str) -> Option<Interrupted> {
    let (request_id, handler) = text.rsplit_once(", handler ")?;
    let (how, elapsed) = handler.split_once(' ')?;
    Some(Interrupted {
        request_id: request_id.to_owned(),
        how: how.to_owned(),
        ms: ms(elapsed)?,
    })
}

/// `a ok 1.0ms, b failed 0.2ms (disk, full)`: names and messages may contain `, `, so pieces
/// are joined until they read as a hook.
fn parse_hooks(text: &str) -> Option<Vec<Hook>> {
    let mut hooks = Vec::new();
    let mut pending = String::new();
    for piece in text.split(", ") {
        if !pending.is_empty() {
            pending.push_str(", ");
        }
        pending.push_str(piece);
        if let Some(hook) = hook(&pending) {
            hooks.push(hook);
            pending.clear();
        }
    }
    pending.is_empty().then_some(hooks)
}

fn hook(text: &str) -> Option<Hook> {
    // `name failed 0.2ms (message)`: the first ` failed <ms> (` whose message runs to the end.
    if text.ends_with(')') {
        let mut from = 0;
        while let Some(i) = text[from..].find(" failed ") {
            let at = from + i;
            let after = &text[at + " failed ".len()..];
            if let Some((elapsed, message)) = after.split_once(" (")
                && let Some(ms) = ms(elapsed)
            {
                return Some(Hook {
                    name: text[..at].to_owned(),
                    outcome: Outcome::Failed(message[..message.len() - 1].to_owned()),
                    ms,
                });
            }
            from = at + 1;
        }
    }
    let (rest, elapsed) = text.rsplit_once(' ')?;
    let ms = ms(elapsed)?;
    let (name, outcome) = if let Some(name) = rest.strip_suffix(" ok") {
        (name, Outcome::Ok)
    } else if let Some(name) = rest.strip_suffix(" timed out") {
        (name, Outcome::TimedOut)
    } else {
        (
            rest.strip_suffix(" failed")?,
            Outcome::Failed(String::new()),
        )
    };
    (!name.is_empty()).then(|| Hook {
        name: name.to_owned(),
        outcome,
        ms,
    })
}

/// `32.5ms` → 32.5
fn ms(text: &str) -> Option<f64> {
    let v: f64 = text.strip_suffix("ms")?.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_hook_in_order() {
        let r = parse(
            "[lambda-grace] shutdown: SIGTERM; hooks: flush-metrics ok 11.2ms, \
             close-database-pool ok 21.3ms; 32.5ms of 450ms budget",
        )
        .unwrap();
        assert_eq!(r.trigger, "SIGTERM");
        let names: Vec<&str> = r.hooks.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["flush-metrics", "close-database-pool"]);
        assert_eq!(r.hooks[1].ms, 21.3);
        assert_eq!((r.elapsed_ms, r.budget_ms), (32.5, 450));
    }

    #[test]
    fn reads_failures_timeouts_and_an_interrupted_handler() {
        let r = parse(
            "[lambda-grace] shutdown: SIGTERM during invocation req-9, handler finished 12.0ms; \
             hooks: close, pool ok 3.1ms, flush-writer timed out 200.0ms, metrics failed 0.2ms \
             (disk, full); 204.5ms of 450ms budget",
        )
        .unwrap();
        assert_eq!(r.hooks.len(), 3);
        assert_eq!(r.hooks[0].name, "close, pool");
        assert_eq!(r.hooks[1].outcome, Outcome::TimedOut);
        assert_eq!(r.hooks[2].outcome, Outcome::Failed("disk, full".into()));
        let i = r.interrupted.unwrap();
        assert_eq!(
            (i.request_id.as_str(), i.how.as_str(), i.ms),
            ("req-9", "finished", 12.0)
        );
        let none = parse("[lambda-grace] shutdown: requested; hooks: none; 0.1ms of 450ms budget");
        assert_eq!(none.unwrap().hooks, vec![]);
    }

    #[test]
    fn other_lines_are_not_reports() {
        assert!(!is_report_line("[demo] cleanup: flushing"));
        assert!(
            parse("[demo] shutdown: SIGTERM; hooks: a ok 1.0ms; 1.0ms of 450ms budget").is_none()
        );
        // A mangled hook list is rejected rather than half read.
        assert!(
            parse("[lambda-grace] shutdown: SIGTERM; hooks: a 1.0ms; 1.0ms of 450ms budget")
                .is_none()
        );
    }
}
