//! An AWS Lambda runtime client for Rust with first-class graceful shutdown.
//!
//! It runs the Runtime API loop (`/next` → handler → `/response` or `/error`) on one kept-alive
//! connection, and makes the end of an execution environment something a function can handle:
//!
//! - it registers a no-op internal extension before the first `/next`, so that the platform
//!   sends SIGTERM instead of a bare SIGKILL (no layer needed; [`Runtime::register_extension`]);
//! - it watches SIGTERM from the start, concurrently with the `/next` long poll and with a
//!   running handler;
//! - at SIGTERM it cancels a [`CancellationToken`] and runs the shutdown hooks in reverse order
//!   of registration, each bounded by what is left of the budget (450 ms by default: the
//!   platform's 500 ms minus a margin), then prints one report line and `run` returns; no
//!   exit call anywhere: `main` ends;
//! - SIGTERM while a handler runs (the platform resets the environment after a timeout or a
//!   crash): the handler keeps being polled until the budget ends (its answer is not posted:
//!   the invocation has already failed), then the hooks run with what is left;
//! - flush hooks run after every answer, before the next `/next`: the last moment before the
//!   platform may freeze the environment (and timers stop);
//! - handler errors and panics are reported to `/error` and the loop goes on; init errors
//!   (configuration, or the function's own [`Runtime::init`] code) go to `/runtime/init/error`.
//!
//! ```no_run
//! use lambda_grace::{Context, Diagnostic, Runtime};
//!
//! # struct Pool; impl Pool { async fn close(&self) {} }
//! # async fn make_pool() -> Result<Pool, std::io::Error> { Ok(Pool) }
//! #[tokio::main(flavor = "local")]
//! async fn main() -> Result<(), lambda_grace::Error> {
//!     let mut runtime = Runtime::from_env()?; // a bad configuration is reported to /init/error
//!     let pool = runtime.init(make_pool()).await?; // so is a failure of the function's own init
//!     runtime
//!         .on_shutdown("close-pool", move || async move {
//!             pool.close().await;
//!             Ok(())
//!         })
//!         .on_flush("flush-log", || async { Ok(()) })
//!         .run(|event: serde_json::Value, _ctx: Context| async move {
//!             Ok::<_, Diagnostic>(event)
//!         })
//!         .await?; // the shutdown report; an error only if the Runtime API failed
//!     Ok(())
//! }
//! ```
//!
//! The loop needs no more than one thread. Tokio's `local` flavor (a current-thread runtime
//! built through a path that never refers to the multi-threaded scheduler) keeps that scheduler,
//! and the `libm` it pulls in, out of the binary even when another crate enables tokio's
//! `rt-multi-thread`: about 0.4 MB less resident memory than `current_thread` in that case.
//!
//! Modules (one concept each):
//! - `runtime`: [`Runtime`], its options, init, hooks; `run` / `run_raw`.
//! - `invoke`: the loop, and the shutdown that ends it.
//! - [`context`]: [`Context`], parsed from the headers of `/next`.
//! - [`config`]: [`Config`], the `AWS_LAMBDA_*` variables, read through an injectable lookup.
//! - `response`: [`Response`], buffered or streamed, and its channel.
//! - `hooks`: shutdown and flush hooks, bounded; [`report`]: what the shutdown did.
//! - `signal`: SIGTERM (or a user future) as the shutdown trigger.
//! - `extension`: the no-op internal extension that enables SIGTERM.
//! - `client`, `api`, `body`: the HTTP/1.1 connection, the API calls, request bodies (with the
//!   streaming error trailers).
//! - `unwind`: catching panics of user code; `trace_env`: `_X_AMZN_TRACE_ID`.
//! - [`logging`] (feature `subscriber`): an opt-in subscriber honouring
//!   `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL`.
//! - [`Error`] and [`Diagnostic`]: why the runtime stops, and what a failure reports.

mod api;
mod body;
mod client;
pub mod config;
pub mod context;
mod error;
mod extension;
mod hooks;
mod invoke;
#[cfg(feature = "subscriber")]
pub mod logging;
pub mod report;
mod response;
mod runtime;
mod signal;
mod trace_env;
mod unwind;

pub use config::{Config, ConfigError};
pub use context::Context;
pub use error::{Diagnostic, Error};
pub use report::Report;
pub use response::{Response, StreamClosed, StreamSender};
pub use runtime::{DEFAULT_FLUSH_TIMEOUT, DEFAULT_SHUTDOWN_BUDGET, Runtime};
pub use tokio_util::sync::CancellationToken;
