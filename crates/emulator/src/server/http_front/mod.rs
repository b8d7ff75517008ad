//! The HTTP front: functions answering plain HTTP requests, as Lambda function URLs and API
//! Gateway (REST and HTTP APIs) make them do. docs/http.md describes the events and answers
//! with their sources; this module is the code.
//!
//! - [`function_url`]: `http://LISTEN/lambda-url/NAME/…` on the Invoke API's listener (the
//!   path prefix `cargo lambda watch` uses), each request becoming the function URL event
//!   (payload format 2.0), buffered or streamed as the function's invoke mode says.
//! - [`api_gateway`]: a second listener serving the routes of a SAM template's `Api` and
//!   `HttpApi` events (payload formats 1.0 and 2.0), as `sam local start-api` does, but on the
//!   emulator's warm pools.
//! - [`routes`]: the route table and its matching; [`events`]: the events built from a request
//!   ([`event_v2`]: the 2.0 event written straight to JSON);
//!   [`answer`]: the function's answer mapped back to HTTP, with the streaming prelude;
//!   [`clock`]: the services' time formats.
//!
//! Invokes go through [`Emulator::invoke`]: the same pools, environments, freezing and
//! lifecycle as the Invoke API.

mod answer;
mod api_gateway;
mod clock;
mod event_v2;
mod events;
mod function_url;
mod routes;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ::http::{Request, Response, Version};
use hyper::body::Incoming;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::http::{self, Body, BodyError};
use crate::emulator::{CloseReport, Emulator};
use clock::Stamp;
use events::HttpRequest;

pub(crate) use function_url::{PREFIX as FUNCTION_URL_PREFIX, handle as function_url};

/// How a function URL invokes its function (`FunctionUrlConfig.InvokeMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvokeMode {
    /// `Invoke`: the answer is read whole, then mapped (the default).
    #[default]
    Buffered,
    /// `InvokeWithResponseStream`: the answer's prelude is read, then its body is passed on as
    /// it arrives.
    ResponseStream,
}

/// Which API Gateway flavour a route belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    /// A REST API (`AWS::Serverless::Api`, `Api` events): payload format 1.0.
    Rest,
    /// An HTTP API (`AWS::Serverless::HttpApi`, `HttpApi` events), with its payload format.
    Http(PayloadFormat),
}

/// The event format an API sends (`PayloadFormatVersion`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// `1.0`: `multiValueHeaders`, `multiValueQueryStringParameters`, `requestContext.path`.
    V1,
    /// `2.0`: `rawPath`, `cookies`, comma-joined repeated headers and query keys.
    V2,
}

/// One API: the resource the routes belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Api {
    /// Its logical id (`ServerlessRestApi`, `ServerlessHttpApi` for SAM's implicit ones).
    pub name: String,
    pub kind: ApiKind,
    /// The stage: `Prod` by default for a REST API, `$default` for an HTTP API.
    pub stage: String,
    /// `BinaryMediaTypes` of a REST API (`image/png`, `*/*`…): request bodies of these types
    /// reach the function in base64.
    pub binary_media_types: Vec<String>,
}

/// One route: `METHOD PATH` of an API to a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub function: String,
    /// Upper-case method; `None` for `ANY`.
    pub method: Option<String>,
    /// `/items/{id}`, `/{proxy+}`; `None` for an HTTP API's `$default` route (any request no
    /// other route takes).
    pub path: Option<String>,
    pub api: Arc<Api>,
    /// `TimeoutInMillis`: how long the API waits for the function (default 29 s for a REST
    /// API, 30 s for an HTTP API).
    pub timeout: Option<Duration>,
}

/// What the HTTP front serves besides the Invoke API.
#[derive(Debug, Clone, Default)]
pub struct HttpFront {
    /// Functions whose URL streams; every other function's URL is buffered.
    pub invoke_modes: BTreeMap<String, InvokeMode>,
    /// The routes of the `--api` listener.
    pub routes: Vec<Route>,
}

impl HttpFront {
    pub(crate) fn invoke_mode(&self, function: &str) -> InvokeMode {
        self.invoke_modes.get(function).copied().unwrap_or_default()
    }
}

impl Emulator {
    /// Like [`Emulator::serve`], with function URLs in the invoke modes `front` names, and,
    /// given `api`, `front`'s API routes on that second listener. Both stop accepting when
    /// `shutdown` is cancelled; then the emulator closes as `serve` does.
    pub async fn serve_http(
        &self,
        listener: TcpListener,
        api: Option<TcpListener>,
        front: HttpFront,
        shutdown: CancellationToken,
    ) -> CloseReport {
        let front = Arc::new(front);
        let accept = self.root().child_token();
        let api_server = api.map(|listener| {
            let emulator = self.clone();
            let front = Arc::clone(&front);
            self.tasks().spawn(http::serve(
                listener,
                accept.clone(),
                self.tasks().clone(),
                http::OnStop::Drain,
                move |req| {
                    let emulator = emulator.clone();
                    let front = Arc::clone(&front);
                    async move { api_gateway::handle(emulator, front, req).await }
                },
            ))
        });
        let invoke_server = self.spawn_invoke_api(listener, accept.clone(), front);
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = self.root().cancelled() => {}
        }
        accept.cancel();
        let _ = invoke_server.await;
        if let Some(server) = api_server {
            let _ = server.await;
        }
        self.close().await
    }
}

/// Reads `req` (its body up to `limit` bytes) as the function will see it, with `path` as the
/// path it asked for.
async fn read_request(
    req: Request<Incoming>,
    path: String,
    limit: usize,
) -> Result<HttpRequest, BodyError> {
    let stamp = Stamp::now();
    let peer = req.extensions().get::<http::Peer>().map(|p| p.0);
    let local_port = req
        .headers()
        .get(::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(80);
    let protocol = match req.version() {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    let method = req.method().as_str().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = http::read_body(req, limit).await?;
    Ok(HttpRequest {
        method,
        path,
        query,
        headers,
        body,
        source_ip: peer.map_or_else(|| "127.0.0.1".to_owned(), |p| p.ip().to_string()),
        port: local_port,
        protocol,
        stamp,
        request_id: crate::ids::uuid().to_string(),
    })
}

/// `{key: message}` with `status` (function URLs say `Message`, API Gateway `message`).
fn message(status: u16, key: &str, text: &str) -> Response<Body> {
    http::json(status, json!({ key: text }).to_string())
}
