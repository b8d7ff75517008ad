//! `GET /stream`'s body: chunks produced by a task, 50 ms apart, so that a streamed answer
//! shows them arriving one by one (buffered, they arrive together).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::Frame;
use tokio::sync::mpsc;

/// The pause between two chunks.
const PAUSE: Duration = Duration::from_millis(50);

/// A body fed by a channel.
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// `count` lines `chunk N of M`, produced one by one.
pub(crate) fn chunks(count: u32) -> Response {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        for n in 1..=count {
            if n > 1 {
                tokio::time::sleep(PAUSE).await;
            }
            if tx
                .send(Bytes::from(format!("chunk {n} of {count}\n")))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    (
        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::new(ChannelBody(rx)),
    )
        .into_response()
}
