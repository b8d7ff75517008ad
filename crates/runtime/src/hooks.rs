//! Shutdown hooks (run once, in reverse order of registration, inside the SIGTERM budget) and
//! flush hooks (run after every response, each bounded, before the environment can freeze).
//!
//! Every hook is bounded: one that runs past its time is dropped ("abandoned") and reported,
//! and the next one still runs. A hook that panics is reported as failed.

use std::borrow::Cow;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, timeout_at};

use crate::error::Diagnostic;
use crate::report::{HookOutcome, HookReport};
use crate::unwind::{call_catching, panic_message, poll_catching};

type HookFuture = Pin<Box<dyn Future<Output = Result<(), Diagnostic>>>>;

/// A hook run once at shutdown.
pub(crate) struct ShutdownHook {
    name: Cow<'static, str>,
    run: Box<dyn FnOnce() -> HookFuture>,
}

/// A hook run after every invocation.
pub(crate) struct FlushHook {
    name: Cow<'static, str>,
    run: Box<dyn FnMut() -> HookFuture>,
}

impl ShutdownHook {
    pub(crate) fn new<F, Fut>(name: impl Into<Cow<'static, str>>, f: F) -> Self
    where
        F: FnOnce() -> Fut + 'static,
        Fut: Future<Output = Result<(), Diagnostic>> + 'static,
    {
        Self {
            name: name.into(),
            run: Box::new(move || Box::pin(f())),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl FlushHook {
    pub(crate) fn new<F, Fut>(name: impl Into<Cow<'static, str>>, mut f: F) -> Self
    where
        F: FnMut() -> Fut + 'static,
        Fut: Future<Output = Result<(), Diagnostic>> + 'static,
    {
        Self {
            name: name.into(),
            run: Box::new(move || Box::pin(f())),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// Runs the shutdown hooks in reverse order of registration, each bounded by what is left
/// until `deadline`. Once the budget is spent, each remaining hook is still polled once (a hook
/// that has nothing to wait for still completes) and otherwise reported as timed out.
pub(crate) async fn run_shutdown_hooks(
    hooks: Vec<ShutdownHook>,
    deadline: Instant,
) -> Vec<HookReport> {
    let mut reports = Vec::with_capacity(hooks.len());
    for hook in hooks.into_iter().rev() {
        let ShutdownHook { name, run } = hook;
        let start = Instant::now();
        let outcome = bounded(run, deadline).await;
        let elapsed = start.elapsed();
        match &outcome {
            HookOutcome::Ok => tracing::debug!(hook = %name, ?elapsed, "shutdown hook done"),
            HookOutcome::Failed(e) => {
                tracing::warn!(hook = %name, error = %e, "shutdown hook failed")
            }
            HookOutcome::TimedOut => {
                tracing::warn!(hook = %name, ?elapsed, "shutdown hook abandoned at the end of the budget")
            }
        }
        reports.push(HookReport {
            name,
            outcome,
            elapsed,
        });
    }
    reports
}

/// Runs the flush hooks in order of registration, each bounded by `limit`; failures are
/// logged (the invocation is already answered).
pub(crate) async fn run_flush_hooks(hooks: &mut [FlushHook], limit: Duration) {
    for hook in hooks {
        let outcome = bounded(&mut hook.run, Instant::now() + limit).await;
        match outcome {
            HookOutcome::Ok => {}
            HookOutcome::Failed(e) => {
                tracing::warn!(hook = %hook.name, error = %e, "flush hook failed");
            }
            HookOutcome::TimedOut => {
                tracing::warn!(hook = %hook.name, ?limit, "flush hook abandoned: it took too long");
            }
        }
    }
}

/// Starts a hook and runs it until `deadline`, catching panics.
async fn bounded(start: impl FnOnce() -> HookFuture, deadline: Instant) -> HookOutcome {
    let mut fut = match call_catching(start) {
        Ok(fut) => fut,
        Err(panic) => return panicked(panic.as_ref()),
    };
    match timeout_at(deadline, poll_fn(|cx| poll_catching(fut.as_mut(), cx))).await {
        Ok(Ok(Ok(()))) => HookOutcome::Ok,
        Ok(Ok(Err(e))) => HookOutcome::Failed(e.error_message),
        Ok(Err(panic)) => panicked(panic.as_ref()),
        Err(_elapsed) => HookOutcome::TimedOut,
    }
}

fn panicked(payload: &(dyn std::any::Any + Send)) -> HookOutcome {
    HookOutcome::Failed(format!("panicked: {}", panic_message(payload)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;
    use tokio::time::sleep;

    type Log = Rc<RefCell<Vec<String>>>;

    fn sleeper(log: &Log, name: &'static str, ms: u64) -> ShutdownHook {
        let log = Rc::clone(log);
        ShutdownHook::new(name, move || async move {
            sleep(Duration::from_millis(ms)).await;
            log.borrow_mut().push(name.to_owned());
            Ok(())
        })
    }

    fn outcomes(reports: &[HookReport]) -> Vec<(&str, HookOutcome, u128)> {
        reports
            .iter()
            .map(|r| (r.name.as_ref(), r.outcome.clone(), r.elapsed.as_millis()))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn hooks_run_in_reverse_order_of_registration() {
        let log = Log::default();
        let hooks = vec![
            sleeper(&log, "first", 10),
            sleeper(&log, "second", 20),
            sleeper(&log, "third", 30),
        ];
        let start = Instant::now();
        let reports = run_shutdown_hooks(hooks, start + Duration::from_millis(450)).await;
        assert_eq!(*log.borrow(), ["third", "second", "first"]);
        assert_eq!(
            outcomes(&reports),
            [
                ("third", HookOutcome::Ok, 30),
                ("second", HookOutcome::Ok, 20),
                ("first", HookOutcome::Ok, 10)
            ]
        );
        assert_eq!(start.elapsed(), Duration::from_millis(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hook_past_the_budget_is_abandoned_and_the_rest_still_run() {
        let log = Log::default();
        let hooks = vec![
            sleeper(&log, "after", 0),
            sleeper(&log, "slow", 1_000),
            sleeper(&log, "before", 100),
        ];
        let start = Instant::now();
        let reports = run_shutdown_hooks(hooks, start + Duration::from_millis(450)).await;
        assert_eq!(
            outcomes(&reports),
            [
                ("before", HookOutcome::Ok, 100),
                ("slow", HookOutcome::TimedOut, 350),
                ("after", HookOutcome::Ok, 0)
            ],
            "the slow hook gets what is left of the budget, not its own 1 s"
        );
        assert_eq!(*log.borrow(), ["before", "after"]);
        assert_eq!(start.elapsed(), Duration::from_millis(450));
    }

    #[tokio::test(start_paused = true)]
    async fn once_the_budget_is_spent_waiting_hooks_time_out_at_once() {
        let log = Log::default();
        let hooks = vec![sleeper(&log, "waits", 5), sleeper(&log, "hog", 1_000)];
        let reports = run_shutdown_hooks(hooks, Instant::now() + Duration::from_millis(50)).await;
        assert_eq!(
            outcomes(&reports),
            [
                ("hog", HookOutcome::TimedOut, 50),
                ("waits", HookOutcome::TimedOut, 0)
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failing_and_panicking_hooks_are_reported_and_do_not_stop_the_others() {
        let log = Log::default();
        let hooks = vec![
            sleeper(&log, "last", 1),
            ShutdownHook::new("errs", || async { Err(Diagnostic::from("pool is gone")) }),
            ShutdownHook::new("panics", || async {
                panic!("hook bug");
            }),
            ShutdownHook::new(
                "panics-early",
                || -> std::future::Ready<Result<(), Diagnostic>> { panic!("before its future") },
            ),
        ];
        let reports = run_shutdown_hooks(hooks, Instant::now() + Duration::from_millis(450)).await;
        let got: Vec<_> = reports
            .iter()
            .map(|r| (r.name.as_ref(), r.outcome.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "panics-early",
                    HookOutcome::Failed("panicked: before its future".into())
                ),
                ("panics", HookOutcome::Failed("panicked: hook bug".into())),
                ("errs", HookOutcome::Failed("pool is gone".into())),
                ("last", HookOutcome::Ok),
            ]
        );
        assert_eq!(*log.borrow(), ["last"]);
    }

    #[tokio::test(start_paused = true)]
    async fn flush_hooks_run_in_order_each_bounded() {
        let log = Log::default();
        let mut hooks: Vec<FlushHook> = [("a", 10_u64), ("slow", 500), ("b", 10)]
            .into_iter()
            .map(|(name, ms)| {
                let log = Rc::clone(&log);
                FlushHook::new(name, move || {
                    let log = Rc::clone(&log);
                    async move {
                        sleep(Duration::from_millis(ms)).await;
                        log.borrow_mut().push(name.to_owned());
                        Ok(())
                    }
                })
            })
            .collect();
        let start = Instant::now();
        run_flush_hooks(&mut hooks, Duration::from_millis(100)).await;
        run_flush_hooks(&mut hooks, Duration::from_millis(100)).await;
        assert_eq!(
            *log.borrow(),
            ["a", "b", "a", "b"],
            "the slow one is cut off"
        );
        assert_eq!(start.elapsed(), Duration::from_millis(240));
    }
}
