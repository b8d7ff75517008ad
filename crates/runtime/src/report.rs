//! [`Report`]: what the shutdown did, returned by `run` and printed as one line on stderr.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

/// What ended the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Trigger {
    /// The platform's SIGTERM (spin-down, or a reset after a timeout or crash).
    Sigterm,
    /// The future given to [`Runtime::shutdown_on`](crate::Runtime::shutdown_on) completed.
    Requested,
    /// The Runtime API failed or asked the runtime to exit (`run` returns the error).
    RuntimeApiError,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sigterm => "SIGTERM",
            Self::Requested => "requested",
            Self::RuntimeApiError => "Runtime API error",
        })
    }
}

/// How one shutdown hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HookOutcome {
    /// It returned `Ok`.
    Ok,
    /// It returned an error (its message) or panicked.
    Failed(String),
    /// It was still running when the budget ran out, and was abandoned.
    TimedOut,
}

/// One shutdown hook's result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HookReport {
    /// The name it was registered with.
    pub name: Cow<'static, str>,
    /// How it ended.
    pub outcome: HookOutcome,
    /// How long it ran.
    pub elapsed: Duration,
}

/// How the handler that was running at SIGTERM ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandlerOutcome {
    /// It returned (its answer is not posted: the platform resets the environment).
    Finished,
    /// It panicked.
    Panicked,
    /// It was still running when the budget ran out, and was abandoned.
    Abandoned,
}

/// The invocation that was running when the shutdown began (a reset after a timeout or crash).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InterruptedInvocation {
    /// Its request id.
    pub request_id: String,
    /// How its handler ended.
    pub outcome: HandlerOutcome,
    /// Time from the shutdown's start until the handler ended or was abandoned.
    pub elapsed: Duration,
}

/// What the shutdown did: the trigger, the interrupted invocation if any, every hook's outcome
/// in the order they ran, and the time used against the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// What ended the run.
    pub trigger: Trigger,
    /// The invocation the shutdown interrupted.
    pub interrupted: Option<InterruptedInvocation>,
    /// Shutdown hooks, in the order they ran (reverse order of registration).
    pub hooks: Vec<HookReport>,
    /// Time from the trigger until the hooks were done.
    pub elapsed: Duration,
    /// The budget the shutdown had.
    pub budget: Duration,
}

impl Report {
    /// Whether everything finished in time without an error.
    pub fn is_clean(&self) -> bool {
        self.hooks.iter().all(|h| h.outcome == HookOutcome::Ok)
            && self
                .interrupted
                .as_ref()
                .is_none_or(|i| i.outcome == HandlerOutcome::Finished)
            && self.elapsed <= self.budget
    }
}

/// `shutdown: SIGTERM; hooks: close-pool ok 3.1ms, flush failed 0.2ms (disk full); 4.0ms of
/// 450ms budget` — one line, whatever the messages contain.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shutdown: {}", self.trigger)?;
        if let Some(i) = &self.interrupted {
            let how = match i.outcome {
                HandlerOutcome::Finished => "finished",
                HandlerOutcome::Panicked => "panicked",
                HandlerOutcome::Abandoned => "abandoned",
            };
            write!(
                f,
                " during invocation {}, handler {how} {}",
                i.request_id,
                Ms(i.elapsed)
            )?;
        }
        f.write_str("; hooks: ")?;
        if self.hooks.is_empty() {
            f.write_str("none")?;
        }
        for (n, hook) in self.hooks.iter().enumerate() {
            if n > 0 {
                f.write_str(", ")?;
            }
            let name = OneLine(&hook.name);
            match &hook.outcome {
                HookOutcome::Ok => write!(f, "{name} ok {}", Ms(hook.elapsed))?,
                HookOutcome::TimedOut => write!(f, "{name} timed out {}", Ms(hook.elapsed))?,
                HookOutcome::Failed(e) => {
                    write!(f, "{name} failed {} ({})", Ms(hook.elapsed), OneLine(e))?
                }
            }
        }
        write!(
            f,
            "; {} of {}ms budget",
            Ms(self.elapsed),
            self.budget.as_millis()
        )
    }
}

/// Milliseconds with one decimal, rounded (integer arithmetic: no float formatting code in the
/// binary for one line).
struct Ms(Duration);

impl fmt::Display for Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tenths = (self.0.as_micros() + 50) / 100;
        write!(f, "{}.{}ms", tenths / 10, tenths % 10)
    }
}

/// Text with line breaks shown as spaces, so the report stays one line.
struct OneLine<'a>(&'a str);

impl fmt::Display for OneLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, part) in self.0.split(['\r', '\n']).enumerate() {
            if n > 0 {
                f.write_str(" ")?;
            }
            f.write_str(part)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(name: &'static str, outcome: HookOutcome, ms: u64) -> HookReport {
        HookReport {
            name: name.into(),
            outcome,
            elapsed: Duration::from_micros(ms * 100),
        }
    }

    #[test]
    fn the_report_is_one_line_naming_every_hook() {
        let r = Report {
            trigger: Trigger::Sigterm,
            interrupted: None,
            hooks: vec![
                hook("close-pool", HookOutcome::Ok, 31),
                hook("flush-writer", HookOutcome::TimedOut, 2000),
                hook("metrics", HookOutcome::Failed("disk\nfull".into()), 2),
            ],
            elapsed: Duration::from_micros(204_500),
            budget: Duration::from_millis(450),
        };
        assert_eq!(
            r.to_string(),
            "shutdown: SIGTERM; hooks: close-pool ok 3.1ms, flush-writer timed out 200.0ms, \
             metrics failed 0.2ms (disk full); 204.5ms of 450ms budget"
        );
        assert!(!r.is_clean());
    }

    #[test]
    fn milliseconds_are_rounded_to_a_tenth() {
        let ms = |us| Ms(Duration::from_micros(us)).to_string();
        assert_eq!(ms(0), "0.0ms");
        assert_eq!(ms(49), "0.0ms");
        assert_eq!(ms(50), "0.1ms");
        assert_eq!(ms(3_149), "3.1ms");
        assert_eq!(ms(3_150), "3.2ms");
        assert_eq!(ms(449_999), "450.0ms");
    }

    #[test]
    fn an_interrupted_invocation_is_named() {
        let r = Report {
            trigger: Trigger::Sigterm,
            interrupted: Some(InterruptedInvocation {
                request_id: "req-9".into(),
                outcome: HandlerOutcome::Finished,
                elapsed: Duration::from_millis(12),
            }),
            hooks: vec![],
            elapsed: Duration::from_millis(13),
            budget: Duration::from_millis(450),
        };
        assert_eq!(
            r.to_string(),
            "shutdown: SIGTERM during invocation req-9, handler finished 12.0ms; hooks: none; \
             13.0ms of 450ms budget"
        );
        assert!(r.is_clean());
    }
}
