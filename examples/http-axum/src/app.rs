//! The app both binaries serve: `http-axum` on lambda-grace-http, `http-lambda-http` on the
//! official `lambda_http`, so their answers to the same events can be compared.
//!
//! Routes:
//! - `GET /`: an HTML page;
//! - `GET /hello/{name}`: `Hello, {name}!`;
//! - `GET|POST /echo`: JSON of the method, path, query (every value of a repeated key),
//!   headers (every value), cookies and body (`{"text":…}` or `{"base64":…}`);
//! - `GET /cookies`: sets two cookies;
//! - `GET /binary`: a small PNG (`image/png`);
//! - `GET /stream`: five chunks, 50 ms apart (streamed end to end in `RESPONSE_STREAM` mode);
//! - `GET /error`: a 500;
//! - `GET /db`: `select now()` on the pool when `DATABASE_URL` is set, else 503.
//!
//! Modules: `pool` (the PostgreSQL connections), `page` (the HTML), `stream` (the chunked
//! body); this file has the router and the handlers.

mod page;
pub mod pool;
mod stream;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Value, json};

pub use pool::Pool;

/// The 8×8 PNG `GET /binary` answers with.
pub const PNG: &[u8] = include_bytes!("checker.png");

/// What the handlers share.
#[derive(Debug, Clone, Default)]
pub struct AppState {
    /// The database pool, when `DATABASE_URL` is set.
    pub db: Option<Arc<Pool>>,
}

/// The router, with its state.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Html(page::INDEX) }))
        .route("/hello/{name}", get(hello))
        .route("/echo", get(echo).post(echo))
        .route("/cookies", get(cookies))
        .route(
            "/binary",
            get(|| async { ([(CONTENT_TYPE, "image/png")], PNG) }),
        )
        .route("/stream", get(|| async { stream::chunks(5) }))
        .route("/error", get(error))
        .route("/db", get(db))
        .with_state(state)
}

async fn hello(Path(name): Path<String>) -> String {
    format!("Hello, {name}!")
}

/// `name=value` pairs of every `Cookie` header.
fn cookie_pairs(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            Some((name.to_owned(), value.to_owned()))
        })
        .collect()
}

async fn echo(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Json<Value> {
    let mut query: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in pairs {
        query.entry(key).or_default().push(value);
    }
    let mut all_headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in &headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        all_headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(value);
    }
    let body = if body.is_empty() {
        Value::Null
    } else {
        match std::str::from_utf8(&body) {
            Ok(text) => json!({ "text": text }),
            Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(&body) }),
        }
    };
    Json(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": query,
        "headers": all_headers,
        "cookies": cookie_pairs(&headers),
        "body": body,
    }))
}

async fn cookies() -> Response {
    let mut headers = HeaderMap::new();
    headers.append(
        SET_COOKIE,
        HeaderValue::from_static("flavour=oatmeal; Path=/; HttpOnly"),
    );
    headers.append(
        SET_COOKIE,
        HeaderValue::from_static("colour=blue; Path=/; Max-Age=3600"),
    );
    (headers, Json(json!({ "set": ["flavour", "colour"] }))).into_response()
}

async fn error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({ "error": "this route always fails" })),
    )
        .into_response()
}

async fn db(State(state): State<AppState>) -> Response {
    let Some(pool) = state.db else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "DATABASE_URL is not set" })),
        )
            .into_response();
    };
    let Some((connection, client)) = pool.get() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": "the pool is closed" })),
        )
            .into_response();
    };
    match client
        .query_one("select now()::text, pg_backend_pid()", &[])
        .await
    {
        Ok(row) => {
            let now: Result<String, _> = row.try_get(0);
            let pid: Result<i32, _> = row.try_get(1);
            match (now, pid) {
                (Ok(now), Ok(pid)) => {
                    Json(json!({ "now": now, "backend_pid": pid, "connection": connection }))
                        .into_response()
                }
                _ => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(json!({ "error": "unexpected row" })),
                )
                    .into_response(),
            }
        }
        Err(e) => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": e.to_string() })),
        )
            .into_response(),
    }
}
