//! The public Invoke API (§4.8), as `aws lambda invoke` and boto3 speak it.

use serde::Serialize;

/// Prefix of `POST /2015-03-31/functions/{name}/invocations`.
pub const FUNCTIONS_PREFIX: &str = "/2015-03-31/functions/";
/// Suffix of the invoke path.
pub const INVOCATIONS_SUFFIX: &str = "/invocations";

pub const HDR_INVOCATION_TYPE: &str = "x-amz-invocation-type";
pub const HDR_LOG_TYPE: &str = "x-amz-log-type";
pub const HDR_CLIENT_CONTEXT: &str = "x-amz-client-context";
pub const HDR_FUNCTION_ERROR: &str = "x-amz-function-error";
pub const HDR_LOG_RESULT: &str = "x-amz-log-result";
pub const HDR_EXECUTED_VERSION: &str = "x-amz-executed-version";
pub const HDR_TRACE_ID: &str = "x-amzn-trace-id";
pub const HDR_REQUEST_ID: &str = "x-amzn-requestid";
/// The header botocore reads the error code from.
pub const HDR_ERROR_TYPE: &str = "x-amzn-errortype";

/// Largest synchronous request payload: 6 MB (§1.7).
pub const MAX_SYNC_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;
/// Largest asynchronous (`Event`) request payload: 1 MB (§1.7, live docs).
pub const MAX_ASYNC_PAYLOAD_BYTES: usize = 1024 * 1024;
/// `X-Amz-Log-Result` carries the last 4 KB of the invocation's log.
pub const LOG_TAIL_BYTES: usize = 4096;

/// `X-Amz-Invocation-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationType {
    RequestResponse,
    Event,
    DryRun,
}

impl InvocationType {
    /// Parses the header value; absent means `RequestResponse`.
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("RequestResponse") => Some(Self::RequestResponse),
            Some("Event") => Some(Self::Event),
            Some("DryRun") => Some(Self::DryRun),
            Some(_) => None,
        }
    }
}

/// Splits `/2015-03-31/functions/{name}/invocations` into the function name.
pub fn parse_invoke_path(path: &str) -> Option<&str> {
    path.strip_prefix(FUNCTIONS_PREFIX)?
        .strip_suffix(INVOCATIONS_SUFFIX)
}

/// The error body of the Invoke API (REST-JSON; botocore reads the code from
/// [`HDR_ERROR_TYPE`] and the message from `message`/`Message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceError {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "Reason", skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

/// Service error codes with their HTTP status.
pub mod service_error {
    pub const RESOURCE_NOT_FOUND: (u16, &str) = (404, "ResourceNotFoundException");
    pub const REQUEST_TOO_LARGE: (u16, &str) = (413, "RequestTooLargeException");
    pub const TOO_MANY_REQUESTS: (u16, &str) = (429, "TooManyRequestsException");
    pub const INVALID_REQUEST_CONTENT: (u16, &str) = (400, "InvalidRequestContentException");
    pub const INVALID_PARAMETER: (u16, &str) = (400, "InvalidParameterValueException");
    pub const SERVICE: (u16, &str) = (500, "ServiceException");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_invoke_paths() {
        assert_eq!(
            parse_invoke_path("/2015-03-31/functions/echo/invocations"),
            Some("echo")
        );
        assert_eq!(parse_invoke_path("/2015-03-31/functions/echo"), None);
        assert_eq!(
            InvocationType::parse(Some("Event")),
            Some(InvocationType::Event)
        );
        assert_eq!(InvocationType::parse(Some("bogus")), None);
    }
}
