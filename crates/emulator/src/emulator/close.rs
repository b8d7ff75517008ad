//! Closing the emulator by the house rule: detect (the root token is cancelled), notify (invokes
//! in flight finish; every environment goes through its shutdown sequence), and wait inside a
//! deadline, naming what was still running when it ran out.

use super::*;

impl Emulator {
    /// Stops taking invokes, waits for those in flight, and spins every environment down with
    /// the proper sequence, within [`Self::drain_limit`]; see [`Self::close_within`].
    pub async fn close(&self) -> CloseReport {
        self.close_within(self.drain_limit()).await
    }

    /// The longest a close should take: the longest function timeout (an invoke in flight),
    /// the longest shutdown phase, and time to reap.
    pub fn drain_limit(&self) -> Duration {
        let longest = self
            .inner
            .pools
            .values()
            .map(|p| {
                let cfg = p.cfg();
                cfg.timeout + cfg.budgets.total.max(cfg.budgets.runtime_internal_only)
            })
            .max()
            .unwrap_or_default();
        longest + Duration::from_secs(3)
    }

    /// Closes the emulator, the house way: detect (the root token is cancelled: listeners stop,
    /// queued asynchronous invokes give up), notify (invokes in flight finish; every environment
    /// goes through SIGTERM → SHUTDOWN → SIGKILL), and wait, at most `limit`. What was still
    /// running when the limit ran out is named in the report, and its processes are SIGKILLed.
    pub async fn close_within(&self, limit: Duration) -> CloseReport {
        let started = tokio::time::Instant::now();
        let deadline = started + limit;
        self.inner.closing.store(true, Ordering::SeqCst);
        self.inner.root.cancel();
        self.inner.inflight_tracker.close();
        let mut still_running = Vec::new();
        if tokio::time::timeout_at(deadline, self.inner.inflight_tracker.wait())
            .await
            .is_err()
        {
            let inflight = self
                .inner
                .inflight
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            still_running.extend(
                inflight
                    .iter()
                    .map(|(id, f)| format!("invoke {id} of function {f}")),
            );
        }
        let closes = futures_join(self.inner.pools.values().map(|p| {
            let p = Arc::clone(p);
            async move { p.close().await }
        }));
        if tokio::time::timeout_at(deadline, closes).await.is_err() {
            for env in self.environments().await {
                still_running.push(format!(
                    "environment {} of function {} ({})",
                    env.id, env.function, env.phase
                ));
                for p in env.processes.iter().filter(|p| p.alive) {
                    crate::sys::kill_group(p.pid, nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        self.inner.tasks.close();
        // Helper tasks end once their environments are gone; a short grace, then they are
        // reported (a connection still held open by a client, say).
        let grace = deadline.max(tokio::time::Instant::now() + Duration::from_millis(200));
        if tokio::time::timeout_at(grace, self.inner.tasks.wait())
            .await
            .is_err()
        {
            still_running.push(format!(
                "{} emulator task(s) (connections or helpers)",
                self.inner.tasks.len()
            ));
        }
        for line in &still_running {
            tracing::warn!(still_running = %line, "close limit of {limit:?} ran out");
        }
        CloseReport {
            took: started.elapsed(),
            still_running,
        }
    }
}

/// What [`Emulator::close`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CloseReport {
    /// How long the close took.
    pub took: Duration,
    /// What was still running when the limit ran out (empty: a clean close).
    pub still_running: Vec<String>,
}

impl CloseReport {
    /// Everything ended within the limit.
    pub fn is_clean(&self) -> bool {
        self.still_running.is_empty()
    }
}

/// Waits for every future (they run concurrently on this task).
async fn futures_join<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let mut set: Vec<std::pin::Pin<Box<F>>> = futures.map(Box::pin).collect();
    std::future::poll_fn(|cx| {
        set.retain_mut(|f| f.as_mut().poll(cx).is_pending());
        if set.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
