//! One execution environment (sandbox): its Runtime API listener, its processes, and the state
//! machine that orders init, invokes, freezes and shutdown (spec §4, §9).
//!
//! All state sits behind one short-held mutex; nothing awaits while holding it. Side effects
//! that involve other parts (handing the environment back to the pool) happen after unlocking.
//!
//! Modules: [`extensions`] (registrations and their events), [`init`] (cold start), [`vars`]
//! (the processes' environment variables), [`invoke`] (one invocation, its completion and
//! timeout), [`answers`] (the runtime's `/next`, `/response` and `/error`), [`shutdown`] (the
//! SIGTERM → SHUTDOWN → SIGKILL sequence and process exits).

mod answers;
mod extensions;
mod init;
mod invoke;
mod shutdown;
mod vars;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nix::sys::signal::Signal;
use tokio::sync::{Notify, oneshot, watch};
use tokio_util::sync::CancellationToken;

use crate::config::FunctionConfig;
use crate::events::{EnvId, EventKind, EventLog, Role};
use crate::logs::{LogStream, ProcessOutput};
use crate::sys::{self, Exit, Pid, Watchdog};

pub(crate) use extensions::{Extension, NextWait};
pub(crate) use init::EnvSpec;
pub(crate) use init::{InitFailure, InitPhase};
pub(crate) use invoke::{InvokeRequest, NextEvent, Outcome, platform_error as platform_error_body};

/// What the pool learns from its environments.
pub(crate) trait PoolHooks: Send + Sync {
    /// A new environment exists and is initialising.
    fn created(&self, env: Arc<Environment>);
    /// The environment finished an invocation and is idle again.
    fn idle(&self, env: Arc<Environment>);
    /// The environment is shutting down and must not be handed out again; it no longer counts
    /// against the concurrency limit.
    fn retired(&self, env: EnvId);
    /// The environment's shutdown is complete: all its processes are gone.
    fn dead(&self, env: EnvId);
}

/// Where an environment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Init,
    Idle,
    Busy,
    ShuttingDown,
    Dead,
}

/// The runtime's side of the Runtime API state machine (RIE's runtime states, §1.8).
#[derive(Debug, Default)]
pub(crate) enum RuntimeState {
    /// Started, has not called `/next` yet.
    #[default]
    Starting,
    /// Parked in `/next`.
    Parked(oneshot::Sender<NextEvent>),
    /// Handling the event with this request id.
    Running(Arc<str>),
    /// Has answered the event; its next `/next` completes the invocation.
    Responded(Arc<str>),
    /// The process is gone.
    Exited,
}

impl RuntimeState {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Starting => "Started",
            Self::Parked(_) => "Ready",
            Self::Running(_) => "Running",
            Self::Responded(_) => "RuntimeResponseSent",
            Self::Exited => "Exited",
        }
    }
}

/// A process of the environment and how it ended.
#[derive(Debug)]
pub(crate) struct Proc {
    pub(crate) pid: Pid,
    pub(crate) role: Role,
    pub(crate) name: String,
    exit: watch::Sender<Option<Exit>>,
}

impl Proc {
    pub(crate) fn exited(&self) -> Option<Exit> {
        *self.exit.borrow()
    }

    /// Waits until the process has exited, at most `limit`; `true` if it did.
    pub(crate) async fn wait_exit(&self, limit: Duration) -> bool {
        let mut rx = self.exit.subscribe();
        tokio::time::timeout(limit, rx.wait_for(Option::is_some))
            .await
            .is_ok()
    }

    pub(crate) fn signal(&self, signal: Signal) -> bool {
        sys::kill_group(self.pid, signal)
    }
}

/// Everything that changes during the environment's life.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) phase: Phase,
    pub(crate) runtime: RuntimeState,
    pub(crate) runtime_proc: Option<Arc<Proc>>,
    pub(crate) invocation: Option<invoke::Invocation>,
    pub(crate) extensions: Vec<Extension>,
    /// External extension processes launched from layers, by executable name.
    pub(crate) launched: Vec<Arc<Proc>>,
    pub(crate) registration_open: bool,
    /// What the runtime posted to `/runtime/init/error`.
    pub(crate) init_error: Option<(String, Bytes)>,
    /// A fatal error reported by an extension (`Extension.InitError`…).
    pub(crate) fatal: Option<(String, String)>,
    pub(crate) frozen: bool,
    pub(crate) outputs: Vec<Arc<ProcessOutput>>,
    /// Init duration, reported on the first invocation's REPORT line.
    pub(crate) cold_start: Option<Duration>,
    pub(crate) idle_since: Instant,
    pub(crate) invocations: u64,
    pub(crate) memory: sys::MemoryMeter,
}

/// One sandbox.
pub(crate) struct Environment {
    pub(crate) id: EnvId,
    pub(crate) cfg: Arc<FunctionConfig>,
    pub(crate) function: Arc<str>,
    pub(crate) arn: Arc<str>,
    pub(crate) runtime_api: SocketAddr,
    pub(crate) events: Arc<EventLog>,
    pub(crate) log: Arc<LogStream>,
    pub(crate) telemetry: Arc<crate::telemetry::Hub>,
    pub(crate) watchdog: Arc<Watchdog>,
    pub(crate) hooks: Weak<dyn PoolHooks>,
    /// The CPUs its processes are pinned to (freed when the environment is dropped).
    pub(crate) cpus: Option<sys::CpuLease>,
    /// Cancelled once the environment is dead: closes its Runtime API listener and connections.
    pub(crate) token: CancellationToken,
    /// Woken on every state change that someone may be waiting for (init progress, exits).
    pub(crate) changed: Notify,
    state: Mutex<State>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment")
            .field("id", &self.id)
            .field("function", &self.function)
            .field("runtime_api", &self.runtime_api)
            .finish_non_exhaustive()
    }
}

impl Environment {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn record(&self, kind: EventKind) {
        self.events.record(&self.function, self.id, kind);
    }

    pub(crate) fn id(&self) -> EnvId {
        self.id
    }

    /// A snapshot for the control API and tests.
    pub(crate) fn info(&self) -> EnvironmentInfo {
        let st = self.lock();
        let mut pids = Vec::new();
        if let Some(p) = &st.runtime_proc {
            pids.push(ProcInfo {
                role: p.role,
                name: p.name.clone(),
                pid: p.pid,
                alive: p.exited().is_none(),
            });
        }
        for p in &st.launched {
            pids.push(ProcInfo {
                role: p.role,
                name: p.name.clone(),
                pid: p.pid,
                alive: p.exited().is_none(),
            });
        }
        EnvironmentInfo {
            id: self.id,
            function: self.function.to_string(),
            runtime_api: self.runtime_api.to_string(),
            phase: format!("{:?}", st.phase).to_ascii_lowercase(),
            frozen: st.frozen,
            invocations: st.invocations,
            extensions: st.extensions.iter().map(|e| e.name.clone()).collect(),
            processes: pids,
            cpus: self
                .cpus
                .as_ref()
                .map(sys::CpuLease::cpus)
                .unwrap_or_default(),
        }
    }

    /// SIGSTOP every process group while idle (Lambda's freeze, §4.3).
    pub(crate) fn freeze_if_idle(&self) {
        if !self.cfg.freeze {
            return;
        }
        let mut st = self.lock();
        if st.phase != Phase::Idle || st.frozen {
            return;
        }
        self.signal_all(&st, Signal::SIGSTOP);
        st.frozen = true;
        drop(st);
        self.record(EventKind::Freeze);
    }

    /// SIGCONT every process group; called with the state locked before any event is handed
    /// to the environment's processes.
    pub(crate) fn thaw(&self, st: &mut State) {
        if st.frozen {
            self.signal_all(st, Signal::SIGCONT);
            st.frozen = false;
            self.record(EventKind::Thaw);
        }
    }

    fn signal_all(&self, st: &State, signal: Signal) {
        for p in st.runtime_proc.iter().chain(st.launched.iter()) {
            if p.exited().is_none() {
                p.signal(signal);
            }
        }
    }

    /// Drains every output pipe now, so lines written so far are in the log.
    pub(crate) fn drain_logs(&self, st: &State) {
        for out in &st.outputs {
            out.drain(&self.log);
        }
    }

    /// Max Memory Used, in MB, of all the environment's processes.
    pub(crate) fn max_memory_mb(&self, st: &mut State) -> u64 {
        let roots: Vec<sys::Pid> = st
            .runtime_proc
            .iter()
            .chain(st.launched.iter())
            .map(|p| p.pid)
            .collect();
        st.memory.peak_kib(&roots).div_ceil(1024)
    }
}

/// A serialisable view of an environment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EnvironmentInfo {
    pub id: EnvId,
    pub function: String,
    pub runtime_api: String,
    pub phase: String,
    pub frozen: bool,
    pub invocations: u64,
    pub extensions: Vec<String>,
    pub processes: Vec<ProcInfo>,
    /// The CPUs its processes are pinned to; empty when not pinned.
    pub cpus: Vec<usize>,
}

/// A process of an environment.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProcInfo {
    pub role: Role,
    pub name: String,
    pub pid: Pid,
    pub alive: bool,
}

/// An error answer of the Runtime or Extensions API: status and `{"errorType","errorMessage"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) error_type: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type,
            message: message.into(),
        }
    }

    pub(crate) fn forbidden(error_type: &'static str, message: impl Into<String>) -> Self {
        Self::new(403, error_type, message)
    }
}
