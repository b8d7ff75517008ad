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
//! let report = emulator.close().await; // spins every environment down, gracefully
//! assert!(report.is_clean(), "still running: {:?}", report.still_running);
//! # Ok(()) }
//! ```
//!
//! How it is built (docs/architecture.md has the picture): each environment is a state machine
//! with no I/O (`environment::machine`: one `State` enum, one `on(input, now) -> effects`), driven
//! by one task that owns it (`environment::driver`); platform events are rendered once into the
//! CloudWatch line, the Telemetry record and the lifecycle event (`environment::platform`). The
//! pool is a task that owns membership and hears from its environments over a channel; the
//! servers are adapters that turn HTTP into the driver's messages. Closing is detect → notify →
//! wait inside a deadline ([`Emulator::close_within`], [`CloseReport`]).
//!
//! Modules: [`config`] (function configuration and budgets), [`events`] (the lifecycle event
//! record), [`logs`] (log lines), [`timeline`]; internally `environment`, `pool`, `server` (the
//! Runtime/Extensions API and Invoke API adapters, and the HTTP front: function URLs and API
//! Gateway routes, [`HttpFront`]), `stream` (streamed responses), `telemetry`
//! (subscriptions and delivery) and `sys` (processes, signals, `/proc`, the orphan watchdog).

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
pub use emulator::{CloseReport, Emulator, InvokeInput, InvokeOutput, Options, Reload};
pub use environment::{EnvironmentInfo, ProcInfo};
pub use error::Error;
pub use grace_protocol::invoke_api::InvocationType;
pub use server::http_front::{Api, ApiKind, HttpFront, InvokeMode, PayloadFormat, Route};
pub use stream::StreamedBody;
pub use sys::{
    CgroupVersion, ConnectionFate, CpuAffinity, Fate, Holdings, Pid, ResourceSupport, proc_state,
    resource_support,
};
