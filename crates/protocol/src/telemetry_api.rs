//! Telemetry API, version 2022-07-01, and its predecessor the Logs API, version 2020-08-15
//! (§3): how an extension subscribes, and the records the platform delivers.
//!
//! Both APIs take the same subscription body and deliver the same envelope
//! `{"time","type","record"}`; a few record types belong to one API only
//! ([`Record::only_in`]).
//!
//! ```
//! use grace_protocol::telemetry_api::{Envelope, Record};
//! let json = r#"{"time":"2022-10-12T00:03:50.000Z","type":"function","record":"hello"}"#;
//! let envelope: Envelope = serde_json::from_str(json).unwrap();
//! assert_eq!(envelope.record, Record::Function("hello".into()));
//! assert_eq!(serde_json::to_string(&envelope).unwrap(), json);
//! ```
//!
//! Contents (flat here, written in two files):
//! - subscribing: [`TELEMETRY_PATH`], [`LOGS_PATH`], schema versions, [`Api`],
//!   [`SubscribeRequest`] with [`TelemetryType`], [`Buffering`] (and its documented limits,
//!   [`MAX_ITEMS_MIN`] …) and [`Destination`]; [`SubscribeRequest::parse`], the platform's
//!   validation; the [`error_type`]s it answers with.
//! - records: [`Envelope`], [`Record`], one struct per record shape, [`only_in`].

mod records;
mod subscribe;

pub use records::*;
pub use subscribe::*;

#[cfg(test)]
mod tests;
