//! The crate's error type.

use std::fmt;

/// What can go wrong when resolving a function, starting the emulator or running a check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The function could not be resolved: a path that does not exist or is not executable, a
    /// template that does not read, a variables file, an interpreter that is missing.
    #[error(transparent)]
    Function(#[from] FunctionError),
    /// The emulator refused the configuration or could not start.
    #[error(transparent)]
    Emulator(#[from] grace_emulator::Error),
    /// The Invoke API could not listen on 127.0.0.1.
    #[error("cannot listen on 127.0.0.1")]
    Listen(#[source] std::io::Error),
    /// A template has no function by the name asked for.
    #[error("{template}: no function `{name}` (there are: {available})")]
    NoSuchFunction {
        template: String,
        name: String,
        available: String,
    },
    /// An event could not be serialised as JSON.
    #[error("the event does not serialise as JSON")]
    Payload(#[source] serde_json::Error),
    /// The emulator could not spin the environments down.
    #[error("cannot spin down: {0}")]
    SpinDown(String),
}

/// Why a function could not be resolved, with its chain of causes (see
/// [`std::error::Error::source`]). Opaque: its text is for people.
pub struct FunctionError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl FunctionError {
    pub(crate) fn new(inner: anyhow::Error) -> Self {
        Self(inner.into())
    }
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        Error::Function(FunctionError::new(e))
    }
}

impl fmt::Debug for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for FunctionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_chain_without_repeating_it() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e: Error = anyhow::Error::new(io).context("cannot read x").into();
        assert_eq!(e.to_string(), "cannot read x");
        let mut chain = Vec::new();
        let mut next = std::error::Error::source(&e);
        while let Some(s) = next {
            chain.push(s.to_string());
            next = s.source();
        }
        assert_eq!(chain, ["gone"]);
    }
}
