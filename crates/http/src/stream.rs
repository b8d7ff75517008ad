//! Streamed answers (Function URLs in `RESPONSE_STREAM` mode; spec §1.6): the body posted to
//! the Runtime API is a JSON prelude (`statusCode`, `headers`, `cookies`), 8 NUL bytes, then
//! the service's body as it comes, with `Content-Type:
//! application/vnd.awslambda.http-integration-response` on the post.
//!
//! The prelude has the payload 2.0 shape: repeated headers joined, `Set-Cookie` in `cookies`.
//! A body that fails mid-way ends the stream with the runtime's error trailers.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use http_body::{Body, Frame};
use lambda_grace::Diagnostic;
use serde::Serialize;

use crate::error::{BoxError, Error};
use crate::response::single_valued;

/// The `Content-Type` of a streamed HTTP answer, which tells the front end to read the
/// prelude.
pub const HTTP_INTEGRATION_CONTENT_TYPE: &str =
    "application/vnd.awslambda.http-integration-response";

/// What separates the prelude from the body.
pub const PRELUDE_SEPARATOR: [u8; 8] = [0; 8];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Prelude<'a> {
    status_code: u16,
    headers: BTreeMap<&'a str, &'a str>,
    cookies: Vec<String>,
}

/// The prelude and its separator.
pub(crate) fn prelude(status: StatusCode, headers: &HeaderMap) -> Result<Bytes, Error> {
    let (joined, cookies) = single_valued(headers);
    let headers = joined
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let prelude = Prelude {
        status_code: status.as_u16(),
        headers,
        cookies,
    };
    let json = serde_json::to_vec(&prelude).map_err(Error::Serialize)?;
    let mut out = BytesMut::with_capacity(json.len() + PRELUDE_SEPARATOR.len());
    out.extend_from_slice(&json);
    out.extend_from_slice(&PRELUDE_SEPARATOR);
    Ok(out.freeze())
}

/// The streamed answer: the prelude, then the service's body frame by frame (its trailers,
/// if any, are dropped: the Runtime API's trailers carry errors only).
pub struct StreamingBody<B> {
    prelude: Option<Bytes>,
    body: Pin<Box<B>>,
    done: bool,
}

impl<B> std::fmt::Debug for StreamingBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingBody")
            .field("prelude_pending", &self.prelude.is_some())
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<B> StreamingBody<B> {
    pub(crate) fn new(prelude: Bytes, body: B) -> Self {
        Self {
            prelude: Some(prelude),
            body: Box::pin(body),
            done: false,
        }
    }
}

impl<B> Body for StreamingBody<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = Diagnostic;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Diagnostic>>> {
        if let Some(prelude) = self.prelude.take() {
            return Poll::Ready(Some(Ok(Frame::data(prelude))));
        }
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match ready!(self.body.as_mut().poll_frame(cx)) {
                None => {
                    self.done = true;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(Error::Body(e.into()).to_diagnostic())));
                }
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        let bytes = data.copy_to_bytes(data.remaining());
                        return Poll::Ready(Some(Ok(Frame::data(bytes))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.prelude.is_none() && (self.done || self.body.is_end_stream())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use http_body_util::BodyExt;

    use super::*;

    /// A body of ready chunks, the last of which may be an error.
    struct Chunks(VecDeque<Result<&'static str, &'static str>>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.0.pop_front().map(|c| {
                c.map(|s| Frame::data(Bytes::from_static(s.as_bytes())))
                    .map_err(BoxError::from)
            }))
        }
    }

    #[test]
    fn the_prelude_is_json_then_eight_nuls() {
        let mut h = HeaderMap::new();
        h.insert("content-type", "text/plain".parse().unwrap());
        h.append("set-cookie", "a=1".parse().unwrap());
        h.append("set-cookie", "b=2".parse().unwrap());
        let p = prelude(StatusCode::CREATED, &h).unwrap();
        let (json, nuls) = p.split_at(p.len() - 8);
        assert_eq!(nuls, [0; 8]);
        let v: serde_json::Value = serde_json::from_slice(json).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "statusCode": 201,
                "headers": {"content-type": "text/plain"},
                "cookies": ["a=1", "b=2"]
            })
        );
    }

    #[tokio::test]
    async fn the_body_follows_the_prelude_chunk_by_chunk() {
        let body = Chunks(VecDeque::from([Ok("one "), Ok("two")]));
        let mut s = StreamingBody::new(Bytes::from_static(b"P\0"), body);
        let mut frames = Vec::new();
        while let Some(f) = s.frame().await {
            frames.push(f.unwrap().into_data().unwrap());
        }
        assert_eq!(frames, ["P\0", "one ", "two"]);
        assert!(s.is_end_stream());
    }

    #[tokio::test]
    async fn a_failing_body_ends_with_a_diagnostic() {
        let body = Chunks(VecDeque::from([Ok("part"), Err("disk gone")]));
        let mut s = StreamingBody::new(Bytes::new(), body);
        let _prelude = s.frame().await;
        assert_eq!(
            s.frame().await.unwrap().unwrap().into_data().unwrap(),
            "part"
        );
        let e = s.frame().await.unwrap().unwrap_err();
        assert_eq!(e.error_type, "Http.ResponseBodyError");
        assert!(
            e.error_message.ends_with("disk gone"),
            "{}",
            e.error_message
        );
        assert!(s.frame().await.is_none());
    }
}
