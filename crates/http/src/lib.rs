//! HTTP functions on [lambda-grace](lambda_grace): API Gateway (REST and HTTP API), ALB and
//! Function URL events as `http::Request`s for any tower [`Service`](tower::Service) — an
//! axum `Router`, for one — with lambda-grace's runtime underneath, so shutdown and flush
//! hooks work exactly as for plain functions.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use lambda_grace::Runtime;
//! use lambda_grace_http::RuntimeExt as _;
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), lambda_grace::Error> {
//!     let app = Router::new().route("/hello/{name}", get(|| async { "hello" }));
//!     Runtime::from_env()?
//!         .on_shutdown("close-pool", || async { Ok(()) })
//!         .run_http(app) // or .run_http_streaming(app) for RESPONSE_STREAM Function URLs
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! What the service sees:
//! - the method, the URI (`https://{Host}/{path}?{query}`), every header value (payload 1.0's
//!   `multiValueHeaders` when present), payload 2.0's `cookies` as one `Cookie` header, and the
//!   body, base64-decoded when the event says `isBase64Encoded`;
//! - the query string with every value of a repeated key (payload 1.0 maps are re-encoded,
//!   keys sorted; ALB values are taken as sent, since ALB does not decode them);
//! - the path without the API Gateway stage where API Gateway added it ([`StagePath`],
//!   `LAMBDA_GRACE_HTTP_STAGE_PATH=strip|keep`; the rules are in the `stage` module's docs
//!   and in `docs/guide.md`, "HTTP functions");
//! - extensions: [`RequestContext`], [`PathParameters`], [`StageVariables`],
//!   [`QueryParameters`], [`RawHttpPath`] and lambda-grace's [`Context`](lambda_grace::Context),
//!   read with [`RequestExt`].
//!
//! What the front end gets: the answer shape of the event's kind (REST and ALB:
//! `multiValueHeaders` when the request used them; HTTP API and Function URL: `cookies` from
//! `Set-Cookie`), and binary bodies as base64 (decided from `Content-Type` and
//! `Content-Encoding`). Streamed answers ([`run_streaming`]) are the JSON prelude, 8 NUL bytes,
//! then the body, posted with lambda-grace's streaming response.
//!
//! Modules (one concept each):
//! - `event`: which kind of event a payload is ([`EventKind`], [`detect`]), and its type.
//! - `stage`: the path the service sees; `uri`: the URI, encoded per event kind.
//! - `request`: event → `http::Request<Body>`; [`ext`]: its extensions and [`RequestExt`].
//! - `binary`: text or base64; `response`: `http::Response` → the JSON answer.
//! - `stream`: the streamed answer ([`StreamingBody`]).
//! - `run`: the runtime integration ([`run`], [`run_streaming`], [`RuntimeExt`]) and
//!   [`invoke`] / [`invoke_streaming`] to answer one event without a runtime (tests).
//! - `options`: [`HttpOptions`]; `error`: [`Error`].

mod binary;
mod error;
mod event;
pub mod ext;
#[cfg(test)]
mod fixtures;
mod options;
mod request;
mod response;
mod run;
mod stage;
mod stream;
mod uri;

pub use aws_lambda_events::encodings::Body;
pub use error::{BoxError, Error};
pub use event::{EventKind, detect};
pub use ext::{
    PathParameters, QueryParameters, RawHttpPath, RequestContext, RequestExt, StageVariables,
};
pub use options::{HttpOptions, STAGE_PATH_VAR, StagePath};
pub use run::{
    RuntimeExt, invoke, invoke_streaming, run, run_streaming, run_streaming_with, run_with,
};
pub use stream::{HTTP_INTEGRATION_CONTENT_TYPE, PRELUDE_SEPARATOR, StreamingBody};

/// The `aws_lambda_events` crate, whose types the request context holds.
pub use aws_lambda_events;
