//! The HTTP/1.1 connection to the Extensions API (the Telemetry API is served on the same
//! address): hyper's `conn::http1` over a tokio `TcpStream`, kept alive, and replaced when it
//! drops.
//!
//! There is no client timeout on purpose: `/event/next` waits for as long as the environment
//! lives, frozen periods included ("Do not set a timeout on the GET call", §2.2).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

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

    /// `Err(Error::Api)` unless the status is `expected`.
    pub(crate) fn expect(self, request: &'static str, expected: StatusCode) -> Result<Self, Error> {
        if self.status == expected {
            Ok(self)
        } else {
            Err(Error::Api {
                request,
                status: self.status.as_u16(),
                body: self.text(),
            })
        }
    }
}

/// One request to send: what it is (for errors), and its parts.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    pub(crate) what: &'static str,
    pub(crate) method: Method,
    pub(crate) path: &'a str,
    pub(crate) headers: &'a [(&'static str, &'a str)],
    /// A JSON body (`Content-Type: application/json`), or none.
    pub(crate) json: Option<Bytes>,
}

/// A client of the Extensions API, on one kept-alive connection at a time.
pub(crate) struct Client {
    authority: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("authority", &self.authority)
            .field("connected", &self.sender.is_some())
            .finish()
    }
}

impl Client {
    /// A client of the API at `authority` (`host:port`); it connects on first use.
    pub(crate) fn new(authority: String) -> Self {
        Self {
            authority,
            sender: None,
        }
    }

    /// Sends `call` and reads the whole answer. A kept-alive connection that turns out to be
    /// dead (the platform may close idle ones) is replaced, and the request sent again once.
    pub(crate) async fn send(&mut self, call: Call<'_>) -> Result<Answer, Error> {
        let reused = self.sender.as_ref().is_some_and(|s| !s.is_closed());
        let first = self.try_send(&call).await;
        match first {
            Err(e) if reused => {
                tracing::debug!(error = %e, request = call.what, "kept-alive connection failed; retrying on a new one");
                self.sender = None;
                self.try_send(&call)
                    .await
                    .map_err(|e| Error::transport(call.what, e))
            }
            Err(e) => Err(Error::transport(call.what, e)),
            Ok(answer) => Ok(answer),
        }
        .inspect_err(|_| self.sender = None)
    }

    async fn try_send(&mut self, call: &Call<'_>) -> Result<Answer, BoxError> {
        let request = self.build(call)?;
        let sender = self.sender().await?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    fn build(&self, call: &Call<'_>) -> Result<Request<Full<Bytes>>, BoxError> {
        let mut builder = Request::builder()
            .method(call.method.clone())
            .uri(call.path)
            .header(HOST, HeaderValue::from_str(&self.authority)?);
        for (name, value) in call.headers {
            builder = builder.header(*name, HeaderValue::from_str(value)?);
        }
        let body = match &call.json {
            Some(json) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                json.clone()
            }
            None => Bytes::new(),
        };
        Ok(builder.body(Full::new(body))?)
    }

    /// The open connection, or a new one.
    async fn sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, BoxError> {
        let sender = match self.sender.take() {
            Some(sender) if !sender.is_closed() => sender,
            _ => connect(&self.authority).await?,
        };
        Ok(self.sender.insert(sender))
    }
}

/// Opens a connection; a spawned task drives it until the sender is dropped or it closes.
async fn connect(address: &str) -> Result<SendRequest<Full<Bytes>>, BoxError> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|source| Error::Connect {
            address: address.to_owned(),
            source,
        })?;
    // Small, latency-bound requests: do not let Nagle hold them back.
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "Extensions API connection ended");
        }
    });
    tracing::debug!(%address, "connected to the Extensions API");
    Ok(sender)
}
