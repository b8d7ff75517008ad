//! The environments of one function: reuse an idle one, start another up to the concurrency
//! limit, throttle beyond it, and spin down the ones idle for too long.
//!
//! An invoke that finds every environment busy, but one of them already answered and only
//! finishing its invocation, waits for that one instead of being throttled: a client that sends
//! its next request the moment it has the last answer must not see 429 at concurrency 1.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use grace_protocol::extensions_api::ShutdownReason;
use tokio::sync::{Notify, oneshot};

use crate::config::FunctionConfig;
use crate::environment::{
    EnvSpec, Environment, EnvironmentInfo, InitFailure, InitPhase, PoolHooks,
};
use crate::events::{EnvId, EventLog};
use crate::logs::LogSink;
use crate::sys::{Placement, Watchdog};

/// Why no environment could be had.
#[derive(Debug)]
pub(crate) enum AcquireError {
    /// Every environment is busy and the limit is reached (429).
    Throttled,
    /// Starting a new environment failed; the caller gets this payload.
    InitFailed(InitFailure),
    /// The emulator is shutting down.
    Closed,
}

/// How long an invoke waits for an environment that is finishing its invocation before it
/// starts a new one (under the concurrency limit).
const FINISHING_WAIT: Duration = Duration::from_millis(50);

enum Next {
    Start(InitPhase),
    Wait((u64, oneshot::Receiver<Option<Lease>>), Option<Duration>),
}

/// An idle environment handed to one waiting invoke. If the invoke is gone before it takes it
/// (its caller hung up), dropping the lease puts the environment back into the pool.
pub(crate) struct Lease(Option<Arc<Environment>>);

impl Lease {
    fn new(env: Arc<Environment>) -> Self {
        Self(Some(env))
    }

    fn into_inner(mut self) -> Arc<Environment> {
        match self.0.take() {
            Some(env) => env,
            // `new` always fills it, and only `into_inner` (which consumes the lease) empties it.
            None => unreachable!("a lease holds its environment until it is taken"),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(env) = self.0.take() {
            env.after_idle();
        }
    }
}

/// What every pool shares.
#[derive(Clone)]
pub(crate) struct PoolDeps {
    pub(crate) events: Arc<EventLog>,
    pub(crate) sink: LogSink,
    pub(crate) watchdog: Arc<Watchdog>,
    pub(crate) next_env_id: Arc<AtomicU64>,
    /// Where environments are pinned (`None`: nowhere).
    pub(crate) placement: Option<Arc<Placement>>,
}

pub(crate) struct Pool {
    pub(crate) cfg: Arc<FunctionConfig>,
    deps: PoolDeps,
    state: Mutex<PoolState>,
    /// Woken whenever an environment leaves the pool.
    emptied: Notify,
    me: Weak<Pool>,
}

#[derive(Default)]
struct PoolState {
    all: Vec<Arc<Environment>>,
    idle: Vec<Arc<Environment>>,
    /// Shutting down: no longer counted, but waited for when the pool closes.
    retiring: Vec<EnvId>,
    starting: usize,
    /// Environments in init (listed by the control API; not yet usable).
    initializing: Vec<Arc<Environment>>,
    /// Busy environments to spin down as soon as they are idle (`grace shutdown`).
    drain: Vec<EnvId>,
    /// Invokes waiting for an environment; `None` tells them to look again.
    waiters: VecDeque<(u64, oneshot::Sender<Option<Lease>>)>,
    next_waiter: u64,
    last_init_failed: bool,
    closed: bool,
}

impl Pool {
    pub(crate) fn new(cfg: FunctionConfig, deps: PoolDeps) -> Arc<Self> {
        let pool = Arc::new_cyclic(|me| Pool {
            cfg: Arc::new(cfg),
            deps,
            state: Mutex::new(PoolState::default()),
            emptied: Notify::new(),
            me: me.clone(),
        });
        tokio::spawn(housekeeping(Arc::downgrade(&pool)));
        pool
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An environment for one invocation, exclusively; `wait` queues instead of throttling
    /// (asynchronous invokes). Returns the invoke's deadline when a suppressed init used part
    /// of it.
    ///
    /// An environment that has answered and is only finishing its invocation is preferred to a
    /// cold start, as Lambda keeps sequential invokes on one warm environment; under the
    /// concurrency limit that wait is short, after which a new environment starts.
    pub(crate) async fn acquire(
        &self,
        request_id: &str,
        wait: bool,
    ) -> Result<(Arc<Environment>, Option<Instant>), AcquireError> {
        let mut impatient = false;
        loop {
            let next = {
                let mut st = self.lock();
                if st.closed {
                    return Err(AcquireError::Closed);
                }
                if let Some(env) = st.idle.pop() {
                    return Ok((env, None));
                }
                let under_limit = st.all.len() + st.starting < self.cfg.concurrency.max(1);
                let finishing = st.all.iter().filter(|e| e.is_finishing()).count();
                let soon_free = finishing > st.waiters.len();
                if soon_free && !(impatient && under_limit) {
                    Next::Wait(self.enqueue(&mut st), under_limit.then_some(FINISHING_WAIT))
                } else if under_limit {
                    st.starting += 1;
                    Next::Start(if st.last_init_failed {
                        InitPhase::Invoke
                    } else {
                        InitPhase::Init
                    })
                } else if wait {
                    Next::Wait(self.enqueue(&mut st), None)
                } else {
                    return Err(AcquireError::Throttled);
                }
            };
            let ((id, mut rx), limit) = match next {
                Next::Start(phase) => return self.start_detached(phase, request_id).await,
                Next::Wait(waiter, limit) => (waiter, limit),
            };
            let received: Result<_, ()> = match limit {
                None => (&mut rx).await.map_err(drop),
                Some(limit) => match tokio::time::timeout(limit, &mut rx).await {
                    Ok(received) => received.map_err(drop),
                    Err(_) => {
                        // Withdraw under the lock; if the waiter was already served, its
                        // answer is in the channel.
                        let mut st = self.lock();
                        let queued = st.waiters.iter().position(|(w, _)| *w == id);
                        if let Some(i) = queued {
                            st.waiters.remove(i);
                            impatient = true;
                            continue;
                        }
                        drop(st);
                        rx.try_recv().map_err(drop)
                    }
                },
            };
            match received {
                Ok(Some(lease)) => return Ok((lease.into_inner(), None)),
                Ok(None) => continue,
                Err(_) => return Err(AcquireError::Closed),
            }
        }
    }

    fn enqueue(&self, st: &mut PoolState) -> (u64, oneshot::Receiver<Option<Lease>>) {
        let (tx, rx) = oneshot::channel();
        st.next_waiter += 1;
        st.waiters.push_back((st.next_waiter, tx));
        (st.next_waiter, rx)
    }

    /// Starts an environment in a task of its own: a caller that hangs up during the cold
    /// start cancels only its wait, and the environment, once ready, joins the pool.
    async fn start_detached(
        &self,
        phase: InitPhase,
        request_id: &str,
    ) -> Result<(Arc<Environment>, Option<Instant>), AcquireError> {
        let Some(pool) = self.me.upgrade() else {
            return Err(AcquireError::Closed);
        };
        let request_id = request_id.to_owned();
        let task = tokio::spawn(async move {
            let (env, deadline) = pool.start(phase, &request_id).await?;
            Ok::<_, AcquireError>((Lease::new(env), deadline))
        });
        match task.await {
            Ok(Ok((lease, deadline))) => Ok((lease.into_inner(), deadline)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(AcquireError::Closed),
        }
    }

    async fn start(
        &self,
        phase: InitPhase,
        request_id: &str,
    ) -> Result<(Arc<Environment>, Option<Instant>), AcquireError> {
        let started = Instant::now();
        // A suppressed init runs inside the invoke and is bounded by the function timeout.
        let (limit, deadline) = match phase {
            InitPhase::Init => (self.cfg.init_timeout, None),
            InitPhase::Invoke => (self.cfg.timeout, Some(started + self.cfg.timeout)),
        };
        let hooks: Weak<dyn PoolHooks> = self.me.clone();
        let spec = EnvSpec {
            id: self.deps.next_env_id.fetch_add(1, Ordering::Relaxed) + 1,
            cfg: Arc::clone(&self.cfg),
            events: Arc::clone(&self.deps.events),
            sink: Arc::clone(&self.deps.sink),
            watchdog: Arc::clone(&self.deps.watchdog),
            hooks,
            cpus: self
                .deps
                .placement
                .as_ref()
                .map(|p| p.place(self.cfg.memory_mb)),
        };
        let id = spec.id;
        let result = Environment::start(spec, phase, limit, request_id).await;
        let mut st = self.lock();
        st.starting -= 1;
        st.initializing.retain(|e| e.id() != id);
        match result {
            Ok(env) => {
                st.last_init_failed = false;
                if st.closed {
                    drop(st);
                    env.spawn_shutdown(ShutdownReason::Spindown);
                    return Err(AcquireError::Closed);
                }
                st.all.push(Arc::clone(&env));
                Ok((env, deadline))
            }
            Err(failure) => {
                st.last_init_failed = true;
                Self::wake_one(&mut st);
                Err(AcquireError::InitFailed(failure))
            }
        }
    }

    /// Tells one waiter to look again (capacity was freed).
    fn wake_one(st: &mut PoolState) {
        while let Some((_, w)) = st.waiters.pop_front() {
            if w.send(None).is_ok() {
                return;
            }
        }
    }

    /// Spins every environment down (`grace shutdown`), gracefully: the idle ones now, the busy
    /// ones as soon as their invocation completes. Waits for all of them; returns how many.
    pub(crate) async fn spin_down(&self) -> usize {
        let (idle, busy) = {
            let mut st = self.lock();
            let idle = std::mem::take(&mut st.idle);
            let busy: Vec<Arc<Environment>> = st
                .all
                .iter()
                .filter(|e| !idle.iter().any(|i| i.id() == e.id()))
                .cloned()
                .collect();
            st.drain.extend(busy.iter().map(|e| e.id()));
            (idle, busy)
        };
        let n = idle.len() + busy.len();
        for env in &idle {
            env.spawn_shutdown(ShutdownReason::Spindown);
        }
        for env in idle.iter().chain(busy.iter()) {
            env.wait_dead().await;
        }
        n
    }

    /// Stops handing out environments and spins every one down once it is idle; waits until
    /// all are gone.
    pub(crate) async fn close(&self) {
        let waiters = {
            let mut st = self.lock();
            st.closed = true;
            std::mem::take(&mut st.waiters)
        };
        drop(waiters);
        loop {
            let notified = self.emptied.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (empty, idle) = {
                let mut st = self.lock();
                (
                    st.all.is_empty() && st.starting == 0 && st.retiring.is_empty(),
                    std::mem::take(&mut st.idle),
                )
            };
            if empty {
                return;
            }
            for env in idle {
                env.spawn_shutdown(ShutdownReason::Spindown);
            }
            notified.await;
        }
    }

    pub(crate) fn environments(&self) -> Vec<EnvironmentInfo> {
        let envs: Vec<Arc<Environment>> = {
            let st = self.lock();
            st.initializing
                .iter()
                .chain(st.all.iter())
                .cloned()
                .collect()
        };
        envs.iter().map(|e| e.info()).collect()
    }

    fn tick(&self, now: Instant) {
        let (all, expired) = {
            let mut st = self.lock();
            let mut expired = Vec::new();
            if let Some(limit) = self.cfg.idle_shutdown {
                st.idle.retain(|env| {
                    let keep = env.idle_for(now).is_none_or(|idle| idle < limit);
                    if !keep {
                        expired.push(Arc::clone(env));
                    }
                    keep
                });
            }
            (st.all.clone(), expired)
        };
        for env in &all {
            env.check_overdue(now);
        }
        for env in expired {
            env.spawn_shutdown(ShutdownReason::Spindown);
        }
    }
}

impl PoolHooks for Pool {
    fn created(&self, env: Arc<Environment>) {
        self.lock().initializing.push(env);
    }

    fn idle(&self, env: Arc<Environment>) {
        let mut st = self.lock();
        let drained = st
            .drain
            .iter()
            .position(|id| *id == env.id())
            .map(|i| st.drain.swap_remove(i));
        if st.closed || drained.is_some() {
            drop(st);
            env.spawn_shutdown(ShutdownReason::Spindown);
            return;
        }
        let mut lease = Lease::new(env);
        while let Some((_, w)) = st.waiters.pop_front() {
            match w.send(Some(lease)) {
                Ok(()) => return,
                Err(returned) => match returned {
                    Some(returned) => lease = returned,
                    None => return,
                },
            }
        }
        let env = lease.into_inner();
        st.idle.push(Arc::clone(&env));
        drop(st);
        env.freeze_if_idle();
    }

    fn retired(&self, id: EnvId) {
        let mut st = self.lock();
        st.all.retain(|e| e.id() != id);
        st.idle.retain(|e| e.id() != id);
        st.initializing.retain(|e| e.id() != id);
        st.drain.retain(|e| *e != id);
        st.retiring.push(id);
        Self::wake_one(&mut st);
    }

    fn dead(&self, id: EnvId) {
        self.lock().retiring.retain(|e| *e != id);
        self.emptied.notify_waiters();
    }
}

/// Idle spin-down and overdue invocations, checked a few times a second (nothing on the invoke
/// path).
async fn housekeeping(pool: Weak<Pool>) {
    let period = match pool.upgrade().and_then(|p| p.cfg.idle_shutdown) {
        Some(idle) => (idle / 4).clamp(Duration::from_millis(10), Duration::from_millis(100)),
        None => Duration::from_millis(100),
    };
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(pool) = pool.upgrade() else { return };
        pool.tick(Instant::now());
    }
}
