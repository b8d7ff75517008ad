//! One execution environment as a state machine with no I/O (spec §4, §9): inputs and the
//! current time go in through [`Machine::on`], effects come out; the driver
//! (`environment::driver`) owns sockets, processes and timers and carries the effects out.
//! [`Machine::deadline`] tells the driver when to call again with [`Input::Tick`].
//!
//! The lifecycle is the one enum [`State`]: `Init` → `Idle` ⇄ `Busy` → `ShuttingDown` → `Dead`
//! (`Init` may also go straight to `ShuttingDown`). Only [`Machine::enter`], called from the
//! handlers of [`Machine::on`], changes it. Besides the state the machine keeps two registries
//! that live as long as the environment: its processes and its registered extensions.
//!
//! Modules: [`init`] (cold start), [`invoke`] (one invocation, its completion and timeout),
//! [`api`] (the runtime's and extensions' API calls), [`shutdown`] (SIGTERM → SHUTDOWN →
//! SIGKILL and process exits).

mod api;
mod init;
mod invoke;
mod io;
mod shutdown;
#[cfg(test)]
mod tests;

pub(crate) use io::{Answer, Effect, Effects, Input, PoolNote};

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use grace_protocol::extensions_api::ShutdownReason;
use nix::sys::signal::Signal;
use tokio::time::Instant;

use super::types::{InitFailure, InitPhase};
use crate::config::FunctionConfig;
use crate::events::{EventKind, Role};
use crate::sys::{Exit, Pid};

/// Where the environment is in its life.
#[derive(Debug)]
pub(crate) enum State {
    /// Cold start: extensions, then the runtime, until all are ready.
    Init(Init),
    /// Ready for an invocation; frozen while the pool keeps it.
    Idle(Idle),
    /// Running one invocation.
    Busy(Invocation),
    /// The shutdown sequence.
    ShuttingDown(Shutdown),
    /// Every process is gone.
    Dead,
}

impl State {
    /// The name the control API shows.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Init(_) => "init",
            Self::Idle(_) => "idle",
            Self::Busy(_) => "busy",
            Self::ShuttingDown(_) => "shuttingdown",
            Self::Dead => "dead",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Init {
    phase: InitPhase,
    started: Instant,
    deadline: Instant,
    limit: Duration,
    /// The invoke that waits for this init (named in its error answer).
    request_id: String,
    /// The runtime has been started (every external extension registered first).
    runtime_started: bool,
    /// The runtime's first `/next` came: registration is closed.
    runtime_ready: bool,
    /// What the runtime posted to `/runtime/init/error`.
    init_error: Option<(String, Bytes)>,
    /// A fatal error reported by an extension (`Extension.InitError`…).
    fatal: Option<(String, String)>,
}

#[derive(Debug)]
pub(crate) struct Idle {
    frozen: bool,
    /// Init duration, reported on the first invocation's REPORT line.
    cold_start: Option<Duration>,
}

/// An invocation in flight.
#[derive(Debug)]
pub(crate) struct Invocation {
    request_id: Arc<str>,
    started: Instant,
    deadline: Instant,
    /// The caller has its answer.
    answered: bool,
    /// The runtime answered (and may call `/next` now).
    responded: Option<Instant>,
    /// The runtime is back in `/next`.
    runtime_done: bool,
    /// Its END and REPORT are written (timed out or failed): nothing more happens to it.
    ended: bool,
    produced_bytes: usize,
    error_type: Option<String>,
    init_duration: Option<Duration>,
}

#[derive(Debug)]
pub(crate) struct Shutdown {
    reason: ShutdownReason,
    started: Instant,
    /// The whole phase's budget (0 without extensions).
    total: Duration,
    runtime_budget: Duration,
    stage: shutdown::Stage,
    /// Wall-clock start, for SHUTDOWN's `deadlineMs`.
    started_ms: u64,
    /// Any extension registered (else no SIGTERM at all), and any external one.
    any_extension: bool,
    has_external: bool,
    /// The runtime had answered the invocation the reset ended: its `/next` is parked.
    runtime_responded: bool,
    /// Init failed: answered once every process is gone.
    init_failure: Option<InitFailure>,
}

/// A process of the environment.
#[derive(Debug, Clone)]
pub(crate) struct Proc {
    pub(crate) pid: Pid,
    pub(crate) role: Role,
    pub(crate) name: String,
    pub(crate) exit: Option<Exit>,
}

/// A registered extension.
#[derive(Debug, Clone)]
pub(crate) struct Extension {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Its process, for external extensions.
    pub(crate) pid: Option<Pid>,
    pub(crate) invoke: bool,
    pub(crate) shutdown: bool,
    /// Has called `event/next` at least once (init waits for every extension to).
    ready: bool,
    /// Has an INVOKE it has not finished (the invocation waits for it).
    busy: bool,
}

impl Extension {
    pub(crate) fn external(&self) -> bool {
        self.pid.is_some()
    }

    /// The events it registered for, as the platform names them.
    pub(crate) fn events(&self) -> Vec<&'static str> {
        let mut events = Vec::new();
        if self.invoke {
            events.push("INVOKE");
        }
        if self.shutdown {
            events.push("SHUTDOWN");
        }
        events
    }
}

/// One environment's state machine.
#[derive(Debug)]
pub(crate) struct Machine {
    cfg: Arc<FunctionConfig>,
    /// The function's ARN, made once.
    arn: Arc<str>,
    state: State,
    procs: Vec<Proc>,
    extensions: Vec<Extension>,
    /// External extensions to launch, by name (from the layers).
    to_launch: Vec<String>,
    invocations: u64,
}

impl Machine {
    pub(crate) fn new(cfg: Arc<FunctionConfig>, now: Instant) -> Self {
        Self {
            arn: Arc::from(cfg.arn()),
            cfg,
            state: State::Init(Init {
                phase: InitPhase::Init,
                started: now,
                deadline: now,
                limit: Duration::ZERO,
                request_id: String::new(),
                runtime_started: false,
                runtime_ready: false,
                init_error: None,
                fatal: None,
            }),
            procs: Vec::new(),
            extensions: Vec::new(),
            to_launch: Vec::new(),
            invocations: 0,
        }
    }

    /// The one entry point: what `input` at `now` does.
    pub(crate) fn on(&mut self, input: Input, now: Instant) -> Effects {
        let mut fx = Effects::default();
        match input {
            Input::Start {
                phase,
                limit,
                request_id,
                extensions,
            } => self.start(phase, limit, request_id, extensions, now, &mut fx),
            Input::Launched { role, name, pid } => self.launched(role, name, pid, now, &mut fx),
            Input::LaunchFailed { role, name, error } => {
                self.launch_failed(role, &name, &error, now, &mut fx)
            }
            Input::Exited { pid, exit } => self.exited(pid, exit, now, &mut fx),
            Input::Register {
                id,
                name,
                invoke,
                shutdown,
            } => self.register(id, name, invoke, shutdown, now, &mut fx),
            Input::ExtensionNext { id } => self.extension_next(id.as_deref(), now, &mut fx),
            Input::ExtensionError {
                id,
                reported,
                fatal,
            } => self.extension_error(id.as_deref(), reported.as_deref(), fatal, now, &mut fx),
            Input::ExtensionName { id } => {
                let found = self
                    .extension_index(id.as_deref())
                    .map(|i| Answer::Name(self.extensions[i].name.clone()));
                fx.answer(found);
            }
            Input::RuntimeNext => self.runtime_next(now, &mut fx),
            Input::CheckAnswer { id, what } => {
                let checked = self.check_answer(&id, what).map(|()| Answer::Done);
                fx.answer(checked);
            }
            Input::RuntimeAnswer {
                id,
                outcome,
                error_type,
            } => self.runtime_answer(&id, outcome, error_type, now, &mut fx),
            Input::StreamError { id, error_type } => {
                if let State::Busy(inv) = &mut self.state
                    && *inv.request_id == *id
                {
                    inv.error_type = Some(error_type);
                }
            }
            Input::InitError { error_type, body } => {
                self.init_error(error_type, body, now, &mut fx)
            }
            Input::Invoke(req) => self.invoke(req, now, &mut fx),
            Input::Freeze => self.freeze(&mut fx),
            Input::Shutdown(reason) => self.begin_shutdown(reason, None, now, &mut fx),
            Input::Settled => self.settled(now, &mut fx),
            Input::Leftovers(observation) => self.leftovers(observation, now, &mut fx),
            Input::TelemetryFlushed => self.telemetry_flushed(now, &mut fx),
            Input::OutOfMemory => self.out_of_memory(now, &mut fx),
            Input::Tick => self.tick(now, &mut fx),
        }
        fx
    }

    /// The next time something is due, if anything is.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match &self.state {
            State::Init(init) if init.limit > Duration::ZERO => Some(init.deadline),
            State::Busy(inv) => Some(inv.deadline),
            State::ShuttingDown(sd) => sd.stage.deadline(),
            _ => None,
        }
    }

    /// The only place the state changes.
    fn enter(&mut self, next: State) {
        self.state = next;
    }

    fn tick(&mut self, now: Instant, fx: &mut Effects) {
        match &self.state {
            State::Init(init) if init.limit > Duration::ZERO && now >= init.deadline => {
                let message = format!(
                    "Task timed out after {:.2} seconds",
                    init.limit.as_secs_f64()
                );
                self.fail_init(
                    grace_protocol::runtime_api::error_type::SANDBOX_TIMEDOUT,
                    &message,
                    now,
                    fx,
                );
            }
            State::Busy(inv) if now >= inv.deadline => self.time_out(now, fx),
            State::ShuttingDown(_) => self.shutdown_tick(now, fx),
            _ => {}
        }
    }

    /// Freezes the idle environment (SIGSTOP of every process group, §4.3).
    fn freeze(&mut self, fx: &mut Effects) {
        if !self.cfg.freeze {
            return;
        }
        let State::Idle(idle) = &mut self.state else {
            return;
        };
        if idle.frozen {
            return;
        }
        idle.frozen = true;
        self.signal_live(Signal::SIGSTOP, fx);
        fx.record(EventKind::Freeze);
    }

    /// Thaws a frozen idle environment before anything reaches its processes.
    fn thaw(&mut self, fx: &mut Effects) {
        if let State::Idle(idle) = &mut self.state
            && idle.frozen
        {
            idle.frozen = false;
            self.signal_live(Signal::SIGCONT, fx);
            fx.record(EventKind::Thaw);
        }
    }

    fn signal_live(&self, signal: Signal, fx: &mut Effects) {
        for p in self.procs.iter().filter(|p| p.exit.is_none()) {
            fx.push(Effect::Signal { pid: p.pid, signal });
        }
    }

    fn runtime(&self) -> Option<&Proc> {
        self.procs.iter().find(|p| p.role == Role::Runtime)
    }

    fn proc(&self, name: &str) -> Option<&Proc> {
        self.procs
            .iter()
            .find(|p| p.role == Role::Extension && p.name == name)
    }

    // --- views for the driver and the control API ---

    pub(crate) fn state(&self) -> &State {
        &self.state
    }

    pub(crate) fn procs(&self) -> &[Proc] {
        &self.procs
    }

    pub(crate) fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    pub(crate) fn invocations(&self) -> u64 {
        self.invocations
    }

    pub(crate) fn frozen(&self) -> bool {
        matches!(&self.state, State::Idle(idle) if idle.frozen)
    }

    /// The pids whose memory counts for Max Memory Used.
    pub(crate) fn pids(&self) -> Vec<Pid> {
        self.procs.iter().map(|p| p.pid).collect()
    }
}
