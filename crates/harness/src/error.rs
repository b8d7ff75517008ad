//! The crate's error type, and the chain of causes behind a function that cannot be resolved.

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

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A result whose error is, unless said otherwise, a [`FunctionError`].
pub(crate) type Result<T, E = FunctionError> = std::result::Result<T, E>;

/// Why a function could not be resolved: what was being done, and its chain of causes (see
/// [`std::error::Error::source`]). Opaque: its text is for people, e.g. `Graceful: layer X
/// (ContentUri)`, caused by `'…' does not exist`, caused by the I/O error.
pub struct FunctionError(Repr);

enum Repr {
    /// A message of ours, with the error it explains.
    Message {
        text: String,
        source: Option<BoxError>,
    },
    /// Another error, as it is (its text and its causes).
    Wrapped(BoxError),
}

impl FunctionError {
    /// A message with no cause.
    pub(crate) fn msg(text: impl fmt::Display) -> Self {
        Self(Repr::Message {
            text: text.to_string(),
            source: None,
        })
    }

    /// This error as the cause of `text`.
    pub(crate) fn context(self, text: impl fmt::Display) -> Self {
        Self(Repr::Message {
            text: text.to_string(),
            source: Some(Box::new(self)),
        })
    }
}

impl From<std::io::Error> for FunctionError {
    fn from(e: std::io::Error) -> Self {
        Self(Repr::Wrapped(Box::new(e)))
    }
}

impl fmt::Debug for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            write!(f, ": {cause}")?;
            next = cause.source();
        }
        Ok(())
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Message { text, .. } => f.write_str(text),
            Repr::Wrapped(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl std::error::Error for FunctionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            Repr::Message { source, .. } => source.as_deref().map(|e| e as _),
            Repr::Wrapped(e) => e.source(),
        }
    }
}

/// `context` / `with_context` on results and options: the error (or absence) becomes the cause
/// of a message that says what was being done.
pub(crate) trait Context<T> {
    fn context(self, text: impl fmt::Display) -> Result<T, FunctionError>;
    fn with_context<D: fmt::Display>(self, text: impl FnOnce() -> D) -> Result<T, FunctionError>;
}

impl<T, E: std::error::Error + Send + Sync + 'static> Context<T> for std::result::Result<T, E> {
    fn context(self, text: impl fmt::Display) -> Result<T, FunctionError> {
        self.map_err(|e| {
            FunctionError(Repr::Message {
                text: text.to_string(),
                source: Some(Box::new(e)),
            })
        })
    }

    fn with_context<D: fmt::Display>(self, text: impl FnOnce() -> D) -> Result<T, FunctionError> {
        self.map_err(|e| {
            FunctionError(Repr::Message {
                text: text().to_string(),
                source: Some(Box::new(e)),
            })
        })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, text: impl fmt::Display) -> Result<T, FunctionError> {
        self.ok_or_else(|| FunctionError::msg(text))
    }

    fn with_context<D: fmt::Display>(self, text: impl FnOnce() -> D) -> Result<T, FunctionError> {
        self.ok_or_else(|| FunctionError::msg(text()))
    }
}

/// Returns a [`FunctionError`] with this message (converted into the function's error type).
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::FunctionError::msg(format!($($arg)*)).into())
    };
}
pub(crate) use bail;

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(e: &dyn std::error::Error) -> Vec<String> {
        let mut out = vec![e.to_string()];
        let mut next = e.source();
        while let Some(s) = next {
            out.push(s.to_string());
            next = s.source();
        }
        out
    }

    #[test]
    fn keeps_the_chain_without_repeating_it() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e: Error = FunctionError::from(io).context("cannot read x").into();
        assert_eq!(chain(&e), ["cannot read x", "gone"]);
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = Err::<(), _>(io)
            .with_context(|| "step 1")
            .context("step 2")
            .unwrap_err();
        assert_eq!(chain(&e), ["step 2", "step 1", "gone"]);
        assert_eq!(format!("{e:?}"), "step 2: step 1: gone");
        let e = None::<()>.context("absent").unwrap_err();
        assert_eq!(chain(&e), ["absent"]);
    }
}
