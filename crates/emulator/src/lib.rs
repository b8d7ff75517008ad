//! `grace-emulator`: a faithful local AWS Lambda execution environment.
//!
//! It runs functions the way Lambda does: each execution environment has its own Runtime API
//! (and Extensions API) listener on 127.0.0.1, its processes in their own process groups, and a
//! state machine that orders init, invokes, freezing (SIGSTOP while idle), timeouts, crashes
//! and the shutdown sequence with Lambda's budgets: no extension → SIGKILL at once; otherwise
//! SIGTERM to the runtime, its budget, SIGKILL, then SHUTDOWN to external extensions and SIGKILL
//! at the deadline. A pool per function reuses idle environments up to a concurrency limit, and
//! an AWS-compatible Invoke API fronts it all. No process outlives the emulator, even when it
//! is SIGKILLed.
//!
//! ```no_run
//! use grace_emulator::{Emulator, FunctionConfig, InvokeInput, Options};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let f = FunctionConfig::new("echo", vec!["./bootstrap".into()], ".".into());
//! let emulator = Emulator::new(vec![f], Options::default())?;
//! let out = emulator.invoke(InvokeInput::new("echo", r#"{"hi":1}"#)).await;
//! assert_eq!(out.status, 200);
//! emulator.close().await; // spins every environment down, gracefully
//! # Ok(()) }
//! ```
//!
//! Modules: [`config`] (function configuration and budgets), [`events`] (the lifecycle event
//! record), [`logs`] (log lines); internally `environment` (one sandbox's state machine),
//! `pool`, `server` (the Runtime/Extensions API and Invoke API servers) and `sys` (processes,
//! signals, `/proc`, the orphan watchdog).

pub mod config;
mod emulator;
mod environment;
mod error;
pub mod events;
mod ids;
pub mod logs;
mod pool;
mod server;
mod stream;
mod sys;
mod telemetry;
pub mod timeline;

pub use config::{FunctionConfig, ShutdownBudgets};
pub use emulator::{CloseReport, Emulator, InvokeInput, InvokeOutput, Options};
pub use environment::{EnvironmentInfo, ProcInfo};
pub use error::Error;
pub use grace_protocol::invoke_api::InvocationType;
pub use stream::StreamedBody;
pub use sys::{CpuAffinity, Holdings, Pid, proc_state};
