//! The emulator: the functions' pools, the invoke logic behind the Invoke API, the emulator's
//! own graceful shutdown (`close`), replacing a function's definition (`reload`), and the
//! orphan watchdog.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use grace_protocol::invoke_api::{InvocationType, service_error};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod close;
mod reload;
mod run;
pub use close::CloseReport;
pub use reload::Reload;
use run::{decode_client_context, invoke_async, invoke_sync};

use crate::config::FunctionConfig;
use crate::environment::{EnvironmentInfo, InvokeRequest, Outcome};
use crate::error::Error;
use crate::events::{EventLog, LifecycleEvent, Observer};
use crate::logs::LogSink;
use crate::pool::{AcquireError, Pool, PoolDeps};
use crate::sys::{CpuAffinity, Placement, Watchdog};

/// How the emulator reports what happens.
#[derive(Clone)]
pub struct Options {
    /// Where function, extension and platform log lines go.
    pub log_sink: LogSink,
    /// Called with every lifecycle event as it happens.
    pub event_observer: Option<Observer>,
    /// How many lifecycle events are kept for [`Emulator::events`].
    pub event_capacity: usize,
    /// Whether environments (and the emulator's thread) are pinned to CPUs; see
    /// [`CpuAffinity`]. Off by default in the library; `grace serve` turns it on.
    pub cpu_affinity: CpuAffinity,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("event_capacity", &self.event_capacity)
            .field("cpu_affinity", &self.cpu_affinity)
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            log_sink: Arc::new(|_| {}),
            event_observer: None,
            event_capacity: 10_000,
            cpu_affinity: CpuAffinity::Off,
        }
    }
}

/// One invoke as the Invoke API receives it.
#[derive(Debug, Clone)]
pub struct InvokeInput {
    /// Function name, `name:qualifier`, or an ARN.
    pub function: String,
    pub payload: Bytes,
    pub invocation_type: InvocationType,
    /// `X-Amz-Log-Type: Tail`.
    pub tail: bool,
    /// `X-Amz-Client-Context`, base64 as sent.
    pub client_context: Option<String>,
    /// `X-Amzn-Trace-Id`.
    pub trace_id: Option<String>,
    pub content_type: Option<String>,
    /// A timeout for this invoke instead of the function's (e.g. to force a timeout reset).
    pub timeout: Option<Duration>,
}

impl InvokeInput {
    /// A synchronous invoke of `function` with `payload`.
    pub fn new(function: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            function: function.into(),
            payload: payload.into(),
            invocation_type: InvocationType::RequestResponse,
            tail: false,
            client_context: None,
            trace_id: None,
            content_type: None,
            timeout: None,
        }
    }
}

/// The Invoke API's answer, ready to be rendered as HTTP.
#[derive(Debug)]
pub struct InvokeOutput {
    pub status: u16,
    pub request_id: String,
    /// `X-Amz-Function-Error` (`Unhandled`) when the function failed.
    pub function_error: Option<&'static str>,
    /// The service error code (`X-Amzn-ErrorType`) when the Invoke API itself refused.
    pub error_code: Option<&'static str>,
    pub content_type: String,
    pub body: Bytes,
    /// A streamed response (then `body` is empty): read it as it arrives.
    pub stream: Option<crate::stream::StreamedBody>,
    /// `X-Amz-Log-Result`: base64 of the last 4 KB of the invocation's log.
    pub log_result: Option<String>,
}

impl InvokeOutput {
    fn service_error(
        request_id: String,
        (status, code): (u16, &'static str),
        message: &str,
    ) -> Self {
        let reason = (status == 429).then_some("ReservedFunctionConcurrentInvocationLimitExceeded");
        let body = grace_protocol::invoke_api::ServiceError {
            kind: "User",
            message: message.to_owned(),
            reason,
        };
        Self {
            status,
            request_id,
            function_error: None,
            error_code: Some(code),
            content_type: "application/json".to_owned(),
            body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
            stream: None,
            log_result: None,
        }
    }

    /// An Invoke API refusal: `(status, code)` and a message.
    pub fn from_error(error: (u16, &'static str), message: &str) -> Self {
        // Every answer of the service carries a request id, refusals too.
        Self::service_error(crate::ids::uuid().to_string(), error, message)
    }

    fn empty(status: u16, request_id: String) -> Self {
        Self {
            status,
            request_id,
            function_error: None,
            error_code: None,
            content_type: "application/json".to_owned(),
            body: Bytes::new(),
            stream: None,
            log_result: None,
        }
    }
}

/// The local Lambda.
#[derive(Clone, Debug)]
pub struct Emulator {
    inner: Arc<Inner>,
}

struct Inner {
    pools: BTreeMap<String, Arc<Pool>>,
    events: Arc<EventLog>,
    /// Cancelled when the emulator closes: listeners stop accepting, queued work gives up.
    root: CancellationToken,
    /// Every task the emulator starts: drivers, pools, servers and their connections,
    /// asynchronous invokes.
    tasks: TaskTracker,
    /// Invokes being answered, by request id, for the close report.
    inflight: Mutex<BTreeMap<String, String>>,
    inflight_tracker: TaskTracker,
    closing: AtomicBool,
    // Dropped last: its end fires the kill of whatever is left.
    _watchdog: Arc<Watchdog>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("functions", &self.pools.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Creates the emulator for `functions`. Must be called inside a tokio runtime.
    pub fn new(functions: Vec<FunctionConfig>, options: Options) -> Result<Self, Error> {
        // The emulator's own thread is pinned only when it is the runtime's one thread.
        let single_threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread);
        let placement = Placement::new(options.cpu_affinity, single_threaded);
        let watchdog = Arc::new(Watchdog::start()?);
        let events = Arc::new(EventLog::new(
            options.event_capacity,
            options.event_observer,
        ));
        let deps = PoolDeps {
            events: Arc::clone(&events),
            sink: options.log_sink,
            watchdog: Arc::clone(&watchdog),
            next_env_id: Arc::new(AtomicU64::new(0)),
            placement,
            tasks: TaskTracker::new(),
        };
        let mut pools = BTreeMap::new();
        for cfg in functions {
            if cfg.command.is_empty() {
                return Err(Error::EmptyCommand(cfg.name));
            }
            if pools.contains_key(&cfg.name) {
                return Err(Error::DuplicateFunction(cfg.name));
            }
            pools.insert(cfg.name.clone(), Arc::new(Pool::new(cfg, deps.clone())));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                pools,
                events,
                root: CancellationToken::new(),
                tasks: deps.tasks,
                inflight: Mutex::new(BTreeMap::new()),
                inflight_tracker: TaskTracker::new(),
                closing: AtomicBool::new(false),
                _watchdog: watchdog,
            }),
        })
    }

    /// The configured functions' names.
    pub fn functions(&self) -> Vec<String> {
        self.inner.pools.keys().cloned().collect()
    }

    /// The account and region function `name` belongs to (the HTTP front's events name them).
    pub(crate) fn account_region(&self, name: &str) -> Option<(String, String)> {
        let cfg = self.inner.pools.get(name)?.cfg();
        Some((cfg.account_id.clone(), cfg.region.clone()))
    }

    /// The root cancellation token (cancelled when the emulator closes).
    pub(crate) fn root(&self) -> &CancellationToken {
        &self.inner.root
    }

    /// The tracker every emulator task is spawned on.
    pub(crate) fn tasks(&self) -> &TaskTracker {
        &self.inner.tasks
    }

    /// Spins down the idle environments of `function` (all functions when `None`) now,
    /// gracefully, and returns how many.
    pub async fn spin_down(&self, function: Option<&str>) -> Result<usize, String> {
        let pools: Vec<Arc<Pool>> = match function {
            Some(name) => vec![Arc::clone(
                self.inner
                    .pools
                    .get(name)
                    .ok_or_else(|| format!("Function not found: {name}"))?,
            )],
            None => self.inner.pools.values().cloned().collect(),
        };
        let mut n = 0;
        for p in pools {
            n += p.spin_down().await;
        }
        Ok(n)
    }

    /// Recorded lifecycle events with `seq >= since`.
    pub fn events(&self, since: u64) -> Vec<LifecycleEvent> {
        self.inner.events.snapshot(since)
    }

    /// The newest shutdown report lines the runtimes wrote (for the timeline's hook spans).
    pub fn report_lines(&self) -> Vec<crate::timeline::OutputLine> {
        self.inner.events.report_lines()
    }

    /// Every live environment.
    pub async fn environments(&self) -> Vec<EnvironmentInfo> {
        let mut all = Vec::new();
        for p in self.inner.pools.values() {
            all.extend(p.environments().await);
        }
        all
    }

    /// The pool a function name names: `NAME[:QUALIFIER]`, `ACCOUNT:function:NAME[:QUALIFIER]`
    /// or `arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`. Only `$LATEST` is served
    /// (the only version there is), and an ARN must name this region and account.
    fn resolve(&self, name: &str) -> Option<Arc<Pool>> {
        let (prefix, rest) = match name.rsplit_once("function:") {
            Some((prefix, rest)) => (Some(prefix), rest),
            None => (None, name),
        };
        let (function, qualifier) = match rest.split_once(':') {
            Some((f, q)) => (f, Some(q)),
            None => (rest, None),
        };
        if qualifier.is_some_and(|q| q != "$LATEST") {
            return None;
        }
        let pool = self.inner.pools.get(function)?;
        let cfg = pool.cfg();
        let matches = match prefix.map(|p| p.trim_end_matches(':').split(':').collect::<Vec<_>>()) {
            None => true,
            Some(parts) => match parts.as_slice() {
                [account] => *account == cfg.account_id,
                ["arn", "aws", "lambda", region, account] => {
                    *region == cfg.region && *account == cfg.account_id
                }
                _ => false,
            },
        };
        matches.then(|| Arc::clone(pool))
    }

    /// Runs one invoke as the Invoke API does, whatever its type.
    pub async fn invoke(&self, input: InvokeInput) -> InvokeOutput {
        let request_id = crate::ids::uuid().to_string();
        let Some(pool) = self.resolve(&input.function) else {
            let arn = format!(
                "arn:aws:lambda:us-east-1:123456789012:function:{}",
                input.function
            );
            return InvokeOutput::service_error(
                request_id,
                service_error::RESOURCE_NOT_FOUND,
                &format!("Function not found: {arn}"),
            );
        };
        let Some(_guard) = self.track(&request_id, &input.function) else {
            return InvokeOutput::service_error(
                request_id,
                service_error::SERVICE,
                "The emulator is shutting down",
            );
        };
        let limit = match input.invocation_type {
            InvocationType::Event => grace_protocol::invoke_api::MAX_ASYNC_PAYLOAD_BYTES,
            _ => grace_protocol::invoke_api::MAX_SYNC_PAYLOAD_BYTES,
        };
        if input.payload.len() > limit {
            let message = format!(
                "Request must be smaller than {limit} bytes for the InvokeFunction operation"
            );
            return InvokeOutput::service_error(
                request_id,
                service_error::REQUEST_TOO_LARGE,
                &message,
            );
        }
        let payload = if input.payload.is_empty() {
            Bytes::from_static(b"{}")
        } else {
            input.payload
        };
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
            let message = format!("Could not parse request body into json: {e}");
            return InvokeOutput::service_error(
                request_id,
                service_error::INVALID_REQUEST_CONTENT,
                &message,
            );
        }
        let client_context = match input.client_context.as_deref().map(decode_client_context) {
            Some(Ok(cc)) => Some(cc),
            Some(Err(message)) => {
                return InvokeOutput::service_error(
                    request_id,
                    service_error::INVALID_REQUEST_CONTENT,
                    &message,
                );
            }
            None => None,
        };
        let request = InvokeRequest {
            request_id: Arc::from(request_id.as_str()),
            payload,
            content_type: input.content_type,
            trace_id: input.trace_id,
            client_context,
            cognito_identity: None,
            tenant_id: None,
            tail: input.tail,
            deadline: input.timeout.map(|t| Instant::now() + t),
        };
        match input.invocation_type {
            InvocationType::DryRun => InvokeOutput::empty(204, request_id),
            InvocationType::Event => {
                self.inner
                    .tasks
                    .spawn(invoke_async(pool, request, self.inner.root.clone()));
                InvokeOutput::empty(202, request_id)
            }
            InvocationType::RequestResponse => invoke_sync(&pool, request).await,
        }
    }

    /// Counts an invocation in flight; `None` once the emulator is closing.
    fn track(&self, request_id: &str, function: &str) -> Option<InflightGuard> {
        if self.inner.closing.load(Ordering::SeqCst) {
            return None;
        }
        self.inner
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(request_id.to_owned(), function.to_owned());
        Some(InflightGuard {
            inner: Arc::clone(&self.inner),
            request_id: request_id.to_owned(),
            _token: self.inner.inflight_tracker.token(),
        })
    }
}

/// An invoke in flight: listed until it is answered.
struct InflightGuard {
    inner: Arc<Inner>,
    request_id: String,
    _token: tokio_util::task::task_tracker::TaskTrackerToken,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.inner
            .inflight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.request_id);
    }
}
