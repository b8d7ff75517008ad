//! Wire types of the AWS Lambda execution-environment APIs, shared by the `lambda-grace`
//! clients and the `grace-emulator` platform side.
//!
//! This crate does no I/O: it names paths and headers, and gives the JSON shapes serde types.
//! The facts come from the platform contract (`spec/lambda-platform.md` in the project's shared
//! folder); each item says which section it implements.
//!
//! ```
//! use grace_protocol::{runtime_api, ErrorBody};
//! let body = ErrorBody::new("InvalidRequestID", "Invalid request ID");
//! assert_eq!(
//!     serde_json::to_string(&body).unwrap(),
//!     r#"{"errorType":"InvalidRequestID","errorMessage":"Invalid request ID"}"#
//! );
//! assert_eq!(runtime_api::NEXT_PATH, "/2018-06-01/runtime/invocation/next");
//! ```
//!
//! Modules:
//! - [`runtime_api`]: Runtime API 2018-06-01 (§1): paths, `Lambda-Runtime-*` headers, limits.
//! - [`extensions_api`]: Extensions API 2020-01-01 (§2): register, events, error types.
//! - [`telemetry_api`]: Telemetry API 2022-07-01 and Logs API 2020-08-15 (§3): the
//!   subscription body with its limits, and the typed records (`{"time","type","record"}`).
//! - [`invoke_api`]: the public Invoke API (§4.8): invocation types, error shapes.
//! - [`error`]: the `{"errorType","errorMessage"}` body every API answers errors with.

pub mod error;
pub mod extensions_api;
pub mod invoke_api;
pub mod runtime_api;
pub mod telemetry_api;

pub use error::ErrorBody;
