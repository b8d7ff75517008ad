//! Echo function on the official `lambda_runtime` with its graceful-shutdown handler:
//! registers the crate's no-op internal extension (so the platform delivers SIGTERM)
//! and prints one line when SIGTERM arrives.
//!
//! The benchmark baseline: the invoke path is the crate's own, with no logging and
//! no work beyond returning the event unchanged.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::spawn_graceful_shutdown_handler(|| async {
        eprintln!("[lr-echo] graceful shutdown: cleanup done");
    })
    .await;
    lambda_runtime::run(service_fn(echo)).await
}
