//! The emulator's error type.

use std::path::PathBuf;

/// What can go wrong when starting the emulator or one of its environments.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A function was configured twice under one name.
    #[error("function `{0}` is configured more than once")]
    DuplicateFunction(String),
    /// No function of that name is configured.
    #[error("no function named `{0}`")]
    UnknownFunction(String),
    /// The emulator is closing: nothing can be changed any more.
    #[error("the emulator is closing")]
    Closing,
    /// A function has no command to run.
    #[error("function `{0}` has no bootstrap command")]
    EmptyCommand(String),
    /// Binding a listener failed.
    #[error("cannot listen on {addr}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    /// Starting a process failed.
    #[error("cannot start `{program}`")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another I/O failure.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
