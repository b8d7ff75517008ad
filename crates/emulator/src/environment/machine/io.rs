//! What goes into the machine ([`Input`]) and what comes out ([`Effect`]s, and an [`Answer`]
//! to an API call).

use std::time::Duration;

use bytes::Bytes;
use grace_protocol::extensions_api::ShutdownReason;
use nix::sys::signal::Signal;
use tokio::time::Instant;

use crate::environment::platform::PlatformEvent;
use crate::environment::types::{
    ApiError, InitFailure, InitPhase, InvokeRequest, NextEvent, Outcome,
};
use crate::events::{EventKind, Role};
use crate::sys::{Exit, Observation, Pid};

/// Something that happened to the environment.
#[derive(Debug)]
pub(crate) enum Input {
    /// Begin the cold start; `extensions` are the external extensions found in the layers.
    Start {
        phase: InitPhase,
        limit: Duration,
        request_id: String,
        extensions: Vec<String>,
    },
    /// A process asked for by [`Effect::Launch`] started.
    Launched { role: Role, name: String, pid: Pid },
    /// It could not be started.
    LaunchFailed {
        role: Role,
        name: String,
        error: String,
    },
    /// A process ended.
    Exited { pid: Pid, exit: Exit },
    /// `POST /extension/register`, already parsed; `id` is the identifier to hand out.
    Register {
        id: String,
        name: String,
        invoke: bool,
        shutdown: bool,
    },
    /// `GET /extension/event/next`.
    ExtensionNext { id: Option<String> },
    /// `POST /extension/{init,exit}/error`.
    ExtensionError {
        id: Option<String>,
        reported: Option<String>,
        fatal: &'static str,
    },
    /// Which extension an identifier names (for the Telemetry API).
    ExtensionName { id: Option<String> },
    /// `GET /runtime/invocation/next`.
    RuntimeNext,
    /// May the runtime answer `id` now? (Checked before a body is read.)
    CheckAnswer { id: String, what: &'static str },
    /// `POST /runtime/invocation/{id}/response` or `/error` (`error_type` set).
    RuntimeAnswer {
        id: String,
        outcome: Outcome,
        error_type: Option<String>,
    },
    /// A streamed response ended with an error in its trailers.
    StreamError { id: String, error_type: String },
    /// `POST /runtime/init/error`.
    InitError {
        error_type: Option<String>,
        body: Bytes,
    },
    /// An invocation for this (idle) environment.
    Invoke(InvokeRequest),
    /// The pool keeps the idle environment: freeze it.
    Freeze,
    /// Spin down (or reset) with this reason.
    Shutdown(ShutdownReason),
    /// The runtime is settled after its thaw: SIGTERM may go.
    Settled,
    /// What the runtime did with what it held from SIGTERM until its exit or SIGKILL.
    Leftovers(Observation),
    /// The telemetry buffers were delivered before SHUTDOWN.
    TelemetryFlushed,
    /// The kernel killed a process of the environment for want of memory (the resource model's
    /// memory limit). Given before that process's [`Input::Exited`].
    OutOfMemory,
    /// The time given by [`Machine::deadline`] has come.
    Tick,
}

/// An answer to an API call.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Done,
    /// The index of the extension an identifier names.
    Extension(usize),
    /// An extension's name.
    Name(String),
}

/// What the driver must do.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Start the external extension `name` or (role runtime) the bootstrap.
    Launch { role: Role, name: String },
    /// Send `signal` to the process group of `pid`.
    Signal { pid: Pid, signal: Signal },
    /// Wait until the just-thawed runtime has settled (at most `limit`), then give
    /// [`Input::Settled`].
    AwaitSettled { pid: Pid, limit: Duration },
    /// SIGTERM the runtime's group; when `inspect`, read what it holds from just before the
    /// signal until it exits, for a later [`Effect::CollectLeftovers`].
    Sigterm { pid: Pid, inspect: bool },
    /// Give [`Input::Leftovers`]: the observation since SIGTERM, ended (`killed`: by stopping
    /// the runtime for its SIGKILL), or a reading now when no SIGTERM started one.
    CollectLeftovers { pid: Pid, killed: bool },
    /// Drain every output pipe into the log now.
    DrainLogs,
    /// A lifecycle event only.
    Record(EventKind),
    /// A platform event: a CloudWatch line, a Telemetry record and a lifecycle event.
    Platform(PlatformEvent),
    /// Answer the runtime's parked `/next`.
    Next(NextEvent),
    /// Hand an event to extension `index` (now if parked, else at its next call).
    ToExtension { index: usize, event: Bytes },
    /// Answer the caller.
    Reply(Outcome),
    /// Flush telemetry (until `deadline`) and give [`Input::TelemetryFlushed`].
    FlushTelemetry { deadline: Instant },
    /// The process is known to be gone: stop watching its group.
    Unwatch { pid: Pid },
    /// Tell the pool.
    Pool(PoolNote),
    /// Init ended: the environment is ready, or it failed with this answer.
    InitDone(Result<(), InitFailure>),
    /// The environment is dead: close its API and stop.
    Finished,
}

/// What the pool learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolNote {
    /// The caller has its answer; the environment is idle again soon.
    Answered,
    /// Idle and ready for the next invocation.
    Idle,
    /// Shutting down: never hand it out again, and it no longer counts.
    Retired,
}

/// The effects of one input, and the answer to an API call.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub(crate) list: Vec<Effect>,
    pub(crate) answer: Option<Result<Answer, ApiError>>,
}

impl Effects {
    pub(super) fn push(&mut self, effect: Effect) {
        self.list.push(effect);
    }

    pub(super) fn record(&mut self, kind: EventKind) {
        self.list.push(Effect::Record(kind));
    }

    pub(super) fn platform(&mut self, event: PlatformEvent) {
        self.list.push(Effect::Platform(event));
    }

    pub(super) fn answer(&mut self, answer: Result<Answer, ApiError>) {
        self.answer = Some(answer);
    }
}
