//! The `--api` listener: the routes of a template's `Api` (REST) and `HttpApi` events, served
//! without the stage in the path (as `sam local start-api` serves them), each request becoming
//! the event its API sends, on the emulator's warm pools. Errors answer as the services do:
//! no route, a function error or malformed answer, the integration timeout, a body too large.

use std::sync::Arc;
use std::time::Duration;

use ::http::{HeaderValue, Request, Response};
use hyper::body::Incoming;

use super::events::{self, V1Context, V2Context, stable_id};
use super::routes::{self, Matched};
use super::{ApiKind, HttpFront, PayloadFormat, Route, answer, message, read_request};
use crate::emulator::{Emulator, InvokeInput, InvokeOutput};
use crate::server::http::{Body, BodyError};

/// API Gateway's errors carry `message`.
const KEY: &str = "message";

/// API Gateway's payload quota: 10 MB.
const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// How long an API waits for its function unless the route says (`TimeoutInMillis`).
const REST_TIMEOUT: Duration = Duration::from_secs(29);
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one request of the `--api` listener.
pub(crate) async fn handle(
    emulator: Emulator,
    front: Arc<HttpFront>,
    req: Request<Incoming>,
) -> Response<Body> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let Some(Matched { route, params }) = routes::find(&front.routes, &method, &path) else {
        return no_route(&front.routes);
    };
    let route = route.clone();
    let request = match read_request(req, path, MAX_BODY_BYTES).await {
        Ok(request) => request,
        Err(BodyError::TooLarge(_)) => return message(413, KEY, "Request Entity Too Large"),
        Err(BodyError::Truncated) => return message(400, KEY, "Bad Request"),
    };
    let (account, region) = emulator
        .account_region(&route.function)
        .unwrap_or_else(|| ("123456789012".into(), "us-east-1".into()));
    let api_id = stable_id(&route.api.name, 10);
    let domain = format!("{api_id}.execute-api.{region}.amazonaws.com");
    let resource = route.path.clone().unwrap_or_else(|| "$default".into());
    let route_key = match (&route.method, &route.path) {
        (_, None) => "$default".to_owned(),
        (Some(m), Some(p)) => format!("{m} {p}"),
        (None, Some(p)) => format!("ANY {p}"),
    };
    let format = match route.api.kind {
        ApiKind::Rest => PayloadFormat::V1,
        ApiKind::Http(format) => format,
    };
    let event = match format {
        PayloadFormat::V2 => {
            events::v2_json(
                &request,
                &V2Context {
                    account_id: &account,
                    api_id: &api_id,
                    domain_name: &domain,
                    route_key: &route_key,
                    stage: &route.api.stage,
                    path_parameters: &params,
                },
            )
            .0
        }
        PayloadFormat::V1 => {
            let content_type = request
                .headers
                .iter()
                .find(|(k, _)| k == "content-type")
                .map(|(_, v)| v.as_str());
            let binary = match route.api.kind {
                ApiKind::Rest => {
                    events::is_binary_media(content_type, &route.api.binary_media_types)
                }
                ApiKind::Http(_) => !events::is_text(content_type),
            };
            let event = events::v1(
                &request,
                &V1Context {
                    account_id: &account,
                    api_id: &api_id,
                    domain_name: &domain,
                    resource: &resource,
                    stage: &route.api.stage,
                    path_parameters: &params,
                    binary,
                },
            );
            event.to_string().into_bytes()
        }
    };
    let mut res = invoke(&emulator, &route, format, event).await;
    let id_header = match route.api.kind {
        ApiKind::Rest => "x-amzn-requestid",
        ApiKind::Http(_) => "apigw-requestid",
    };
    if let Ok(v) = HeaderValue::from_str(&request.request_id) {
        res.headers_mut().insert(id_header, v);
    }
    res
}

/// No route: a REST API's 403 (API Gateway says so for any unknown resource or method), an
/// HTTP API's 404.
fn no_route(routes: &[Route]) -> Response<Body> {
    if routes.iter().any(|r| r.api.kind == ApiKind::Rest) {
        message(403, KEY, "Missing Authentication Token")
    } else {
        message(404, KEY, "Not Found")
    }
}

/// Invokes the route's function with `event`, waiting as long as the API would; the answer
/// mapped, or the API's error.
async fn invoke(
    emulator: &Emulator,
    route: &Route,
    format: PayloadFormat,
    event: Vec<u8>,
) -> Response<Body> {
    let limit = route.timeout.unwrap_or(match route.api.kind {
        ApiKind::Rest => REST_TIMEOUT,
        ApiKind::Http(_) => HTTP_TIMEOUT,
    });
    // The invoke runs to its end whether the API waits or not: API Gateway's timeout does not
    // stop the function.
    let task = emulator.tasks().spawn({
        let emulator = emulator.clone();
        let input = InvokeInput::new(route.function.clone(), event);
        async move {
            let mut out = emulator.invoke(input).await;
            let payload = match out.stream.take() {
                Some(stream) => Some(stream.collect().await),
                None => None,
            };
            (out, payload)
        }
    });
    let (out, streamed) = match tokio::time::timeout(limit, task).await {
        Ok(Ok(done)) => done,
        Ok(Err(_)) => return internal_error(500),
        Err(_) => {
            return match route.api.kind {
                ApiKind::Rest => message(504, KEY, "Endpoint request timed out"),
                ApiKind::Http(_) => message(503, KEY, "Service Unavailable"),
            };
        }
    };
    map(out, streamed, format)
}

fn map(
    out: InvokeOutput,
    streamed: Option<(bytes::Bytes, Option<String>)>,
    format: PayloadFormat,
) -> Response<Body> {
    // Lambda refused the invoke (throttled, too large): API Gateway's 500.
    if out.status != 200 {
        return internal_error(500);
    }
    let payload = match streamed {
        Some((_, Some(_error))) => return internal_error(502),
        Some((bytes, None)) => bytes,
        None => out.body,
    };
    if out.function_error.is_some() {
        return internal_error(502);
    }
    let mapped = match format {
        PayloadFormat::V1 => answer::v1(&payload),
        PayloadFormat::V2 => answer::v2(&payload),
    };
    match mapped {
        Ok(mapped) => mapped.into_response(),
        Err(malformed) => {
            tracing::warn!(reason = %malformed.0, "API: malformed Lambda proxy response");
            internal_error(502)
        }
    }
}

/// `{"message": "Internal server error"}`, API Gateway's body for every Lambda failure.
fn internal_error(status: u16) -> Response<Body> {
    message(status, KEY, "Internal server error")
}
