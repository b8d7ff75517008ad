//! The harness's error type: one enum for the crate, so a caller can tell an interrupted run
//! or a missing binary from a system that misbehaved, and `main` can print the whole chain.
//!
//! Variants that wrap an OS, I/O or JSON error keep it as their `source()`; their `Display`
//! says what was being done, never the source's own text (the chain is printed by [`chain`]).

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;

/// `Result` with [`Error`].
pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a measurement.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// A binary or file the run needs is not there.
    #[error("{what}: {} not usable (hint: {hint})", path.display())]
    Missing {
        what: String,
        path: PathBuf,
        hint: String,
        #[source]
        source: io::Error,
    },
    /// Starting a process failed.
    #[error("starting {name} ({program})")]
    Spawn {
        name: String,
        program: String,
        #[source]
        source: io::Error,
    },
    /// Reading or writing a file, socket or pipe failed.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// A system call made through `nix` failed.
    #[error("{context}")]
    Os {
        context: String,
        #[source]
        source: nix::errno::Errno,
    },
    /// An answer that should have been JSON was not.
    #[error("{context}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },
    /// SIGINT, SIGTERM or SIGHUP arrived; the run unwound and stopped what it started.
    #[error("interrupted by a signal; everything started was stopped")]
    Interrupted,
    /// A tool's output (wrk, callgrind) could not be read.
    #[error("{0}")]
    Parse(String),
    /// A system under test answered or behaved other than the measurement needs (wrong status,
    /// no echo, exited, not ready in time).
    #[error("{0}")]
    Unexpected(String),
    /// The soak saw answers that were lost, duplicated or crossed, or errors.
    #[error("soak failed: {0}")]
    SoakFailed(String),
    /// An error with what was being done when it happened.
    #[error("{context}")]
    Context {
        context: String,
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// An [`Error::Io`] maker for `map_err`.
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }

    /// Wraps `self` with what was being done.
    pub(crate) fn context(self, context: impl Into<String>) -> Self {
        Self::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Self::Unexpected(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Self::Unexpected(s.to_owned())
    }
}

/// [`Error::Unexpected`] with a formatted message: what a system did that the measurement
/// cannot use.
macro_rules! unexpected {
    ($($arg:tt)*) => {
        $crate::error::Error::Unexpected(format!($($arg)*))
    };
}
pub(crate) use unexpected;

/// `e` and every `source()` below it, joined by `: ` (how errors are printed and noted).
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let _ = write!(out, ": {s}");
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_keeps_every_source_once() {
        let e = Error::io("reading x")(io::Error::other("disk on fire")).context("round 2");
        assert_eq!(chain(&e), "round 2: reading x: disk on fire");
        assert_eq!(e.to_string(), "round 2");
    }
}
