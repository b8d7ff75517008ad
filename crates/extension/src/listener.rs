//! The HTTP listener that receives Telemetry API batches (§3.2): the platform POSTs a JSON
//! array of records; each array goes to the callback, and the answer (200) is sent only when
//! the callback is done. The platform waits for that answer, and it flushes its buffers
//! before it sends SHUTDOWN, so a record it delivered is in the callback's hands by the time
//! the SHUTDOWN callback runs.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::error::{BoxError, Error};
use crate::extension::BoxFuture;

/// The callback that receives each batch.
pub(crate) type BatchFn =
    Arc<dyn Fn(Vec<serde_json::Value>) -> BoxFuture<Result<(), BoxError>> + Send + Sync>;

/// The most a batch may weigh: the platform sends up to `2 * maxBytes` plus metadata, and
/// `maxBytes` is at most 1 MiB (§3.1, §3.2).
const MAX_BATCH_BYTES: usize = 4 << 20;

/// A running listener; it stops (with its connections) when dropped.
#[derive(Debug)]
pub(crate) struct Listener {
    local_addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Binds `address` and serves it from a spawned task.
    pub(crate) async fn start(address: SocketAddr, on_batch: BatchFn) -> Result<Self, Error> {
        let listen_error = |source| Error::Listen { address, source };
        let listener = TcpListener::bind(address).await.map_err(listen_error)?;
        let local_addr = listener.local_addr().map_err(listen_error)?;
        let task = tokio::spawn(accept(listener, on_batch));
        Ok(Self { local_addr, task })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

/// Accepts connections; each is served by a task of a set that is dropped (aborted) with
/// this one.
async fn accept(listener: TcpListener, on_batch: BatchFn) {
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait a little rather than spin.
                tracing::warn!(error = %e, "telemetry listener: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let on_batch = Arc::clone(&on_batch);
        connections.spawn(async move {
            let service = service_fn(move |req| handle(req, Arc::clone(&on_batch)));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "telemetry connection ended");
            }
        });
    }
}

/// One delivery.
async fn handle(
    req: Request<Incoming>,
    on_batch: BatchFn,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let answer = |status: StatusCode| {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        Ok(response)
    };
    // The Logs API delivers with PUT or POST (§3.4); the Telemetry API with POST.
    if req.method() != Method::POST && req.method() != Method::PUT {
        return answer(StatusCode::METHOD_NOT_ALLOWED);
    }
    let body = match Limited::new(req.into_body(), MAX_BATCH_BYTES)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            tracing::warn!(error = %e, "telemetry batch unreadable");
            return answer(StatusCode::PAYLOAD_TOO_LARGE);
        }
    };
    let records: Vec<serde_json::Value> = match serde_json::from_slice(&body) {
        Ok(records) => records,
        Err(e) => {
            tracing::warn!(error = %e, "telemetry batch is not a JSON array");
            return answer(StatusCode::BAD_REQUEST);
        }
    };
    match on_batch(records).await {
        Ok(()) => answer(StatusCode::OK),
        Err(e) => {
            // The platform retries a failed delivery.
            tracing::warn!(error = %crate::error::chain(e.as_ref()), "telemetry callback failed");
            answer(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    async fn post(addr: SocketAddr, body: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST /telemetry HTTP/1.1\r\nHost: sandbox.localdomain\r\nConnection: close\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn batches_reach_the_callback_before_the_answer() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let on_batch: BatchFn = Arc::new(move |records| {
            let sink = Arc::clone(&sink);
            Box::pin(async move {
                if records.iter().any(|r| r == "fail") {
                    return Err("refused".into());
                }
                sink.lock().unwrap().extend(records);
                Ok(())
            })
        });
        let listener = Listener::start(SocketAddr::from(([127, 0, 0, 1], 0)), on_batch)
            .await
            .unwrap();
        let addr = listener.local_addr();
        let out = post(addr, r#"[{"type":"function","record":"a"},{"type":"x"}]"#).await;
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert_eq!(seen.lock().unwrap().len(), 2, "delivered before the 200");
        assert!(post(addr, "{}").await.starts_with("HTTP/1.1 400"));
        assert!(post(addr, r#"["fail"]"#).await.starts_with("HTTP/1.1 500"));
        drop(listener);
        tokio::task::yield_now().await;
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "the listener stops when dropped"
        );
    }
}
