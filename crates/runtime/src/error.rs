//! The crate's error type, and [`Diagnostic`]: what a failed handler, init step or hook reports.

use std::borrow::Cow;
use std::fmt;

use grace_protocol::ErrorBody;

use crate::config::ConfigError;

/// A boxed error, the source of transport failures.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the runtime could not start or had to stop.
///
/// Handler errors are not `Error`s: they are reported to the platform and the loop goes on.
///
/// `Debug` prints the message and its sources (`a: b: c`), so that `main` returning
/// `Result<(), lambda_grace::Error>` prints one readable line, as `anyhow` does.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A variable the platform sets is missing or malformed (reported to `/runtime/init/error`).
    #[error("the function's configuration is invalid")]
    Config(#[from] ConfigError),

    /// The user's initialisation code failed (reported to `/runtime/init/error`).
    #[error("initialisation failed: {}: {}", .0.error_type, .0.error_message)]
    Init(Diagnostic),

    /// SIGTERM cannot be listened for (no tokio runtime, or one without its IO driver).
    #[error("cannot listen for SIGTERM: {reason}")]
    Signal {
        /// What went wrong.
        reason: String,
    },

    /// The Runtime API cannot be reached.
    #[error("cannot connect to the Runtime API at {address}")]
    Connect {
        /// `host:port` of the Runtime API.
        address: String,
        #[source]
        source: std::io::Error,
    },

    /// A request to the Runtime API failed on the wire.
    #[error("Runtime API request `{request}` failed")]
    Transport {
        /// Which request, e.g. `GET /next`.
        request: &'static str,
        #[source]
        source: BoxError,
    },

    /// The Runtime API answered a request with a status the runtime cannot go on after
    /// (e.g. 500 "Container error. Non-recoverable state. Runtime should exit promptly.").
    #[error("Runtime API answered {status} to `{request}`: {body}")]
    Api {
        /// Which request, e.g. `GET /next`.
        request: &'static str,
        /// The HTTP status.
        status: u16,
        /// The answer's body (lossy UTF-8).
        body: String,
    },

    /// The platform sent an event the runtime cannot answer (no usable request id).
    #[error("the Runtime API sent an invalid event: {reason}")]
    InvalidEvent {
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&chain(self))
    }
}

/// What the platform is told about a failure: an error type and a message, sent as
/// `{"errorType","errorMessage"}` (and the `Lambda-Runtime-Function-Error-Type` header).
///
/// Any [`Display`](fmt::Display) value converts into a `Diagnostic`, so `?` works in handlers
/// and hooks that return `Result<_, Diagnostic>`; the error type is then the value's type name
/// without its module path (`ParseIntError`, `Error` for `io::Error`, strings and boxed
/// `dyn Error`s). Build one with [`Diagnostic::new`] to choose the type.
///
/// `Diagnostic` deliberately does not implement `Display` itself: that keeps the blanket
/// conversion coherent (the same trick as `anyhow::Error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// E.g. `Function.InvalidInput`; AWS recommends `Category.Reason`.
    pub error_type: Cow<'static, str>,
    /// A human-readable message.
    pub error_message: String,
}

impl Diagnostic {
    /// A diagnostic with a chosen error type.
    pub fn new(error_type: impl Into<Cow<'static, str>>, error_message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            error_message: error_message.into(),
        }
    }

    /// The JSON body of `/error` and `/init/error`.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        ErrorBody::new(self.error_type.as_ref(), self.error_message.as_str()).to_json()
    }
}

impl<E: fmt::Display> From<E> for Diagnostic {
    fn from(error: E) -> Self {
        Self {
            error_type: Cow::Borrowed(short_type_name(std::any::type_name::<E>())),
            error_message: error.to_string(),
        }
    }
}

/// `my_crate::errors::MyError` → `MyError`; `Foo<Bar>` → `Foo`; strings and smart pointers
/// (whose contents' type is unknown here) → `Error`.
fn short_type_name(full: &'static str) -> &'static str {
    let no_ref = full.trim_start_matches('&');
    let no_generics = no_ref.split('<').next().unwrap_or(no_ref);
    let last = no_generics.rsplit("::").next().unwrap_or(no_generics);
    match last {
        "str" | "String" | "Box" | "Arc" | "Rc" | "Cow" | "" => "Error",
        name => name,
    }
}

/// An error followed by its sources, `: `-separated (`Display` shows only the first, rule 5).
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
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

    #[derive(Debug)]
    struct MyError;
    impl fmt::Display for MyError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("mine")
        }
    }

    #[test]
    fn display_values_become_diagnostics_named_after_their_type() {
        let d = Diagnostic::from(MyError);
        assert_eq!(d, Diagnostic::new("MyError", "mine"));
        let d = Diagnostic::from("plain text");
        assert_eq!(d, Diagnostic::new("Error", "plain text"));
        let boxed: BoxError = "boxed".into();
        assert_eq!(Diagnostic::from(boxed).error_type, "Error");
        let parse = "x".parse::<u32>().unwrap_err();
        assert_eq!(Diagnostic::from(parse).error_type, "ParseIntError");
        let io = std::io::Error::other("disk");
        assert_eq!(Diagnostic::from(io), Diagnostic::new("Error", "disk"));
    }

    #[test]
    fn debug_shows_the_whole_chain() {
        let e = Error::Config(ConfigError::Missing {
            var: "AWS_LAMBDA_RUNTIME_API",
        });
        assert_eq!(
            format!("{e:?}"),
            "the function's configuration is invalid: AWS_LAMBDA_RUNTIME_API is not set (the \
             Lambda platform sets it; run the function on Lambda or under `grace serve`)"
        );
    }

    #[test]
    fn diagnostics_serialise_as_the_error_body() {
        let d = Diagnostic::new("Function.Bad", "no \"good\"");
        assert_eq!(
            String::from_utf8(d.to_json()).unwrap(),
            r#"{"errorType":"Function.Bad","errorMessage":"no \"good\""}"#
        );
    }
}
