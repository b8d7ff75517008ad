//! The crate's error type: why an event could not become a request, or a response an answer.

use lambda_grace::Diagnostic;

/// A boxed error: what tower services and HTTP bodies fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an invocation of an HTTP function failed before or after the service ran.
///
/// Each variant reports to the platform with its own error type (see
/// [`Error::to_diagnostic`]); the runtime's loop goes on with the next event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The payload is not JSON.
    #[error("the event is not JSON")]
    NotJson(#[source] serde_json::Error),

    /// The payload is JSON, but not that of an HTTP event this crate knows.
    #[error(
        "the event is not an HTTP event (API Gateway REST or HTTP API, ALB, Function URL): {reason}"
    )]
    NotHttp {
        /// What is missing.
        reason: &'static str,
    },

    /// The payload looks like an event of `kind` but does not parse as one.
    #[error("the event looks like {kind} but is malformed")]
    Malformed {
        /// The kind the event was taken for.
        kind: crate::EventKind,
        #[source]
        source: serde_json::Error,
    },

    /// The event carries a method, path or header that `http` rejects.
    #[error("the event's {what} is not valid HTTP")]
    InvalidRequest {
        /// Which part: `method`, `uri`…
        what: &'static str,
        #[source]
        source: http::Error,
    },

    /// `isBase64Encoded` is true but the body is not base64.
    #[error("the event's body is marked base64 but is not")]
    Base64(#[source] base64::DecodeError),

    /// The service itself failed (it did not produce a response).
    #[error("the HTTP service failed")]
    Service(#[source] BoxError),

    /// The response body failed while it was read.
    #[error("the response body failed")]
    Body(#[source] BoxError),

    /// The answer could not be serialised (a header that is not UTF-8…).
    #[error("the response cannot be serialised")]
    Serialize(#[source] serde_json::Error),

    /// An option read from the environment has a value this crate does not know.
    #[error("{var}={value:?} is not one of {expected}")]
    InvalidOption {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// The values allowed.
        expected: &'static str,
    },
}

impl Error {
    /// The error type reported to the platform: `Http.<Reason>`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::NotJson(_) => "Http.InvalidJson",
            Self::NotHttp { .. } => "Http.NotAnHttpEvent",
            Self::Malformed { .. } => "Http.MalformedEvent",
            Self::InvalidRequest { .. } => "Http.InvalidRequest",
            Self::Base64(_) => "Http.InvalidBase64Body",
            Self::Service(_) => "Http.ServiceError",
            Self::Body(_) => "Http.ResponseBodyError",
            Self::Serialize(_) => "Http.SerializationError",
            Self::InvalidOption { .. } => "Runtime.ConfigInvalid",
        }
    }

    /// What the platform is told: [`error_type`](Error::error_type) and the message with its
    /// sources (`a: b: c`).
    pub fn to_diagnostic(&self) -> Diagnostic {
        let mut message = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            message.push_str(": ");
            message.push_str(&s.to_string());
            source = s.source();
        }
        Diagnostic::new(self.error_type(), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnostics_carry_the_type_and_the_whole_chain() {
        let source = serde_json::from_str::<u8>("x").unwrap_err();
        let d = Error::NotJson(source).to_diagnostic();
        assert_eq!(d.error_type, "Http.InvalidJson");
        assert!(
            d.error_message.starts_with("the event is not JSON: "),
            "{}",
            d.error_message
        );
        assert!(
            d.error_message.contains(": expected value"),
            "{}",
            d.error_message
        );
    }

    #[test]
    fn option_errors_are_configuration_errors() {
        let e = Error::InvalidOption {
            var: "V",
            value: "x".into(),
            expected: "`a` or `b`",
        };
        assert_eq!(e.to_string(), "V=\"x\" is not one of `a` or `b`");
        assert_eq!(e.error_type(), "Runtime.ConfigInvalid");
    }
}
