//! Runtime API, version 2018-06-01 (§1).

/// Version prefix of every Runtime API path.
pub const VERSION: &str = "2018-06-01";
/// `GET`: long poll for the next event (§1.2).
pub const NEXT_PATH: &str = "/2018-06-01/runtime/invocation/next";
/// Prefix of `POST {prefix}{id}/response` and `POST {prefix}{id}/error` (§1.3, §1.4).
pub const INVOCATION_PREFIX: &str = "/2018-06-01/runtime/invocation/";
/// `POST`: non-recoverable initialisation error (§1.5).
pub const INIT_ERROR_PATH: &str = "/2018-06-01/runtime/init/error";

/// Request id of the event (mandatory).
pub const HDR_REQUEST_ID: &str = "lambda-runtime-aws-request-id";
/// Deadline as Unix epoch milliseconds (mandatory).
pub const HDR_DEADLINE_MS: &str = "lambda-runtime-deadline-ms";
/// ARN of the function, version or alias invoked.
pub const HDR_INVOKED_FUNCTION_ARN: &str = "lambda-runtime-invoked-function-arn";
/// X-Ray tracing header.
pub const HDR_TRACE_ID: &str = "lambda-runtime-trace-id";
/// Mobile SDK client context (JSON).
pub const HDR_CLIENT_CONTEXT: &str = "lambda-runtime-client-context";
/// Mobile SDK Cognito identity (JSON).
pub const HDR_COGNITO_IDENTITY: &str = "lambda-runtime-cognito-identity";
/// Tenant id (tenant isolation mode).
pub const HDR_TENANT_ID: &str = "lambda-runtime-aws-tenant-id";
/// Error type sent with `/error` and `/init/error`; also a streaming trailer.
pub const HDR_FUNCTION_ERROR_TYPE: &str = "lambda-runtime-function-error-type";
/// Base64 error body, a streaming trailer (§1.6).
pub const HDR_FUNCTION_ERROR_BODY: &str = "lambda-runtime-function-error-body";
/// `streaming` on a streamed `/response` (§1.6).
pub const HDR_RESPONSE_MODE: &str = "lambda-runtime-function-response-mode";
/// X-Ray error cause sent with `/error`.
pub const HDR_XRAY_ERROR_CAUSE: &str = "lambda-runtime-function-xray-error-cause";

/// The largest event or response accepted, in bytes: 6 MiB + 100 (§1.3, §1.7).
pub const MAX_PAYLOAD_BYTES: usize = 6 * 1024 * 1024 + 100;

/// What an invocation path names, parsed from `/2018-06-01/runtime/invocation/{id}/{what}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationPath<'a> {
    /// `POST …/{id}/response`
    Response(&'a str),
    /// `POST …/{id}/error`
    Error(&'a str),
}

impl<'a> InvocationPath<'a> {
    /// Parses a path below [`INVOCATION_PREFIX`]; `None` for anything else (including `next`).
    pub fn parse(path: &'a str) -> Option<Self> {
        let rest = path.strip_prefix(INVOCATION_PREFIX)?;
        let (id, what) = rest.rsplit_once('/')?;
        match what {
            "response" => Some(Self::Response(id)),
            "error" => Some(Self::Error(id)),
            _ => None,
        }
    }
}

/// Error types the platform reports (§1.10).
pub mod error_type {
    pub const INVALID_REQUEST_ID: &str = "InvalidRequestID";
    pub const INVALID_STATE_TRANSITION: &str = "InvalidStateTransition";
    pub const REQUEST_ENTITY_TOO_LARGE: &str = "RequestEntityTooLarge";
    pub const INVALID_RESPONSE_MODE: &str = "InvalidFunctionResponseMode";
    pub const TRUNCATED_HTTP_REQUEST: &str = "TruncatedHTTPRequest";
    pub const RUNTIME_EXIT_ERROR: &str = "Runtime.ExitError";
    pub const RUNTIME_UNKNOWN: &str = "Runtime.Unknown";
    pub const RUNTIME_INVALID_RESPONSE_MODE: &str = "Runtime.InvalidResponseModeHeader";
    pub const RUNTIME_TRUNCATED_RESPONSE: &str = "Runtime.TruncatedResponse";
    pub const FUNCTION_RESPONSE_TOO_LARGE: &str = "Function.ResponseSizeTooLarge";
    pub const EXTENSION_CRASH: &str = "Extension.Crash";
    pub const EXTENSION_INIT_ERROR: &str = "Extension.InitError";
    pub const EXTENSION_EXIT_ERROR: &str = "Extension.ExitError";
    pub const SANDBOX_TIMEDOUT: &str = "Sandbox.Timedout";
    pub const SANDBOX_FAILURE: &str = "Sandbox.Failure";
}

/// The 500 body: "Container error. Non-recoverable state. Runtime should exit promptly." (§1.2).
pub const CONTAINER_ERROR_MESSAGE: &str =
    "Container error. Non-recoverable state. Runtime should exit promptly.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_invocation_paths() {
        let p = "/2018-06-01/runtime/invocation/abc-1/response";
        assert_eq!(
            InvocationPath::parse(p),
            Some(InvocationPath::Response("abc-1"))
        );
        let p = "/2018-06-01/runtime/invocation/abc-1/error";
        assert_eq!(
            InvocationPath::parse(p),
            Some(InvocationPath::Error("abc-1"))
        );
        assert_eq!(InvocationPath::parse(NEXT_PATH), None);
        assert_eq!(
            InvocationPath::parse("/2018-06-01/runtime/invocation//response"),
            Some(InvocationPath::Response(""))
        );
        assert_eq!(InvocationPath::parse("/other/abc/response"), None);
    }
}
