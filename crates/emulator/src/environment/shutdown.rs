//! The shutdown phase (§4.4, §9.3–9.5) and process exits (§4.5).
//!
//! No extension registered: SIGKILL at once, 0 ms of grace. Otherwise SIGTERM to the runtime's
//! process group, its budget (500 ms with internal extensions only, 300 ms with external ones),
//! SIGKILL; only then SHUTDOWN to the external extensions that subscribed to it (the others are
//! killed at once), and SIGKILL at the 2,000 ms deadline. The Runtime API stays open until the
//! processes are gone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use grace_protocol::extensions_api::{Event, ShutdownReason};
use grace_protocol::runtime_api::error_type;
use nix::sys::signal::Signal;

use super::init::exit_message;
use super::{Environment, Phase, Proc, RuntimeState};
use crate::events::{EventKind, Role, now_ms};
use crate::sys::Exit;

/// How long to wait for killed processes to be reaped.
const REAP_WAIT: Duration = Duration::from_secs(2);

impl Environment {
    /// Starts the shutdown sequence in the background.
    pub(crate) fn spawn_shutdown(self: &Arc<Self>, reason: ShutdownReason) {
        tokio::spawn(Arc::clone(self).shutdown(reason));
    }

    /// Fails the environment (extension error or crash): the invocation in flight gets
    /// `error_type`, and the environment resets with reason `failure`.
    pub(crate) fn fail(self: &Arc<Self>, error_type: &str) {
        let mut st = self.lock();
        let message = st
            .fatal
            .as_ref()
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| error_type.to_owned());
        self.fail_invocation(&mut st, error_type, &message);
        drop(st);
        self.spawn_shutdown(ShutdownReason::Failure);
    }

    /// Runs the shutdown sequence once; later callers wait for the first one to finish.
    pub(crate) async fn shutdown(self: Arc<Self>, reason: ShutdownReason) {
        let start = Instant::now();
        let start_ms = now_ms();
        let first = {
            let mut st = self.lock();
            let first = !matches!(st.phase, Phase::ShuttingDown | Phase::Dead);
            if first {
                st.phase = Phase::ShuttingDown;
            }
            first
        };
        if !first {
            self.wait_dead().await;
            return;
        }
        let (runtime, externals, unregistered, any_extension) = {
            let mut st = self.lock();
            st.phase = Phase::ShuttingDown;
            let message = match reason {
                ShutdownReason::Timeout => "Sandbox timed out",
                _ => "Execution environment was shut down",
            };
            self.fail_invocation(&mut st, error_type::SANDBOX_FAILURE, message);
            self.thaw(&mut st);
            let externals: Vec<(Arc<Proc>, bool)> = st
                .extensions
                .iter()
                .filter_map(|e| e.proc.as_ref().map(|p| (Arc::clone(p), e.shutdown)))
                .collect();
            let unregistered: Vec<Arc<Proc>> = st
                .launched
                .iter()
                .filter(|p| !st.extensions.iter().any(|e| e.name == p.name))
                .cloned()
                .collect();
            (
                st.runtime_proc.clone(),
                externals,
                unregistered,
                !st.extensions.is_empty(),
            )
        };
        if let Some(hooks) = self.hooks.upgrade() {
            hooks.retired(self.id);
        }
        let budgets = self.cfg.budgets;
        let has_external = !externals.is_empty();
        let runtime_budget = if has_external {
            budgets.runtime_with_external
        } else {
            budgets.runtime_internal_only
        };
        let total = match (any_extension, has_external) {
            (false, _) => Duration::ZERO,
            (true, false) => runtime_budget,
            (true, true) => budgets.total.max(runtime_budget),
        };
        self.record(EventKind::ShutdownStart {
            reason: reason.as_str(),
            budget_ms: total.as_millis() as u64,
        });

        for p in &unregistered {
            self.kill(p);
        }
        if !any_extension {
            // §9.5: no extension, no SIGTERM: the runtime is killed with no grace at all.
            if let Some(rt) = &runtime {
                self.record_leftovers(
                    rt,
                    "sigkill",
                    self.inspector(rt).and_then(|i| i.sample()),
                    0.0,
                );
                self.kill(rt);
            }
        } else {
            if let Some(rt) = &runtime {
                if rt.exited().is_none() {
                    // Just thawed: let the process settle first, or SIGTERM may be delivered to
                    // a thread that does not handle it (see `settled_after_thaw`).
                    let resumed = Instant::now() + Duration::from_millis(100);
                    while !crate::sys::settled_after_thaw(rt.pid) && Instant::now() < resumed {
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    }
                    // Read before signalling: a runtime may exit the instant SIGTERM arrives.
                    let inspector = self.inspector(rt);
                    let before = inspector.as_ref().and_then(|i| i.sample());
                    let before_at = std::time::Instant::now();
                    // The readings start before the signal: a cleanup may take well under a
                    // millisecond, less than it takes to start a thread.
                    let sampler = inspector
                        .map(|i| sample_until_exit(i, before.clone(), before_at, runtime_budget));
                    rt.signal(Signal::SIGTERM);
                    self.record(EventKind::Sigterm {
                        role: Role::Runtime,
                        name: rt.name.clone(),
                        pid: rt.pid,
                    });
                    let exited = rt.wait_exit(runtime_budget).await;
                    let (last, stale) = match sampler {
                        Some(s) => s.await.unwrap_or((None, Duration::ZERO)),
                        None => (before, Duration::ZERO),
                    };
                    match if exited { Ok(last) } else { Err(last) } {
                        Ok(last) => self.record_leftovers(rt, "exit", last, crate::logs::ms(stale)),
                        Err(now) => {
                            self.record_leftovers(rt, "sigkill", now, 0.0);
                            self.kill(rt);
                        }
                    }
                }
                // Whatever the runtime left in its group goes with it.
                rt.signal(Signal::SIGKILL);
            }
            let deadline = start + total;
            let deadline_ms = start_ms + total.as_millis() as u64;
            let event = Bytes::from(
                serde_json::to_vec(&Event::Shutdown {
                    shutdown_reason: reason.as_str().to_owned(),
                    deadline_ms,
                })
                .unwrap_or_default(),
            );
            // Everything the extensions subscribed to reaches them before SHUTDOWN (§3.2).
            if has_external {
                self.telemetry.flush(deadline).await;
            }
            let mut waiting = Vec::new();
            {
                let mut st = self.lock();
                for ext in st.extensions.iter_mut().filter(|e| e.external) {
                    let Some(proc) = ext.proc.clone() else {
                        continue;
                    };
                    if ext.shutdown && proc.exited().is_none() {
                        ext.deliver(event.clone());
                        self.record(EventKind::ShutdownEvent {
                            name: ext.name.clone(),
                            reason: reason.as_str(),
                            deadline_ms,
                        });
                        waiting.push(proc);
                    }
                }
            }
            for (proc, subscribed) in &externals {
                if !subscribed {
                    self.kill(proc);
                }
            }
            for proc in waiting {
                if !proc
                    .wait_exit(deadline.saturating_duration_since(Instant::now()))
                    .await
                {
                    self.kill(&proc);
                }
                proc.signal(Signal::SIGKILL);
            }
        }
        // Reap everything before the Runtime API closes.
        for p in runtime
            .iter()
            .chain(externals.iter().map(|(p, _)| p))
            .chain(unregistered.iter())
        {
            p.wait_exit(REAP_WAIT).await;
            self.watchdog.remove(p.pid);
        }
        {
            let mut st = self.lock();
            self.drain_logs(&st);
            st.phase = Phase::Dead;
            st.runtime = RuntimeState::Exited;
        }
        self.record(EventKind::ShutdownDone {
            reason: reason.as_str(),
            duration_ms: crate::logs::ms(start.elapsed()),
        });
        self.telemetry.stop();
        self.token.cancel();
        self.changed.notify_waiters();
        if let Some(hooks) = self.hooks.upgrade() {
            hooks.dead(self.id);
        }
    }

    /// An inspector of what the runtime holds (the Runtime API connection left out), when the
    /// function is configured to be inspected.
    fn inspector(&self, proc: &Proc) -> Option<crate::sys::Inspector> {
        self.cfg
            .inspect_shutdown
            .then(|| crate::sys::Inspector::new(proc.pid, self.runtime_api.port()))
    }

    /// Records what the runtime held at its exit or SIGKILL, when it was read.
    fn record_leftovers(
        &self,
        rt: &Proc,
        at: &'static str,
        holdings: Option<crate::sys::Holdings>,
        stale_ms: f64,
    ) {
        if let Some(holdings) = holdings {
            self.record(EventKind::Leftovers {
                pid: rt.pid,
                at,
                stale_ms,
                holdings,
            });
        }
    }

    /// SIGKILLs a process group (recorded when the process was still alive).
    fn kill(&self, proc: &Proc) {
        if proc.exited().is_none() {
            self.record(EventKind::Sigkill {
                role: proc.role,
                name: proc.name.clone(),
                pid: proc.pid,
            });
        }
        proc.signal(Signal::SIGCONT);
        proc.signal(Signal::SIGKILL);
    }

    /// Waits until the environment is dead.
    pub(crate) async fn wait_dead(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().phase == Phase::Dead {
                return;
            }
            notified.await;
        }
    }

    /// A process of the environment ended. Outside shutdown and init this is a crash: the
    /// invocation in flight fails and the environment resets (§4.5).
    pub(crate) fn on_process_exit(self: &Arc<Self>, proc: &Arc<Proc>, exit: Exit) {
        proc.exit.send_replace(Some(exit));
        let mut st = self.lock();
        let phase = st.phase;
        let during_shutdown = matches!(phase, Phase::ShuttingDown | Phase::Dead);
        self.record(EventKind::ProcessExit {
            role: proc.role,
            name: proc.name.clone(),
            pid: proc.pid,
            exit: exit.describe(),
            during_shutdown,
        });
        let is_runtime = st
            .runtime_proc
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(r, proc));
        if is_runtime {
            st.runtime = RuntimeState::Exited;
        }
        if matches!(phase, Phase::Idle | Phase::Busy) {
            let (error_type, message) = if is_runtime {
                (error_type::RUNTIME_EXIT_ERROR, exit_message(exit))
            } else {
                (
                    error_type::EXTENSION_CRASH,
                    format!("Extension {} exited: {}", proc.name, exit.describe()),
                )
            };
            self.fail_invocation(&mut st, error_type, &message);
            drop(st);
            self.changed.notify_waiters();
            self.spawn_shutdown(ShutdownReason::Failure);
            return;
        }
        drop(st);
        self.changed.notify_waiters();
    }
}

/// Reads what the runtime holds, back to back (on a blocking-pool thread that only yields
/// between readings), until its exit begins or `budget` runs out. The answer is the last reading
/// of the live process (readings taken once the exit has begun are discarded: the kernel is
/// closing descriptors) and how long before the exit it was taken: on a loaded machine the
/// readings can lag, and a close in that gap cannot be seen.
fn sample_until_exit(
    inspector: crate::sys::Inspector,
    before: Option<crate::sys::Holdings>,
    before_at: std::time::Instant,
    budget: Duration,
) -> tokio::task::JoinHandle<(Option<crate::sys::Holdings>, Duration)> {
    let deadline = std::time::Instant::now() + budget;
    tokio::task::spawn_blocking(move || {
        let mut last = before;
        let mut taken = before_at;
        while std::time::Instant::now() < deadline {
            match inspector.sample() {
                Some(now) => {
                    last = Some(now);
                    taken = std::time::Instant::now();
                }
                None => return (last, taken.elapsed()),
            }
            std::thread::yield_now();
        }
        (inspector.sample().or(last), Duration::ZERO)
    })
}
