//! The driver: one task per environment that owns its [`Machine`] and carries out its effects
//! (processes, signals, channels to parked API calls and to the caller, telemetry, the pool's
//! notices), feeding what happens back in as inputs. The machine is only ever touched here, so
//! it needs no lock; everything else reaches it through messages.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod process;

use super::machine::{Answer, Effect, Input, Machine, PoolNote, State};
use super::platform::Outputs;
use super::resources::Resources;
use super::types::{ApiError, InitPhase, NextEvent, Outcome, new_trace_id};
use super::{EnvHandle, EnvSpec, EnvironmentInfo, Msg, NextWait, Notice, ProcInfo, vars};
use crate::config::FunctionConfig;
use crate::events::{EnvId, EventLog, Role};
use crate::logs::{LogStream, ProcessOutput};
use crate::sys::{self, Exit, Pid, ProcessSpec, Watchdog};

/// Starts an environment whose Runtime API is at `runtime_api`: its driver, and its init. The
/// pool hears `Ready`, or `InitFailed` once every process is gone.
pub(crate) fn spawn(
    spec: EnvSpec,
    runtime_api: SocketAddr,
    phase: InitPhase,
    limit: Duration,
    request_id: &str,
) -> EnvHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let (dead_tx, dead_rx) = watch::channel(false);
    let function: Arc<str> = Arc::from(spec.cfg.name.as_str());
    let telemetry = Arc::new(crate::telemetry::Hub::new());
    let closed = CancellationToken::new();
    let handle = EnvHandle {
        id: spec.id,
        tx: tx.clone(),
        dead: dead_rx,
        closed: closed.clone(),
        telemetry: Arc::clone(&telemetry),
        cfg: Arc::clone(&spec.cfg),
    };
    let resources = Resources::new(spec.id, &spec.cfg);
    let extensions = vars::external_extensions(&spec.cfg.layers);
    let names = extensions.iter().map(|(n, _)| n.clone()).collect();
    let driver = Driver {
        id: spec.id,
        machine: Machine::new(Arc::clone(&spec.cfg), Instant::now()),
        log: Arc::new(LogStream::new(
            Arc::clone(&function),
            spec.id,
            spec.sink,
            Some(Arc::clone(&telemetry)),
            Some(Arc::clone(&spec.events)),
        )),
        function,
        cfg: spec.cfg,
        runtime_api,
        runtime_api_text: runtime_api.to_string(),
        tx,
        events: spec.events,
        telemetry,
        watchdog: spec.watchdog,
        cpus: spec.cpus,
        resources,
        pool: spec.pool,
        tasks: spec.tasks.clone(),
        extension_paths: extensions,
        outputs: Vec::new(),
        memory: Default::default(),
        parked_next: None,
        pending_next: None,
        ext_parked: Vec::new(),
        ext_pending: Vec::new(),
        caller: None,
        tail: None,
        observer: None,
        closed,
        dead: dead_tx,
    };
    let start = Input::Start {
        phase,
        limit,
        request_id: request_id.to_owned(),
        extensions: names,
    };
    spec.tasks.spawn(driver.run(rx, start));
    handle
}

struct Driver {
    id: EnvId,
    machine: Machine,
    cfg: Arc<FunctionConfig>,
    function: Arc<str>,
    runtime_api: SocketAddr,
    runtime_api_text: String,
    /// Inputs from the driver's own helper tasks (exits, settling, flushes) come back here.
    tx: mpsc::UnboundedSender<Msg>,
    events: Arc<EventLog>,
    log: Arc<LogStream>,
    telemetry: Arc<crate::telemetry::Hub>,
    watchdog: Arc<Watchdog>,
    cpus: Option<sys::CpuLease>,
    /// The environment's cgroup, with the resource model on.
    resources: Option<Resources>,
    pool: mpsc::UnboundedSender<(EnvId, Notice)>,
    tasks: TaskTracker,
    extension_paths: Vec<(String, PathBuf)>,
    outputs: Vec<Arc<ProcessOutput>>,
    memory: sys::MemoryMeter,
    /// The runtime's parked `/next`, and an event that came before it parked.
    parked_next: Option<oneshot::Sender<NextEvent>>,
    pending_next: Option<NextEvent>,
    /// Each extension's parked `event/next`, and an event that came while it was not parked.
    ext_parked: Vec<Option<oneshot::Sender<Bytes>>>,
    ext_pending: Vec<Option<Bytes>>,
    /// The caller of the invocation in flight, and where its log tail goes.
    caller: Option<oneshot::Sender<Outcome>>,
    tail: Option<oneshot::Sender<Vec<u8>>>,
    /// The shutdown observation since SIGTERM, or why it could not start.
    observer: Option<Result<sys::ShutdownObserver, String>>,
    closed: CancellationToken,
    dead: watch::Sender<bool>,
}

impl Driver {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>, start: Input) {
        let mut finished = self.feed(start).1;
        while !finished {
            let deadline = self.machine.deadline();
            let msg = tokio::select! {
                biased;
                msg = rx.recv() => msg,
                () = sleep_until(deadline) => None,
            };
            finished = match msg {
                Some(msg) => self.handle(msg),
                None => self.feed(Input::Tick).1,
            };
        }
        self.telemetry.stop();
        if let Some(resources) = self.resources.take() {
            resources.finish(&self.tasks);
        }
        self.closed.cancel();
        let _ = self.pool.send((self.id, Notice::Dead));
        self.dead.send_replace(true);
    }

    /// Handles one message; `true` once the environment is dead.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Input(input, reply) => {
                let (answer, finished) = self.feed(input);
                if let (Some(reply), Some(answer)) = (reply, answer) {
                    let _ = reply.send(answer);
                }
                finished
            }
            Msg::Next(reply) => {
                // The runtime's earlier /next was given up by its client (the connection
                // dropped): this one takes its place, and gets the event that went nowhere.
                let abandoned = self.parked_next.as_ref().is_some_and(|tx| tx.is_closed());
                if abandoned || self.pending_next.is_some() {
                    let (tx, rx) = oneshot::channel();
                    match self.pending_next.take() {
                        Some(event) => {
                            let _ = tx.send(event);
                            self.parked_next = None;
                        }
                        None => self.parked_next = Some(tx),
                    }
                    let _ = reply.send(Ok(rx));
                    return false;
                }
                let (answer, finished) = self.feed(Input::RuntimeNext);
                let answer = answer.unwrap_or(Ok(Answer::Done)).map(|_| {
                    let (tx, rx) = oneshot::channel();
                    match self.pending_next.take() {
                        Some(event) => {
                            let _ = tx.send(event);
                        }
                        None => self.parked_next = Some(tx),
                    }
                    rx
                });
                let _ = reply.send(answer);
                finished
            }
            Msg::ExtensionNext { id, reply } => {
                let (answer, finished) = self.feed(Input::ExtensionNext { id });
                let wait = match answer {
                    Some(Ok(Answer::Extension(i))) => {
                        self.grow_extensions(i);
                        match self.ext_pending[i].take() {
                            Some(event) => Ok(NextWait::Now(event)),
                            None => {
                                let (tx, rx) = oneshot::channel();
                                self.ext_parked[i] = Some(tx);
                                Ok(NextWait::Later(rx))
                            }
                        }
                    }
                    Some(Err(e)) => Err(e),
                    _ => Err(ApiError::forbidden(
                        grace_protocol::extensions_api::error_type::UNKNOWN_IDENTIFIER,
                        "Unknown extension identifier",
                    )),
                };
                let _ = reply.send(wait);
                finished
            }
            Msg::Invoke {
                mut req,
                reply,
                tail,
            } => {
                if !matches!(self.machine.state(), State::Idle(_)) {
                    // The pool hands out idle environments only; one whose runtime just died
                    // lands here.
                    let body = super::platform_error(
                        &req.request_id,
                        grace_protocol::runtime_api::error_type::RUNTIME_EXIT_ERROR,
                        "Runtime is not ready",
                    );
                    let _ = reply.send(Outcome::PlatformError { body });
                    return false;
                }
                if req.trace_id.is_none() {
                    req.trace_id = Some(new_trace_id());
                }
                self.caller = Some(reply);
                self.tail = tail;
                self.feed(Input::Invoke(req)).1
            }
            Msg::Info(reply) => {
                let _ = reply.send(self.info());
                false
            }
        }
    }

    /// Feeds `input` and everything its effects give back; returns the first input's answer
    /// and whether the environment is now dead.
    fn feed(&mut self, input: Input) -> (Option<Result<Answer, ApiError>>, bool) {
        let mut queue = VecDeque::from([input]);
        let mut answer = None;
        let mut first = true;
        let mut finished = false;
        while let Some(input) = queue.pop_front() {
            let fx = self.machine.on(input, Instant::now());
            if first {
                answer = fx.answer;
                first = false;
            }
            for effect in fx.list {
                finished |= self.apply(effect, &mut queue);
            }
        }
        (answer, finished)
    }

    /// Carries out one effect; inputs it gives at once go on `queue`. `true` when finished.
    fn apply(&mut self, effect: Effect, queue: &mut VecDeque<Input>) -> bool {
        match effect {
            Effect::Launch { role, name } => queue.push_back(self.launch(role, name)),
            Effect::Signal { pid, signal } => {
                let handled = self
                    .resources
                    .as_mut()
                    .is_some_and(|r| r.signal(pid, signal, &self.tasks));
                if !handled {
                    sys::kill_group(pid, signal);
                }
            }
            Effect::AwaitSettled { pid, limit } => {
                // Read right after the thaw (the effects before this one), before any thread
                // may have run.
                let thawed = sys::Thawed::now(pid);
                let tx = self.tx.clone();
                self.tasks.spawn(async move {
                    let until = Instant::now() + limit;
                    while !thawed.settled() {
                        if Instant::now() >= until {
                            tracing::warn!(
                                pid,
                                "the runtime's threads did not settle after the thaw within {} ms: SIGTERM goes anyway, and may be taken by a thread that does not handle it",
                                limit.as_millis()
                            );
                            break;
                        }
                        tokio::time::sleep(Duration::from_micros(200)).await;
                    }
                    let _ = tx.send(Msg::Input(Input::Settled, None));
                });
            }
            Effect::Sigterm { pid, inspect } => {
                let mut sent = false;
                if inspect {
                    // The observer sends SIGTERM itself, once it is attached and waiting.
                    let inspector = Arc::new(sys::Inspector::new(pid, self.runtime_api.port()));
                    let observer = sys::ShutdownObserver::start(pid, inspector);
                    sent = observer.is_ok();
                    self.observer = Some(observer);
                }
                if !sent {
                    sys::kill_group(pid, Signal::SIGTERM);
                }
            }
            Effect::CollectLeftovers { pid, killed } => match self.observer.take() {
                Some(Ok(observer)) => {
                    if killed && let Some(resources) = &self.resources {
                        resources.unthrottle();
                    }
                    let tx = self.tx.clone();
                    self.tasks.spawn(async move {
                        let observation =
                            tokio::task::spawn_blocking(move || observer.finish(killed))
                                .await
                                .unwrap_or_default();
                        let _ = tx.send(Msg::Input(Input::Leftovers(observation), None));
                    });
                }
                Some(Err(why)) => {
                    let holdings = sys::Inspector::new(pid, self.runtime_api.port()).sample();
                    queue.push_back(Input::Leftovers(sys::Observation {
                        holdings,
                        connections: Vec::new(),
                        unobserved: Some(why),
                    }));
                }
                None => {
                    // No SIGTERM (no extension registered): what it holds now is cut unannounced.
                    let holdings = sys::Inspector::new(pid, self.runtime_api.port()).sample();
                    let connections = holdings
                        .as_ref()
                        .map(|h| sys::never_told(&h.tcp))
                        .unwrap_or_default();
                    queue.push_back(Input::Leftovers(sys::Observation {
                        holdings,
                        connections,
                        unobserved: None,
                    }));
                }
            },
            Effect::Record(kind) => self.events.record(&self.function, self.id, kind),
            Effect::Platform(event) => {
                let is_end = matches!(event, super::platform::PlatformEvent::End { .. });
                self.render(event);
                if is_end && let Some(tail) = self.tail.take() {
                    let _ = tail.send(self.log.take_tail());
                }
            }
            Effect::Next(event) => {
                // Kept for the runtime's next /next when nobody is parked, or when the parked
                // call was given up (its client gone): a process that is exiting instead is
                // reported like any crash.
                let undelivered = match self.parked_next.take() {
                    Some(tx) => tx.send(event).err(),
                    None => Some(event),
                };
                self.pending_next = undelivered;
            }
            Effect::ToExtension { index, event } => {
                self.grow_extensions(index);
                let undelivered = match self.ext_parked[index].take() {
                    Some(tx) => tx.send(event).err(),
                    None => Some(event),
                };
                if undelivered.is_some() {
                    self.ext_pending[index] = undelivered;
                }
            }
            Effect::Reply(outcome) => {
                if let Some(caller) = self.caller.take() {
                    let _ = caller.send(outcome);
                }
            }
            Effect::FlushTelemetry { deadline } => {
                let tx = self.tx.clone();
                let telemetry = Arc::clone(&self.telemetry);
                self.tasks.spawn(async move {
                    telemetry.flush(deadline.into_std()).await;
                    let _ = tx.send(Msg::Input(Input::TelemetryFlushed, None));
                });
            }
            Effect::Unwatch { pid } => self.watchdog.remove(pid),
            Effect::DrainLogs => self.drain_logs(),
            Effect::Pool(note) => {
                let notice = match note {
                    PoolNote::Answered => Notice::Answered,
                    PoolNote::Idle => Notice::Idle,
                    PoolNote::Retired => Notice::Retired,
                };
                let _ = self.pool.send((self.id, notice));
            }
            Effect::InitDone(result) => {
                let notice = match result {
                    Ok(()) => Notice::Ready,
                    Err(failure) => Notice::InitFailed(failure),
                };
                let _ = self.pool.send((self.id, notice));
            }
            Effect::Finished => return true,
        }
        false
    }

    fn render(&mut self, event: super::platform::PlatformEvent) {
        let outputs = &self.outputs;
        let log = &self.log;
        let drain = || {
            for out in outputs {
                out.drain(log);
            }
        };
        let machine = &self.machine;
        let memory = &mut self.memory;
        let resources = self.resources.as_ref();
        let mut max_memory_mb = || {
            resources
                .and_then(Resources::max_memory_mb)
                .unwrap_or_else(|| memory.peak_kib(&machine.pids()).div_ceil(1024))
        };
        Outputs {
            cfg: &self.cfg,
            function: &self.function,
            env: self.id,
            runtime_api: &self.runtime_api_text,
            events: &self.events,
            log: &self.log,
            telemetry: &self.telemetry,
            drain: &drain,
            max_memory_mb: &mut max_memory_mb,
        }
        .render(event);
    }

    fn drain_logs(&self) {
        for out in &self.outputs {
            out.drain(&self.log);
        }
    }

    fn grow_extensions(&mut self, index: usize) {
        if self.ext_parked.len() <= index {
            self.ext_parked.resize_with(index + 1, || None);
            self.ext_pending.resize_with(index + 1, || None);
        }
    }

    fn info(&self) -> EnvironmentInfo {
        let m = &self.machine;
        EnvironmentInfo {
            id: self.id,
            function: self.function.to_string(),
            runtime_api: self.runtime_api_text.clone(),
            phase: m.state().name().to_owned(),
            frozen: m.frozen(),
            invocations: m.invocations(),
            extensions: m.extensions().iter().map(|e| e.name.clone()).collect(),
            processes: m
                .procs()
                .iter()
                .map(|p| ProcInfo {
                    role: p.role,
                    name: p.name.clone(),
                    pid: p.pid,
                    alive: p.exit.is_none(),
                })
                .collect(),
            cpus: self
                .cpus
                .as_ref()
                .map(sys::CpuLease::cpus)
                .unwrap_or_default(),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
