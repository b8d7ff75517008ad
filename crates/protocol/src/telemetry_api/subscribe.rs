//! Subscribing (§3.1, §3.4): paths, schema versions, the request body with its documented
//! limits, and what the platform answers.

use serde::{Deserialize, Serialize};

/// `PUT`: subscribe to the Telemetry API (§3.1).
pub const TELEMETRY_PATH: &str = "/2022-07-01/telemetry";
/// `PUT`: subscribe to the Logs API (§3.4), superseded by the Telemetry API but functional.
pub const LOGS_PATH: &str = "/2020-08-15/logs";

/// The Telemetry API's first schema version.
pub const SCHEMA_2022_07_01: &str = "2022-07-01";
/// The Telemetry API's schema version with a published OpenAPI file (older translations).
pub const SCHEMA_2022_12_13: &str = "2022-12-13";
/// The Telemetry API's newest schema version; Lambda Managed Instances require it.
pub const SCHEMA_2025_01_29: &str = "2025-01-29";
/// The Logs API's schema version, its default when `schemaVersion` is absent.
pub const LOGS_SCHEMA_2020_08_15: &str = "2020-08-15";
/// The Logs API's schema version that adds `platform.runtimeDone`.
pub const LOGS_SCHEMA_2021_03_18: &str = "2021-03-18";

/// Schema versions the Telemetry API accepts.
pub const TELEMETRY_SCHEMA_VERSIONS: &[&str] =
    &[SCHEMA_2022_07_01, SCHEMA_2022_12_13, SCHEMA_2025_01_29];
/// Schema versions the Logs API accepts.
pub const LOGS_SCHEMA_VERSIONS: &[&str] = &[LOGS_SCHEMA_2020_08_15, LOGS_SCHEMA_2021_03_18];
/// The schema version a client asks for by default: the current one of the Telemetry API.
pub const DEFAULT_SCHEMA_VERSION: &str = SCHEMA_2022_12_13;

/// `buffering.maxItems`: records per batch (§3.1; the main guide page, not the scrambled
/// reference table, §8.3).
pub const MAX_ITEMS_MIN: u32 = 1_000;
/// Largest `buffering.maxItems`.
pub const MAX_ITEMS_MAX: u32 = 10_000;
/// `buffering.maxItems` when absent.
pub const MAX_ITEMS_DEFAULT: u32 = 10_000;
/// Smallest `buffering.maxBytes`: bytes per batch.
pub const MAX_BYTES_MIN: u32 = 262_144;
/// Largest `buffering.maxBytes`.
pub const MAX_BYTES_MAX: u32 = 1_048_576;
/// `buffering.maxBytes` when absent.
pub const MAX_BYTES_DEFAULT: u32 = 262_144;
/// Smallest `buffering.timeoutMs`: the longest wait for a batch to fill.
pub const TIMEOUT_MS_MIN: u32 = 25;
/// Largest `buffering.timeoutMs`.
pub const TIMEOUT_MS_MAX: u32 = 30_000;
/// `buffering.timeoutMs` when absent.
pub const TIMEOUT_MS_DEFAULT: u32 = 1_000;

/// The port the platform keeps for itself; no destination may use it (§3.2).
pub const RESERVED_PORT: u16 = 9001;

/// The `errorType` of the platform's answers to a subscription; bodies are
/// [`ErrorBody`](crate::ErrorBody).
pub mod error_type {
    /// 400 from the Telemetry API: a body that does not validate [doc: DG-TEL].
    pub const VALIDATION: &str = "ValidationError";
    /// 400 from the Logs API [doc: DG-LOGS].
    pub const LOGS_VALIDATION: &str = "Logs.ValidationError";
    /// 403 from the Telemetry API after init [code: RIE `runtimelogs.go`].
    pub const SUBSCRIPTION_CLOSED: &str = "Telemetry.SubscriptionClosed";
    /// 403 from the Logs API after init [code: RIE].
    pub const LOGS_SUBSCRIPTION_CLOSED: &str = "Logs.SubscriptionClosed";
    /// 403: already subscribed through the Logs API. The docs say only that this "returns an
    /// error"; the name is this project's.
    pub const SUBSCRIPTION_CONFLICT: &str = "Telemetry.SubscriptionConflict";
    /// 403: already subscribed through the Telemetry API (name: this project's).
    pub const LOGS_SUBSCRIPTION_CONFLICT: &str = "Logs.SubscriptionConflict";
    /// 202 from a platform without telemetry (RIE's stub) [code: RIE `runtimelogs_stub.go`].
    pub const NOT_SUPPORTED: &str = "Telemetry.NotSupported";
    /// 202 from a platform without the Logs API [code: RIE].
    pub const LOGS_NOT_SUPPORTED: &str = "Logs.NotSupported";
}

/// The body of the 200 answer to a subscription: the JSON string `"OK"`.
pub const SUBSCRIBED_BODY: &str = r#""OK""#;

/// Which of the two subscription APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// `PUT /2022-07-01/telemetry`.
    Telemetry,
    /// `PUT /2020-08-15/logs`.
    Logs,
}

impl Api {
    /// The subscription path.
    pub fn path(self) -> &'static str {
        match self {
            Self::Telemetry => TELEMETRY_PATH,
            Self::Logs => LOGS_PATH,
        }
    }

    /// The schema versions this API accepts.
    pub fn schema_versions(self) -> &'static [&'static str] {
        match self {
            Self::Telemetry => TELEMETRY_SCHEMA_VERSIONS,
            Self::Logs => LOGS_SCHEMA_VERSIONS,
        }
    }

    /// The `errorType` of a 400 answer.
    pub fn validation_error(self) -> &'static str {
        match self {
            Self::Telemetry => error_type::VALIDATION,
            Self::Logs => error_type::LOGS_VALIDATION,
        }
    }

    /// The `errorType` of a subscription after init.
    pub fn closed_error(self) -> &'static str {
        match self {
            Self::Telemetry => error_type::SUBSCRIPTION_CLOSED,
            Self::Logs => error_type::LOGS_SUBSCRIPTION_CLOSED,
        }
    }

    /// The `errorType` of a subscription after one through the other API.
    pub fn conflict_error(self) -> &'static str {
        match self {
            Self::Telemetry => error_type::SUBSCRIPTION_CONFLICT,
            Self::Logs => error_type::LOGS_SUBSCRIPTION_CONFLICT,
        }
    }

    /// The `errorType` of a platform without this API.
    pub fn not_supported_error(self) -> &'static str {
        match self {
            Self::Telemetry => error_type::NOT_SUPPORTED,
            Self::Logs => error_type::LOGS_NOT_SUPPORTED,
        }
    }
}

/// A stream of records to subscribe to (`types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TelemetryType {
    /// `platform.*` records: init, start, runtimeDone, report, extension, …
    Platform,
    /// The function's log lines.
    Function,
    /// The extensions' log lines. An extension that logs while it receives these feeds its
    /// own stream (§3.2).
    Extension,
}

impl TelemetryType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Function => "function",
            Self::Extension => "extension",
        }
    }

    /// The type a wire name stands for.
    pub fn from_wire(name: &str) -> Option<Self> {
        match name {
            "platform" => Some(Self::Platform),
            "function" => Some(Self::Function),
            "extension" => Some(Self::Extension),
            _ => None,
        }
    }
}

/// How the platform buffers records before it delivers a batch (§3.1): the first limit
/// reached sends the batch. Absent fields take the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Buffering {
    /// Records per batch, [`MAX_ITEMS_MIN`] to [`MAX_ITEMS_MAX`].
    #[serde(default = "default_max_items")]
    pub max_items: u32,
    /// Bytes per batch, [`MAX_BYTES_MIN`] to [`MAX_BYTES_MAX`].
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u32,
    /// Longest wait for a batch to fill, [`TIMEOUT_MS_MIN`] to [`TIMEOUT_MS_MAX`] ms.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
}

fn default_max_items() -> u32 {
    MAX_ITEMS_DEFAULT
}
fn default_max_bytes() -> u32 {
    MAX_BYTES_DEFAULT
}
fn default_timeout_ms() -> u32 {
    TIMEOUT_MS_DEFAULT
}

impl Default for Buffering {
    /// The documented defaults: 10,000 items, 256 KiB, 1,000 ms.
    fn default() -> Self {
        Self {
            max_items: MAX_ITEMS_DEFAULT,
            max_bytes: MAX_BYTES_DEFAULT,
            timeout_ms: TIMEOUT_MS_DEFAULT,
        }
    }
}

/// How records travel to the subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Protocol {
    /// A JSON array per batch, POSTed (PUT or POST for the Logs API) to `URI`.
    #[serde(rename = "HTTP")]
    Http,
    /// NDJSON on a TCP connection to `port` (no acknowledgement: records may be lost).
    #[serde(rename = "TCP")]
    Tcp,
}

/// Where records go: `{"protocol":"HTTP","URI":"http://sandbox.localdomain:PORT/PATH"}` or
/// `{"protocol":"TCP","port":PORT}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    pub protocol: Protocol,
    /// The listener's URI (HTTP; some TCP subscribers send one too).
    #[serde(rename = "URI", default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The listener's port (TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

impl Destination {
    /// An HTTP listener at `uri` (the platform delivers only to `http://`, inside the
    /// execution environment: `http://sandbox.localdomain:PORT/PATH`).
    pub fn http(uri: impl Into<String>) -> Self {
        Self {
            protocol: Protocol::Http,
            uri: Some(uri.into()),
            port: None,
        }
    }

    /// A TCP listener on `port`.
    pub fn tcp(port: u16) -> Self {
        Self {
            protocol: Protocol::Tcp,
            uri: None,
            port: Some(port),
        }
    }
}

/// The body of `PUT /2022-07-01/telemetry` and `PUT /2020-08-15/logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscribeRequest {
    /// Absent: the API's oldest version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    /// Non-empty.
    pub types: Vec<TelemetryType>,
    /// Absent: [`Buffering::default`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buffering: Option<Buffering>,
    pub destination: Destination,
}

/// Why a subscription body was refused: the `errorMessage` of a 400 whose `errorType` is
/// [`Api::validation_error`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidRequest {
    message: String,
}

impl InvalidRequest {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message to answer with.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message, owned.
    pub fn into_message(self) -> String {
        self.message
    }
}

impl std::fmt::Display for InvalidRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidRequest {}

impl SubscribeRequest {
    /// The platform's side: reads a subscription body with every field optional, then checks
    /// it in a fixed order (schema version, types, buffering limits, destination) against the
    /// documented values, so that the answer names the first faulty field (only a body that is
    /// not JSON of the right shape gets serde's message). The destination is checked for
    /// presence only: which hosts are "inside the environment" is the platform's business.
    /// The messages are this project's; Lambda documents the `errorType`, not the wording.
    pub fn parse(api: Api, body: &[u8]) -> Result<Self, InvalidRequest> {
        let raw: wire::Body = serde_json::from_slice(body)
            .map_err(|e| InvalidRequest::new(format!("invalid request body: {e}")))?;
        if let Some(v) = &raw.schema_version
            && !api.schema_versions().contains(&v.as_str())
        {
            return Err(InvalidRequest::new(format!(
                "unsupported schemaVersion {v}"
            )));
        }
        let names = raw.types.unwrap_or_default();
        if names.is_empty() {
            return Err(InvalidRequest::new("types should not be empty"));
        }
        let types = names
            .iter()
            .map(|t| {
                TelemetryType::from_wire(t)
                    .ok_or_else(|| InvalidRequest::new(format!("unknown type {t}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let buffering = raw.buffering.map(wire::Buffering::check).transpose()?;
        let d = raw
            .destination
            .ok_or_else(|| InvalidRequest::new("destination is required"))?;
        let protocol = match d.protocol.as_deref() {
            Some("HTTP") if d.uri.is_none() => {
                return Err(InvalidRequest::new("destination.URI is required for HTTP"));
            }
            Some("HTTP") => Protocol::Http,
            Some("TCP") if d.port.is_none() && d.uri.is_none() => {
                return Err(InvalidRequest::new("destination.port is required for TCP"));
            }
            Some("TCP") => Protocol::Tcp,
            other => {
                return Err(InvalidRequest::new(format!(
                    "destination.protocol must be HTTP or TCP, not {}",
                    other.unwrap_or("missing")
                )));
            }
        };
        Ok(Self {
            schema_version: raw.schema_version,
            types,
            buffering,
            destination: Destination {
                protocol,
                uri: d.uri,
                port: d.port,
            },
        })
    }
}

/// The body as it arrives, before [`SubscribeRequest::parse`] checks it.
mod wire {
    use serde::Deserialize;

    use super::*;

    /// A subscription body as it arrives: anything may be missing; wide integers, so an
    /// out-of-range value is reported as such rather than as a serde overflow. The names serde
    /// quotes in its messages (`expected struct Body`) are the ones the emulator answered with
    /// before these types moved here, hence their names.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Body {
        pub(super) schema_version: Option<String>,
        pub(super) types: Option<Vec<String>>,
        pub(super) buffering: Option<Buffering>,
        pub(super) destination: Option<DestinationBody>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Buffering {
        pub(super) max_items: Option<u64>,
        pub(super) max_bytes: Option<u64>,
        pub(super) timeout_ms: Option<u64>,
    }

    impl Buffering {
        pub(super) fn check(self) -> Result<super::Buffering, InvalidRequest> {
            fn ranged(
                v: Option<u64>,
                default: u32,
                min: u32,
                max: u32,
                name: &str,
            ) -> Result<u32, InvalidRequest> {
                match v {
                    None => Ok(default),
                    Some(v) => u32::try_from(v)
                        .ok()
                        .filter(|v| (min..=max).contains(v))
                        .ok_or_else(|| {
                            InvalidRequest::new(format!(
                                "buffering.{name} {v} is outside {min}..={max}"
                            ))
                        }),
                }
            }
            Ok(super::Buffering {
                max_items: ranged(
                    self.max_items,
                    MAX_ITEMS_DEFAULT,
                    MAX_ITEMS_MIN,
                    MAX_ITEMS_MAX,
                    "maxItems",
                )?,
                max_bytes: ranged(
                    self.max_bytes,
                    MAX_BYTES_DEFAULT,
                    MAX_BYTES_MIN,
                    MAX_BYTES_MAX,
                    "maxBytes",
                )?,
                timeout_ms: ranged(
                    self.timeout_ms,
                    TIMEOUT_MS_DEFAULT,
                    TIMEOUT_MS_MIN,
                    TIMEOUT_MS_MAX,
                    "timeoutMs",
                )?,
            })
        }
    }

    #[derive(Deserialize)]
    pub(super) struct DestinationBody {
        pub(super) protocol: Option<String>,
        #[serde(rename = "URI")]
        pub(super) uri: Option<String>,
        pub(super) port: Option<u16>,
    }
}
