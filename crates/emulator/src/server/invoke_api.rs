//! The AWS-compatible Invoke API (§4.8): `POST /2015-03-31/functions/{name}/invocations`, as
//! `aws lambda invoke --endpoint-url` and boto3 send it; plus the emulator's control endpoints
//! under `/grace/v1/`, and function URLs under `/lambda-url/` (handed to [`http_front`]).

use ::http::{HeaderValue, Method, Request, Response, header};
use bytes::Bytes;
use grace_protocol::invoke_api::{self as api, InvocationType, service_error};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use super::http::{self, Body, BodyError, read_body};
use super::http_front::{self, HttpFront};
use crate::emulator::{CloseReport, Emulator, InvokeInput, InvokeOutput};

impl Emulator {
    /// Serves the Invoke API (and buffered function URLs, `/lambda-url/NAME/…`) on `listener`
    /// until `shutdown` is cancelled; then stops accepting, lets invocations in flight finish
    /// (each is bounded by its function timeout), spins every environment down with the proper
    /// sequence, and returns what [`Emulator::close`] saw. [`Emulator::serve_http`] adds
    /// streaming function URLs and API routes.
    pub async fn serve(&self, listener: TcpListener, shutdown: CancellationToken) -> CloseReport {
        self.serve_http(listener, None, HttpFront::default(), shutdown)
            .await
    }

    /// The Invoke API's accept loop on the emulator's tracker, until `accept` is cancelled.
    pub(crate) fn spawn_invoke_api(
        &self,
        listener: TcpListener,
        accept: CancellationToken,
        front: Arc<HttpFront>,
    ) -> tokio::task::JoinHandle<()> {
        let emulator = self.clone();
        self.tasks().spawn(http::serve(
            listener,
            accept,
            self.tasks().clone(),
            http::OnStop::Drain,
            move |req| {
                let emulator = emulator.clone();
                let front = Arc::clone(&front);
                async move { route(emulator, front, req).await }
            },
        ))
    }
}

async fn route(
    emulator: Emulator,
    front: Arc<HttpFront>,
    req: Request<Incoming>,
) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if path.starts_with(http_front::FUNCTION_URL_PREFIX) {
        return http_front::function_url(emulator, front, req).await;
    }
    if let Some(name) = api::parse_invoke_path(&path) {
        if req.method() != Method::POST {
            return http::method_not_allowed();
        }
        let name = percent_decode(name);
        return invoke(emulator, name, req).await;
    }
    let query = req.uri().query().unwrap_or_default().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/grace/v1/events") => {
            let since = query_param(&query, "since")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            http::json(
                200,
                serde_json::to_vec(&emulator.events(since)).unwrap_or_default(),
            )
        }
        (&Method::GET, "/grace/v1/environments") => http::json(
            200,
            serde_json::to_vec(&emulator.environments().await).unwrap_or_default(),
        ),
        (&Method::GET, "/grace/v1/timeline.svg") => {
            // Hooks come from the runtimes' shutdown report lines, which the emulator keeps.
            let svg = crate::timeline::svg(
                &emulator.events(0),
                &emulator.report_lines(),
                "grace serve: lifecycle timeline",
                None,
            );
            let mut res = http::json(200, svg);
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            );
            res
        }
        (&Method::GET, "/grace/v1/trace.json") => http::json(
            200,
            crate::timeline::trace_json(
                &emulator.events(0),
                &emulator.report_lines(),
                "grace serve",
            ),
        ),
        (&Method::GET, "/grace/v1/timeline") => {
            let page = concat!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>grace timeline</title>",
                "<meta http-equiv=\"refresh\" content=\"2\"></head><body style=\"margin:0\">",
                "<img src=\"/grace/v1/timeline.svg\" alt=\"lifecycle timeline\">",
                "<p style=\"font-family:sans-serif;margin:8px 12px\"><a href=\"/grace/v1/trace.json\" ",
                "download=\"grace-trace.json\">trace.json</a>: the same, for https://ui.perfetto.dev</p>",
                "</body></html>"
            );
            let mut res = http::json(200, page);
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            res
        }
        (&Method::GET, "/grace/v1/functions") => http::json(
            200,
            serde_json::to_vec(&emulator.functions()).unwrap_or_default(),
        ),
        (&Method::POST, "/grace/v1/shutdown") => {
            let function = query_param(&query, "function").map(|f| percent_decode(&f));
            match emulator.spin_down(function.as_deref()).await {
                Ok(n) => http::json(200, serde_json::json!({ "environments": n }).to_string()),
                Err(message) => render(InvokeOutput::from_error(
                    service_error::RESOURCE_NOT_FOUND,
                    &message,
                )),
            }
        }
        _ => render(InvokeOutput::from_error(
            (404, "UnknownOperationException"),
            "Unknown operation",
        )),
    }
}

async fn invoke(emulator: Emulator, name: String, req: Request<Incoming>) -> Response<Body> {
    let Some(invocation_type) = InvocationType::parse(http::header(&req, api::HDR_INVOCATION_TYPE))
    else {
        let message = "1 validation error detected: Value at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, DryRun]";
        return render(InvokeOutput::from_error(
            service_error::INVALID_PARAMETER,
            message,
        ));
    };
    let mut input = InvokeInput::new(name, Bytes::new());
    input.invocation_type = invocation_type;
    input.tail = http::header(&req, api::HDR_LOG_TYPE) == Some("Tail");
    input.client_context = http::header(&req, api::HDR_CLIENT_CONTEXT).map(str::to_owned);
    input.trace_id = http::header(&req, api::HDR_TRACE_ID).map(str::to_owned);
    input.content_type = http::header(&req, header::CONTENT_TYPE.as_str())
        .filter(|ct| {
            !ct.starts_with("application/x-amz-json") && !ct.starts_with("binary/octet-stream")
        })
        .map(str::to_owned);
    if let Some(qualifier) = query_param(req.uri().query().unwrap_or_default(), "Qualifier")
        && qualifier != "$LATEST"
        && qualifier != "%24LATEST"
    {
        let message = format!("Function not found: {}:{qualifier}", input.function);
        return render(InvokeOutput::from_error(
            service_error::RESOURCE_NOT_FOUND,
            &message,
        ));
    }
    // Read a little more than the largest payload, so the limit check below sees the excess.
    input.payload = match read_body(req, api::MAX_SYNC_PAYLOAD_BYTES + 1).await {
        Ok(body) => body,
        Err(BodyError::TooLarge(_)) => {
            let message = format!(
                "Request must be smaller than {} bytes for the InvokeFunction operation",
                api::MAX_SYNC_PAYLOAD_BYTES
            );
            return render(InvokeOutput::from_error(
                service_error::REQUEST_TOO_LARGE,
                &message,
            ));
        }
        Err(BodyError::Truncated) => {
            return http::error(400, "InvalidRequestContentException", "Truncated request");
        }
    };
    render(emulator.invoke(input).await)
}

/// The response headers, parsed once at compile time (a `&str` name is parsed on every insert).
mod names {
    use ::http::HeaderName;
    use grace_protocol::invoke_api as api;

    pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static(api::HDR_REQUEST_ID);
    pub(super) const EXECUTED_VERSION: HeaderName =
        HeaderName::from_static(api::HDR_EXECUTED_VERSION);
    pub(super) const FUNCTION_ERROR: HeaderName = HeaderName::from_static(api::HDR_FUNCTION_ERROR);
    pub(super) const ERROR_TYPE: HeaderName = HeaderName::from_static(api::HDR_ERROR_TYPE);
    pub(super) const LOG_RESULT: HeaderName = HeaderName::from_static(api::HDR_LOG_RESULT);
}

fn render(mut out: InvokeOutput) -> Response<Body> {
    let streamed = out.stream.is_some();
    let body = match out.stream.take() {
        Some(stream) => http_body_util::Either::Right(stream),
        None => http::full(std::mem::take(&mut out.body)),
    };
    let mut res = Response::new(body);
    if streamed {
        // hyper sends only the trailers a response declares.
        res.headers_mut().insert(
            header::TRAILER,
            HeaderValue::from_static(
                "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
            ),
        );
    }
    *res.status_mut() = ::http::StatusCode::from_u16(out.status).unwrap_or(::http::StatusCode::OK);
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&out.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&out.request_id) {
        h.insert(names::REQUEST_ID, v);
    }
    if out.status < 300 {
        h.insert(names::EXECUTED_VERSION, HeaderValue::from_static("$LATEST"));
    }
    if let Some(e) = out.function_error {
        h.insert(names::FUNCTION_ERROR, HeaderValue::from_static(e));
    }
    if let Some(code) = out.error_code {
        h.insert(names::ERROR_TYPE, HeaderValue::from_static(code));
    }
    if let Some(v) = out.log_result.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(names::LOG_RESULT, v);
    }
    res
}

fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == key).then(|| percent_decode(v))
    })
}

/// Decodes `%XX` escapes (function names and qualifiers in paths and queries).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("%24LATEST"), "$LATEST");
        assert_eq!(percent_decode("a%3Ab"), "a:b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(
            query_param("a=1&Qualifier=%24LATEST", "Qualifier").as_deref(),
            Some("$LATEST")
        );
    }
}
