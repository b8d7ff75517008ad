//! [`Harness`]: one function under a running emulator, for a test to drive and observe.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use grace_emulator::events::{EnvId, LifecycleEvent, Role};
use grace_emulator::logs::{LogLine, LogSource};
use grace_emulator::{Emulator, EnvironmentInfo, FunctionConfig, InvokeInput, Options, Pid};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::check::{self, CheckOptions, Report};
use crate::error::Error;
use crate::function::{Function, Warning};

/// One function under a local Lambda, with an AWS-compatible Invoke API on `127.0.0.1` (a
/// random port). Invoke it, watch it freeze, spin it down, read its lifecycle and its log, and
/// run `grace check`'s check on it.
///
/// [`Harness::close`] spins every environment down with Lambda's sequence (SIGTERM, the budget,
/// SIGKILL) and returns once every process is gone. Dropping the harness without `close` starts
/// the same sequence in the background; if the runtime ends first (a `#[tokio::test]` that
/// returns), the emulator's watchdog SIGKILLs whatever is left. Either way no process outlives
/// it.
pub struct Harness {
    emulator: Emulator,
    config: FunctionConfig,
    warnings: Vec<Warning>,
    addr: SocketAddr,
    shutdown: CancellationToken,
    serving: Option<JoinHandle<grace_emulator::CloseReport>>,
    logs: Arc<Mutex<Vec<LogRecord>>>,
    /// Notified at every lifecycle event: what the waits wait on.
    changed: Arc<Notify>,
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("function", &self.config.name)
            .field("endpoint", &self.addr)
            .finish_non_exhaustive()
    }
}

/// One log line of the function's environments.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogRecord {
    /// When it arrived, microseconds since the Unix epoch.
    pub time_us: u64,
    /// The environment that wrote it.
    pub env: EnvId,
    /// Who wrote it.
    pub source: LogOrigin,
    /// The line, without its newline.
    pub text: String,
}

/// Who wrote a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogOrigin {
    /// The runtime: the function's own output.
    Function,
    /// An external extension, by name.
    Extension(String),
    /// The platform: `START`, `END`, `REPORT`, `INIT_START`…
    Platform,
}

/// The answer to one invoke.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Invocation {
    /// The Invoke API's status: 200 also when the function failed (see `function_error`).
    pub status: u16,
    /// The request id the function saw.
    pub request_id: String,
    /// `X-Amz-Function-Error`: `Unhandled` when the function failed, timed out or crashed.
    pub function_error: Option<&'static str>,
    /// The Invoke API's own error code (`X-Amzn-ErrorType`) when it refused the invoke (e.g.
    /// `TooManyRequestsException`).
    pub error_code: Option<&'static str>,
    /// The response, or the error payload (`{"errorType","errorMessage"}`); a streamed
    /// response is read to its end first.
    pub body: Bytes,
    /// Whether the function streamed its response.
    pub streamed: bool,
    /// The error type a streamed response reported in its trailers, midway.
    pub stream_error: Option<String>,
}

impl Invocation {
    /// Whether the function answered without an error.
    pub fn is_ok(&self) -> bool {
        self.status == 200 && self.function_error.is_none()
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl Harness {
    /// Resolves `function`, starts the emulator and serves its Invoke API on `127.0.0.1:0`.
    /// No environment starts until the first invoke (a cold start, as on Lambda). Must be
    /// called inside a tokio runtime.
    pub async fn start(function: Function) -> Result<Self, Error> {
        let (config, warnings) = function.config()?;
        let logs: Arc<Mutex<Vec<LogRecord>>> = Arc::default();
        let sink = Arc::clone(&logs);
        let changed = Arc::new(Notify::new());
        let options = Options {
            log_sink: Arc::new(move |line: &LogLine<'_>| {
                let record = LogRecord {
                    time_us: now_us(),
                    env: line.env,
                    source: match line.source {
                        LogSource::Function => LogOrigin::Function,
                        LogSource::Extension(name) => LogOrigin::Extension(name.to_owned()),
                        LogSource::Platform => LogOrigin::Platform,
                    },
                    text: line.text.to_owned(),
                };
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(record);
            }),
            event_observer: Some({
                let changed = Arc::clone(&changed);
                Arc::new(move |_: &LifecycleEvent| changed.notify_waiters())
            }),
            ..Options::default()
        };
        let emulator = Emulator::new(vec![config.clone()], options)?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(Error::Listen)?;
        let addr = listener.local_addr().map_err(Error::Listen)?;
        let shutdown = CancellationToken::new();
        let serving = tokio::spawn({
            let emulator = emulator.clone();
            let shutdown = shutdown.clone();
            async move { emulator.serve(listener, shutdown).await }
        });
        Ok(Self {
            emulator,
            config,
            warnings,
            addr,
            shutdown,
            serving: Some(serving),
            logs,
            changed,
        })
    }

    /// The Invoke API's base URL, `http://127.0.0.1:PORT`: for boto3's or the AWS CLI's
    /// `endpoint_url`, or `curl -d '{}' ENDPOINT/2015-03-31/functions/NAME/invocations`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Invoke API's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The function's name (for the Invoke API's URL).
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The emulator's configuration of the function.
    pub fn config(&self) -> &FunctionConfig {
        &self.config
    }

    /// What resolving the function warned about (a template's properties that are not
    /// emulated…).
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The emulator itself, for what this type does not offer.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }

    /// Invokes the function with `event` serialised as JSON, synchronously
    /// (`RequestResponse`), and waits for the answer.
    pub async fn invoke(&self, event: impl serde::Serialize) -> Result<Invocation, Error> {
        let payload = serde_json::to_vec(&event).map_err(Error::Payload)?;
        Ok(self.invoke_raw(payload, None).await)
    }

    /// Invokes the function with `event` but with `timeout` instead of the function's: a
    /// timeout shorter than the handler forces a timeout reset (SIGTERM mid-invoke, then a new
    /// environment on the next invoke).
    pub async fn invoke_with_timeout(
        &self,
        event: impl serde::Serialize,
        timeout: Duration,
    ) -> Result<Invocation, Error> {
        let payload = serde_json::to_vec(&event).map_err(Error::Payload)?;
        Ok(self.invoke_raw(payload, Some(timeout)).await)
    }

    /// Invokes the function with raw bytes, optionally with another timeout.
    pub async fn invoke_raw(
        &self,
        payload: impl Into<Bytes>,
        timeout: Option<Duration>,
    ) -> Invocation {
        let mut input = InvokeInput::new(self.config.name.clone(), payload);
        input.timeout = timeout;
        let out = self.emulator.invoke(input).await;
        let streamed = out.stream.is_some();
        let (body, stream_error) = match out.stream {
            Some(stream) => stream.collect().await,
            None => (out.body, None),
        };
        Invocation {
            status: out.status,
            request_id: out.request_id,
            function_error: out.function_error,
            error_code: out.error_code,
            body,
            streamed,
            stream_error,
        }
    }

    /// The live environments: each one's phase, whether it is frozen, its processes and their
    /// pids (see [`grace_emulator::proc_state`] for what `/proc` says of a pid: `T` when
    /// stopped).
    pub async fn environments(&self) -> Vec<EnvironmentInfo> {
        self.emulator.environments().await
    }

    /// The pids of the live environments' runtime processes.
    pub async fn runtime_pids(&self) -> Vec<Pid> {
        self.environments()
            .await
            .iter()
            .flat_map(|e| &e.processes)
            .filter(|p| p.alive && p.role == Role::Runtime)
            .map(|p| p.pid)
            .collect()
    }

    /// Waits until every live environment is frozen (as Lambda freezes an idle one), at most
    /// `within`; whether that happened. With no live environment, false. Frozen means the
    /// processes were sent SIGSTOP: `/proc` ([`crate::proc_state`]) shows `T` a moment later.
    pub async fn until_frozen(&self, within: Duration) -> bool {
        const RECHECK: Duration = Duration::from_millis(50);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before the look, so a freeze between the two is not missed.
            let mut changed = std::pin::pin!(self.changed.notified());
            changed.as_mut().enable();
            let envs = self.environments().await;
            if !envs.is_empty() && envs.iter().all(|e| e.frozen) {
                return true;
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return false;
            }
            let _ = tokio::time::timeout_at(deadline.min(now + RECHECK), changed).await;
        }
    }

    /// Waits for a lifecycle event that `matches` (one already recorded counts), at most
    /// `within`; the first such event, if any. E.g. the runtime's exit after a spin-down:
    /// `h.until_event(|e| matches!(e.kind, EventKind::ProcessExit { .. }), d)`.
    pub async fn until_event(
        &self,
        mut matches: impl FnMut(&LifecycleEvent) -> bool,
        within: Duration,
    ) -> Option<LifecycleEvent> {
        self.until(within, || self.events().into_iter().find(|e| matches(e)))
            .await
    }

    /// Re-evaluates `probe` at every lifecycle event, and every 50 ms (what it reads need not
    /// change with an event, or in the same order), until it gives a value or `within` ends.
    async fn until<T>(&self, within: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
        const RECHECK: Duration = Duration::from_millis(50);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Registered before the probe, so an event between the two is not missed.
            let mut changed = std::pin::pin!(self.changed.notified());
            changed.as_mut().enable();
            if let Some(found) = probe() {
                return Some(found);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return None;
            }
            let _ = tokio::time::timeout_at(deadline.min(now + RECHECK), changed).await;
        }
    }

    /// Spins the idle environments down now, with Lambda's sequence, and returns how many.
    pub async fn spin_down(&self) -> Result<usize, Error> {
        self.emulator
            .spin_down(Some(&self.config.name))
            .await
            .map_err(Error::SpinDown)
    }

    /// Every lifecycle event recorded so far (init, invokes, freeze, thaw, SIGTERM, SHUTDOWN,
    /// SIGKILL, exits, what the runtime held when it ended…).
    pub fn events(&self) -> Vec<LifecycleEvent> {
        self.emulator.events(0)
    }

    /// Every log line so far: the function's output, the extensions' and the platform's (all
    /// are kept while the harness lives).
    pub fn logs(&self) -> Vec<LogRecord> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The function's own output so far, one string per line.
    pub fn output(&self) -> Vec<String> {
        self.logs()
            .into_iter()
            .filter(|l| l.source == LogOrigin::Function)
            .map(|l| l.text)
            .collect()
    }

    /// Runs `grace check`'s check on this function with its default options, and returns the
    /// verdicts. The check runs under its own emulator (a fresh cold start, so that nothing
    /// this harness did colours it); this harness's environments are left alone.
    pub async fn check(&self) -> Result<Report, Error> {
        self.check_with(&CheckOptions::default()).await
    }

    /// [`Harness::check`] with options (more invokes, another payload, a timeout reset…).
    pub async fn check_with(&self, options: &CheckOptions) -> Result<Report, Error> {
        check::run(self.config.clone(), options).await
    }

    /// Stops the Invoke API, lets invocations in flight finish, spins every environment down
    /// with Lambda's sequence, and returns when every process is gone.
    pub async fn close(mut self) {
        self.shutdown.cancel();
        if let Some(serving) = self.serving.take() {
            // `serve` closes the emulator once cancelled; a panic in it is not ours to raise.
            let _ = serving.await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // The serving task spins everything down; if the runtime drops that task first, the
        // emulator's watchdog kills what is left.
        self.shutdown.cancel();
    }
}
