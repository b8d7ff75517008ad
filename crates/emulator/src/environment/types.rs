//! The values that cross the environment's edges: what a caller asks for ([`InvokeRequest`]),
//! what the runtime's `/next` gets ([`NextEvent`]), what the caller gets back ([`Outcome`]),
//! and the Runtime/Extensions API's error answers ([`ApiError`]).

use std::sync::Arc;

use bytes::Bytes;
use grace_protocol::ErrorBody;
use tokio::time::Instant;

use crate::sys::Exit;

/// What the caller asked for.
#[derive(Debug, Clone)]
pub(crate) struct InvokeRequest {
    pub(crate) request_id: Arc<str>,
    pub(crate) payload: Bytes,
    pub(crate) content_type: Option<String>,
    /// `X-Amzn-Trace-Id`; a new one is made when absent.
    pub(crate) trace_id: Option<String>,
    pub(crate) client_context: Option<String>,
    pub(crate) cognito_identity: Option<String>,
    pub(crate) tenant_id: Option<String>,
    /// Keep the log for `X-Amz-Log-Result`.
    pub(crate) tail: bool,
    /// The invoke's deadline when it was fixed earlier (a suppressed init ran inside it, or
    /// the caller asked for a shorter timeout).
    pub(crate) deadline: Option<Instant>,
}

/// The event as the runtime's `/next` answer carries it (§1.2).
#[derive(Debug)]
pub(crate) struct NextEvent {
    pub(crate) request_id: Arc<str>,
    pub(crate) deadline_ms: u64,
    pub(crate) arn: Arc<str>,
    pub(crate) trace_id: String,
    pub(crate) client_context: Option<String>,
    pub(crate) cognito_identity: Option<String>,
    pub(crate) tenant_id: Option<String>,
    pub(crate) payload: Bytes,
    pub(crate) content_type: Option<String>,
}

/// What the caller gets.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The runtime's `/response` body and content type.
    Response {
        body: Bytes,
        content_type: Option<String>,
    },
    /// A streamed `/response`, forwarded as it arrives.
    Streamed {
        body: crate::stream::StreamedBody,
        content_type: Option<String>,
    },
    /// The runtime's `/error` body (passed through unchanged).
    FunctionError { body: Bytes },
    /// The platform failed the invocation (timeout, crash, oversized response…).
    PlatformError { body: Bytes },
}

impl Outcome {
    /// Bytes of a whole response (telemetry's `producedBytes`).
    pub(crate) fn response_bytes(&self) -> Option<usize> {
        match self {
            Self::Response { body, .. } => Some(body.len()),
            _ => None,
        }
    }
}

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

/// An error answer of the Runtime or Extensions API: status and `{"errorType","errorMessage"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) error_type: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error_type,
            message: message.into(),
        }
    }

    pub(crate) fn forbidden(error_type: &'static str, message: impl Into<String>) -> Self {
        Self::new(403, error_type, message)
    }

    /// `State transition from {from} to {to} failed …` (RAPID's words).
    pub(crate) fn transition(from: &str, to: &str) -> Self {
        Self::forbidden(
            grace_protocol::runtime_api::error_type::INVALID_STATE_TRANSITION,
            format!(
                "State transition from {from} to {to} failed for runtime. Error: State transition is not allowed"
            ),
        )
    }
}

/// A platform error body: `{"errorType":…,"errorMessage":"RequestId: … Error: …"}`.
pub(crate) fn platform_error(request_id: &str, error_type: &str, message: &str) -> Bytes {
    let body = ErrorBody::new(
        error_type,
        format!("RequestId: {request_id} Error: {message}"),
    );
    Bytes::from(body.to_json())
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
pub(crate) fn init_error_body(posted: &Bytes, error_type: &str) -> Bytes {
    if serde_json::from_slice::<serde_json::Value>(posted).is_ok() {
        posted.clone()
    } else {
        let message = String::from_utf8_lossy(posted).into_owned();
        Bytes::from(ErrorBody::new(error_type, message).to_json())
    }
}

/// A new X-Ray trace header: `Root=1-{8 hex time}-{24 hex}` with a parent and `Sampled=0`.
pub(crate) fn new_trace_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let r = crate::ids::uuid().simple().to_string();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        &r[..24],
        &r[16..32]
    )
}
