//! The crate's error type.

use std::net::SocketAddr;

/// A boxed error: the source of transport and callback failures.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an extension could not register, subscribe, or go on running.
///
/// A SHUTDOWN callback that fails or overruns its deadline is not an `Error`: the extension is
/// ending anyway, and [`ShutdownReport`](crate::ShutdownReport) says what happened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `AWS_LAMBDA_RUNTIME_API` is not set (and no address was given).
    #[error(
        "AWS_LAMBDA_RUNTIME_API is not set (the Lambda platform sets it; run the extension on \
         Lambda or under `grace serve --layer`)"
    )]
    MissingRuntimeApi,

    /// The extension is configured in a way the platform would refuse.
    #[error("invalid extension configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },

    /// The Extensions API cannot be reached.
    #[error("cannot connect to the Extensions API at {address}")]
    Connect {
        /// `host:port`.
        address: String,
        #[source]
        source: std::io::Error,
    },

    /// A request failed on the wire.
    #[error("Extensions API request `{request}` failed")]
    Transport {
        /// Which request, e.g. `GET /event/next`.
        request: &'static str,
        #[source]
        source: BoxError,
    },

    /// The platform answered with an error status (403 with `{"errorType","errorMessage"}`
    /// for every validation error, §8.2).
    #[error("Extensions API answered {status} to `{request}`: {body}")]
    Api {
        /// Which request.
        request: &'static str,
        /// The HTTP status.
        status: u16,
        /// The answer's body (lossy UTF-8).
        body: String,
    },

    /// `/event/next` answered something that is not an INVOKE or SHUTDOWN event.
    #[error("the Extensions API sent an invalid event: {body}")]
    InvalidEvent {
        /// The body (lossy UTF-8).
        body: String,
        #[source]
        source: serde_json::Error,
    },

    /// The telemetry listener cannot listen.
    #[error("cannot listen for telemetry on {address}")]
    Listen {
        /// The address asked for.
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },

    /// An INVOKE callback failed; it was reported to `/extension/exit/error` (as the official
    /// `lambda-extension` crate does), and the platform will reset the environment.
    #[error("the INVOKE callback failed")]
    Callback(#[source] BoxError),
}

impl Error {
    pub(crate) fn transport(request: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Transport {
            request,
            source: source.into(),
        }
    }
}

/// An error followed by its sources, `: `-separated (`Display` shows only the first).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_show_every_source_once() {
        let e = Error::Callback("disk full".into());
        assert_eq!(e.to_string(), "the INVOKE callback failed");
        assert_eq!(chain(&e), "the INVOKE callback failed: disk full");
        let e = Error::transport("GET /event/next", std::io::Error::other("reset"));
        assert_eq!(
            chain(&e),
            "Extensions API request `GET /event/next` failed: reset"
        );
    }
}
