//! Extensions API, version 2020-01-01 (§2).

use serde::{Deserialize, Serialize};

/// `POST`: register an extension (§2.1).
pub const REGISTER_PATH: &str = "/2020-01-01/extension/register";
/// `GET`: long poll for the next INVOKE or SHUTDOWN event (§2.2).
pub const EVENT_NEXT_PATH: &str = "/2020-01-01/extension/event/next";
/// `POST`: the extension failed to initialise (§2.3).
pub const INIT_ERROR_PATH: &str = "/2020-01-01/extension/init/error";
/// `POST`: the extension is exiting because of an error (§2.3).
pub const EXIT_ERROR_PATH: &str = "/2020-01-01/extension/exit/error";

/// Name of the extension; for external ones, the executable's file name.
pub const HDR_NAME: &str = "lambda-extension-name";
/// Comma-separated features; only `accountId` is defined.
pub const HDR_ACCEPT_FEATURE: &str = "lambda-extension-accept-feature";
/// The identifier given at registration, sent back on every later call.
pub const HDR_IDENTIFIER: &str = "lambda-extension-identifier";
/// Set by the platform on every event (RIE's header; the docs name [`HDR_IDENTIFIER`]).
pub const HDR_EVENT_IDENTIFIER: &str = "lambda-extension-event-identifier";
/// The error type of `init/error` and `exit/error` (required there).
pub const HDR_FUNCTION_ERROR_TYPE: &str = "lambda-extension-function-error-type";

/// The most extensions one function may register (§2.1).
pub const MAX_EXTENSIONS: usize = 10;

/// Event types an extension may subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    Invoke,
    Shutdown,
}

/// Body of `POST /extension/register`. `configurationKeys` is rejected by the platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    #[serde(default)]
    pub events: Vec<String>,
    #[serde(
        rename = "configurationKeys",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub configuration_keys: Option<serde_json::Value>,
}

/// Body of the 200 answer to a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    #[serde(rename = "functionName")]
    pub function_name: String,
    #[serde(rename = "functionVersion")]
    pub function_version: String,
    pub handler: String,
    #[serde(rename = "accountId", default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
}

/// The `tracing` member of an INVOKE event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracing {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// An event answered on `GET /extension/event/next`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "eventType", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Event {
    Invoke {
        #[serde(rename = "deadlineMs")]
        deadline_ms: u64,
        #[serde(rename = "requestId")]
        request_id: String,
        #[serde(rename = "invokedFunctionArn")]
        invoked_function_arn: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tracing: Option<Tracing>,
    },
    Shutdown {
        #[serde(rename = "shutdownReason")]
        shutdown_reason: String,
        #[serde(rename = "deadlineMs")]
        deadline_ms: u64,
    },
}

/// Why an environment shuts down, as sent in SHUTDOWN events (lower case, as RAPID sends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ShutdownReason {
    Spindown,
    Timeout,
    Failure,
}

impl ShutdownReason {
    /// The wire value: `spindown`, `timeout` or `failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spindown => "spindown",
            Self::Timeout => "timeout",
            Self::Failure => "failure",
        }
    }

    /// Parses a reason case-insensitively (the docs use upper case, RAPID lower case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "spindown" => Some(Self::Spindown),
            "timeout" => Some(Self::Timeout),
            "failure" => Some(Self::Failure),
            _ => None,
        }
    }
}

impl std::fmt::Display for ShutdownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error types of the Extensions API (§2.1–2.3); all are answered with 403.
pub mod error_type {
    pub const INVALID_EXTENSION_NAME: &str = "Extension.InvalidExtensionName";
    pub const INVALID_REQUEST_FORMAT: &str = "InvalidRequestFormat";
    pub const INVALID_EVENT_TYPE: &str = "Extension.InvalidEventType";
    pub const REGISTRATION_CLOSED: &str = "Extension.RegistrationClosed";
    pub const INVALID_EXTENSION_STATE: &str = "Extension.InvalidExtensionState";
    pub const TOO_MANY_EXTENSIONS: &str = "Extension.TooManyExtensions";
    pub const MISSING_IDENTIFIER: &str = "Extension.MissingExtensionIdentifier";
    pub const INVALID_IDENTIFIER: &str = "Extension.InvalidExtensionIdentifier";
    pub const UNKNOWN_IDENTIFIER: &str = "Extension.UnknownExtensionIdentifier";
    pub const MISSING_HEADER: &str = "Extension.MissingHeader";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_as_documented() {
        let e = Event::Shutdown {
            shutdown_reason: "spindown".into(),
            deadline_ms: 42,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":42}"#
        );
        let e = Event::Invoke {
            deadline_ms: 7,
            request_id: "r".into(),
            invoked_function_arn: "arn".into(),
            tracing: None,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"eventType":"INVOKE","deadlineMs":7,"requestId":"r","invokedFunctionArn":"arn"}"#
        );
    }

    #[test]
    fn reasons_parse_case_insensitively() {
        assert_eq!(
            ShutdownReason::parse("SPINDOWN"),
            Some(ShutdownReason::Spindown)
        );
        assert_eq!(
            ShutdownReason::parse("timeout"),
            Some(ShutdownReason::Timeout)
        );
        assert_eq!(ShutdownReason::parse("timout"), None);
    }
}
