//! AWS Lambda extensions in Rust: the Extensions API (external and internal extensions), a
//! SHUTDOWN handled inside its deadline, and Telemetry API subscriptions with their own
//! listener.
//!
//! - [`Extension`] registers (its name defaults to the executable's file name, as Lambda
//!   requires for external extensions; `accountId` on request) and subscribes to the events
//!   its callbacks need: INVOKE for [`on_invoke`](Extension::on_invoke), SHUTDOWN for
//!   [`on_shutdown`](Extension::on_shutdown).
//! - [`Registered::subscribe_telemetry`] starts an HTTP listener on 127.0.0.1 (any port, or a
//!   chosen one), subscribes it as `http://sandbox.localdomain:PORT/…`, and hands every batch
//!   of records to a callback; the platform hears back only when the callback is done. The
//!   records come as JSON values; [`decode_batch`] types them as
//!   [`telemetry_api::Envelope`]s (the wire types of [`telemetry_api`], the same definition
//!   the `grace-emulator` reads and writes), keeping apart those of a newer type.
//! - [`Registered::run`] is the event loop. SHUTDOWN work gets the time left until the
//!   event's `deadlineMs` minus a margin (50 ms by default); what it did comes back as a
//!   [`ShutdownReport`] (completed, failed, or cut off). Nothing here exits the process:
//!   `run` returns, and `main` ends.
//! - [`Registered::init_error`] and [`Registered::exit_error`] report failures (§2.3).
//!
//! ```no_run
//! use std::sync::{Arc, Mutex};
//! use lambda_grace_extension::{Extension, Telemetry, TelemetryType};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), lambda_grace_extension::Error> {
//!     let pending = Arc::new(Mutex::new(Vec::new()));
//!     let (on_batch, on_shutdown) = (pending.clone(), pending.clone());
//!     let mut extension = Extension::new()
//!         .on_invoke(|event| async move {
//!             println!("[my-ext] invoke {}", event.request_id);
//!             Ok::<_, std::io::Error>(())
//!         })
//!         .on_shutdown(move |event| async move {
//!             let records = std::mem::take(&mut *on_shutdown.lock().unwrap());
//!             println!("[my-ext] {} records left at {}", records.len(), event.shutdown_reason);
//!             Ok::<_, std::io::Error>(())
//!         })
//!         .register()
//!         .await?;
//!     extension
//!         .subscribe_telemetry(
//!             Telemetry::new([TelemetryType::Platform, TelemetryType::Function]),
//!             move |records| {
//!                 on_batch.lock().unwrap().extend(records);
//!                 async { Ok::<_, std::io::Error>(()) }
//!             },
//!         )
//!         .await?;
//!     let report = extension.run().await?;
//!     println!("[my-ext] {report}");
//!     Ok(())
//! }
//! ```
//!
//! The package also builds `shutdown-enabler`, a tiny external extension (std only) whose
//! presence makes Lambda send SIGTERM to the runtime of any language (see its file).
//!
//! Modules (one concept each):
//! - `extension`: [`Extension`], what to register as, and the callbacks.
//! - `registered`: [`Registered`], Init-phase calls and the event loop.
//! - `event`: [`NextEvent`], [`InvokeEvent`], [`ShutdownEvent`] (lenient about the
//!   documented variants, §8.3).
//! - `shutdown`: the SHUTDOWN work bounded by the deadline; [`ShutdownReport`].
//! - `telemetry`: [`Telemetry`] subscriptions, built as a
//!   [`telemetry_api::SubscribeRequest`]; [`decode_batch`]; `listener`: the HTTP listener
//!   they deliver to.
//! - [`telemetry_api`]: `grace_protocol::telemetry_api` re-exported ([`TelemetryType`],
//!   [`Buffering`], [`SUBSCRIBE_PATH`] and [`DEFAULT_SCHEMA_VERSION`] are its items too).
//! - `client`: the kept-alive HTTP/1.1 connection to the API; `endpoint`:
//!   `AWS_LAMBDA_RUNTIME_API` and the default name.
//! - [`Error`]: why registration, a subscription or the loop failed.

mod client;
mod endpoint;
mod error;
mod event;
mod extension;
mod listener;
mod registered;
mod shutdown;
mod telemetry;

pub use error::{BoxError, Error, chain};
pub use event::{InvokeEvent, NextEvent, ShutdownEvent};
pub use extension::{DEFAULT_SHUTDOWN_MARGIN, Extension};
pub use grace_protocol::extensions_api::{EventType, ShutdownReason, Tracing};
/// The Telemetry API's wire types (the subscription body, [`Envelope`](telemetry_api::Envelope)
/// and the typed records), shared with the emulator.
pub use grace_protocol::telemetry_api;
pub use registered::Registered;
pub use shutdown::{ShutdownOutcome, ShutdownReport};
pub use telemetry::{
    Buffering, DEFAULT_SCHEMA_VERSION, SUBSCRIBE_PATH, Telemetry, TelemetrySubscription,
    TelemetryType, decode_batch,
};
