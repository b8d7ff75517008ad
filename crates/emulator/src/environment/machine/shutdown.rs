//! The shutdown phase (§4.4, §9.3–9.5) and process exits (§4.5).
//!
//! No extension registered: SIGKILL at once, 0 ms of grace. Otherwise SIGTERM to the runtime's
//! process group (once it has settled after its thaw), its budget (500 ms with internal
//! extensions only, 300 ms with external ones), SIGKILL; then the telemetry is delivered, and
//! only then SHUTDOWN goes to the external extensions that subscribed to it (the others are
//! killed at once), with SIGKILL at the deadline (2,000 ms from the start). The Runtime API stays
//! open until every process is gone.

use std::time::Duration;

use bytes::Bytes;
use grace_protocol::extensions_api::{Event, ShutdownReason};
use grace_protocol::runtime_api::error_type;
use nix::sys::signal::Signal;
use tokio::time::Instant;

use super::{Effect, Effects, Machine, Shutdown, State};
use crate::environment::types::{InitFailure, exit_message};
use crate::events::{EventKind, Role, now_ms};
use crate::sys::{Exit, Observation, Pid};

/// The error type of an out-of-memory kill (Lambda's REPORT `Error Type: Runtime.OutOfMemory`).
pub(crate) const RUNTIME_OUT_OF_MEMORY: &str = "Runtime.OutOfMemory";

/// How long a just-thawed runtime may take to settle before SIGTERM goes anyway (its threads
/// may wait out a CPU quota period, 100 ms, and then a loaded machine). The runtime's budget
/// starts at SIGTERM, not here.
const SETTLE_LIMIT: Duration = Duration::from_millis(500);
/// How long to wait for killed processes to be reaped.
const REAP_WAIT: Duration = Duration::from_secs(2);

/// Where the shutdown sequence is.
#[derive(Debug)]
pub(super) enum Stage {
    /// Waiting for the just-thawed runtime to settle before SIGTERM (at most until `until`).
    Settling { until: Instant },
    /// SIGTERM sent; the runtime has until `deadline`.
    Term { deadline: Instant },
    /// Waiting for the reading of what the runtime held; `killed`: it was SIGKILLed.
    Leftovers { killed: bool },
    /// Delivering telemetry before SHUTDOWN.
    Telemetry,
    /// SHUTDOWN sent to the extensions with these processes, which have until `deadline`.
    Extensions {
        deadline: Instant,
        waiting: Vec<Pid>,
    },
    /// Waiting for every process to be reaped.
    Reaping { until: Instant },
}

impl Stage {
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self {
            Self::Settling { until } | Self::Reaping { until } => Some(*until),
            Self::Term { deadline } | Self::Extensions { deadline, .. } => Some(*deadline),
            Self::Leftovers { .. } | Self::Telemetry => None,
        }
    }
}

impl Machine {
    /// Starts the shutdown sequence, once; the invocation in flight, if any, fails first.
    pub(super) fn begin_shutdown(
        &mut self,
        reason: ShutdownReason,
        init_failure: Option<InitFailure>,
        now: Instant,
        fx: &mut Effects,
    ) {
        if matches!(self.state, State::ShuttingDown(_) | State::Dead) {
            return;
        }
        let message = match reason {
            ShutdownReason::Timeout => "Sandbox timed out",
            _ => "Execution environment was shut down",
        };
        self.fail_invocation(error_type::SANDBOX_FAILURE, message, now, fx);
        self.thaw(fx);
        let runtime_responded = matches!(
            &self.state,
            State::Busy(inv) if inv.responded.is_some() && !inv.runtime_done
        );
        let any_extension = !self.extensions.is_empty();
        let has_external = self.extensions.iter().any(|e| e.external());
        let budgets = self.cfg.budgets;
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
        self.enter(State::ShuttingDown(Shutdown {
            reason,
            started: now,
            total,
            runtime_budget,
            stage: Stage::Reaping {
                until: now + REAP_WAIT,
            },
            started_ms: now_ms(),
            any_extension,
            has_external,
            runtime_responded,
            init_failure,
        }));
        fx.push(Effect::Pool(super::PoolNote::Retired));
        fx.record(EventKind::ShutdownStart {
            reason: reason.as_str(),
            budget_ms: total.as_millis() as u64,
        });
        let unregistered: Vec<Pid> = self
            .procs
            .iter()
            .filter(|p| p.role == Role::Extension)
            .filter(|p| !self.extensions.iter().any(|e| e.name == p.name))
            .map(|p| p.pid)
            .collect();
        for pid in unregistered {
            self.kill(pid, fx);
        }
        let runtime = self.runtime().filter(|p| p.exit.is_none()).map(|p| p.pid);
        match runtime {
            Some(pid) if !any_extension => {
                // §9.5: no extension, no SIGTERM: the runtime is killed with no grace at all.
                if self.cfg.inspect_shutdown {
                    fx.push(Effect::CollectLeftovers { pid, killed: true });
                    self.set_stage(Stage::Leftovers { killed: true });
                } else {
                    self.kill(pid, fx);
                    self.after_runtime(now, fx);
                }
            }
            Some(pid) => {
                // Just thawed: let the process settle first, or SIGTERM may be delivered to a
                // thread that does not handle it (see `sys::Thawed`).
                fx.push(Effect::AwaitSettled {
                    pid,
                    limit: SETTLE_LIMIT,
                });
                self.set_stage(Stage::Settling {
                    until: now + SETTLE_LIMIT,
                });
            }
            None => self.runtime_gone(now, fx),
        }
    }

    /// The runtime settled after its thaw (or the settle limit passed): SIGTERM.
    pub(super) fn settled(&mut self, now: Instant, fx: &mut Effects) {
        let State::ShuttingDown(sd) = &self.state else {
            return;
        };
        if !matches!(sd.stage, Stage::Settling { .. }) {
            return;
        }
        let budget = sd.runtime_budget;
        let Some(rt) = self.runtime().filter(|p| p.exit.is_none()).cloned() else {
            return self.runtime_gone(now, fx);
        };
        fx.push(Effect::Sigterm {
            pid: rt.pid,
            inspect: self.cfg.inspect_shutdown,
        });
        fx.record(EventKind::Sigterm {
            role: Role::Runtime,
            name: rt.name,
            pid: rt.pid,
        });
        self.set_stage(Stage::Term {
            deadline: now + budget,
        });
    }

    /// The runtime has exited on its own (or was never alive).
    fn runtime_gone(&mut self, now: Instant, fx: &mut Effects) {
        let Some(pid) = self.runtime().map(|p| p.pid) else {
            return self.after_runtime(now, fx);
        };
        let signalled = matches!(
            &self.state,
            State::ShuttingDown(sd) if matches!(sd.stage, Stage::Term { .. })
        );
        if signalled && self.cfg.inspect_shutdown {
            fx.push(Effect::CollectLeftovers { pid, killed: false });
            return self.set_stage(Stage::Leftovers { killed: false });
        }
        // Whatever the runtime left in its group goes with it.
        fx.push(Effect::Signal {
            pid,
            signal: Signal::SIGKILL,
        });
        self.after_runtime(now, fx);
    }

    /// What the runtime held, read at its exit or before its SIGKILL.
    pub(super) fn leftovers(&mut self, observation: Observation, now: Instant, fx: &mut Effects) {
        let State::ShuttingDown(sd) = &self.state else {
            return;
        };
        let Stage::Leftovers { killed } = sd.stage else {
            return;
        };
        let Some(pid) = self.runtime().map(|p| p.pid) else {
            return;
        };
        if observation.holdings.is_some() || !observation.connections.is_empty() {
            fx.record(EventKind::Leftovers {
                pid,
                at: if killed { "sigkill" } else { "exit" },
                holdings: observation.holdings.unwrap_or_default(),
                connections: observation.connections,
                unobserved: observation.unobserved,
            });
        }
        if killed {
            self.kill(pid, fx);
        } else {
            fx.push(Effect::Signal {
                pid,
                signal: Signal::SIGKILL,
            });
        }
        self.after_runtime(now, fx);
    }

    /// The runtime is gone: telemetry, then SHUTDOWN to the external extensions.
    fn after_runtime(&mut self, now: Instant, fx: &mut Effects) {
        let State::ShuttingDown(sd) = &self.state else {
            return;
        };
        if !sd.any_extension {
            return self.reap(now, fx);
        }
        if sd.has_external {
            // Everything the extensions subscribed to reaches them before SHUTDOWN (§3.2).
            fx.push(Effect::FlushTelemetry {
                deadline: sd.started + sd.total,
            });
            return self.set_stage(Stage::Telemetry);
        }
        self.send_shutdown_events(now, fx);
    }

    pub(super) fn telemetry_flushed(&mut self, now: Instant, fx: &mut Effects) {
        if matches!(&self.state, State::ShuttingDown(sd) if matches!(sd.stage, Stage::Telemetry)) {
            self.send_shutdown_events(now, fx);
        }
    }

    fn send_shutdown_events(&mut self, now: Instant, fx: &mut Effects) {
        let State::ShuttingDown(sd) = &self.state else {
            return;
        };
        let deadline = sd.started + sd.total;
        let deadline_ms = sd.started_ms + sd.total.as_millis() as u64;
        let reason = sd.reason.as_str();
        let event = Bytes::from(
            serde_json::to_vec(&Event::Shutdown {
                shutdown_reason: reason.to_owned(),
                deadline_ms,
            })
            .unwrap_or_default(),
        );
        let mut waiting = Vec::new();
        let mut unsubscribed = Vec::new();
        for (index, ext) in self.extensions.iter().enumerate() {
            let Some(pid) = ext.pid else { continue };
            let alive = self.procs.iter().any(|p| p.pid == pid && p.exit.is_none());
            if ext.shutdown && alive {
                fx.push(Effect::ToExtension {
                    index,
                    event: event.clone(),
                });
                fx.record(EventKind::ShutdownEvent {
                    name: ext.name.clone(),
                    reason,
                    deadline_ms,
                });
                waiting.push(pid);
            } else if !ext.shutdown {
                unsubscribed.push(pid);
            }
        }
        for pid in unsubscribed {
            self.kill(pid, fx);
        }
        if waiting.is_empty() {
            return self.reap(now, fx);
        }
        self.set_stage(Stage::Extensions { deadline, waiting });
    }

    /// Waits for every process to be reaped, then the environment is dead.
    fn reap(&mut self, now: Instant, fx: &mut Effects) {
        self.set_stage(Stage::Reaping {
            until: now + REAP_WAIT,
        });
        self.check_reaped(now, fx);
    }

    fn check_reaped(&mut self, now: Instant, fx: &mut Effects) {
        if self.procs.iter().all(|p| p.exit.is_some()) {
            self.finish_shutdown(now, fx);
        }
    }

    fn finish_shutdown(&mut self, now: Instant, fx: &mut Effects) {
        let State::ShuttingDown(sd) = &mut self.state else {
            return;
        };
        let reason = sd.reason.as_str();
        let duration = now.saturating_duration_since(sd.started);
        let init_failure = sd.init_failure.take();
        for p in self.procs.iter().filter(|p| p.exit.is_some()) {
            fx.push(Effect::Unwatch { pid: p.pid });
        }
        fx.push(Effect::DrainLogs);
        self.enter(State::Dead);
        fx.record(EventKind::ShutdownDone {
            reason,
            duration_ms: crate::environment::platform::ms(duration),
        });
        if let Some(failure) = init_failure {
            fx.push(Effect::InitDone(Err(failure)));
        }
        fx.push(Effect::Finished);
    }

    /// A deadline of the shutdown passed.
    pub(super) fn shutdown_tick(&mut self, now: Instant, fx: &mut Effects) {
        let State::ShuttingDown(sd) = &self.state else {
            return;
        };
        if sd.stage.deadline().is_none_or(|d| now < d) {
            return;
        }
        match &sd.stage {
            Stage::Settling { .. } => self.settled(now, fx),
            Stage::Term { .. } => {
                let Some(pid) = self.runtime().map(|p| p.pid) else {
                    return self.after_runtime(now, fx);
                };
                if self.cfg.inspect_shutdown {
                    fx.push(Effect::CollectLeftovers { pid, killed: true });
                    self.set_stage(Stage::Leftovers { killed: true });
                } else {
                    self.kill(pid, fx);
                    self.after_runtime(now, fx);
                }
            }
            Stage::Extensions { waiting, .. } => {
                for pid in waiting.clone() {
                    self.kill(pid, fx);
                }
                self.reap(now, fx);
            }
            Stage::Reaping { .. } => self.finish_shutdown(now, fx),
            Stage::Leftovers { .. } | Stage::Telemetry => {}
        }
    }

    /// A process ended. Outside init and shutdown this is a crash: the invocation in flight
    /// fails and the environment resets (§4.5).
    pub(super) fn exited(&mut self, pid: Pid, exit: Exit, now: Instant, fx: &mut Effects) {
        let during_shutdown = matches!(self.state, State::ShuttingDown(_) | State::Dead);
        let Some(proc) = self.procs.iter_mut().find(|p| p.pid == pid) else {
            return;
        };
        proc.exit = Some(exit);
        let proc = proc.clone();
        fx.record(EventKind::ProcessExit {
            role: proc.role,
            name: proc.name.clone(),
            pid,
            exit: exit.describe(),
            during_shutdown,
        });
        match &mut self.state {
            State::Init(_) => self.check_init(now, fx),
            State::Idle(_) | State::Busy(_) => {
                let (error_type, message) = match proc.role {
                    Role::Runtime => (error_type::RUNTIME_EXIT_ERROR, exit_message(exit)),
                    Role::Extension => (
                        error_type::EXTENSION_CRASH,
                        format!("Extension {} exited: {}", proc.name, exit.describe()),
                    ),
                };
                self.fail_invocation(error_type, &message, now, fx);
                self.begin_shutdown(ShutdownReason::Failure, None, now, fx);
            }
            State::ShuttingDown(sd) => match &mut sd.stage {
                Stage::Settling { .. } | Stage::Term { .. } if proc.role == Role::Runtime => {
                    self.runtime_gone(now, fx)
                }
                Stage::Extensions { waiting, .. } => {
                    waiting.retain(|p| *p != pid);
                    fx.push(Effect::Signal {
                        pid,
                        signal: Signal::SIGKILL,
                    });
                    if waiting.is_empty() {
                        self.reap(now, fx);
                    }
                }
                Stage::Reaping { .. } => self.check_reaped(now, fx),
                _ => {}
            },
            State::Dead => {}
        }
    }

    /// An out-of-memory kill (§4.5): the invocation in flight fails with `Runtime.OutOfMemory`
    /// and the message Lambda gives (the runtime is killed: `signal: killed`), and the
    /// environment resets with reason `failure`, so the next invoke gets a fresh one. During
    /// init it is the init's failure; during shutdown it changes nothing.
    pub(super) fn out_of_memory(&mut self, now: Instant, fx: &mut Effects) {
        let message = exit_message(Exit::Signal(Signal::SIGKILL as i32));
        match &self.state {
            State::Init(_) => self.fail_init(RUNTIME_OUT_OF_MEMORY, &message, now, fx),
            State::Idle(_) | State::Busy(_) => {
                self.fail_invocation(RUNTIME_OUT_OF_MEMORY, &message, now, fx);
                self.begin_shutdown(ShutdownReason::Failure, None, now, fx);
            }
            State::ShuttingDown(_) | State::Dead => {}
        }
    }

    /// SIGKILLs a process group (recorded when the process was still alive).
    fn kill(&self, pid: Pid, fx: &mut Effects) {
        if let Some(p) = self.procs.iter().find(|p| p.pid == pid && p.exit.is_none()) {
            fx.record(EventKind::Sigkill {
                role: p.role,
                name: p.name.clone(),
                pid,
            });
        }
        fx.push(Effect::Signal {
            pid,
            signal: Signal::SIGCONT,
        });
        fx.push(Effect::Signal {
            pid,
            signal: Signal::SIGKILL,
        });
    }

    fn set_stage(&mut self, stage: Stage) {
        if let State::ShuttingDown(sd) = &mut self.state {
            sd.stage = stage;
        }
    }
}
