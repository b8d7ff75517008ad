//! The Runtime API (§1) and the two Extensions API calls the runtime makes (§2.1, §2.2), as
//! methods of [`Client`]: paths, headers, and what each answer status means.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use grace_protocol::{extensions_api as ext, runtime_api as api};
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue, TRAILER, TRANSFER_ENCODING};
use hyper::{HeaderMap, Method, Uri};

use crate::body::ReqBody;
use crate::client::{Answer, Client, parse_uri};
use crate::config::Endpoint;
use crate::error::{Diagnostic, Error};
use crate::response::{Response, ResponseBody};

const ERROR_CONTENT_TYPE: HeaderValue = HeaderValue::from_static("application/json");
const STREAMING: HeaderValue = HeaderValue::from_static("streaming");
const CHUNKED: HeaderValue = HeaderValue::from_static("chunked");
const ERROR_TRAILERS: HeaderValue = HeaderValue::from_static(
    "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
);
/// Sent when a diagnostic's error type is not a valid header value.
const UNKNOWN_ERROR_TYPE: HeaderValue = HeaderValue::from_static("Runtime.Unknown");

/// An event from `GET /next`: its headers (see [`Context`](crate::Context)) and payload.
#[derive(Debug)]
pub(crate) struct Invocation {
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Client {
    /// `GET /next`: waits (without a timeout) for the next event.
    pub(crate) async fn next(&mut self) -> Result<Invocation, Error> {
        const WHAT: &str = "GET /next";
        let uri = self.next_uri();
        let answer = self
            .send(WHAT, Method::GET, uri, &mut |_| Some(ReqBody::Empty))
            .await?;
        if answer.status != hyper::StatusCode::OK {
            return Err(api_error(WHAT, &answer));
        }
        Ok(Invocation {
            headers: answer.headers,
            body: answer.body,
        })
    }

    /// `POST /invocation/{id}/response`, buffered or streamed.
    pub(crate) async fn post_response(
        &mut self,
        request_id: &str,
        response: Response,
    ) -> Result<(), Error> {
        const WHAT: &str = "POST /response";
        let uri =
            parse_uri(
                self.endpoint()
                    .path_of(&[api::INVOCATION_PREFIX, request_id, "/response"]),
            );
        let Response { body, content_type } = response;
        let answer = match body {
            ResponseBody::Buffered(bytes) => {
                self.send(WHAT, Method::POST, uri, &mut |h| {
                    if let Some(ct) = &content_type {
                        h.insert(CONTENT_TYPE, ct.clone());
                    }
                    Some(ReqBody::full(bytes.clone()))
                })
                .await?
            }
            ResponseBody::Streaming(stream) => {
                let mut stream = Some(stream);
                self.send(WHAT, Method::POST, uri, &mut |h| {
                    h.insert(HeaderName::from_static(api::HDR_RESPONSE_MODE), STREAMING);
                    h.insert(TRANSFER_ENCODING, CHUNKED);
                    h.insert(TRAILER, ERROR_TRAILERS);
                    if let Some(ct) = &content_type {
                        h.insert(CONTENT_TYPE, ct.clone());
                    }
                    Some(ReqBody::stream(stream.take()?))
                })
                .await?
            }
        };
        accepted(WHAT, &answer)
    }

    /// `POST /invocation/{id}/error`.
    pub(crate) async fn post_error(
        &mut self,
        request_id: &str,
        error: &Diagnostic,
    ) -> Result<(), Error> {
        const WHAT: &str = "POST /error";
        let uri =
            parse_uri(
                self.endpoint()
                    .path_of(&[api::INVOCATION_PREFIX, request_id, "/error"]),
            );
        let answer = self.post_diagnostic(WHAT, uri, error).await?;
        accepted(WHAT, &answer)
    }

    /// `POST /runtime/init/error`.
    pub(crate) async fn post_init_error(&mut self, error: &Diagnostic) -> Result<(), Error> {
        const WHAT: &str = "POST /init/error";
        let uri = parse_uri(self.endpoint().path(api::INIT_ERROR_PATH));
        let answer = self.post_diagnostic(WHAT, uri, error).await?;
        accepted(WHAT, &answer)
    }

    async fn post_diagnostic(
        &mut self,
        what: &'static str,
        uri: Option<Uri>,
        error: &Diagnostic,
    ) -> Result<Answer, Error> {
        let body = Bytes::from(error.to_json());
        let error_type = error_type_header(error);
        self.send(what, Method::POST, uri, &mut |h| {
            h.insert(CONTENT_TYPE, ERROR_CONTENT_TYPE);
            h.insert(
                HeaderName::from_static(api::HDR_FUNCTION_ERROR_TYPE),
                error_type.clone(),
            );
            Some(ReqBody::full(body.clone()))
        })
        .await
    }

    /// `POST /extension/register` with no events (an internal extension, §2.1, §2.5); returns
    /// the identifier.
    pub(crate) async fn register_extension(&mut self, name: &str) -> Result<HeaderValue, Error> {
        const WHAT: &str = "POST /extension/register";
        let uri = parse_uri(self.endpoint().path(ext::REGISTER_PATH));
        let name = HeaderValue::from_str(name).map_err(|e| Error::Transport {
            request: WHAT,
            source: e.into(),
        })?;
        let answer = self
            .send(WHAT, Method::POST, uri, &mut |h| {
                h.insert(HeaderName::from_static(ext::HDR_NAME), name.clone());
                h.insert(CONTENT_TYPE, ERROR_CONTENT_TYPE);
                Some(ReqBody::full(Bytes::from_static(br#"{"events":[]}"#)))
            })
            .await?;
        if !answer.status.is_success() {
            return Err(api_error(WHAT, &answer));
        }
        // A copy, not a clone: a clone shares the buffer hyper read the answer into (8 kB),
        // which the parked `/event/next` would then keep for the life of the process.
        answer
            .headers
            .get(ext::HDR_IDENTIFIER)
            .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok())
            .ok_or_else(|| Error::Api {
                request: WHAT,
                status: answer.status.as_u16(),
                body: "no Lambda-Extension-Identifier in the answer".into(),
            })
    }

    /// `GET /extension/event/next`: parks until the platform has an event (never, for an
    /// extension subscribed to none).
    pub(crate) async fn next_extension_event(
        &mut self,
        identifier: &HeaderValue,
    ) -> Result<Answer, Error> {
        let uri = parse_uri(self.endpoint().path(ext::EVENT_NEXT_PATH));
        self.send("GET /extension/event/next", Method::GET, uri, &mut |h| {
            h.insert(
                HeaderName::from_static(ext::HDR_IDENTIFIER),
                identifier.clone(),
            );
            Some(ReqBody::Empty)
        })
        .await
    }
}

fn error_type_header(error: &Diagnostic) -> HeaderValue {
    HeaderValue::from_str(&error.error_type).unwrap_or(UNKNOWN_ERROR_TYPE)
}

fn api_error(request: &'static str, answer: &Answer) -> Error {
    Error::Api {
        request,
        status: answer.status.as_u16(),
        body: answer.text(),
    }
}

/// 2xx: done. 5xx: the platform asks the runtime to exit (§1.2, §8.2). 4xx: this invocation's
/// answer was refused (unknown request id, too large, already answered); the platform fails
/// the invocation, and the runtime can go on with the next one.
fn accepted(request: &'static str, answer: &Answer) -> Result<(), Error> {
    if answer.status.is_success() {
        Ok(())
    } else if answer.status.is_server_error() {
        Err(api_error(request, answer))
    } else {
        tracing::error!(
            status = answer.status.as_u16(),
            body = %answer.text(),
            "the Runtime API refused `{request}`"
        );
        Ok(())
    }
}

/// `POST /runtime/init/error` from synchronous code ([`Runtime::from_env`](crate::Runtime) is
/// not async), as one short blocking exchange on a fresh connection. Only used on the way out,
/// when the configuration is invalid.
pub(crate) fn post_init_error_blocking(
    endpoint: &Endpoint,
    error: &Diagnostic,
) -> std::io::Result<u16> {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let addr = endpoint
        .authority()
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("the Runtime API address resolves to nothing"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let body = error.to_json();
    let error_type = error_type_header(error);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{name}: {error_type}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        path = endpoint.path(api::INIT_ERROR_PATH),
        host = endpoint.authority(),
        name = HeaderName::from_static(api::HDR_FUNCTION_ERROR_TYPE),
        error_type = error_type.to_str().unwrap_or("Runtime.Unknown"),
        len = body.len(),
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)?;
    let mut status_line = [0u8; 12];
    stream.read_exact(&mut status_line)?;
    // "HTTP/1.1 202"
    std::str::from_utf8(&status_line[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))
}
