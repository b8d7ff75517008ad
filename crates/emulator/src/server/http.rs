//! What both servers share: the accept loop, body reading with a size limit, and response
//! builders.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The body type of every response: whole, or streamed from a runtime.
pub(crate) type Body = http_body_util::Either<Full<Bytes>, crate::stream::StreamedBody>;

/// A whole body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Either::Left(Full::new(bytes.into()))
}

/// The client's address, in every request's extensions (the HTTP front's `sourceIp`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) std::net::SocketAddr);

/// How open connections end when the server stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnStop {
    /// Close them at once (an environment's Runtime API, once its processes are gone).
    Close,
    /// Let the request in flight finish, then close (the Invoke API).
    Drain,
}

/// How long the Invoke API waits for a request's headers, counted from when the connection is
/// ready for the next request (so it also bounds a keep-alive connection's idle time). Without
/// it a caller that sends its headers one byte a minute (slowloris) holds a connection and a
/// task forever.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves HTTP/1.1 keep-alive connections on `listener` until `token` is cancelled.
///
/// The Invoke API (`OnStop::Drain`) faces any caller and gets [`HEADER_READ_TIMEOUT`]. An
/// environment's Runtime API (`OnStop::Close`) gets none: only the environment's own processes
/// reach it, and a runtime may keep its connection idle through a whole handler (up to the
/// function timeout) or frozen between invokes; closing it would turn its next `/response`
/// into a connection error that Lambda never causes.
pub(crate) async fn serve<F, Fut>(
    listener: TcpListener,
    token: CancellationToken,
    tasks: TaskTracker,
    on_stop: OnStop,
    handler: F,
) where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    let header_read_timeout = match on_stop {
        OnStop::Drain => Some(HEADER_READ_TIMEOUT),
        OnStop::Close => None,
    };
    serve_with(
        listener,
        token,
        tasks,
        on_stop,
        header_read_timeout,
        handler,
    )
    .await;
}

/// [`serve`] with an explicit header-read timeout (`None`: wait forever).
pub(crate) async fn serve_with<F, Fut>(
    listener: TcpListener,
    token: CancellationToken,
    tasks: TaskTracker,
    on_stop: OnStop,
    header_read_timeout: Option<Duration>,
    handler: F,
) where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = token.cancelled() => return,
        };
        // Every invoke is a few small exchanges; Nagle's delay would dominate them.
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let token = token.clone();
        tasks.spawn(async move {
            let service = service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                // A refusal may leave a chunked body unread; hyper then cannot reuse the
                // connection, so the answer says so rather than the connection just closing.
                let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
                let fut = handler(req);
                async move {
                    let mut res = fut.await;
                    if chunked && (res.status().is_client_error() || res.status().is_server_error())
                    {
                        res.headers_mut()
                            .insert(header::CONNECTION, HeaderValue::from_static("close"));
                    }
                    Ok::<_, Infallible>(res)
                }
            });
            let mut builder = http1::Builder::new();
            builder.keep_alive(true);
            if let Some(limit) = header_read_timeout {
                // The timeout needs hyper's timer; hyper closes the connection when it fires.
                builder.timer(TokioTimer::new()).header_read_timeout(limit);
            }
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                () = token.cancelled() => {}
            }
            if on_stop == OnStop::Drain {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        });
    }
}

/// Lets the tasks already queued on this thread run before the caller goes on. The runtime's
/// `/response` hands the answer to the invoking caller's task, then awaits this before its own
/// 202: the caller's answer goes out first, and a runtime that shares the emulator's CPU, woken
/// by the 202, cannot delay it. (A self-wake puts the task at the back of the run queue;
/// `tokio::task::yield_now` would also wait for the next I/O poll.)
pub(crate) async fn after_queued_tasks() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await;
}

/// Why a request body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Larger than the limit; the size is what was announced or read so far.
    TooLarge(usize),
    /// The connection broke before the body ended.
    Truncated,
}

/// A body larger than this is not even drained: the connection is closed on it.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

/// Reads a whole body, refusing more than `limit` bytes. An oversized body is still read (up to
/// 64 MiB) and thrown away, so that the client, still writing it, gets the error answer rather
/// than a broken connection.
pub(crate) async fn read_body(req: Request<Incoming>, limit: usize) -> Result<Bytes, BodyError> {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut body = req.into_body();
    if let Some(n) = announced.filter(|&n| n > limit) {
        if n <= DRAIN_LIMIT {
            while let Some(Ok(_)) = body.frame().await {}
        }
        return Err(BodyError::TooLarge(n));
    }
    let mut buf: Option<bytes::BytesMut> = None;
    let mut first: Option<Bytes> = None;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| BodyError::Truncated)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total > limit {
            while let Some(Ok(frame)) = body.frame().await {
                total += frame.data_ref().map_or(0, Bytes::len);
                if total > DRAIN_LIMIT {
                    break;
                }
            }
            return Err(BodyError::TooLarge(total));
        }
        // One frame, the usual case, is passed on without a copy.
        match (&mut buf, first.take()) {
            (None, None) => first = Some(data),
            (None, Some(prev)) => {
                let mut b =
                    bytes::BytesMut::with_capacity(announced.unwrap_or(prev.len() + data.len()));
                b.extend_from_slice(&prev);
                b.extend_from_slice(&data);
                buf = Some(b);
            }
            (Some(b), _) => b.extend_from_slice(&data),
        }
    }
    Ok(match buf {
        Some(b) => b.freeze(),
        None => first.unwrap_or_default(),
    })
}

/// The value of a header as text, if present and valid.
pub(crate) fn header<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A response with a JSON body.
pub(crate) fn json(status: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut res = Response::new(full(body));
    *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// `{"errorType": …, "errorMessage": …}` with `status`.
pub(crate) fn error(status: u16, error_type: &str, message: &str) -> Response<Body> {
    json(
        status,
        grace_protocol::ErrorBody::new(error_type, message).to_json(),
    )
}

/// 202 Accepted with `{"status":"OK"}`.
pub(crate) fn accepted() -> Response<Body> {
    json(
        202,
        Bytes::from_static(grace_protocol::error::STATUS_OK_BODY.as_bytes()),
    )
}

/// 404 for a path no API serves.
pub(crate) fn not_found() -> Response<Body> {
    error(404, "NotFound", "Not found")
}

/// 405 for a known path with the wrong method.
pub(crate) fn method_not_allowed() -> Response<Body> {
    error(405, "MethodNotAllowed", "Method not allowed")
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_util::sync::CancellationToken;

    use super::{OnStop, accepted, serve_with};

    /// A server with `timeout` that answers every request with 202; its address.
    async fn server(timeout: Option<Duration>, token: &CancellationToken) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let token = token.clone();
        tokio::spawn(serve_with(
            listener,
            token,
            tokio_util::task::TaskTracker::new(),
            OnStop::Drain,
            timeout,
            |_req| async { accepted() },
        ));
        addr
    }

    /// Reads until the server closes the connection (or `limit` passes); what it read.
    async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let read = tokio::time::timeout(limit, stream.read_to_end(&mut out)).await;
        match read {
            Ok(Ok(_)) => Some(out),
            // A reset is a close too.
            Ok(Err(_)) => Some(out),
            Err(_) => None,
        }
    }

    const REQUEST: &[u8] = b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\n{}";

    #[tokio::test]
    async fn silent_and_slow_header_senders_are_cut_off() {
        let token = CancellationToken::new();
        let addr = server(Some(Duration::from_millis(200)), &token).await;
        // Nothing at all.
        let mut silent = TcpStream::connect(addr).await.expect("connect");
        // Half a request line, then nothing.
        let mut slow = TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"POST /x HTTP/1.1\r\nhost:")
            .await
            .expect("write");
        let start = Instant::now();
        for s in [&mut silent, &mut slow] {
            let got = read_until_closed(s, Duration::from_secs(10)).await;
            assert!(got.is_some(), "connection still open after 10 s");
        }
        assert!(start.elapsed() >= Duration::from_millis(150));
        token.cancel();
    }

    #[tokio::test]
    async fn a_prompt_keep_alive_client_is_served() {
        let token = CancellationToken::new();
        let addr = server(Some(Duration::from_millis(500)), &token).await;
        let mut s = TcpStream::connect(addr).await.expect("connect");
        // Three requests on one connection, each well within the limit.
        for _ in 0..3 {
            s.write_all(REQUEST).await.expect("write");
            let mut buf = [0u8; 512];
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .expect("answered in time")
                .expect("read");
            assert!(buf[..n].starts_with(b"HTTP/1.1 202"), "{:?}", &buf[..n]);
        }
        token.cancel();
    }

    /// Negative control: without the timeout the silent connection stays open.
    #[tokio::test]
    async fn without_a_timeout_a_silent_connection_stays_open() {
        let token = CancellationToken::new();
        let addr = server(None, &token).await;
        let mut silent = TcpStream::connect(addr).await.expect("connect");
        let got = read_until_closed(&mut silent, Duration::from_millis(600)).await;
        assert!(got.is_none(), "closed without a timeout");
        token.cancel();
    }
}
