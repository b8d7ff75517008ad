//! `grace-harness`: test an AWS Lambda function from `cargo test`, under a local Lambda with the
//! real lifecycle (init, invokes, freeze, timeout resets, and the SIGTERM → SHUTDOWN → SIGKILL
//! spin-down with Lambda's budgets), and assert on the same verdicts `grace check` prints.
//!
//! ```no_run
//! use grace_harness::{Function, Harness};
//! # async fn demo() -> Result<(), grace_harness::Error> {
//! // In a binary crate's tests/, `env!("CARGO_BIN_EXE_hello")`: the binary Cargo built.
//! let h = Harness::start(Function::binary("target/debug/hello").memory_mb(128)).await?;
//! let answer = h.invoke(serde_json::json!({"name": "Ada"})).await?;
//! assert!(answer.is_ok(), "{}", answer.text());
//! // Idle environments are frozen, as on Lambda; `h.endpoint()` serves boto3 and curl too.
//! h.spin_down().await?;                     // SIGTERM, the budget, SIGKILL if still running
//! assert!(h.output().iter().any(|l| l.contains("cleanup")));
//! let report = h.check().await?;            // what `grace check` would say
//! assert!(report.passed(), "{report}");
//! h.close().await;                          // no process is left behind
//! # Ok(()) }
//! ```
//!
//! Modules:
//! - [`harness`]: [`Harness`], one function under a running emulator with its Invoke API;
//! - [`function`]: where a function comes from ([`Function`]: a built binary, a
//!   `cargo lambda build` directory, a command line, a SAM template's function) and the
//!   [`Settings`] shared by functions, turned into the emulator's `FunctionConfig`;
//! - [`template`]: the AWS SAM template reader;
//! - [`check`]: `grace check`'s check, run on a fresh emulator, and its [`Verdict`]s;
//! - [`error`]: the crate's [`Error`].
//!
//! The `grace` CLI is a thin layer over this crate: `grace check`, `grace serve --template`
//! and the function options of every subcommand call it.

pub mod check;
pub mod error;
pub mod function;
pub mod harness;
pub mod template;

pub use check::{CheckOptions, Report, ResourceModel, Status, Verdict};
pub use error::{Error, FunctionError};
pub use function::{Function, Settings, Warning};
pub use grace_emulator::events::{EventKind, LifecycleEvent};
pub use grace_emulator::logs::{LogLine, LogSink};
pub use grace_emulator::{EnvironmentInfo, Pid, ShutdownBudgets, proc_state};
pub use harness::{Harness, Invocation, LogOrigin, LogRecord};
