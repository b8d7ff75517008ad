//! One environment's Runtime API (§1) and Extensions API (§2), on its own 127.0.0.1 listener.

use std::sync::Arc;

use ::http::{HeaderName, HeaderValue, Method, Request, Response, header};
use bytes::Bytes;
use grace_protocol::extensions_api as ext_api;
use grace_protocol::runtime_api::{self as rt_api, InvocationPath, error_type};
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use super::http::{self, Body, BodyError, read_body};
use crate::environment::{ApiError, EnvHandle, NextEvent, NextWait, Outcome};
use crate::telemetry::Api;

/// Serves the environment's APIs until it is dead; connections are tracked on `tasks`.
pub(crate) async fn serve(listener: TcpListener, env: EnvHandle, tasks: TaskTracker) {
    let token = env.closed.clone();
    let env = Arc::new(env);
    http::serve(listener, token, tasks, http::OnStop::Close, move |req| {
        let env = Arc::clone(&env);
        async move { route(env, req).await }
    })
    .await;
}

type Env = Arc<EnvHandle>;

async fn route(env: Env, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    if path == rt_api::NEXT_PATH {
        return match *req.method() {
            Method::GET => next(env).await,
            _ => http::method_not_allowed(),
        };
    }
    if let Some(what) = InvocationPath::parse(path) {
        if req.method() != Method::POST {
            return http::method_not_allowed();
        }
        return match what {
            InvocationPath::Response(id) => {
                let id = id.to_owned();
                response(env, &id, req).await
            }
            InvocationPath::Error(id) => {
                let id = id.to_owned();
                function_error(env, &id, req).await
            }
        };
    }
    match (req.method(), path) {
        (&Method::POST, rt_api::INIT_ERROR_PATH) => init_error(env, req).await,
        (&Method::POST, ext_api::REGISTER_PATH) => register(env, req).await,
        (&Method::GET, ext_api::EVENT_NEXT_PATH) => extension_next(env, req).await,
        (&Method::POST, ext_api::INIT_ERROR_PATH) => {
            extension_error(env, req, error_type::EXTENSION_INIT_ERROR).await
        }
        (&Method::POST, ext_api::EXIT_ERROR_PATH) => {
            extension_error(env, req, error_type::EXTENSION_EXIT_ERROR).await
        }
        (&Method::PUT, "/2022-07-01/telemetry") => subscribe(env, req, Api::Telemetry).await,
        (&Method::PUT, "/2020-08-15/logs") => subscribe(env, req, Api::Logs).await,
        (&Method::GET, "/ping") => http::json(200, Bytes::from_static(b"pong")),
        (
            _,
            rt_api::INIT_ERROR_PATH
            | ext_api::REGISTER_PATH
            | ext_api::EVENT_NEXT_PATH
            | ext_api::INIT_ERROR_PATH
            | ext_api::EXIT_ERROR_PATH
            | "/2022-07-01/telemetry"
            | "/2020-08-15/logs"
            | "/ping",
        ) => http::method_not_allowed(),
        _ => http::not_found(),
    }
}

fn api_error(e: &ApiError) -> Response<Body> {
    http::error(e.status, e.error_type, &e.message)
}

/// `GET /runtime/invocation/next`: parks until the next event.
async fn next(env: Env) -> Response<Body> {
    let rx = match env.runtime_next().await {
        Ok(rx) => rx,
        Err(e) => return api_error(&e),
    };
    match rx.await {
        Ok(event) => next_response(event),
        // The environment is shutting down: Lambda never answers; the process is signalled and
        // the connection closes with it.
        Err(_) => std::future::pending().await,
    }
}

/// The `/next` answer's headers, parsed once at compile time (a `&str` name is parsed on every
/// insert).
mod names {
    use ::http::HeaderName;
    use grace_protocol::runtime_api as api;

    pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static(api::HDR_REQUEST_ID);
    pub(super) const DEADLINE_MS: HeaderName = HeaderName::from_static(api::HDR_DEADLINE_MS);
    pub(super) const INVOKED_FUNCTION_ARN: HeaderName =
        HeaderName::from_static(api::HDR_INVOKED_FUNCTION_ARN);
    pub(super) const TRACE_ID: HeaderName = HeaderName::from_static(api::HDR_TRACE_ID);
    pub(super) const CLIENT_CONTEXT: HeaderName = HeaderName::from_static(api::HDR_CLIENT_CONTEXT);
    pub(super) const COGNITO_IDENTITY: HeaderName =
        HeaderName::from_static(api::HDR_COGNITO_IDENTITY);
    pub(super) const TENANT_ID: HeaderName = HeaderName::from_static(api::HDR_TENANT_ID);
}

fn next_response(event: NextEvent) -> Response<Body> {
    let mut res = Response::new(http::full(event.payload));
    let h = res.headers_mut();
    let ct = event
        .content_type
        .as_deref()
        .and_then(|c| HeaderValue::from_str(c).ok());
    h.insert(
        header::CONTENT_TYPE,
        ct.unwrap_or(HeaderValue::from_static("application/json")),
    );
    let mut put = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    put(names::REQUEST_ID, &event.request_id);
    put(names::DEADLINE_MS, itoa(event.deadline_ms).as_str());
    put(names::INVOKED_FUNCTION_ARN, &event.arn);
    put(names::TRACE_ID, &event.trace_id);
    if let Some(v) = &event.client_context {
        put(names::CLIENT_CONTEXT, v);
    }
    if let Some(v) = &event.cognito_identity {
        put(names::COGNITO_IDENTITY, v);
    }
    if let Some(v) = &event.tenant_id {
        put(names::TENANT_ID, v);
    }
    res
}

fn itoa(n: u64) -> String {
    n.to_string()
}

/// `POST /runtime/invocation/{id}/response` (§1.3).
async fn response(env: Env, id: &str, req: Request<Incoming>) -> Response<Body> {
    let checked = checked_before_body(&env, id, "InvocationResponse", &req).await;
    if let Err(e) = checked {
        return api_error(&e);
    }
    let mode = http::header(&req, rt_api::HDR_RESPONSE_MODE);
    if mode == Some("streaming") {
        let content_type = http::header(&req, header::CONTENT_TYPE.as_str()).map(str::to_owned);
        return streamed_response(env, id, req, content_type).await;
    }
    if mode.is_some() {
        let message = "Invalid function response mode";
        let body = crate::environment::platform_error(
            id,
            error_type::RUNTIME_INVALID_RESPONSE_MODE,
            message,
        );
        let _ = env
            .runtime_answer(
                id,
                Outcome::PlatformError { body },
                Some(error_type::RUNTIME_INVALID_RESPONSE_MODE.to_owned()),
            )
            .await;
        return http::error(400, error_type::INVALID_RESPONSE_MODE, message);
    }
    let content_type = http::header(&req, header::CONTENT_TYPE.as_str()).map(str::to_owned);
    match read_body(req, rt_api::MAX_PAYLOAD_BYTES).await {
        Ok(body) => match env
            .runtime_answer(id, Outcome::Response { body, content_type }, None)
            .await
        {
            Ok(()) => {
                http::after_queued_tasks().await;
                http::accepted()
            }
            Err(e) => api_error(&e),
        },
        Err(BodyError::TooLarge(n)) => {
            let limit = rt_api::MAX_PAYLOAD_BYTES;
            let body = grace_protocol::ErrorBody::new(
                error_type::FUNCTION_RESPONSE_TOO_LARGE,
                format!(
                    "Response payload size ({n} bytes) exceeded maximum allowed payload size ({limit} bytes)."
                ),
            );
            let outcome = Outcome::PlatformError {
                body: Bytes::from(body.to_json()),
            };
            let _ = env
                .runtime_answer(
                    id,
                    outcome,
                    Some(error_type::FUNCTION_RESPONSE_TOO_LARGE.to_owned()),
                )
                .await;
            http::error(
                413,
                error_type::REQUEST_ENTITY_TOO_LARGE,
                &format!("Exceeded maximum allowed payload size ({limit} bytes)."),
            )
        }
        Err(BodyError::Truncated) => truncated(&env, id, "InvocationResponse", checked).await,
    }
}

/// Whether `id` may be answered, asked of the environment before the body is read, so that a
/// refusal comes before a size or truncation error (§1.3's order). A body announced to fit
/// cannot be refused for its size, so for it the question is left to the answer itself (one
/// round trip to the environment fewer on every invoke); `Ok(false)` says it was not asked.
async fn checked_before_body(
    env: &Env,
    id: &str,
    what: &'static str,
    req: &Request<Incoming>,
) -> Result<bool, ApiError> {
    let fits = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n <= rt_api::MAX_PAYLOAD_BYTES);
    if fits && http::header(req, rt_api::HDR_RESPONSE_MODE).is_none() {
        return Ok(false);
    }
    env.check_answer(id, what).await.map(|()| true)
}

/// A truncated body: a refusal of `id` goes first, as it would have before the body was read.
async fn truncated(
    env: &Env,
    id: &str,
    what: &'static str,
    checked: Result<bool, ApiError>,
) -> Response<Body> {
    if checked == Ok(false)
        && let Err(e) = env.check_answer(id, what).await
    {
        return api_error(&e);
    }
    http::error(
        400,
        error_type::TRUNCATED_HTTP_REQUEST,
        "HTTP request detected as truncated",
    )
}

/// `POST /runtime/invocation/{id}/error` (§1.4): the body goes to the caller unchanged.
async fn function_error(env: Env, id: &str, req: Request<Incoming>) -> Response<Body> {
    let checked = checked_before_body(&env, id, "InvocationErrorResponse", &req).await;
    if let Err(e) = checked {
        return api_error(&e);
    }
    let header_type = http::header(&req, rt_api::HDR_FUNCTION_ERROR_TYPE).map(str::to_owned);
    let body = match read_body(req, rt_api::MAX_PAYLOAD_BYTES).await {
        Ok(body) => body,
        Err(BodyError::TooLarge(_)) => Bytes::new(),
        Err(BodyError::Truncated) => {
            return truncated(&env, id, "InvocationErrorResponse", checked).await;
        }
    };
    let parsed: Option<grace_protocol::ErrorBody> = serde_json::from_slice(&body).ok();
    let error_type = parsed
        .as_ref()
        .map(|b| b.error_type.clone())
        .or(header_type.clone())
        .unwrap_or_else(|| error_type::RUNTIME_UNKNOWN.to_owned());
    // Lambda builds the caller's payload from the header when the body is absent or unreadable.
    let body = if body.is_empty() {
        Bytes::from(
            grace_protocol::ErrorBody::new(header_type.unwrap_or(error_type.clone()), "").to_json(),
        )
    } else {
        body
    };
    match env
        .runtime_answer(id, Outcome::FunctionError { body }, Some(error_type))
        .await
    {
        Ok(()) => {
            http::after_queued_tasks().await;
            http::accepted()
        }
        Err(e) => api_error(&e),
    }
}

/// `POST /runtime/init/error` (§1.5).
async fn init_error(env: Env, req: Request<Incoming>) -> Response<Body> {
    let header_type = http::header(&req, rt_api::HDR_FUNCTION_ERROR_TYPE).map(str::to_owned);
    let body = read_body(req, rt_api::MAX_PAYLOAD_BYTES)
        .await
        .unwrap_or_default();
    match env.init_error(header_type, body).await {
        Ok(()) => http::accepted(),
        Err(e) => api_error(&e),
    }
}

/// `POST /extension/register` (§2.1): the request's own shape is checked here, in RAPID's
/// order, then the environment's state.
async fn register(env: Env, req: Request<Incoming>) -> Response<Body> {
    let name = http::header(&req, ext_api::HDR_NAME)
        .unwrap_or_default()
        .to_owned();
    let feature = http::header(&req, ext_api::HDR_ACCEPT_FEATURE).map(str::to_owned);
    let body = read_body(req, 64 * 1024).await.unwrap_or_default();
    let (invoke, shutdown) = match parse_registration(&name, &body) {
        Ok(events) => events,
        Err(e) => return api_error(&e),
    };
    match env.register(&name, invoke, shutdown).await {
        Ok(id) => {
            let cfg = &env.cfg;
            let wants_account = feature
                .as_deref()
                .is_some_and(|f| f.split(',').any(|f| f.trim() == "accountId"));
            let response = ext_api::RegisterResponse {
                function_name: cfg.name.clone(),
                function_version: cfg.version().to_owned(),
                handler: cfg.handler.clone(),
                account_id: wants_account.then(|| cfg.account_id.clone()),
            };
            let mut res = http::json(200, serde_json::to_vec(&response).unwrap_or_default());
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut().insert(ext_api::HDR_IDENTIFIER, v);
            }
            res
        }
        Err(e) => api_error(&e),
    }
}

/// The registration request's name and body: which events it asks for (INVOKE, SHUTDOWN).
fn parse_registration(name: &str, body: &[u8]) -> Result<(bool, bool), ApiError> {
    use ext_api::error_type as et;
    if name.is_empty() {
        return Err(ApiError::forbidden(
            et::INVALID_EXTENSION_NAME,
            "Empty extension name",
        ));
    }
    let request: ext_api::RegisterRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ext_api::RegisterRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::forbidden(
                et::INVALID_REQUEST_FORMAT,
                format!("Invalid request format: {e}"),
            )
        })?
    };
    if request.configuration_keys.is_some() {
        return Err(ApiError::forbidden(
            et::INVALID_REQUEST_FORMAT,
            "configurationKeys are deprecated; use environment variables instead",
        ));
    }
    let (mut invoke, mut shutdown) = (false, false);
    for event in &request.events {
        match event.as_str() {
            "INVOKE" => invoke = true,
            "SHUTDOWN" => shutdown = true,
            other => {
                return Err(ApiError::forbidden(
                    et::INVALID_EVENT_TYPE,
                    format!("Invalid event type: {other}"),
                ));
            }
        }
    }
    Ok((invoke, shutdown))
}

/// `GET /extension/event/next` (§2.2).
async fn extension_next(env: Env, req: Request<Incoming>) -> Response<Body> {
    let id = http::header(&req, ext_api::HDR_IDENTIFIER).map(str::to_owned);
    let event = match env.extension_next(id.clone()).await {
        Ok(NextWait::Now(event)) => event,
        Ok(NextWait::Later(rx)) => match rx.await {
            Ok(event) => event,
            Err(_) => std::future::pending().await,
        },
        Err(e) => return api_error(&e),
    };
    let mut res = http::json(200, event);
    let event_id = crate::ids::uuid().to_string();
    if let Ok(v) = HeaderValue::from_str(&event_id) {
        res.headers_mut().insert(ext_api::HDR_EVENT_IDENTIFIER, v);
    }
    if let Some(v) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        res.headers_mut().insert(ext_api::HDR_IDENTIFIER, v);
    }
    res
}

/// `POST /extension/init/error` and `/extension/exit/error` (§2.3).
async fn extension_error(env: Env, req: Request<Incoming>, fatal: &'static str) -> Response<Body> {
    let id = http::header(&req, ext_api::HDR_IDENTIFIER).map(str::to_owned);
    let reported = http::header(&req, ext_api::HDR_FUNCTION_ERROR_TYPE).map(str::to_owned);
    match env.extension_error(id, reported, fatal).await {
        Ok(()) => http::accepted(),
        Err(e) => api_error(&e),
    }
}

/// A streamed `/response` (§1.6): the caller gets the stream as it arrives; the runtime gets its
/// 202 once the stream has ended.
async fn streamed_response(
    env: Env,
    id: &str,
    req: Request<Incoming>,
    content_type: Option<String>,
) -> Response<Body> {
    use crate::stream::{StreamEnd, channel, forward};
    let (tx, body) = channel();
    if let Err(e) = env
        .runtime_answer(id, Outcome::Streamed { body, content_type }, None)
        .await
    {
        return api_error(&e);
    }
    match forward(req.into_body(), tx).await {
        StreamEnd::Complete { error: None } => http::accepted(),
        StreamEnd::Complete {
            error: Some(error_type),
        } => {
            env.stream_error(id, error_type);
            http::accepted()
        }
        StreamEnd::Truncated { error_type } => {
            env.stream_error(id, error_type.to_owned());
            http::error(
                400,
                error_type::TRUNCATED_HTTP_REQUEST,
                "HTTP request detected as truncated",
            )
        }
    }
}

/// `PUT /2022-07-01/telemetry` and `PUT /2020-08-15/logs` (§3.1, §3.4).
async fn subscribe(env: Env, req: Request<Incoming>, api: Api) -> Response<Body> {
    let id = http::header(&req, ext_api::HDR_IDENTIFIER).map(str::to_owned);
    let name = match env.extension_name(id).await {
        Ok(name) => name,
        Err(e) => return api_error(&e),
    };
    let body = read_body(req, 64 * 1024).await.unwrap_or_default();
    match env.telemetry.subscribe(api, &name, &body) {
        Ok(()) => http::json(200, Bytes::from_static(b"\"OK\"")),
        Err(e) => http::error(e.status, e.error_type, &e.message),
    }
}
