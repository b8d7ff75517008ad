//! Cold start (§4.1, RAPID's order): listener, external extensions from the layers (each must
//! register), the runtime, then wait for the runtime's first `/next` and every registered
//! extension's first `event/next`, within the init limit.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use grace_protocol::ErrorBody;
use grace_protocol::extensions_api::ShutdownReason;
use grace_protocol::runtime_api::error_type;
use tokio_util::sync::CancellationToken;

use super::invoke::platform_error;
use super::{Environment, Phase, PoolHooks, Proc, RuntimeState, State};
use crate::config::FunctionConfig;
use crate::events::{EnvId, EventKind, EventLog, Role};
use crate::logs::{LogSink, LogStream, ProcessOutput, ms};
use crate::sys::{self, Exit, ProcessSpec, Watchdog};

/// `phase` of `platform.initStart`: `invoke` marks a suppressed init re-run inside an invoke
/// after an earlier failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitPhase {
    Init,
    Invoke,
}

impl InitPhase {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Init => "init",
            Self::Invoke => "invoke",
        }
    }
}

/// Why init failed, and the payload the first invoke is answered with.
#[derive(Debug, Clone)]
pub(crate) struct InitFailure {
    pub(crate) error_type: String,
    pub(crate) body: Bytes,
}

/// What an environment is made from.
pub(crate) struct EnvSpec {
    pub(crate) id: EnvId,
    pub(crate) cfg: Arc<FunctionConfig>,
    pub(crate) events: Arc<EventLog>,
    pub(crate) sink: LogSink,
    pub(crate) watchdog: Arc<Watchdog>,
    pub(crate) hooks: Weak<dyn PoolHooks>,
    /// The CPUs its processes are pinned to, if any.
    pub(crate) cpus: Option<sys::CpuLease>,
}

impl Environment {
    /// Creates and initialises an environment. `limit` is the init limit (10 s, or the function
    /// timeout for a suppressed init); `request_id` names the invoke that waits for it.
    pub(crate) async fn start(
        spec: EnvSpec,
        phase: InitPhase,
        limit: Duration,
        request_id: &str,
    ) -> Result<Arc<Self>, InitFailure> {
        let started = Instant::now();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| InitFailure {
                error_type: "Sandbox.Failure".to_owned(),
                body: platform_error(
                    request_id,
                    "Sandbox.Failure",
                    &format!("cannot bind the Runtime API: {e}"),
                ),
            })?;
        let runtime_api = listener.local_addr().map_err(|e| InitFailure {
            error_type: "Sandbox.Failure".to_owned(),
            body: platform_error(request_id, "Sandbox.Failure", &e.to_string()),
        })?;
        let function: Arc<str> = Arc::from(spec.cfg.name.as_str());
        let telemetry = Arc::new(crate::telemetry::Hub::new());
        let env = Arc::new(Environment {
            id: spec.id,
            arn: Arc::from(spec.cfg.arn()),
            function: Arc::clone(&function),
            runtime_api,
            events: spec.events,
            log: Arc::new(LogStream::new(
                function,
                spec.id,
                spec.sink,
                Some(Arc::clone(&telemetry)),
            )),
            telemetry,
            watchdog: spec.watchdog,
            hooks: spec.hooks,
            cpus: spec.cpus,
            token: CancellationToken::new(),
            changed: tokio::sync::Notify::new(),
            state: Mutex::new(State {
                phase: Phase::Init,
                runtime: RuntimeState::Starting,
                runtime_proc: None,
                invocation: None,
                extensions: Vec::new(),
                launched: Vec::new(),
                registration_open: true,
                init_error: None,
                fatal: None,
                frozen: false,
                outputs: Vec::new(),
                cold_start: None,
                idle_since: started,
                invocations: 0,
                memory: Default::default(),
            }),
            cfg: spec.cfg,
        });
        tokio::spawn(crate::server::runtime_api::serve(
            listener,
            Arc::clone(&env),
        ));
        if let Some(hooks) = env.hooks.upgrade() {
            hooks.created(Arc::clone(&env));
        }
        env.record(EventKind::InitStart {
            phase: phase.as_str(),
            runtime_api: runtime_api.to_string(),
        });
        env.telemetry.platform("platform.initStart", || {
            serde_json::json!({
                "initializationType": "on-demand",
                "phase": phase.as_str(),
                "runtimeVersion": concat!("grace-emulator:", env!("CARGO_PKG_VERSION")),
                "functionName": env.cfg.name,
                "functionVersion": env.cfg.version(),
                "instanceMaxMemory": env.cfg.memory_mb,
            })
        });
        env.log.platform(&format!(
            "INIT_START Runtime Version: grace-emulator:{}\tPhase: {}",
            env!("CARGO_PKG_VERSION"),
            phase.as_str()
        ));
        let deadline = started + limit;
        match env.run_init(deadline, limit, request_id).await {
            Ok(()) => {
                let took = started.elapsed();
                let mut st = env.lock();
                st.phase = Phase::Idle;
                st.cold_start = Some(took);
                st.idle_since = Instant::now();
                let lines: Vec<String> = st
                    .extensions
                    .iter()
                    .filter(|e| e.external)
                    .map(|e| {
                        format!(
                            "EXTENSION\tName: {}\tState: Ready\tEvents: [{}]",
                            e.name,
                            e.events().join(", ")
                        )
                    })
                    .collect();
                let extensions: Vec<serde_json::Value> = st
                    .extensions
                    .iter()
                    .map(|e| serde_json::json!({ "name": e.name, "state": "Ready", "events": e.events() }))
                    .collect();
                drop(st);
                for line in lines {
                    env.log.platform(&line);
                }
                env.report_init(phase, took, None, extensions);
                env.record(EventKind::InitDone {
                    duration_ms: ms(took),
                });
                Ok(env)
            }
            Err(failure) => {
                let took = started.elapsed();
                let message = String::from_utf8_lossy(&failure.body).into_owned();
                let status = if failure.error_type == error_type::SANDBOX_TIMEDOUT {
                    "timeout"
                } else {
                    "error"
                };
                env.log.platform(&format!(
                    "INIT_REPORT Init Duration: {:.2} ms\tPhase: {}\tStatus: {status}\tError Type: {}",
                    ms(took),
                    phase.as_str(),
                    failure.error_type
                ));
                env.report_init(phase, took, Some(&failure.error_type), Vec::new());
                env.record(EventKind::InitFailed {
                    error_type: failure.error_type.clone(),
                    message,
                    duration_ms: ms(took),
                });
                Arc::clone(&env).shutdown(ShutdownReason::Failure).await;
                Err(failure)
            }
        }
    }

    async fn run_init(
        self: &Arc<Self>,
        deadline: Instant,
        limit: Duration,
        request_id: &str,
    ) -> Result<(), InitFailure> {
        let fail = |error_type: &str, message: &str| InitFailure {
            error_type: error_type.to_owned(),
            body: platform_error(request_id, error_type, message),
        };
        // 1. External extensions, each of which must register before the runtime starts.
        for (name, path) in super::vars::external_extensions(&self.cfg.layers) {
            let spec = ProcessSpec {
                program: path.clone().into_os_string(),
                args: Vec::new(),
                cwd: path
                    .parent()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| self.cfg.task_root.clone()),
                env: self.extension_env(),
            };
            let proc = self.launch(Role::Extension, &name, &spec).map_err(|e| {
                fail(
                    "Extension.LaunchError",
                    &format!("cannot start extension {name}: {e}"),
                )
            })?;
            self.lock().launched.push(proc);
        }
        self.wait_until(deadline, limit, |st| {
            if let Some(p) = st.launched.iter().find(|p| p.exited().is_some()) {
                return Some(Err((
                    error_type::EXTENSION_CRASH.to_owned(),
                    format!("Extension {} exited during init", p.name),
                )));
            }
            let all = st
                .launched
                .iter()
                .all(|p| st.extensions.iter().any(|e| e.name == p.name));
            all.then_some(Ok(()))
        })
        .await
        .map_err(|(t, m)| fail(&t, &m))?;

        // 2. The runtime.
        let (program, args) = self
            .cfg
            .command
            .split_first()
            .map(|(p, a)| (p.clone(), a.to_vec()))
            .ok_or_else(|| fail("Runtime.InvalidEntrypoint", "no bootstrap command"))?;
        let spec = ProcessSpec {
            program,
            args,
            cwd: self.cfg.task_root.clone(),
            env: self.runtime_env(),
        };
        let proc = self
            .launch(Role::Runtime, "bootstrap", &spec)
            .map_err(|e| {
                fail(
                    "Runtime.InvalidEntrypoint",
                    &format!("cannot start {}: {e}", spec.program.to_string_lossy()),
                )
            })?;
        self.lock().runtime_proc = Some(proc);

        // 3. The runtime's first /next, and every registered extension's first event/next.
        self.wait_until(deadline, limit, |st| {
            if let Some((error_type, body)) = &st.init_error {
                return Some(Err((
                    error_type.clone(),
                    String::from_utf8_lossy(body).into_owned(),
                )));
            }
            if let Some((t, m)) = &st.fatal {
                return Some(Err((t.clone(), m.clone())));
            }
            if let Some(exit) = st.runtime_proc.as_ref().and_then(|p| p.exited()) {
                return Some(Err((
                    error_type::RUNTIME_EXIT_ERROR.to_owned(),
                    exit_message(exit),
                )));
            }
            if let Some(p) = st.launched.iter().find(|p| p.exited().is_some()) {
                return Some(Err((
                    error_type::EXTENSION_CRASH.to_owned(),
                    format!("Extension {} exited during init", p.name),
                )));
            }
            let ready = matches!(st.runtime, RuntimeState::Parked(_))
                && st.extensions.iter().all(|e| e.ready);
            ready.then_some(Ok(()))
        })
        .await
        .map_err(|(t, m)| {
            let posted = self.lock().init_error.clone();
            match posted {
                Some((error_type, body)) => InitFailure {
                    error_type,
                    body: init_error_body(&body, &m),
                },
                None => fail(&t, &m),
            }
        })
    }

    /// Waits until `check` gives an answer, re-checking on every state change; fails with
    /// `Sandbox.Timedout` at `deadline`.
    async fn wait_until<T>(
        &self,
        deadline: Instant,
        limit: Duration,
        mut check: impl FnMut(&State) -> Option<Result<T, (String, String)>>,
    ) -> Result<T, (String, String)> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(answer) = check(&self.lock()) {
                return answer;
            }
            if tokio::time::timeout_at(deadline.into(), notified)
                .await
                .is_err()
            {
                return Err((
                    error_type::SANDBOX_TIMEDOUT.to_owned(),
                    format!("Task timed out after {:.2} seconds", limit.as_secs_f64()),
                ));
            }
        }
    }

    /// Starts a process of this environment: own process group, watched for orphans, its
    /// output in the log, its exit reported.
    pub(crate) fn launch(
        self: &Arc<Self>,
        role: Role,
        name: &str,
        spec: &ProcessSpec,
    ) -> std::io::Result<Arc<Proc>> {
        let spawned = match &self.cpus {
            Some(cpus) => cpus.spawn_within(|| sys::spawn(spec))?,
            None => sys::spawn(spec)?,
        };
        self.watchdog.add(spawned.pid);
        let (exit_tx, _) = tokio::sync::watch::channel(None);
        let proc = Arc::new(Proc {
            pid: spawned.pid,
            role,
            name: name.to_owned(),
            exit: exit_tx,
        });
        self.record(EventKind::ProcessStart {
            role,
            name: name.to_owned(),
            pid: spawned.pid,
        });
        let label = (role == Role::Extension).then(|| name.to_owned());
        let output = Arc::new(ProcessOutput::new(spawned.output, label)?);
        self.lock().outputs.push(Arc::clone(&output));
        tokio::spawn(output.pump(Arc::clone(&self.log)));
        let env = Arc::clone(self);
        let watched = Arc::clone(&proc);
        let mut child = spawned.child;
        tokio::spawn(async move {
            let exit = match child.wait().await {
                Ok(status) => Exit::from_status(status),
                Err(_) => Exit::Code(-1),
            };
            env.on_process_exit(&watched, exit);
        });
        Ok(proc)
    }
}

/// `Runtime exited with error: exit status 1`, or `… without providing a reason` for exit 0.
pub(crate) fn exit_message(exit: Exit) -> String {
    match exit {
        Exit::Code(0) => "Runtime exited without providing a reason".to_owned(),
        other => format!("Runtime exited with error: {}", other.describe()),
    }
}

/// The first invoke's answer after `/runtime/init/error`: the runtime's own body when it is
/// JSON, else one made from the error type.
fn init_error_body(posted: &Bytes, error_type: &str) -> Bytes {
    if serde_json::from_slice::<serde_json::Value>(posted).is_ok() {
        posted.clone()
    } else {
        let message = String::from_utf8_lossy(posted).into_owned();
        Bytes::from(ErrorBody::new(error_type, message).to_json())
    }
}

impl Environment {
    /// `POST /runtime/init/error` (§1.5): recorded, and init fails with it.
    pub(crate) fn runtime_init_error(
        &self,
        header_type: Option<String>,
        body: Bytes,
    ) -> Result<(), super::ApiError> {
        let mut st = self.lock();
        if st.phase != Phase::Init || !matches!(st.runtime, RuntimeState::Starting) {
            return Err(super::ApiError::forbidden(
                error_type::INVALID_STATE_TRANSITION,
                format!(
                    "State transition from {} to InitError failed for runtime. Error: State transition is not allowed",
                    st.runtime.name()
                ),
            ));
        }
        let from_body = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error_type);
        let error_type = header_type
            .or(from_body)
            .unwrap_or_else(|| error_type::RUNTIME_UNKNOWN.to_owned());
        st.init_error = Some((error_type, body));
        drop(st);
        self.changed.notify_waiters();
        Ok(())
    }
}

impl Environment {
    /// The end-of-init telemetry, in RAPID's order: `initRuntimeDone`, one `extension` per
    /// registered extension, `initReport` (§4.1 step 8); then subscriptions close.
    fn report_init(
        &self,
        phase: InitPhase,
        took: Duration,
        error_type: Option<&str>,
        extensions: Vec<serde_json::Value>,
    ) {
        use serde_json::json;
        let status = match error_type {
            None => "success",
            Some(error_type::SANDBOX_TIMEDOUT) => "timeout",
            Some(_) => "error",
        };
        let mut done =
            json!({ "initializationType": "on-demand", "phase": phase.as_str(), "status": status });
        if let Some(t) = error_type {
            done["errorType"] = json!(t);
        }
        self.telemetry.platform("platform.initRuntimeDone", || done);
        for ext in extensions {
            self.telemetry.platform("platform.extension", || ext);
        }
        let mut report = json!({
            "initializationType": "on-demand",
            "phase": phase.as_str(),
            "status": status,
            "metrics": { "durationMs": crate::telemetry::ms(took) },
        });
        if let Some(t) = error_type {
            report["errorType"] = json!(t);
        }
        self.telemetry.platform("platform.initReport", || report);
        self.telemetry.close_subscriptions();
    }
}
