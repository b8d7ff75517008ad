//! Function URLs at `/lambda-url/NAME/…` on the Invoke API's listener: the request becomes the
//! function URL event, and the answer is mapped back as the service maps it, buffered or
//! streamed (`InvokeMode`). An unknown function is a 404 here (the real URL's host names the
//! function; this path does).

use ::http::{Request, Response};
use hyper::body::Incoming;
use std::sync::Arc;

use grace_protocol::invoke_api::MAX_SYNC_PAYLOAD_BYTES;

use super::answer::{self, HTTP_INTEGRATION};
use super::events::{self, V2Context, stable_id};
use super::{HttpFront, InvokeMode, message, read_request};
use crate::emulator::{Emulator, InvokeInput, InvokeOutput};
use crate::server::http::{Body, BodyError};
use crate::server::invoke_api::percent_decode;

/// The path prefix of function URLs (`cargo lambda watch`'s convention).
pub(crate) const PREFIX: &str = "/lambda-url/";

/// Function URL errors carry `Message`, as the Lambda service's do.
const KEY: &str = "Message";

/// Serves one function URL request.
pub(crate) async fn handle(
    emulator: Emulator,
    front: Arc<HttpFront>,
    req: Request<Incoming>,
) -> Response<Body> {
    let rest = req.uri().path()[PREFIX.len()..].to_owned();
    let (name, path) = match rest.split_once('/') {
        Some((name, path)) => (percent_decode(name), format!("/{path}")),
        None => (percent_decode(&rest), "/".to_owned()),
    };
    let Some((_account, region)) = emulator.account_region(&name) else {
        return message(404, KEY, &format!("Function not found: {name}"));
    };
    // A little more than the largest payload, so the Invoke API's own check sees the excess.
    let request = match read_request(req, path, MAX_SYNC_PAYLOAD_BYTES + 1).await {
        Ok(request) => request,
        Err(BodyError::TooLarge(_)) => return too_large(),
        Err(BodyError::Truncated) => return message(400, KEY, "Truncated request"),
    };
    let url_id = stable_id(&name, 32);
    let domain = format!("{url_id}.lambda-url.{region}.on.aws");
    let (event, trace_id) = events::v2_json(
        &request,
        &V2Context {
            // AuthType NONE (the only one served here): the caller is anonymous.
            account_id: "anonymous",
            api_id: &url_id,
            domain_name: &domain,
            route_key: "$default",
            stage: "$default",
            path_parameters: &[],
        },
    );
    let mut input = InvokeInput::new(name.clone(), event);
    input.trace_id = Some(trace_id);
    let out = emulator.invoke(input).await;
    answer(&emulator, front.invoke_mode(&name), out).await
}

fn too_large() -> Response<Body> {
    let text = format!(
        "Request must be smaller than {MAX_SYNC_PAYLOAD_BYTES} bytes for the InvokeFunction operation"
    );
    message(413, KEY, &text)
}

/// The invoke's output as the URL's answer.
async fn answer(emulator: &Emulator, mode: InvokeMode, mut out: InvokeOutput) -> Response<Body> {
    if out.status != 200 {
        // The Invoke API refused (too large, throttled…): its status, its message.
        let text = serde_json::from_slice::<serde_json::Value>(&out.body)
            .ok()
            .and_then(|v| v.get("message").or(v.get("Message")).cloned())
            .and_then(|m| m.as_str().map(str::to_owned))
            .unwrap_or_default();
        return message(out.status, KEY, &text);
    }
    if out.function_error.is_some() {
        return internal_error();
    }
    let payload = match (out.stream.take(), mode) {
        (Some(stream), InvokeMode::ResponseStream) => {
            if out.content_type != HTTP_INTEGRATION {
                return answer::raw_stream(stream, &out.content_type);
            }
            return match answer::streamed(stream, emulator.tasks()).await {
                Ok(res) => res,
                Err(malformed) => {
                    tracing::warn!(reason = %malformed.0, "function URL: streamed answer not mapped");
                    internal_error()
                }
            };
        }
        // `Invoke` reads a streamed answer whole; an error in its trailers fails it.
        (Some(stream), InvokeMode::Buffered) => match stream.collect().await {
            (_, Some(_error)) => return internal_error(),
            (bytes, None) => bytes,
        },
        (None, _) => out.body,
    };
    match answer::v2(&payload) {
        Ok(mapped) => mapped.into_response(),
        Err(malformed) => {
            tracing::warn!(reason = %malformed.0, "function URL: answer not mapped");
            internal_error()
        }
    }
}

/// What a function URL answers for a function error or an answer it cannot map.
fn internal_error() -> Response<Body> {
    message(502, KEY, "Internal Server Error")
}
