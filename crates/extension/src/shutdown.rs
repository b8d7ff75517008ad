//! SHUTDOWN work, bounded by the event's deadline (§4.4): the platform SIGKILLs an external
//! extension at `deadlineMs`, so the callback gets what is left of it minus a margin, and the
//! report says whether it finished.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::BoxError;
use crate::event::{ShutdownEvent, now_ms, remaining_until};
use crate::extension::ShutdownFn;

/// What the SHUTDOWN work did.
#[derive(Debug)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The event.
    pub event: ShutdownEvent,
    /// The time the callback was given: until the deadline, minus the margin.
    pub budget: Duration,
    /// The time it took (the budget when it was cut off).
    pub elapsed: Duration,
    /// How it ended.
    pub outcome: ShutdownOutcome,
}

/// How the SHUTDOWN callback ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum ShutdownOutcome {
    /// There was no SHUTDOWN callback.
    NoCallback,
    /// It finished in time.
    Completed,
    /// It returned an error.
    Failed(BoxError),
    /// It was still running when the budget ran out, and was dropped.
    CutOff,
}

impl ShutdownReport {
    /// Whether the work finished in time without error (or there was none).
    pub fn is_clean(&self) -> bool {
        matches!(
            self.outcome,
            ShutdownOutcome::Completed | ShutdownOutcome::NoCallback
        )
    }
}

impl fmt::Display for ShutdownReport {
    /// One line, e.g. `SHUTDOWN (spindown): work completed in 3 ms of a 1642 ms budget`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = &self.event.shutdown_reason;
        let (elapsed, budget) = (self.elapsed.as_millis(), self.budget.as_millis());
        match &self.outcome {
            ShutdownOutcome::NoCallback => write!(f, "SHUTDOWN ({reason}): nothing to do"),
            ShutdownOutcome::Completed => write!(
                f,
                "SHUTDOWN ({reason}): work completed in {elapsed} ms of a {budget} ms budget"
            ),
            ShutdownOutcome::Failed(e) => write!(
                f,
                "SHUTDOWN ({reason}): work failed after {elapsed} ms of a {budget} ms budget: {}",
                crate::error::chain(e.as_ref())
            ),
            ShutdownOutcome::CutOff => write!(
                f,
                "SHUTDOWN ({reason}): work cut off after {elapsed} ms, its whole budget \
                 (deadline {} ms)",
                self.event.deadline_ms
            ),
        }
    }
}

/// The callback's budget: from `now_ms` to the deadline, minus `margin`.
pub(crate) fn budget(event: &ShutdownEvent, now_ms: u64, margin: Duration) -> Duration {
    remaining_until(event.deadline_ms, now_ms).saturating_sub(margin)
}

/// Runs `callback` (if any) within the budget.
pub(crate) async fn run(
    event: ShutdownEvent,
    callback: Option<ShutdownFn>,
    margin: Duration,
) -> ShutdownReport {
    let budget = budget(&event, now_ms(), margin);
    let start = Instant::now();
    let outcome = match callback {
        None => ShutdownOutcome::NoCallback,
        Some(callback) => match tokio::time::timeout(budget, callback(event.clone())).await {
            Ok(Ok(())) => ShutdownOutcome::Completed,
            Ok(Err(e)) => ShutdownOutcome::Failed(e),
            Err(_) => ShutdownOutcome::CutOff,
        },
    };
    let report = ShutdownReport {
        event,
        budget,
        elapsed: start.elapsed(),
        outcome,
    };
    if report.is_clean() {
        tracing::info!(%report, "shutdown done");
    } else {
        tracing::warn!(%report, "shutdown incomplete");
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(deadline_ms: u64) -> ShutdownEvent {
        ShutdownEvent {
            shutdown_reason: "spindown".into(),
            deadline_ms,
        }
    }

    fn callback(work: Duration, fail: bool) -> Option<ShutdownFn> {
        Some(Box::new(move |_| {
            Box::pin(async move {
                tokio::time::sleep(work).await;
                if fail {
                    Err("flush failed".into())
                } else {
                    Ok(())
                }
            })
        }))
    }

    #[test]
    fn the_budget_is_the_time_left_minus_the_margin() {
        let margin = Duration::from_millis(50);
        assert_eq!(
            budget(&event(10_000), 8_300, margin),
            Duration::from_millis(1_650)
        );
        assert_eq!(budget(&event(10_000), 9_990, margin), Duration::ZERO);
        assert_eq!(budget(&event(10_000), 12_000, margin), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn work_that_overruns_is_cut_off_at_the_budget() {
        let deadline = now_ms() + 2_000;
        let margin = Duration::from_millis(100);
        let report = run(
            event(deadline),
            callback(Duration::from_secs(10), false),
            margin,
        )
        .await;
        assert!(
            matches!(report.outcome, ShutdownOutcome::CutOff),
            "{report}"
        );
        assert!(report.budget <= Duration::from_millis(1_900));
        assert!(report.elapsed >= report.budget);
        assert!(report.elapsed < Duration::from_secs(2), "{report}");
        assert!(report.to_string().contains("cut off"), "{report}");
    }

    #[tokio::test(start_paused = true)]
    async fn work_in_time_completes_and_failures_are_reported() {
        let deadline = now_ms() + 2_000;
        let margin = Duration::from_millis(50);
        let report = run(
            event(deadline),
            callback(Duration::from_millis(30), false),
            margin,
        )
        .await;
        assert!(report.is_clean(), "{report}");
        assert!(report.to_string().contains("completed"), "{report}");
        let report = run(event(deadline), callback(Duration::ZERO, true), margin).await;
        assert!(matches!(report.outcome, ShutdownOutcome::Failed(_)));
        assert!(report.to_string().ends_with(": flush failed"), "{report}");
        let report = run(event(deadline), None, margin).await;
        assert!(matches!(report.outcome, ShutdownOutcome::NoCallback));
    }
}
