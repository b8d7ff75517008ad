//! The body of every request the runtime sends: nothing, buffered bytes, or a streamed response
//! whose failure turns into the error trailers of §1.6.
//!
//! One enum for all requests, because a hyper connection carries one body type; the buffered
//! cases cost no allocation.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use bytes::Bytes;
use grace_protocol::runtime_api as api;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::HeaderMap;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderName, HeaderValue};

use crate::error::Diagnostic;

/// The error type sent when the body's own error type is not a valid header value.
const FALLBACK_STREAM_ERROR: &str = "Runtime.StreamError";

pub(crate) enum ReqBody {
    Empty,
    Full(Option<Bytes>),
    Stream {
        body: UnsyncBoxBody<Bytes, Diagnostic>,
        done: bool,
    },
}

impl ReqBody {
    pub(crate) fn full(bytes: Bytes) -> Self {
        Self::Full(Some(bytes))
    }

    pub(crate) fn stream(body: UnsyncBoxBody<Bytes, Diagnostic>) -> Self {
        Self::Stream { body, done: false }
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Self::Stream { done: true, .. } => Poll::Ready(None),
            Self::Stream { body, done } => match Pin::new(body).poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(frame))),
                Poll::Ready(Some(Err(error))) => {
                    *done = true;
                    tracing::warn!(
                        error_type = %error.error_type,
                        error = %error.error_message,
                        "response stream failed; reporting it in the trailers"
                    );
                    Poll::Ready(Some(Ok(Frame::trailers(error_trailers(&error)))))
                }
                Poll::Ready(None) => {
                    *done = true;
                    Poll::Ready(None)
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty | Self::Full(None) => true,
            Self::Full(Some(_)) => false,
            Self::Stream { done, .. } => *done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty | Self::Full(None) => SizeHint::with_exact(0),
            Self::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Self::Stream { .. } => SizeHint::default(),
        }
    }
}

/// `Lambda-Runtime-Function-Error-Type: <type>` and `Lambda-Runtime-Function-Error-Body:
/// <base64 of the JSON error body>` (§1.6).
pub(crate) fn error_trailers(error: &Diagnostic) -> HeaderMap {
    let mut trailers = HeaderMap::with_capacity(2);
    let error_type = HeaderValue::from_str(&error.error_type)
        .unwrap_or(HeaderValue::from_static(FALLBACK_STREAM_ERROR));
    let body = base64::engine::general_purpose::STANDARD.encode(error.to_json());
    trailers.insert(
        HeaderName::from_static(api::HDR_FUNCTION_ERROR_TYPE),
        error_type,
    );
    // Base64 is always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&body) {
        trailers.insert(HeaderName::from_static(api::HDR_FUNCTION_ERROR_BODY), v);
    }
    trailers
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_failing_stream_ends_with_trailers_not_body_text() {
        let (tx, response) = crate::Response::channel(2);
        let crate::response::ResponseBody::Streaming(inner) = response.body else {
            panic!("not streaming")
        };
        tx.send("part").await.unwrap();
        tx.fail(Diagnostic::new("Function.Oops", "broken")).await;
        let collected = ReqBody::stream(inner).collect().await.unwrap();
        let trailers = collected.trailers().cloned().expect("trailers");
        assert_eq!(collected.to_bytes(), "part", "the error is not in the body");
        assert_eq!(trailers[api::HDR_FUNCTION_ERROR_TYPE], "Function.Oops");
        let body = base64::engine::general_purpose::STANDARD
            .decode(trailers[api::HDR_FUNCTION_ERROR_BODY].as_bytes())
            .unwrap();
        assert_eq!(
            body,
            br#"{"errorType":"Function.Oops","errorMessage":"broken"}"#
        );
    }

    #[test]
    fn an_unsendable_error_type_falls_back() {
        let t = error_trailers(&Diagnostic::new("bad\ntype", "m"));
        assert_eq!(t[api::HDR_FUNCTION_ERROR_TYPE], FALLBACK_STREAM_ERROR);
    }

    #[test]
    fn buffered_bodies_have_exact_sizes() {
        assert_eq!(ReqBody::Empty.size_hint().exact(), Some(0));
        assert!(ReqBody::Empty.is_end_stream());
        let b = ReqBody::full(Bytes::from_static(b"abc"));
        assert_eq!(b.size_hint().exact(), Some(3));
        assert!(!b.is_end_stream());
    }
}
