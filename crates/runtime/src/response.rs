//! [`Response`]: what a handler answers with, buffered or streamed (§1.6), and the channel that
//! makes streaming easy ([`Response::channel`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Frame};
use hyper::header::HeaderValue;
use tokio::sync::mpsc;

use crate::error::Diagnostic;

/// A handler's answer: bytes posted in one piece, or a body streamed to the caller.
///
/// Handlers given to [`Runtime::run_raw`](crate::Runtime::run_raw) return anything that
/// converts into a `Response` (`Bytes`, `Vec<u8>`, `String`, `&'static str`, `Response`).
#[derive(Debug)]
pub struct Response {
    pub(crate) body: ResponseBody,
    pub(crate) content_type: Option<HeaderValue>,
}

pub(crate) enum ResponseBody {
    Buffered(Bytes),
    Streaming(UnsyncBoxBody<Bytes, Diagnostic>),
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Buffered(b) => f.debug_tuple("Buffered").field(&b.len()).finish(),
            Self::Streaming(_) => f.write_str("Streaming"),
        }
    }
}

impl Response {
    /// A buffered response; the platform passes the bytes to the caller unchanged.
    pub fn new(body: impl Into<Bytes>) -> Self {
        Self {
            body: ResponseBody::Buffered(body.into()),
            content_type: None,
        }
    }

    /// A buffered JSON response (`Content-Type: application/json`).
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, Diagnostic> {
        match serde_json::to_vec(value) {
            Ok(body) => Ok(Self {
                body: ResponseBody::Buffered(body.into()),
                content_type: Some(HeaderValue::from_static("application/json")),
            }),
            Err(e) => Err(Diagnostic::new("Runtime.SerializationError", e.to_string())),
        }
    }

    /// A streamed response (`Lambda-Runtime-Function-Response-Mode: streaming`): the body's
    /// frames are posted as they come, chunked. If the body fails mid-way, the error is sent as
    /// the `Lambda-Runtime-Function-Error-Type` / `-Error-Body` HTTP trailers and the stream
    /// ends.
    pub fn streaming<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Diagnostic>,
    {
        Self {
            body: ResponseBody::Streaming(body.map_err(Into::into).boxed_unsync()),
            content_type: None,
        }
    }

    /// A streamed response fed through a channel: send chunks with [`StreamSender::send`]
    /// (typically from a spawned task, so the handler can return at once), end it by dropping
    /// the sender, or abort it with [`StreamSender::fail`]. `capacity` chunks may be buffered.
    pub fn channel(capacity: usize) -> (StreamSender, Self) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (StreamSender { tx }, Self::streaming(ChannelBody { rx }))
    }

    /// Sets the `Content-Type` the caller receives (the platform's default is
    /// `application/json`). An invalid header value is ignored.
    pub fn with_content_type(mut self, content_type: &str) -> Self {
        self.content_type = HeaderValue::from_str(content_type).ok();
        self
    }

    /// Whether this response is streamed.
    pub fn is_streaming(&self) -> bool {
        matches!(self.body, ResponseBody::Streaming(_))
    }
}

impl From<Bytes> for Response {
    fn from(b: Bytes) -> Self {
        Self::new(b)
    }
}

impl From<Vec<u8>> for Response {
    fn from(b: Vec<u8>) -> Self {
        Self::new(b)
    }
}

impl From<String> for Response {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl From<&'static str> for Response {
    fn from(s: &'static str) -> Self {
        Self::new(s)
    }
}

/// The sending half of [`Response::channel`].
#[derive(Debug, Clone)]
pub struct StreamSender {
    tx: mpsc::Sender<Result<Bytes, Diagnostic>>,
}

/// The runtime stopped reading the stream (the post failed or the runtime is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the response stream is closed")]
pub struct StreamClosed;

impl StreamSender {
    /// Sends one chunk, waiting while the channel is full.
    pub async fn send(&self, chunk: impl Into<Bytes>) -> Result<(), StreamClosed> {
        self.tx
            .send(Ok(chunk.into()))
            .await
            .map_err(|_| StreamClosed)
    }

    /// Ends the stream with an error, reported to the platform in the trailers.
    pub async fn fail(self, error: impl Into<Diagnostic>) {
        // Nobody to tell if the runtime already stopped reading.
        let _ = self.tx.send(Err(error.into())).await;
    }
}

struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, Diagnostic>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Diagnostic;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Diagnostic>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_channel_streams_chunks_then_its_error() {
        let (tx, response) = Response::channel(4);
        assert!(response.is_streaming());
        let ResponseBody::Streaming(mut body) = response.body else {
            panic!("not streaming")
        };
        tx.send("a").await.unwrap();
        tx.send(b"b".to_vec()).await.unwrap();
        tx.fail(Diagnostic::new("Function.Broke", "half way")).await;
        let mut got = Vec::new();
        let err = loop {
            match body.frame().await {
                Some(Ok(f)) => got.extend_from_slice(&f.into_data().unwrap()),
                Some(Err(e)) => break Some(e),
                None => break None,
            }
        };
        assert_eq!(got, b"ab");
        assert_eq!(err, Some(Diagnostic::new("Function.Broke", "half way")));
    }

    #[tokio::test]
    async fn dropping_the_sender_ends_the_stream_cleanly() {
        let (tx, response) = Response::channel(1);
        let ResponseBody::Streaming(body) = response.body else {
            panic!("not streaming")
        };
        tx.send("only").await.unwrap();
        drop(tx);
        assert_eq!(body.collect().await.unwrap().to_bytes(), "only");
    }

    #[test]
    fn buffered_responses_convert_from_bytes_and_json() {
        let r = Response::from("text").with_content_type("text/plain");
        assert_eq!(r.content_type.as_ref().unwrap(), "text/plain");
        assert!(matches!(r.body, ResponseBody::Buffered(ref b) if b == "text"));
        let r = Response::json(&serde_json::json!({"a": 1})).unwrap();
        assert!(matches!(r.body, ResponseBody::Buffered(ref b) if b == r#"{"a":1}"#));
        assert_eq!(r.content_type.unwrap(), "application/json");
    }
}
