//! One execution environment (sandbox): a state machine with no I/O ([`machine`]), one driver
//! task that owns it and does the I/O ([`driver`]: processes, signals, timers, channels), and
//! the [`EnvHandle`] through which the servers and the pool talk to the driver. Platform events
//! are rendered into log lines, Telemetry records and lifecycle events in one place
//! ([`platform`]).
//!
//! Nothing here knows the pool or the servers: the pool hears from an environment through the
//! [`Notice`] channel it hands to [`spawn`], and serves the environment's Runtime API with the
//! handle.
//!
//! Modules: [`machine`], [`driver`], [`platform`], [`types`] (requests, events, outcomes,
//! errors), [`vars`] (the processes' environment variables and the layers' extensions),
//! [`resources`] (the resource model's cgroup, for the driver).

pub(crate) mod driver;
pub(crate) mod machine;
pub(crate) mod platform;
mod resources;
pub(crate) mod types;
mod vars;

use std::sync::Arc;

use bytes::Bytes;
use grace_protocol::extensions_api::ShutdownReason;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::FunctionConfig;
use crate::events::{EnvId, EventLog, Role};
use crate::logs::LogSink;
use crate::sys::{self, Pid, Watchdog};

use machine::{Answer, Input};
pub(crate) use types::{
    ApiError, InitFailure, InitPhase, InvokeRequest, NextEvent, Outcome, platform_error,
};

/// What an environment tells its pool.
#[derive(Debug)]
pub(crate) enum Notice {
    /// The caller has its answer; the environment will be idle soon.
    Answered,
    /// Idle again, ready for the next invocation.
    Idle,
    /// Shutting down: never hand it out again; it no longer counts.
    Retired,
    /// Every process is gone.
    Dead,
    /// Init succeeded: the environment is ready for the invoke that started it.
    Ready,
    /// Init failed (sent once every process is gone, just before `Dead`).
    InitFailed(InitFailure),
}

/// What an environment is made from.
pub(crate) struct EnvSpec {
    pub(crate) id: EnvId,
    pub(crate) cfg: Arc<FunctionConfig>,
    pub(crate) events: Arc<EventLog>,
    pub(crate) sink: LogSink,
    pub(crate) watchdog: Arc<Watchdog>,
    /// The CPUs its processes are pinned to, if any.
    pub(crate) cpus: Option<sys::CpuLease>,
    /// Where its notices go.
    pub(crate) pool: mpsc::UnboundedSender<(EnvId, Notice)>,
    /// Where its helper tasks are tracked.
    pub(crate) tasks: TaskTracker,
}

pub(crate) use driver::spawn;

/// A message to the driver.
#[derive(Debug)]
pub(crate) enum Msg {
    /// An input, and where its answer goes.
    Input(Input, Option<oneshot::Sender<Result<Answer, ApiError>>>),
    /// `GET /runtime/invocation/next`: the receiver the event will come on.
    Next(oneshot::Sender<Result<oneshot::Receiver<NextEvent>, ApiError>>),
    /// `GET /extension/event/next`.
    ExtensionNext {
        id: Option<String>,
        reply: oneshot::Sender<Result<NextWait, ApiError>>,
    },
    /// An invocation, its answer, and (with `Tail`) its log once it completes.
    Invoke {
        req: InvokeRequest,
        reply: oneshot::Sender<Outcome>,
        tail: Option<oneshot::Sender<Vec<u8>>>,
    },
    /// A snapshot for the control API.
    Info(oneshot::Sender<EnvironmentInfo>),
}

/// An event for an extension: now, or later.
#[derive(Debug)]
pub(crate) enum NextWait {
    Now(Bytes),
    Later(oneshot::Receiver<Bytes>),
}

/// The answer of [`EnvHandle::invoke`]: the outcome, and (with `tail`) the log tail once the
/// invocation has completed.
#[derive(Debug)]
pub(crate) struct Invoked {
    pub(crate) outcome: Outcome,
    pub(crate) tail: Option<oneshot::Receiver<Vec<u8>>>,
}

/// The way to an environment's driver. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct EnvHandle {
    pub(crate) id: EnvId,
    tx: mpsc::UnboundedSender<Msg>,
    dead: watch::Receiver<bool>,
    /// Cancelled once the environment is dead: closes its Runtime API and connections.
    pub(crate) closed: CancellationToken,
    pub(crate) telemetry: Arc<crate::telemetry::Hub>,
    pub(crate) cfg: Arc<FunctionConfig>,
}

/// The environment is gone (its driver has stopped).
fn gone() -> ApiError {
    ApiError::forbidden(
        grace_protocol::runtime_api::error_type::INVALID_STATE_TRANSITION,
        "The execution environment is shut down",
    )
}

impl EnvHandle {
    /// Sends `input` and waits for the machine's answer.
    async fn call(&self, input: Input) -> Result<Answer, ApiError> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Input(input, Some(tx))).is_err() {
            return Err(gone());
        }
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Sends `input` without waiting.
    pub(crate) fn tell(&self, input: Input) {
        let _ = self.tx.send(Msg::Input(input, None));
    }

    /// `GET /runtime/invocation/next`.
    pub(crate) async fn runtime_next(&self) -> Result<oneshot::Receiver<NextEvent>, ApiError> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Next(tx)).is_err() {
            return Err(gone());
        }
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    /// May the runtime answer `id` now?
    pub(crate) async fn check_answer(&self, id: &str, what: &'static str) -> Result<(), ApiError> {
        self.call(Input::CheckAnswer {
            id: id.to_owned(),
            what,
        })
        .await
        .map(drop)
    }

    /// `/response` or `/error`.
    pub(crate) async fn runtime_answer(
        &self,
        id: &str,
        outcome: Outcome,
        error_type: Option<String>,
    ) -> Result<(), ApiError> {
        self.call(Input::RuntimeAnswer {
            id: id.to_owned(),
            outcome,
            error_type,
        })
        .await
        .map(drop)
    }

    /// A streamed response ended with an error.
    pub(crate) fn stream_error(&self, id: &str, error_type: String) {
        self.tell(Input::StreamError {
            id: id.to_owned(),
            error_type,
        });
    }

    /// `POST /runtime/init/error`.
    pub(crate) async fn init_error(
        &self,
        error_type: Option<String>,
        body: Bytes,
    ) -> Result<(), ApiError> {
        self.call(Input::InitError { error_type, body })
            .await
            .map(drop)
    }

    /// `POST /extension/register` with a validated request; returns the identifier.
    pub(crate) async fn register(
        &self,
        name: &str,
        invoke: bool,
        shutdown: bool,
    ) -> Result<String, ApiError> {
        let id = crate::ids::uuid().to_string();
        self.call(Input::Register {
            id: id.clone(),
            name: name.to_owned(),
            invoke,
            shutdown,
        })
        .await?;
        Ok(id)
    }

    /// `GET /extension/event/next`.
    pub(crate) async fn extension_next(&self, id: Option<String>) -> Result<NextWait, ApiError> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::ExtensionNext { id, reply }).is_err() {
            return Err(gone());
        }
        rx.await.unwrap_or_else(|_| Err(gone()))
    }

    /// `POST /extension/{init,exit}/error`.
    pub(crate) async fn extension_error(
        &self,
        id: Option<String>,
        reported: Option<String>,
        fatal: &'static str,
    ) -> Result<(), ApiError> {
        self.call(Input::ExtensionError {
            id,
            reported,
            fatal,
        })
        .await
        .map(drop)
    }

    /// The name of the extension an identifier names.
    pub(crate) async fn extension_name(&self, id: Option<String>) -> Result<String, ApiError> {
        match self.call(Input::ExtensionName { id }).await? {
            Answer::Name(name) => Ok(name),
            _ => Err(gone()),
        }
    }

    /// Runs one invocation; the pool guarantees the environment is this caller's alone.
    pub(crate) async fn invoke(&self, req: InvokeRequest) -> Invoked {
        let request_id = Arc::clone(&req.request_id);
        let (reply, rx) = oneshot::channel();
        let (tail_tx, tail_rx) = if req.tail {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let sent = self.tx.send(Msg::Invoke {
            req,
            reply,
            tail: tail_tx,
        });
        let outcome = match sent {
            Ok(()) => rx.await.ok(),
            Err(_) => None,
        };
        let outcome = outcome.unwrap_or_else(|| Outcome::PlatformError {
            body: platform_error(
                &request_id,
                grace_protocol::runtime_api::error_type::RUNTIME_UNKNOWN,
                "Invocation was abandoned",
            ),
        });
        Invoked {
            outcome,
            tail: tail_rx,
        }
    }

    /// Freezes the environment if it is idle (the pool keeps it).
    pub(crate) fn freeze(&self) {
        self.tell(Input::Freeze);
    }

    /// Starts the shutdown sequence (nothing happens if it has started already).
    pub(crate) fn shutdown(&self, reason: ShutdownReason) {
        self.tell(Input::Shutdown(reason));
    }

    /// Waits until every process of the environment is gone.
    pub(crate) async fn wait_dead(&self) {
        let mut dead = self.dead.clone();
        let _ = dead.wait_for(|d| *d).await;
    }

    /// A snapshot for the control API; `None` once the environment is gone.
    pub(crate) async fn info(&self) -> Option<EnvironmentInfo> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Info(tx)).ok()?;
        rx.await.ok()
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
