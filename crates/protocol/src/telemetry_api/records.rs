//! Records (§3.3, §3.4): the envelope `{"time","type","record"}` and the shape of each
//! record type.
//!
//! Reading is tolerant: fields this crate does not know are ignored, and the few fields one
//! schema has and another lacks default to empty (each says so). Writing is faithful: an
//! absent optional field, or an empty `spans`, is left out, as the platform leaves it out.

use serde::{Deserialize, Serialize};

use super::{Api, TelemetryType};

/// `{"time": "...", "type": "...", "record": ...}`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// When the platform generated the record (ISO 8601, milliseconds, UTC).
    pub time: String,
    /// `type` and `record`.
    #[serde(flatten)]
    pub record: Record,
}

impl Envelope {
    /// Reads a record from a JSON value without taking it, so that a caller can keep the
    /// records that do not read (a newer type, a malformed record) as they were.
    pub fn from_value(value: &serde_json::Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(value)
    }
}

/// A record, tagged by its `type`. An unknown `type` is an error when reading (there is no
/// catch-all variant): decode records one by one to skip the types this crate lacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "record")]
#[non_exhaustive]
pub enum Record {
    #[serde(rename = "platform.initStart")]
    InitStart(InitStart),
    #[serde(rename = "platform.initRuntimeDone")]
    InitRuntimeDone(InitRuntimeDone),
    #[serde(rename = "platform.initReport")]
    InitReport(InitReport),
    #[serde(rename = "platform.start")]
    Start(Start),
    #[serde(rename = "platform.runtimeDone")]
    RuntimeDone(RuntimeDone),
    #[serde(rename = "platform.report")]
    Report(Report),
    #[serde(rename = "platform.extension")]
    Extension(ExtensionRecord),
    #[serde(rename = "platform.telemetrySubscription")]
    TelemetrySubscription(Subscription),
    /// Logs API only.
    #[serde(rename = "platform.logsSubscription")]
    LogsSubscription(Subscription),
    /// Both APIs: the subscriber fell behind and records were dropped.
    #[serde(rename = "platform.logsDropped")]
    LogsDropped(LogsDropped),
    /// Logs API only.
    #[serde(rename = "platform.end")]
    End(End),
    /// Logs API only: `"RequestId: … Process exited before completing request"`.
    #[serde(rename = "platform.fault")]
    Fault(String),
    /// A line of the function (a string), or a JSON object with the JSON log format.
    #[serde(rename = "function")]
    Function(serde_json::Value),
    /// A line of an extension, as for [`Record::Function`].
    #[serde(rename = "extension")]
    ExtensionLog(serde_json::Value),
}

impl Record {
    /// The wire `type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::InitStart(_) => "platform.initStart",
            Self::InitRuntimeDone(_) => "platform.initRuntimeDone",
            Self::InitReport(_) => "platform.initReport",
            Self::Start(_) => "platform.start",
            Self::RuntimeDone(_) => "platform.runtimeDone",
            Self::Report(_) => "platform.report",
            Self::Extension(_) => "platform.extension",
            Self::TelemetrySubscription(_) => "platform.telemetrySubscription",
            Self::LogsSubscription(_) => "platform.logsSubscription",
            Self::LogsDropped(_) => "platform.logsDropped",
            Self::End(_) => "platform.end",
            Self::Fault(_) => "platform.fault",
            Self::Function(_) => "function",
            Self::ExtensionLog(_) => "extension",
        }
    }

    /// The stream the record is part of, for a subscription's `types`.
    pub fn stream(&self) -> TelemetryType {
        match self {
            Self::Function(_) => TelemetryType::Function,
            Self::ExtensionLog(_) => TelemetryType::Extension,
            _ => TelemetryType::Platform,
        }
    }

    /// The one API that delivers this record, `None` when both do; see [`only_in_type`].
    pub fn only_in(&self) -> Option<Api> {
        only_in_type(self.type_name())
    }
}

/// The one API that delivers `record`, `None` when both do: [`Record::only_in`].
pub fn only_in(record: &Record) -> Option<Api> {
    record.only_in()
}

/// The one API that delivers records of wire type `type_name`, `None` when both do (or the
/// type is unknown): the init records and `telemetrySubscription` are the Telemetry API's
/// (§3.3); `logsSubscription`, `end` and `fault` the Logs API's (§3.4).
pub fn only_in_type(type_name: &str) -> Option<Api> {
    match type_name {
        "platform.initStart"
        | "platform.initRuntimeDone"
        | "platform.initReport"
        | "platform.telemetrySubscription" => Some(Api::Telemetry),
        "platform.logsSubscription" | "platform.end" | "platform.fault" => Some(Api::Logs),
        _ => None,
    }
}

/// `platform.initStart`: the Init phase began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitStart {
    /// `on-demand`, `provisioned-concurrency` or `snap-start`.
    pub initialization_type: String,
    /// `init`, or `invoke` for a suppressed init re-run inside an invocation.
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version_arn: Option<String>,
    /// Sent by Lambda and RAPID, absent from the 2022 schema and its examples (empty then).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub function_name: String,
    /// As `function_name`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub function_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Lambda sends bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_max_memory: Option<u64>,
}

/// `platform.initRuntimeDone`: the runtime finished its init (it called `/next`, or failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitRuntimeDone {
    pub initialization_type: String,
    pub phase: String,
    /// `success`, `error`, `failure` or `timeout`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
}

/// `platform.initReport`: what the Init phase took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitReport {
    pub initialization_type: String,
    pub phase: String,
    /// Newer schemas and RAPID send it; absent from the 2022 schema (empty then).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub metrics: InitReportMetrics,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
}

/// The `metrics` of `platform.initReport`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitReportMetrics {
    pub duration_ms: f64,
}

/// `platform.start`: an invocation began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Start {
    pub request_id: String,
    /// The function version (`$LATEST`, `1`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TraceContext>,
}

/// The `tracing` member of platform records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceContext {
    /// `X-Amzn-Trace-Id`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `Root=…;Parent=…;Sampled=…`.
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
}

/// `platform.runtimeDone`: the runtime finished an invocation (it called `/next` or
/// `/error`, or the platform gave up on it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDone {
    pub request_id: String,
    /// `success`, `error`, `failure` or `timeout`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<RuntimeDoneMetrics>,
    /// `responseLatency`, `responseDuration`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TraceContext>,
}

/// The `metrics` of `platform.runtimeDone`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeDoneMetrics {
    pub duration_ms: f64,
    /// Bytes of the response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_bytes: Option<u64>,
}

/// `platform.report`: what an invocation took, as the REPORT log line says it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub request_id: String,
    /// `success`, `error`, `failure` or `timeout`; the Logs API's record has none (empty
    /// then).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    pub metrics: ReportMetrics,
    /// RAPID adds `extensionOverhead`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<Span>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<TraceContext>,
}

/// The `metrics` of `platform.report`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportMetrics {
    pub duration_ms: f64,
    pub billed_duration_ms: u64,
    /// `memorySizeMB` (camelCase would give `memorySizeMb`).
    #[serde(rename = "memorySizeMB")]
    pub memory_size_mb: u64,
    /// `maxMemoryUsedMB`.
    #[serde(rename = "maxMemoryUsedMB")]
    pub max_memory_used_mb: u64,
    /// Only after a cold start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_duration_ms: Option<f64>,
    /// Only after a SnapStart restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_duration_ms: Option<f64>,
}

/// A timed part of a phase: `{"name","start","durationMs"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub name: String,
    /// ISO 8601, milliseconds, UTC.
    pub start: String,
    pub duration_ms: f64,
}

/// `platform.extension`: an extension registered (one per extension, at the end of init).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionRecord {
    pub name: String,
    /// `Ready`, …
    pub state: String,
    /// `INVOKE`, `SHUTDOWN`.
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

/// `platform.telemetrySubscription` and `platform.logsSubscription`: an extension
/// subscribed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub name: String,
    /// `Subscribed`.
    pub state: String,
    /// `platform`, `function`, `extension`.
    pub types: Vec<String>,
}

/// `platform.logsDropped`: the subscriber fell behind and the platform dropped records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogsDropped {
    pub dropped_bytes: u64,
    pub dropped_records: u64,
    pub reason: String,
}

/// `platform.end` (Logs API): an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct End {
    pub request_id: String,
}
