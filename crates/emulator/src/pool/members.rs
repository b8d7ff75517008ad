//! The pool's task: the only owner of its function's membership (starting, idle, busy and
//! retiring environments, the invokes waiting for one, idle spin-down, reloads), fed by the
//! command and notice channels of [`super::Pool`].

use super::*;

/// Where a member is.
enum Status {
    /// In init; `reply` is the invoke waiting for it.
    Starting {
        reply: Option<oneshot::Sender<Acquired>>,
        deadline: Option<Instant>,
    },
    Idle {
        since: Instant,
    },
    Busy {
        answered: bool,
    },
}

struct Member {
    handle: EnvHandle,
    status: Status,
}

struct Waiter {
    request_id: String,
    wait: bool,
    reply: oneshot::Sender<Acquired>,
    /// When it stops waiting for a finishing environment and starts one of its own.
    expires: Option<Instant>,
}

/// The pool's task: the only owner of the membership.
pub(super) struct Members {
    /// The definition new environments are made from.
    cfg: Arc<FunctionConfig>,
    /// The function's name, for the events about the function itself.
    function: Arc<str>,
    /// Which definition `cfg` is (1, then one more per reload).
    generation: u64,
    deps: PoolDeps,
    /// For leases (weak: the task ends when the last `Pool` handle and lease are gone).
    cmd_tx: mpsc::WeakUnboundedSender<Cmd>,
    notice_tx: mpsc::UnboundedSender<(EnvId, Notice)>,
    /// Counted against the limit: starting, idle and busy environments.
    members: HashMap<EnvId, Member>,
    /// Idle members, the most recently used last.
    idle: Vec<EnvId>,
    /// Shutting down: no longer counted, but waited for when the pool closes.
    retiring: HashSet<EnvId>,
    /// Busy or starting members to spin down as soon as they are idle (`grace shutdown`, or a
    /// reload: they run an old definition).
    drain: HashSet<EnvId>,
    waiters: VecDeque<Waiter>,
    last_init_failed: bool,
    closed: bool,
    close_waiters: Vec<oneshot::Sender<()>>,
}

impl Members {
    pub(super) fn new(
        cfg: Arc<FunctionConfig>,
        deps: PoolDeps,
        cmd_tx: mpsc::WeakUnboundedSender<Cmd>,
        notice_tx: mpsc::UnboundedSender<(EnvId, Notice)>,
    ) -> Self {
        Self {
            function: Arc::from(cfg.name.as_str()),
            generation: 1,
            cfg,
            deps,
            cmd_tx,
            notice_tx,
            members: HashMap::new(),
            idle: Vec::new(),
            retiring: HashSet::new(),
            drain: HashSet::new(),
            waiters: VecDeque::new(),
            last_init_failed: false,
            closed: false,
            close_waiters: Vec::new(),
        }
    }

    pub(super) async fn run(
        mut self,
        mut cmds: mpsc::UnboundedReceiver<Cmd>,
        mut notices: mpsc::UnboundedReceiver<(EnvId, Notice)>,
    ) {
        loop {
            let due = self.next_due();
            tokio::select! {
                biased;
                Some((id, notice)) = notices.recv() => self.notice(id, notice),
                cmd = cmds.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => return,
                },
                () = sleep_until(due) => self.expire(Instant::now()),
            }
            if self.closed && self.members.is_empty() && self.retiring.is_empty() {
                // Closed and empty: nothing can join any more (acquire answers Closed).
                self.check_closed();
                return;
            }
        }
    }

    fn command(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Acquire {
                request_id,
                wait,
                reply,
            } => self.acquire(request_id, wait, reply, false),
            Cmd::Returned(id) => self.idle_again(id),
            Cmd::SpinDown(reply) => {
                let mut handles = Vec::new();
                for (id, m) in &self.members {
                    match m.status {
                        Status::Idle { .. } => m.handle.shutdown(ShutdownReason::Spindown),
                        Status::Busy { .. } => {
                            self.drain.insert(*id);
                        }
                        Status::Starting { .. } => continue,
                    }
                    handles.push(m.handle.clone());
                }
                self.idle.clear();
                let _ = reply.send(handles);
            }
            Cmd::Replace { cfg, reply } => {
                let _ = reply.send(self.replace(cfg));
            }
            Cmd::Close(reply) => {
                self.closed = true;
                for w in self.waiters.drain(..) {
                    let _ = w.reply.send(Err(AcquireError::Closed));
                }
                for id in self.idle.drain(..) {
                    if let Some(m) = self.members.get(&id) {
                        m.handle.shutdown(ShutdownReason::Spindown);
                    }
                }
                self.close_waiters.push(reply);
                self.check_closed();
            }
            Cmd::Members(reply) => {
                let _ = reply.send(self.members.values().map(|m| m.handle.clone()).collect());
            }
        }
    }

    fn notice(&mut self, id: EnvId, notice: Notice) {
        match notice {
            Notice::Ready => {
                self.last_init_failed = false;
                let Some(m) = self.members.get_mut(&id) else {
                    return;
                };
                let Status::Starting { reply, deadline } = &mut m.status else {
                    return;
                };
                let (reply, deadline) = (reply.take(), *deadline);
                m.status = Status::Busy { answered: false };
                if self.closed {
                    m.handle.shutdown(ShutdownReason::Spindown);
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(AcquireError::Closed));
                    }
                    return;
                }
                let lease = Lease::new(&self.cmd_tx, &m.handle, deadline);
                match reply {
                    Some(reply) => {
                        // A caller that hung up meanwhile drops the lease: the environment
                        // comes back as idle.
                        let _ = reply.send(Ok(lease));
                    }
                    None => drop(lease),
                }
            }
            Notice::InitFailed(failure) => {
                if let Some(Member {
                    status: Status::Starting { reply, .. },
                    ..
                }) = self.members.remove(&id)
                    && let Some(reply) = reply
                {
                    let _ = reply.send(Err(AcquireError::InitFailed(failure)));
                }
                self.drain.remove(&id);
                self.last_init_failed = true;
                self.wake_one();
            }
            Notice::Answered => {
                if let Some(m) = self.members.get_mut(&id)
                    && let Status::Busy { answered } = &mut m.status
                {
                    *answered = true;
                }
            }
            Notice::Idle => self.idle_again(id),
            Notice::Retired => {
                let starting = matches!(
                    self.members.get(&id).map(|m| &m.status),
                    Some(Status::Starting { .. })
                );
                // A failing init keeps its place until its answer (InitFailed) comes.
                if !starting {
                    self.members.remove(&id);
                    self.idle.retain(|i| *i != id);
                    self.drain.remove(&id);
                    self.retiring.insert(id);
                    self.wake_one();
                }
            }
            Notice::Dead => {
                self.retiring.remove(&id);
                self.members.remove(&id);
                self.drain.remove(&id);
                self.check_closed();
            }
        }
    }

    /// A new definition: every member is retired (the idle ones spin down now, the busy and
    /// starting ones once their invocation ends: an invoke that has one keeps it), and the next
    /// environments are made from `cfg`, with a full init even if the last one failed (the
    /// failure was the old code's).
    fn replace(&mut self, cfg: Arc<FunctionConfig>) -> Option<Replaced> {
        if self.closed {
            return None;
        }
        self.cfg = cfg;
        self.generation += 1;
        self.last_init_failed = false;
        let mut ids: Vec<EnvId> = self.members.keys().copied().collect();
        ids.sort_unstable();
        let replaced = Replaced {
            generation: self.generation,
            retiring: ids.len(),
        };
        self.record(
            FUNCTION_EVENT,
            EventKind::Reload {
                generation: replaced.generation,
                retiring: replaced.retiring,
            },
        );
        for id in ids {
            self.record(id, EventKind::Retired { reason: "reload" });
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            match m.status {
                Status::Idle { .. } => {
                    self.idle.retain(|i| *i != id);
                    m.status = Status::Busy { answered: false };
                    m.handle.shutdown(ShutdownReason::Spindown);
                }
                Status::Busy { .. } | Status::Starting { .. } => {
                    self.drain.insert(id);
                }
            }
        }
        Some(replaced)
    }

    fn record(&self, env: EnvId, kind: EventKind) {
        self.deps.events.record(&self.function, env, kind);
    }

    /// An environment finished its invocation (or a lease came back unused).
    fn idle_again(&mut self, id: EnvId) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if self.closed || self.drain.remove(&id) {
            m.status = Status::Busy { answered: false };
            m.handle.shutdown(ShutdownReason::Spindown);
            return;
        }
        let handle = m.handle.clone();
        while let Some(w) = self.waiters.pop_front() {
            match w.reply.send(Ok(Lease::new(&self.cmd_tx, &handle, None))) {
                Ok(()) => {
                    if let Some(m) = self.members.get_mut(&id) {
                        m.status = Status::Busy { answered: false };
                    }
                    return;
                }
                Err(Ok(lease)) => {
                    // That caller is gone; keep the environment for the next one.
                    let _ = lease.take();
                }
                Err(Err(_)) => {}
            }
        }
        if let Some(m) = self.members.get_mut(&id) {
            m.status = Status::Idle {
                since: Instant::now(),
            };
        }
        self.idle.push(id);
        if self.cfg.freeze {
            handle.freeze();
        }
    }

    fn acquire(
        &mut self,
        request_id: String,
        wait: bool,
        reply: oneshot::Sender<Acquired>,
        impatient: bool,
    ) {
        if self.closed {
            let _ = reply.send(Err(AcquireError::Closed));
            return;
        }
        if let Some(id) = self.idle.pop()
            && let Some(m) = self.members.get_mut(&id)
        {
            m.status = Status::Busy { answered: false };
            let lease = Lease::new(&self.cmd_tx, &m.handle, None);
            let _ = reply.send(Ok(lease));
            return;
        }
        let under_limit = self.members.len() < self.cfg.concurrency.max(1);
        let finishing = self
            .members
            .values()
            .filter(|m| matches!(m.status, Status::Busy { answered: true }))
            .count();
        let soon_free = finishing > self.waiters.len();
        if soon_free && !(impatient && under_limit) {
            let expires = under_limit.then(|| Instant::now() + FINISHING_WAIT);
            self.waiters.push_back(Waiter {
                request_id,
                wait,
                reply,
                expires,
            });
        } else if under_limit {
            self.start(&request_id, reply);
        } else if wait {
            self.waiters.push_back(Waiter {
                request_id,
                wait,
                reply,
                expires: None,
            });
        } else {
            let _ = reply.send(Err(AcquireError::Throttled));
        }
    }

    /// Starts a new environment for the invoke behind `reply`: a caller that hangs up during
    /// the cold start cancels only its wait; the environment, once ready, joins the pool.
    fn start(&mut self, request_id: &str, reply: oneshot::Sender<Acquired>) {
        let phase = if self.last_init_failed {
            InitPhase::Invoke
        } else {
            InitPhase::Init
        };
        // A suppressed init runs inside the invoke and is bounded by the function timeout.
        let (limit, deadline) = match phase {
            InitPhase::Init => (self.cfg.init_timeout, None),
            InitPhase::Invoke => (self.cfg.timeout, Some(Instant::now() + self.cfg.timeout)),
        };
        let listener = match bind() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot bind a Runtime API listener");
                let _ = reply.send(Err(AcquireError::Closed));
                return;
            }
        };
        let Ok(addr) = listener.local_addr() else {
            let _ = reply.send(Err(AcquireError::Closed));
            return;
        };
        let spec = EnvSpec {
            id: self.deps.next_env_id.fetch_add(1, Ordering::Relaxed) + 1,
            cfg: Arc::clone(&self.cfg),
            events: Arc::clone(&self.deps.events),
            sink: Arc::clone(&self.deps.sink),
            watchdog: Arc::clone(&self.deps.watchdog),
            cpus: self
                .deps
                .placement
                .as_ref()
                .map(|p| p.place(self.cfg.memory_mb, self.cfg.resource_model)),
            pool: self.notice_tx.clone(),
            tasks: self.deps.tasks.clone(),
        };
        let id = spec.id;
        let handle = environment::spawn(spec, addr, phase, limit, request_id);
        self.deps.tasks.spawn(crate::server::runtime_api::serve(
            listener,
            handle.clone(),
            self.deps.tasks.clone(),
        ));
        self.members.insert(
            id,
            Member {
                handle,
                status: Status::Starting {
                    reply: Some(reply),
                    deadline,
                },
            },
        );
    }

    /// Capacity was freed: the first waiter looks again.
    fn wake_one(&mut self) {
        if let Some(w) = self.waiters.pop_front() {
            self.acquire(w.request_id, w.wait, w.reply, false);
        }
    }

    fn check_closed(&mut self) {
        if self.closed && self.members.is_empty() && self.retiring.is_empty() {
            for w in self.close_waiters.drain(..) {
                let _ = w.send(());
            }
        }
    }

    /// The next idle spin-down or waiter expiry.
    fn next_due(&self) -> Option<Instant> {
        let waiter = self.waiters.iter().filter_map(|w| w.expires).min();
        let idle = self.cfg.idle_shutdown.and_then(|limit| {
            self.idle
                .iter()
                .filter_map(|id| match self.members.get(id)?.status {
                    Status::Idle { since } => Some(since + limit),
                    _ => None,
                })
                .min()
        });
        match (waiter, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn expire(&mut self, now: Instant) {
        if let Some(limit) = self.cfg.idle_shutdown {
            let members = &self.members;
            let mut expired = Vec::new();
            self.idle.retain(|id| {
                let keep = match members.get(id).map(|m| &m.status) {
                    Some(Status::Idle { since }) => now < *since + limit,
                    _ => false,
                };
                if !keep {
                    expired.push(*id);
                }
                keep
            });
            for id in expired {
                if let Some(m) = self.members.get_mut(&id) {
                    m.status = Status::Busy { answered: false };
                    m.handle.shutdown(ShutdownReason::Spindown);
                }
            }
        }
        let (due, keep): (Vec<Waiter>, Vec<Waiter>) = self
            .waiters
            .drain(..)
            .partition(|w| w.expires.is_some_and(|e| e <= now));
        self.waiters = keep.into();
        for w in due {
            self.acquire(w.request_id, w.wait, w.reply, true);
        }
    }
}

fn bind() -> std::io::Result<tokio::net::TcpListener> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    listener.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(listener)
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
