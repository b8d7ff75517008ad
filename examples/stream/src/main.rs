//! `stream`: a response streamed as it is produced (`Lambda-Runtime-Function-Response-Mode:
//! streaming`). The event `{"chunks": N, "pause_ms": M, "fail": "text"}` makes it send N
//! chunks `chunk-1\n`…, M ms apart, and then, with `fail`, end the stream with an error that
//! travels in the HTTP trailers (`Lambda-Runtime-Function-Error-Type` / `-Error-Body`).

use std::time::Duration;

use bytes::Bytes;
use lambda_grace::{Context, Diagnostic, Response, Runtime};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_grace::Error> {
    Runtime::from_env()?
        // `run_raw`: the handler returns a `Response` (here a stream), not a value to serialise.
        .run_raw(|body: Bytes, _ctx: Context| async move {
            let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let chunks = event.get("chunks").and_then(Value::as_u64).unwrap_or(3);
            let pause =
                Duration::from_millis(event.get("pause_ms").and_then(Value::as_u64).unwrap_or(0));
            let fail = event.get("fail").and_then(Value::as_str).map(str::to_owned);
            let (tx, response) = Response::channel(4);
            tokio::spawn(async move {
                for i in 1..=chunks {
                    if i > 1 {
                        tokio::time::sleep(pause).await;
                    }
                    if tx.send(format!("chunk-{i}\n")).await.is_err() {
                        return;
                    }
                }
                if let Some(message) = fail {
                    tx.fail(Diagnostic::new("Stream.Failed", message)).await;
                }
            });
            Ok::<_, Diagnostic>(response.with_content_type("text/plain"))
        })
        .await?;
    Ok(())
}
