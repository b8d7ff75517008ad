//! Response streaming (§1.6): the runtime's chunked `/response` body is forwarded to the caller
//! frame by frame as it arrives, and its error trailers
//! (`Lambda-Runtime-Function-Error-Type`, `…-Error-Body`, base64) are passed on as trailers.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::mpsc;

/// Streamed responses may be up to 200 MB (§1.6).
pub(crate) const MAX_STREAMED_BYTES: usize = 200 * 1024 * 1024;

/// The caller's side of a streamed response.
#[derive(Debug)]
pub struct StreamedBody {
    rx: mpsc::Receiver<Frame<Bytes>>,
}

impl Body for StreamedBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx.poll_recv(cx).map(|f| f.map(Ok))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl StreamedBody {
    /// Reads the whole stream: the data, and the error type from the trailers if any.
    pub async fn collect(self) -> (Bytes, Option<String>) {
        let collected = match BodyExt::collect(self).await {
            Ok(c) => c,
            Err(never) => match never {},
        };
        let error = collected
            .trailers()
            .and_then(|t| t.get(grace_protocol::runtime_api::HDR_FUNCTION_ERROR_TYPE))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (collected.to_bytes(), error)
    }
}

/// A new stream: the runtime's side sends frames, the caller's side is a body.
pub(crate) fn channel() -> (mpsc::Sender<Frame<Bytes>>, StreamedBody) {
    let (tx, rx) = mpsc::channel(16);
    (tx, StreamedBody { rx })
}

/// How a forwarded stream ended.
#[derive(Debug)]
pub(crate) enum StreamEnd {
    /// Complete; `error` from the trailers when the function reported one mid-stream.
    Complete { error: Option<String> },
    /// The runtime's connection broke, or the stream exceeded the limit.
    Truncated { error_type: &'static str },
}

/// Copies the runtime's body to the caller as it arrives.
pub(crate) async fn forward(mut body: Incoming, tx: mpsc::Sender<Frame<Bytes>>) -> StreamEnd {
    let mut bytes = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            let _ = tx
                .send(Frame::trailers(error_trailers("Runtime.TruncatedResponse")))
                .await;
            return StreamEnd::Truncated {
                error_type: "Runtime.TruncatedResponse",
            };
        };
        if let Some(data) = frame.data_ref() {
            bytes += data.len();
            if bytes > MAX_STREAMED_BYTES {
                let _ = tx
                    .send(Frame::trailers(error_trailers(
                        "Function.ResponseSizeTooLarge",
                    )))
                    .await;
                return StreamEnd::Truncated {
                    error_type: "Function.ResponseSizeTooLarge",
                };
            }
        }
        let error = frame
            .trailers_ref()
            .and_then(|t| t.get(grace_protocol::runtime_api::HDR_FUNCTION_ERROR_TYPE))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let is_trailers = frame.is_trailers();
        // A caller that went away does not stop the runtime's stream from being read.
        let _ = tx.send(frame).await;
        if is_trailers {
            return StreamEnd::Complete { error };
        }
    }
    StreamEnd::Complete { error: None }
}

fn error_trailers(error_type: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        grace_protocol::runtime_api::HDR_FUNCTION_ERROR_TYPE,
        http::HeaderValue::from_static(error_type),
    );
    h
}
