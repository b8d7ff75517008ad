//! Echo function on the official `lambda_runtime` without the graceful-shutdown handler:
//! no extension is registered, so on Lambda it gets no SIGTERM (SIGKILL with 0 ms of grace).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(echo)).await
}
