//! The runtime against a scripted fake of the Runtime API: what goes over the wire (one kept-alive
//! connection, extension registration before the first `/next`, error bodies and headers,
//! streamed responses with real trailers), reconnection, flush order, init errors, and the
//! shutdown on a trigger. SIGTERM itself is tested in `tests/sigterm.rs` (its own process).

#![allow(unreachable_pub, clippy::unwrap_used)]

#[path = "../support/mod.rs"]
mod support;

mod invoke;
mod shutdown;
mod streaming;
