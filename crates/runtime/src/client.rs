//! One persistent HTTP/1.1 keep-alive connection to the Runtime API (hyper's `conn::http1` over a
//! tokio `TcpStream`), reconnected when it drops.
//!
//! The connection is driven by the task that sends the request (polled side by side with the
//! request, see [`drive`]) instead of a spawned task: no hand-off between tasks or threads on the
//! invoke path, and it works the same on a current-thread runtime. There is no client timeout:
//! `/next` may legitimately wait for hours while the environment is frozen (§1.2).

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::header::{HOST, HeaderValue};
use hyper::http::request::Builder;
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::ReqBody;
use crate::config::Endpoint;
use crate::error::{BoxError, Error};

/// A complete answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as text, for error messages.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client of the Runtime API on one connection at a time.
pub(crate) struct Client {
    endpoint: Endpoint,
    host: HeaderValue,
    conn: Option<Conn>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

struct Conn {
    sender: SendRequest<ReqBody>,
    driver: Connection<TokioIo<TcpStream>, ReqBody>,
    closed: bool,
}

/// The connection ended while a request was waiting on it.
#[derive(Debug, thiserror::Error)]
#[error("the connection closed")]
struct ConnectionClosed;

impl Client {
    pub(crate) fn new(endpoint: &Endpoint) -> Self {
        // `Endpoint::parse` only accepts visible ASCII, which is a valid header value.
        let host = HeaderValue::from_str(endpoint.authority())
            .unwrap_or(HeaderValue::from_static("localhost"));
        Self {
            endpoint: endpoint.clone(),
            host,
            conn: None,
        }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A request builder for `path` (from [`Endpoint::path_of`]) with `Host` set.
    fn builder(&self, method: &Method, path: &str) -> Builder {
        Request::builder()
            .method(method.clone())
            .uri(path)
            .header(HOST, self.host.clone())
    }

    /// Sends a request (`make` finishes the builder it is given) and reads the whole answer.
    /// When a kept-alive connection turns out to be dead, `make` is called again (if it still
    /// can build the request: a streamed body cannot be sent twice) and the request is retried
    /// once on a new connection.
    ///
    /// `make` is a trait object so that this function (and the hyper code inlined in it) is
    /// compiled once, not once per kind of request.
    pub(crate) async fn send(
        &mut self,
        what: &'static str,
        method: Method,
        path: &str,
        make: &mut (dyn FnMut(Builder) -> Option<Request<ReqBody>> + Send),
    ) -> Result<Answer, Error> {
        let transport = |source: BoxError| Error::Transport {
            request: what,
            source,
        };
        let reused = self.conn.as_ref().is_some_and(|c| !c.closed);
        let req = make(self.builder(&method, path))
            .ok_or_else(|| transport("the request cannot be built".into()))?;
        let conn = self.connection().await?;
        match round_trip(conn, req).await {
            Ok(answer) => Ok(answer),
            Err(first) => {
                self.conn = None;
                let retry = if reused {
                    make(self.builder(&method, path))
                } else {
                    None
                };
                let Some(req) = retry else {
                    return Err(transport(first));
                };
                tracing::debug!(error = %first, request = what, "kept-alive connection failed; retrying on a new one");
                let conn = self.connection().await?;
                round_trip(conn, req).await.map_err(|e| {
                    self.conn = None;
                    transport(e)
                })
            }
        }
    }

    /// The open connection, or a new one.
    async fn connection(&mut self) -> Result<&mut Conn, Error> {
        let conn = match self.conn.take() {
            Some(conn) if !conn.closed => conn,
            _ => connect(self.endpoint.authority()).await?,
        };
        Ok(self.conn.insert(conn))
    }
}

/// Opens a connection.
async fn connect(address: &str) -> Result<Conn, Error> {
    let connect_error = |source| Error::Connect {
        address: address.to_owned(),
        source,
    };
    let stream = TcpStream::connect(address).await.map_err(connect_error)?;
    // Requests are small and latency-bound: do not let Nagle hold them back.
    stream.set_nodelay(true).map_err(connect_error)?;
    let (sender, driver) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Error::Transport {
            request: "connect",
            source: e.into(),
        })?;
    tracing::debug!(%address, "connected to the Runtime API");
    Ok(Conn {
        sender,
        driver,
        closed: false,
    })
}

/// Sends `req` on `conn` and reads its whole answer, driving the connection meanwhile.
async fn round_trip(conn: &mut Conn, req: Request<ReqBody>) -> Result<Answer, BoxError> {
    let Conn {
        sender,
        driver,
        closed,
    } = conn;
    drive(driver, closed, pin!(poll_fn(|cx| sender.poll_ready(cx)))).await??;
    let response = drive(driver, closed, pin!(sender.send_request(req))).await??;
    let (parts, incoming) = response.into_parts();
    let body = drive(driver, closed, pin!(incoming.collect()))
        .await??
        .to_bytes();
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// Polls the connection and `fut` together until `fut` is done. If the connection ends first
/// and `fut` cannot finish without it, that is an error. (`fut` is pinned by the caller, so
/// that it is stored once, in the caller's state.)
fn drive<'a, F: Future + ?Sized>(
    driver: &'a mut Connection<TokioIo<TcpStream>, ReqBody>,
    closed: &'a mut bool,
    mut fut: Pin<&'a mut F>,
) -> impl Future<Output = Result<F::Output, ConnectionClosed>> + 'a {
    poll_fn(move |cx| {
        if !*closed && let Poll::Ready(result) = Pin::new(&mut *driver).poll(cx) {
            *closed = true;
            if let Err(e) = result {
                tracing::debug!(error = %e, "Runtime API connection failed");
            }
        }
        match fut.as_mut().poll(cx) {
            Poll::Ready(out) => Poll::Ready(Ok(out)),
            Poll::Pending if *closed => Poll::Ready(Err(ConnectionClosed)),
            Poll::Pending => Poll::Pending,
        }
    })
}
