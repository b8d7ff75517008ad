//! The function's answer mapped back to HTTP: the 2.0 response format (function URLs, HTTP
//! APIs), with its inference for an answer without `statusCode`; the strict 1.0 format (REST
//! APIs, HTTP APIs at 1.0); and the streaming prelude (JSON metadata, 8 NUL bytes, the body).

use ::http::{HeaderName, HeaderValue, Response, StatusCode, header};
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use serde_json::{Map, Value};
use tokio_util::task::TaskTracker;

use crate::server::http::{self, Body};
use crate::stream::StreamedBody;

/// An answer the front cannot map: the service's 502.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) String);

/// A mapped answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Mapped {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

impl Mapped {
    pub(crate) fn into_response(self) -> Response<Body> {
        let mut res = Response::new(http::full(self.body));
        apply(&mut res, self.status, &self.headers);
        res
    }
}

/// Sets the status and headers (invalid names or values are dropped, as a proxy must).
fn apply(res: &mut Response<Body>, status: u16, headers: &[(String, String)]) {
    *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v)) {
            res.headers_mut().append(k, v);
        }
    }
}

/// A 2.0 answer: an object with `statusCode` is the response; any other JSON is the body of a
/// 200 `application/json` response; what is not JSON is malformed.
pub(crate) fn v2(payload: &[u8]) -> Result<Mapped, Malformed> {
    match v2_typed(payload) {
        Some(mapped) => Ok(mapped),
        None => v2_value(payload),
    }
}

/// [`v2`] read through a `Value`: every shape, and the reason for a refusal.
fn v2_value(payload: &[u8]) -> Result<Mapped, Malformed> {
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| Malformed(format!("the answer is not JSON: {e}")))?;
    match value.as_object().filter(|o| o.contains_key("statusCode")) {
        Some(obj) => structured(obj, false),
        None => Ok(Mapped {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Bytes::copy_from_slice(payload),
        }),
    }
}

/// The usual 2.0 answer, an object with `statusCode` whose every field has its expected type,
/// read into typed fields rather than a `Value` tree (fewer allocations on the function URL
/// path). `None` for anything else (another shape, a duplicate key, a value to refuse): then
/// [`v2_value`] reads the answer as a `Value`, and maps it or says why not.
fn v2_typed(payload: &[u8]) -> Option<Mapped> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer<'a> {
        status_code: Value,
        headers: Option<std::collections::BTreeMap<String, Value>>,
        cookies: Option<Vec<Value>>,
        #[serde(borrow)]
        body: Option<std::borrow::Cow<'a, str>>,
        is_base64_encoded: Option<bool>,
    }
    let answer: Answer<'_> = serde_json::from_slice(payload).ok()?;
    let status = match &answer.status_code {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .and_then(|n| u16::try_from(n).ok())
    .filter(|n| (100..=599).contains(n))?;
    let mut headers = Vec::new();
    // In key order, as a `Value`'s map (a BTreeMap) gives them.
    for (k, v) in answer.headers.into_iter().flatten() {
        headers.push((k, scalar(&v).ok()?));
    }
    for cookie in answer.cookies.into_iter().flatten() {
        headers.push(("set-cookie".into(), scalar(&cookie).ok()?));
    }
    let body = answer.body.unwrap_or_default();
    let body = if answer.is_base64_encoded == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .ok()?
            .into()
    } else {
        Bytes::from(body.into_owned())
    };
    Some(Mapped {
        status,
        headers,
        body,
    })
}

/// A 1.0 answer: an object of `statusCode`, `headers`, `multiValueHeaders`, `body`,
/// `isBase64Encoded` and nothing else.
pub(crate) fn v1(payload: &[u8]) -> Result<Mapped, Malformed> {
    const KEYS: [&str; 5] = [
        "statusCode",
        "headers",
        "multiValueHeaders",
        "body",
        "isBase64Encoded",
    ];
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| Malformed(format!("the answer is not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| Malformed("the answer is not a JSON object".into()))?;
    if let Some(extra) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(Malformed(format!("unexpected key `{extra}`")));
    }
    if !obj.contains_key("statusCode") {
        return Err(Malformed("no statusCode".into()));
    }
    structured(obj, true)
}

/// The fields of a structured answer.
fn structured(obj: &Map<String, Value>, v1: bool) -> Result<Mapped, Malformed> {
    let status = match &obj["statusCode"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .and_then(|n| u16::try_from(n).ok())
    .filter(|n| (100..=599).contains(n))
    .ok_or_else(|| {
        Malformed(format!(
            "statusCode {} is not an HTTP status",
            obj["statusCode"]
        ))
    })?;
    let mut headers = Vec::new();
    let multi = obj
        .get("multiValueHeaders")
        .and_then(Value::as_object)
        .filter(|_| v1);
    if let Some(multi) = multi {
        for (k, values) in multi {
            for v in values.as_array().into_iter().flatten() {
                headers.push((k.clone(), scalar(v)?));
            }
        }
    }
    match obj.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                // 1.0: for a name in both, multiValueHeaders holds the values.
                if !multi.is_some_and(|m| m.keys().any(|n| n.eq_ignore_ascii_case(k))) {
                    headers.push((k.clone(), scalar(v)?));
                }
            }
        }
        Some(other) => return Err(Malformed(format!("headers {other} is not an object"))),
    }
    if !v1 {
        for cookie in obj
            .get("cookies")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            headers.push(("set-cookie".into(), scalar(cookie)?));
        }
    }
    let body = match obj.get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(Malformed(format!("body {other} is not a string"))),
    };
    let base64 = matches!(obj.get("isBase64Encoded"), Some(Value::Bool(true)));
    let body = if base64 {
        base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| Malformed(format!("body is not base64: {e}")))?
            .into()
    } else {
        Bytes::from(body)
    };
    Ok(Mapped {
        status,
        headers,
        body,
    })
}

/// A header value: a string, or a number or boolean written out.
fn scalar(v: &Value) -> Result<String, Malformed> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(_) | Value::Bool(_) => Ok(v.to_string()),
        other => Err(Malformed(format!("header value {other} is not a string"))),
    }
}

/// The content type of a streamed answer that starts with the HTTP prelude.
pub(crate) const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";

/// The prelude must end within this many bytes (the services' limit for the metadata).
const PRELUDE_LIMIT: usize = 16 * 1024;

/// A streamed answer as HTTP: the prelude's status, headers and cookies, then the body passed
/// on frame by frame as the function sends it (a forwarding task on `tasks`). The function's
/// error trailers are not passed on: a client of the URL sees the body end.
pub(crate) async fn streamed(
    mut stream: StreamedBody,
    tasks: &TaskTracker,
) -> Result<Response<Body>, Malformed> {
    let mut head = BytesMut::new();
    let (meta, rest) = loop {
        let frame = match stream.frame().await {
            Some(Ok(frame)) => frame,
            Some(Err(never)) => match never {},
            None => return Err(Malformed("the stream ended before its prelude did".into())),
        };
        let Ok(data) = frame.into_data() else {
            // Trailers before the prelude ended: the function failed.
            return Err(Malformed(
                "the function failed before its prelude ended".into(),
            ));
        };
        head.extend_from_slice(&data);
        if let Some(at) = head.windows(8).position(|w| w == [0u8; 8]) {
            let rest = head.split_off(at + 8);
            head.truncate(at);
            break (head.freeze(), rest.freeze());
        }
        if head.len() > PRELUDE_LIMIT {
            return Err(Malformed(
                "no prelude end (8 NUL bytes) in the first 16 KB".into(),
            ));
        }
    };
    let meta: Map<String, Value> = serde_json::from_slice(&meta)
        .map_err(|e| Malformed(format!("the prelude is not a JSON object: {e}")))?;
    let mut fields = meta.clone();
    fields.remove("body");
    fields.remove("isBase64Encoded");
    fields.entry("statusCode").or_insert(Value::from(200));
    let mapped = structured(&fields, false)?;
    let (tx, body) = crate::stream::channel();
    tasks.spawn(async move {
        if !rest.is_empty() && tx.send(http_body::Frame::data(rest)).await.is_err() {
            return;
        }
        while let Some(Ok(frame)) = stream.frame().await {
            if frame.is_data() && tx.send(frame).await.is_err() {
                return;
            }
        }
    });
    let mut res = Response::new(http_body_util::Either::Right(body));
    apply(&mut res, mapped.status, &mapped.headers);
    Ok(res)
}

/// A streamed answer of any other type: 200 with its content type, passed on as it comes.
pub(crate) fn raw_stream(stream: StreamedBody, content_type: &str) -> Response<Body> {
    let mut res = Response::new(http_body_util::Either::Right(stream));
    if let Ok(v) = HeaderValue::from_str(content_type) {
        res.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    res
}

#[cfg(test)]
#[path = "answer_tests.rs"]
mod tests;
