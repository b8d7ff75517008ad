//! Platform events, rendered once: each is written as its CloudWatch line(s), its Telemetry
//! API record(s) and its lifecycle event, here and nowhere else, so the three can never
//! disagree.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use grace_protocol::runtime_api::error_type;
use grace_protocol::telemetry_api as T;

use super::types::InitPhase;
use crate::config::FunctionConfig;
use crate::events::{EnvId, EventKind, EventLog};
use crate::logs::{LogStream, Report};
use crate::telemetry::Hub;

pub(crate) use crate::logs::ms;

/// A registered extension, as init's report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExtensionSummary {
    pub(crate) name: String,
    pub(crate) external: bool,
    pub(crate) events: Vec<&'static str>,
}

/// `platform.runtimeDone`'s content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuntimeDoneInfo {
    pub(crate) request_id: Arc<str>,
    pub(crate) status: &'static str,
    pub(crate) error_type: Option<String>,
    pub(crate) duration: Duration,
    pub(crate) produced_bytes: usize,
    /// From the invocation's start to the runtime's answer.
    pub(crate) response_latency: Option<Duration>,
}

/// A step of the platform that shows in the logs, the Telemetry API and the lifecycle events.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PlatformEvent {
    InitStart {
        phase: InitPhase,
    },
    InitDone {
        phase: InitPhase,
        duration: Duration,
        extensions: Vec<ExtensionSummary>,
    },
    InitFailed {
        phase: InitPhase,
        duration: Duration,
        error_type: String,
        /// The answer the waiting invoke gets.
        message: String,
    },
    Start {
        request_id: Arc<str>,
        trace_id: String,
        /// Keep this invocation's log for `X-Amz-Log-Result`.
        tail: bool,
    },
    /// The runtime is back in `/next` after answering.
    RuntimeDone(RuntimeDoneInfo),
    /// The function timeout.
    Timeout {
        request_id: Arc<str>,
        timeout_ms: u64,
        message: String,
        runtime_done: RuntimeDoneInfo,
    },
    /// The platform failed the invocation (crash, extension failure, reset).
    Fault {
        request_id: Arc<str>,
        message: String,
        /// Present when the runtime had not come back to `/next`.
        runtime_done: Option<RuntimeDoneInfo>,
    },
    /// END and REPORT.
    End {
        request_id: Arc<str>,
        duration: Duration,
        init_duration: Option<Duration>,
        status: Option<&'static str>,
        error_type: Option<String>,
    },
}

/// Where platform events go, for one environment.
pub(crate) struct Outputs<'a> {
    pub(crate) cfg: &'a FunctionConfig,
    pub(crate) function: &'a Arc<str>,
    pub(crate) env: EnvId,
    pub(crate) runtime_api: &'a str,
    pub(crate) events: &'a EventLog,
    pub(crate) log: &'a LogStream,
    pub(crate) telemetry: &'a Hub,
    /// Drains every output pipe into the log (before lines that must follow the output).
    pub(crate) drain: &'a dyn Fn(),
    /// Max Memory Used, in MB.
    pub(crate) max_memory_mb: &'a mut dyn FnMut() -> u64,
}

impl Outputs<'_> {
    fn record(&self, kind: EventKind) {
        self.events.record(self.function, self.env, kind);
    }

    /// Writes `event` everywhere it shows.
    pub(crate) fn render(&mut self, event: PlatformEvent) {
        match event {
            PlatformEvent::InitStart { phase } => self.init_start(phase),
            PlatformEvent::InitDone {
                phase,
                duration,
                extensions,
            } => {
                for e in extensions.iter().filter(|e| e.external) {
                    self.log.platform(&format!(
                        "EXTENSION\tName: {}\tState: Ready\tEvents: [{}]",
                        e.name,
                        e.events.join(", ")
                    ));
                }
                self.init_report(phase, duration, None, &extensions);
                self.record(EventKind::InitDone {
                    duration_ms: ms(duration),
                });
            }
            PlatformEvent::InitFailed {
                phase,
                duration,
                error_type,
                message,
            } => {
                let status = init_status(Some(&error_type));
                self.log.platform(&format!(
                    "INIT_REPORT Init Duration: {:.2} ms\tPhase: {}\tStatus: {status}\tError Type: {error_type}",
                    ms(duration),
                    phase.as_str(),
                ));
                self.init_report(phase, duration, Some(&error_type), &[]);
                self.record(EventKind::InitFailed {
                    error_type,
                    message,
                    duration_ms: ms(duration),
                });
            }
            PlatformEvent::Start {
                request_id,
                trace_id,
                tail,
            } => {
                if tail {
                    self.log.begin_tail();
                }
                self.record(EventKind::InvokeStart {
                    request_id: request_id.to_string(),
                });
                self.log.platform(&format!(
                    "START RequestId: {request_id} Version: {}",
                    self.cfg.version()
                ));
                self.telemetry.record(|| {
                    T::Record::Start(T::Start {
                        request_id: request_id.to_string(),
                        version: Some(self.cfg.version().to_owned()),
                        tracing: Some(trace_context(trace_id)),
                    })
                });
            }
            PlatformEvent::RuntimeDone(done) => {
                self.record(EventKind::RuntimeDone {
                    request_id: done.request_id.to_string(),
                    status: done.status,
                });
                self.runtime_done(&done);
            }
            PlatformEvent::Timeout {
                request_id,
                timeout_ms,
                message,
                runtime_done,
            } => {
                self.record(EventKind::Timeout {
                    request_id: request_id.to_string(),
                    timeout_ms,
                });
                self.runtime_done(&runtime_done);
                (self.drain)();
                let ts = humantime::format_rfc3339_millis(SystemTime::now());
                self.log.platform(&format!("{ts} {request_id} {message}"));
            }
            PlatformEvent::Fault {
                request_id,
                message,
                runtime_done,
            } => {
                if let Some(done) = &runtime_done {
                    self.runtime_done(done);
                }
                (self.drain)();
                let fault = format!("RequestId: {request_id} Error: {message}");
                self.log.platform(&fault);
                self.telemetry.record(|| T::Record::Fault(fault));
            }
            PlatformEvent::End {
                request_id,
                duration,
                init_duration,
                status,
                error_type,
            } => self.end(&request_id, duration, init_duration, status, error_type),
        }
    }

    fn init_start(&self, phase: InitPhase) {
        self.record(EventKind::InitStart {
            phase: phase.as_str(),
            runtime_api: self.runtime_api.to_owned(),
        });
        self.telemetry.record(|| {
            T::Record::InitStart(T::InitStart {
                initialization_type: ON_DEMAND.to_owned(),
                phase: phase.as_str().to_owned(),
                runtime_version: Some(RUNTIME_VERSION.to_owned()),
                runtime_version_arn: None,
                function_name: self.cfg.name.clone(),
                function_version: self.cfg.version().to_owned(),
                instance_id: None,
                instance_max_memory: Some(u64::from(self.cfg.memory_mb)),
            })
        });
        self.log.platform(&format!(
            "INIT_START Runtime Version: grace-emulator:{}\tPhase: {}",
            env!("CARGO_PKG_VERSION"),
            phase.as_str()
        ));
    }

    /// The end-of-init telemetry, in RAPID's order: `initRuntimeDone`, one `extension` per
    /// registered extension, `initReport` (§4.1 step 8); then subscriptions close.
    fn init_report(
        &self,
        phase: InitPhase,
        took: Duration,
        error_type: Option<&str>,
        extensions: &[ExtensionSummary],
    ) {
        let status = init_status(error_type);
        self.telemetry.record(|| {
            T::Record::InitRuntimeDone(T::InitRuntimeDone {
                initialization_type: ON_DEMAND.to_owned(),
                phase: phase.as_str().to_owned(),
                status: status.to_owned(),
                error_type: error_type.map(str::to_owned),
                spans: Vec::new(),
            })
        });
        for e in extensions {
            self.telemetry.record(|| {
                T::Record::Extension(T::ExtensionRecord {
                    name: e.name.clone(),
                    state: "Ready".to_owned(),
                    events: e.events.iter().map(|e| (*e).to_owned()).collect(),
                    error_type: None,
                })
            });
        }
        self.telemetry.record(|| {
            T::Record::InitReport(T::InitReport {
                initialization_type: ON_DEMAND.to_owned(),
                phase: phase.as_str().to_owned(),
                status: status.to_owned(),
                error_type: error_type.map(str::to_owned),
                metrics: T::InitReportMetrics {
                    duration_ms: ms(took),
                },
                spans: Vec::new(),
            })
        });
        self.telemetry.close_subscriptions();
    }

    /// `platform.runtimeDone` (§3.3): status, duration, bytes, and the response latency span.
    fn runtime_done(&self, done: &RuntimeDoneInfo) {
        self.telemetry.record(|| {
            let start = SystemTime::now() - done.duration;
            let spans = done
                .response_latency
                .map(|latency| T::Span {
                    name: "responseLatency".to_owned(),
                    start: humantime::format_rfc3339_millis(start).to_string(),
                    duration_ms: ms(latency),
                })
                .into_iter()
                .collect();
            T::Record::RuntimeDone(T::RuntimeDone {
                request_id: done.request_id.to_string(),
                status: done.status.to_owned(),
                error_type: done.error_type.clone(),
                metrics: Some(T::RuntimeDoneMetrics {
                    duration_ms: ms(done.duration),
                    produced_bytes: Some(done.produced_bytes as u64),
                }),
                spans,
                tracing: None,
            })
        });
    }

    fn end(
        &mut self,
        id: &str,
        duration: Duration,
        init_duration: Option<Duration>,
        status: Option<&str>,
        error_type: Option<String>,
    ) {
        (self.drain)();
        let max_memory_mb = (self.max_memory_mb)();
        self.log.platform(&format!("END RequestId: {id}"));
        self.telemetry.record(|| {
            T::Record::End(T::End {
                request_id: id.to_owned(),
            })
        });
        let report = Report {
            request_id: id,
            duration,
            memory_mb: self.cfg.memory_mb,
            max_memory_mb,
            init_duration,
            status,
            error_type: error_type.as_deref(),
        };
        self.log.platform(&report.line());
        self.telemetry.record(|| {
            T::Record::Report(T::Report {
                request_id: id.to_owned(),
                status: status.unwrap_or("success").to_owned(),
                error_type: error_type.clone(),
                metrics: T::ReportMetrics {
                    duration_ms: ms(duration),
                    billed_duration_ms: report.billed_ms(),
                    memory_size_mb: u64::from(self.cfg.memory_mb),
                    max_memory_used_mb: max_memory_mb,
                    init_duration_ms: init_duration.map(ms),
                    restore_duration_ms: None,
                },
                spans: Vec::new(),
                tracing: None,
            })
        });
        self.record(EventKind::InvokeEnd {
            request_id: id.to_owned(),
            duration_ms: ms(duration),
            max_memory_mb,
        });
    }
}

const ON_DEMAND: &str = "on-demand";
const RUNTIME_VERSION: &str = concat!("grace-emulator:", env!("CARGO_PKG_VERSION"));

fn trace_context(value: String) -> T::TraceContext {
    T::TraceContext {
        kind: "X-Amzn-Trace-Id".to_owned(),
        value,
        span_id: None,
    }
}

fn init_status(error_type: Option<&str>) -> &'static str {
    match error_type {
        None => "success",
        Some(error_type::SANDBOX_TIMEDOUT) => "timeout",
        Some(_) => "error",
    }
}
