//! The events a request becomes: the function URL event (payload format 2.0 with the URL's
//! placeholders), an HTTP API's 2.0 event, and the 1.0 event of REST APIs (and of HTTP APIs
//! that ask for it). docs/http.md lists every field with its source.

use std::borrow::Cow;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::clock::Stamp;
use crate::server::invoke_api::percent_decode;

/// A request as the front received it.
#[derive(Debug, Clone)]
pub(crate) struct HttpRequest {
    pub(crate) method: String,
    /// The path the function sees (after `/lambda-url/NAME`; without a stage).
    pub(crate) path: String,
    /// The raw query string, without `?`.
    pub(crate) query: String,
    /// Lower-case names, in the order received (hyper reads names case-insensitively).
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
    pub(crate) source_ip: String,
    pub(crate) port: u16,
    pub(crate) protocol: &'static str,
    pub(crate) stamp: Stamp,
    /// The front's own request id (`requestContext.requestId`), not the invoke's.
    pub(crate) request_id: String,
}

impl HttpRequest {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn user_agent(&self) -> &str {
        self.header("user-agent").unwrap_or_default()
    }

    /// The query's pairs, decoded, in order.
    pub(super) fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|kv| !kv.is_empty())
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect()
    }

    /// `body` and `isBase64Encoded`: base64 when `binary`; `None` without a body.
    pub(super) fn body(&self, binary: bool) -> (Option<Cow<'_, str>>, bool) {
        if self.body.is_empty() {
            return (None, false);
        }
        match std::str::from_utf8(&self.body) {
            Ok(text) if !binary => (Some(Cow::Borrowed(text)), false),
            _ => (
                Some(Cow::Owned(
                    base64::engine::general_purpose::STANDARD.encode(&self.body),
                )),
                true,
            ),
        }
    }
}

/// Whether function URLs and HTTP APIs pass a body of `content_type` as text; anything else
/// (no type included) reaches the function in base64.
pub(crate) fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let Some((kind, sub)) = essence.split_once('/') else {
        return false;
    };
    kind == "text"
        || matches!(
            sub,
            "json" | "xml" | "javascript" | "x-javascript" | "ecmascript" | "yaml" | "x-yaml"
        )
        || sub.ends_with("+json")
        || sub.ends_with("+xml")
}

/// Whether a REST API with `binary_media_types` passes a body of `content_type` in base64.
pub(crate) fn is_binary_media(content_type: Option<&str>, binary_media_types: &[String]) -> bool {
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    binary_media_types.iter().any(|t| {
        let t = t.to_ascii_lowercase();
        match t.split_once('/') {
            Some(("*", "*")) => true,
            Some((kind, "*")) => essence.split_once('/').is_some_and(|(k, _)| k == kind),
            _ => t == essence,
        }
    })
}

/// The names and ids a 2.0 event carries besides the request.
#[derive(Debug, Clone)]
pub(crate) struct V2Context<'a> {
    pub(crate) account_id: &'a str,
    pub(crate) api_id: &'a str,
    pub(crate) domain_name: &'a str,
    /// `$default`, or `GET /items/{id}`.
    pub(crate) route_key: &'a str,
    pub(crate) stage: &'a str,
    pub(crate) path_parameters: &'a [(String, String)],
}

/// A 2.0 event as a JSON value (the tests read it; the front sends [`v2_json`]'s bytes).
#[cfg(test)]
pub(crate) fn v2(req: &HttpRequest, ctx: &V2Context<'_>) -> Value {
    let (json, _) = super::event_v2::v2_json(req, ctx);
    serde_json::from_slice(&json).expect("v2_json writes JSON")
}

pub(crate) use super::event_v2::v2_json;

/// The names and ids a 1.0 event carries besides the request.
#[derive(Debug, Clone)]
pub(crate) struct V1Context<'a> {
    pub(crate) account_id: &'a str,
    pub(crate) api_id: &'a str,
    pub(crate) domain_name: &'a str,
    /// The route's path template (`/items/{id}`; `$default` for an HTTP API's default route).
    pub(crate) resource: &'a str,
    pub(crate) stage: &'a str,
    pub(crate) path_parameters: &'a [(String, String)],
    /// Whether the body goes in base64 (REST: its type is one of `BinaryMediaTypes`).
    pub(crate) binary: bool,
}

/// A 1.0 event: `path` without the stage, `requestContext.path` with it (`/{stage}/…`, as a
/// REST API's default endpoint sets it), single- and multi-value headers and query keys.
pub(crate) fn v1(req: &HttpRequest, ctx: &V1Context<'_>) -> Value {
    let mut headers = Map::new();
    let mut multi_headers: Map<String, Value> = Map::new();
    for (name, value) in &req.headers {
        headers.insert(name.clone(), Value::String(value.clone()));
        push(&mut multi_headers, name, value);
    }
    let mut fwd = Map::new();
    forwarded(&mut fwd, req);
    for (name, value) in fwd {
        if !headers.contains_key(&name) {
            push(
                &mut multi_headers,
                &name,
                value.as_str().unwrap_or_default(),
            );
            headers.insert(name, value);
        }
    }
    let mut query = Map::new();
    let mut multi_query: Map<String, Value> = Map::new();
    for (k, v) in req.query_pairs() {
        query.insert(k.clone(), Value::String(v.clone()));
        push(&mut multi_query, &k, &v);
    }
    let or_null = |m: Map<String, Value>| {
        if m.is_empty() {
            Value::Null
        } else {
            Value::Object(m)
        }
    };
    let (body, base64) = req.body(ctx.binary);
    let body = body.map(Cow::into_owned);
    let stage_path = match ctx.stage {
        "$default" => req.path.clone(),
        stage => format!("/{stage}{}", req.path),
    };
    let domain_prefix = ctx.domain_name.split('.').next().unwrap_or_default();
    json!({
        "resource": ctx.resource,
        "path": req.path,
        "httpMethod": req.method,
        "headers": or_null(headers),
        "multiValueHeaders": or_null(multi_headers),
        "queryStringParameters": or_null(query),
        "multiValueQueryStringParameters": or_null(multi_query),
        "pathParameters": if ctx.path_parameters.is_empty() { Value::Null } else { pairs(ctx.path_parameters) },
        "stageVariables": null,
        "requestContext": {
            "accountId": ctx.account_id,
            "apiId": ctx.api_id,
            "domainName": ctx.domain_name,
            "domainPrefix": domain_prefix,
            "extendedRequestId": req.request_id,
            "httpMethod": req.method,
            "identity": {
                "accessKey": null,
                "accountId": null,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": req.source_ip,
                "user": null,
                "userAgent": req.user_agent(),
                "userArn": null,
            },
            "path": stage_path,
            "protocol": req.protocol,
            "requestId": req.request_id,
            "requestTime": req.stamp.text,
            "requestTimeEpoch": req.stamp.epoch_ms,
            "resourceId": ctx.api_id,
            "resourcePath": ctx.resource,
            "stage": ctx.stage,
        },
        "body": body,
        "isBase64Encoded": base64,
    })
}

/// The headers the services add for the function: the client's address, scheme and port, and
/// a trace id; a header the client sent itself is kept.
fn forwarded(headers: &mut Map<String, Value>, req: &HttpRequest) {
    let trace = trace_id(req);
    for (name, value) in [
        ("x-forwarded-for", req.source_ip.clone()),
        ("x-forwarded-proto", "http".to_owned()),
        ("x-forwarded-port", req.port.to_string()),
        ("x-amzn-trace-id", trace),
    ] {
        headers
            .entry(name.to_owned())
            .or_insert(Value::String(value));
    }
}

/// The `x-amzn-trace-id` the services add: `Root=1-{epoch seconds, hex}-{24 hex digits}`.
pub(super) fn trace_id(req: &HttpRequest) -> String {
    use std::fmt::Write as _;
    let mut trace = String::with_capacity(40);
    let _ = write!(trace, "Root=1-{:08x}-", req.stamp.epoch_ms / 1000);
    trace.extend(
        req.request_id
            .bytes()
            .filter(u8::is_ascii_hexdigit)
            .take(24)
            .map(char::from),
    );
    trace
}

/// Appends `value` to the list under `name` (1.0's multi-value maps).
fn push(map: &mut Map<String, Value>, name: &str, value: &str) {
    match map.get_mut(name) {
        Some(Value::Array(list)) => list.push(Value::String(value.to_owned())),
        _ => {
            map.insert(name.to_owned(), json!([value]));
        }
    }
}

fn pairs(pairs: &[(String, String)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A stable id of `len` lower-case letters and digits for `seed` (a function URL's url-id, an
/// API's id), so that a function sees the same domain on every run.
pub(crate) fn stable_id(seed: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // FNV-1a, then a linear congruential walk for as many characters as needed.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..len)
        .map(|_| {
            h = h
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ALPHABET[((h >> 33) % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

#[cfg(test)]
#[path = "events_tests.rs"]
mod tests;
