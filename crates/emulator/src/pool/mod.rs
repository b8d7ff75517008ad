//! The environments of one function: reuse an idle one, start another up to the concurrency
//! limit, throttle beyond it, and spin down the ones idle for too long.
//!
//! One task owns the membership: callers ask it over a command channel, environments tell it
//! what becomes of them over a notice channel (`Ready`, `Answered`, `Idle`, `Retired`, `Dead`).
//! A new definition of the function (a reload) is a command too: the task retires every member
//! through the ordinary spin-down (the idle ones at once, the others when their invocation
//! ends) and starts the next ones from the new definition.
//! An invoke that finds every environment busy, but one of them already answered and only
//! finishing its invocation, waits for that one instead of being throttled: a client that sends
//! its next request the moment it has the last answer must not see 429 at concurrency 1.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use grace_protocol::extensions_api::ShutdownReason;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::config::FunctionConfig;
use crate::environment::{
    self, EnvHandle, EnvSpec, EnvironmentInfo, InitFailure, InitPhase, Notice,
};
use crate::events::{EnvId, EventKind, EventLog, FUNCTION_EVENT};
use crate::logs::LogSink;
use crate::sys::{Placement, Watchdog};

mod members;
use members::Members;

/// Why no environment could be had.
#[derive(Debug)]
pub(crate) enum AcquireError {
    /// Every environment is busy and the limit is reached (429).
    Throttled,
    /// Starting a new environment failed; the caller gets this payload.
    InitFailed(InitFailure),
    /// The emulator is shutting down (or the environment could not be set up).
    Closed,
}

/// How long an invoke waits for an environment that is finishing its invocation before it
/// starts a new one (under the concurrency limit).
const FINISHING_WAIT: Duration = Duration::from_millis(50);

/// What every pool shares.
#[derive(Clone)]
pub(crate) struct PoolDeps {
    pub(crate) events: Arc<EventLog>,
    pub(crate) sink: LogSink,
    pub(crate) watchdog: Arc<Watchdog>,
    pub(crate) next_env_id: Arc<AtomicU64>,
    /// Where environments are pinned (`None`: nowhere).
    pub(crate) placement: Option<Arc<Placement>>,
    /// Where every task of the emulator is tracked.
    pub(crate) tasks: TaskTracker,
}

/// An environment handed to one invoke, with the deadline a suppressed init fixed. If it is
/// dropped before the invoke takes the handle (its caller hung up), the environment goes back
/// to the pool.
pub(crate) struct Lease {
    handle: Option<EnvHandle>,
    pool: Option<mpsc::UnboundedSender<Cmd>>,
    pub(crate) deadline: Option<Instant>,
}

impl Lease {
    fn new(
        pool: &mpsc::WeakUnboundedSender<Cmd>,
        handle: &EnvHandle,
        deadline: Option<Instant>,
    ) -> Self {
        Self {
            handle: Some(handle.clone()),
            pool: pool.upgrade(),
            deadline,
        }
    }
}

impl Lease {
    /// Takes the environment: from now on its own notices tell the pool when it is idle.
    pub(crate) fn take(mut self) -> EnvHandle {
        match self.handle.take() {
            Some(handle) => handle,
            // Only `take` empties it, and it consumes the lease.
            None => unreachable!("a lease holds its environment until it is taken"),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let (Some(handle), Some(pool)) = (self.handle.take(), &self.pool) {
            let _ = pool.send(Cmd::Returned(handle.id));
        }
    }
}

type Acquired = Result<Lease, AcquireError>;

enum Cmd {
    Acquire {
        request_id: String,
        wait: bool,
        reply: oneshot::Sender<Acquired>,
    },
    /// A lease was dropped unused.
    Returned(EnvId),
    SpinDown(oneshot::Sender<Vec<EnvHandle>>),
    /// A new definition; the answer is `None` once the pool is closed.
    Replace {
        cfg: Arc<FunctionConfig>,
        reply: oneshot::Sender<Option<Replaced>>,
    },
    Close(oneshot::Sender<()>),
    Members(oneshot::Sender<Vec<EnvHandle>>),
}

/// What a replaced definition did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Replaced {
    /// The new definition's generation (the first one is 1).
    pub(crate) generation: u64,
    /// How many environments of the old definitions are being retired.
    pub(crate) retiring: usize,
}

/// The handle on one function's pool.
pub(crate) struct Pool {
    /// The current definition (the pool's task has its own copy; this one is for the Invoke
    /// API: names, ARNs, timeouts).
    cfg: RwLock<Arc<FunctionConfig>>,
    tx: mpsc::UnboundedSender<Cmd>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("function", &self.cfg().name)
            .finish_non_exhaustive()
    }
}

impl Pool {
    pub(crate) fn new(cfg: FunctionConfig, deps: PoolDeps) -> Self {
        let cfg = Arc::new(cfg);
        let (tx, rx) = mpsc::unbounded_channel();
        let (notice_tx, notice_rx) = mpsc::unbounded_channel();
        let task = Members::new(Arc::clone(&cfg), deps.clone(), tx.downgrade(), notice_tx);
        deps.tasks.spawn(task.run(rx, notice_rx));
        Self {
            cfg: RwLock::new(cfg),
            tx,
        }
    }

    /// The function's current definition.
    pub(crate) fn cfg(&self) -> Arc<FunctionConfig> {
        Arc::clone(&self.cfg.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the function's definition: new invokes go to new environments made from `cfg`,
    /// and every current environment is retired through the ordinary spin-down (SIGTERM →
    /// SHUTDOWN → SIGKILL), the idle ones now, the busy ones once their invocation ends.
    /// `None` once the pool is closed.
    pub(crate) async fn replace(&self, cfg: FunctionConfig) -> Option<Replaced> {
        let cfg = Arc::new(cfg);
        let (reply, rx) = oneshot::channel();
        let cmd = Cmd::Replace {
            cfg: Arc::clone(&cfg),
            reply,
        };
        self.tx.send(cmd).ok()?;
        let replaced = rx.await.ok().flatten()?;
        *self.cfg.write().unwrap_or_else(|e| e.into_inner()) = cfg;
        Some(replaced)
    }

    /// An environment for one invocation, exclusively; `wait` queues instead of throttling
    /// (asynchronous invokes).
    pub(crate) async fn acquire(&self, request_id: &str, wait: bool) -> Acquired {
        let (reply, rx) = oneshot::channel();
        let cmd = Cmd::Acquire {
            request_id: request_id.to_owned(),
            wait,
            reply,
        };
        if self.tx.send(cmd).is_err() {
            return Err(AcquireError::Closed);
        }
        rx.await.unwrap_or(Err(AcquireError::Closed))
    }

    /// Spins every environment down (`grace shutdown`), gracefully: the idle ones now, the busy
    /// ones as soon as their invocation completes. Waits for all of them; returns how many.
    pub(crate) async fn spin_down(&self) -> usize {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Cmd::SpinDown(reply));
        let handles = rx.await.unwrap_or_default();
        for h in &handles {
            h.wait_dead().await;
        }
        handles.len()
    }

    /// Stops handing out environments and spins every one down once it is idle; waits until
    /// all are gone.
    pub(crate) async fn close(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Cmd::Close(reply)).is_ok() {
            let _ = rx.await;
        }
    }

    pub(crate) async fn environments(&self) -> Vec<EnvironmentInfo> {
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Cmd::Members(reply));
        let mut infos = Vec::new();
        for h in rx.await.unwrap_or_default() {
            if let Some(info) = h.info().await {
                infos.push(info);
            }
        }
        infos
    }
}
