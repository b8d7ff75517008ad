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

use bytes::{Bytes, BytesMut};
use grace_protocol::runtime_api as api;
use http_body_util::BodyExt;
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::header::{HOST, HeaderValue};
use hyper::{HeaderMap, Method, Request, StatusCode, Uri};
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
    /// `/next`, parsed once: cloning it shares its bytes.
    next_uri: Option<Uri>,
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
            next_uri: parse_uri(endpoint.path(api::NEXT_PATH)),
            endpoint: endpoint.clone(),
            host,
            conn: None,
        }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The URI of `GET /next`.
    pub(crate) fn next_uri(&self) -> Option<Uri> {
        self.next_uri.clone()
    }

    /// A request to `uri` with `Host` set; `make` adds its other headers and gives its body.
    /// Built in place, not through `Request::builder`, which moves the request at every step.
    fn request(
        &self,
        method: &Method,
        uri: &Uri,
        make: &mut (dyn FnMut(&mut HeaderMap) -> Option<ReqBody> + Send),
    ) -> Option<Request<ReqBody>> {
        let mut headers = HeaderMap::with_capacity(4);
        headers.insert(HOST, self.host.clone());
        let mut req = Request::new(make(&mut headers)?);
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri.clone();
        *req.headers_mut() = headers;
        Some(req)
    }

    /// Sends a request (`make` adds its headers to `Host` and gives its body; `uri` is from
    /// [`parse_uri`], `None` if the path was not a valid URI) and reads the whole answer.
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
        uri: Option<Uri>,
        make: &mut (dyn FnMut(&mut HeaderMap) -> Option<ReqBody> + Send),
    ) -> Result<Answer, Error> {
        let transport = |source: BoxError| Error::Transport {
            request: what,
            source,
        };
        let reused = self.conn.as_ref().is_some_and(|c| !c.closed);
        let req = uri
            .as_ref()
            .and_then(|uri| self.request(&method, uri, make).map(|req| (uri, req)));
        let Some((uri, req)) = req else {
            return Err(transport("the request cannot be built".into()));
        };
        let conn = self.connection().await?;
        match round_trip(conn, req).await {
            Ok(answer) => Ok(answer),
            Err(first) => {
                self.conn = None;
                let retry = if reused {
                    self.request(&method, uri, make)
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

    /// The open connection, or a new one. (Checked in place: moving the connection out and
    /// back costs a copy of it per request.)
    async fn connection(&mut self) -> Result<&mut Conn, Error> {
        if self.conn.as_ref().is_none_or(|c| c.closed) {
            self.conn = Some(connect(self.endpoint.authority()).await?);
        }
        // Set just above when it was not.
        self.conn.as_mut().ok_or_else(|| Error::Transport {
            request: "connect",
            source: "no connection".into(),
        })
    }
}

/// A path (from [`Endpoint::path`] or [`Endpoint::path_of`]) as a request URI, without copying
/// it; `None` if it is not a valid one.
pub(crate) fn parse_uri(path: String) -> Option<Uri> {
    Uri::from_maybe_shared(Bytes::from(path)).ok()
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
    let body = drive(driver, closed, pin!(read_body(incoming))).await??;
    Ok(Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// The whole body: its one data frame as it is (the usual case, no copy and no allocation,
/// unlike `collect`'s queue), or the frames joined.
async fn read_body(mut incoming: hyper::body::Incoming) -> Result<Bytes, hyper::Error> {
    let mut first = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    while let Some(frame) = incoming.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        if let Some(buf) = &mut joined {
            buf.extend_from_slice(&data);
        } else if first.is_empty() {
            first = data;
        } else {
            let mut buf = BytesMut::with_capacity(first.len() + data.len());
            buf.extend_from_slice(&first);
            buf.extend_from_slice(&data);
            joined = Some(buf);
        }
    }
    Ok(joined.map_or(first, BytesMut::freeze))
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
