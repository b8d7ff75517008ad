//! The 2.0 event (function URLs, HTTP APIs) written straight to JSON bytes from typed fields
//! that borrow from the request, instead of a `serde_json::Value` tree turned into text: on
//! the function URL path the tree (building, writing through `Display`, dropping) cost more
//! instructions than the rest of the invoke (docs/BENCHMARKS.md, "HTTP through a Function URL").
//!
//! Every object's fields are declared in byte order of their names, and the maps are
//! `BTreeMap`s, so the text is the one a `Value` (sorted keys) gives: same keys, same order.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde::Serialize;

use super::events::{HttpRequest, V2Context, is_text, trace_id};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cookies: Vec<&'a str>,
    headers: BTreeMap<&'a str, Cow<'a, str>>,
    is_base64_encoded: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    path_parameters: BTreeMap<&'a str, &'a str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    query_string_parameters: BTreeMap<String, String>,
    raw_path: &'a str,
    raw_query_string: &'a str,
    request_context: Context<'a>,
    route_key: &'a str,
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Context<'a> {
    account_id: &'a str,
    api_id: &'a str,
    domain_name: &'a str,
    domain_prefix: &'a str,
    http: Http<'a>,
    request_id: &'a str,
    route_key: &'a str,
    stage: &'a str,
    time: &'a str,
    time_epoch: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Http<'a> {
    method: &'a str,
    path: &'a str,
    protocol: &'a str,
    source_ip: &'a str,
    user_agent: &'a str,
}

/// A 2.0 event: an HTTP API's, or (with the URL's placeholders in `ctx`) a function URL's, as
/// JSON; with the trace id it carries in `x-amzn-trace-id` (the client's, or one made up).
/// A stage other than `$default` prefixes `rawPath` and `http.path`, as the service does.
/// docs/http.md lists every field with its source.
pub(crate) fn v2_json(req: &HttpRequest, ctx: &V2Context<'_>) -> (Vec<u8>, String) {
    let mut headers: BTreeMap<&str, Cow<'_, str>> = BTreeMap::new();
    let mut cookies: Vec<&str> = Vec::new();
    for (name, value) in &req.headers {
        if name == "cookie" {
            cookies.extend(value.split(';').map(str::trim).filter(|c| !c.is_empty()));
            continue;
        }
        // 2.0 joins a repeated header's values with commas.
        match headers.entry(name.as_str()) {
            Entry::Occupied(mut e) => {
                let joined = e.get_mut().to_mut();
                joined.push(',');
                joined.push_str(value);
            }
            Entry::Vacant(e) => {
                e.insert(Cow::Borrowed(value));
            }
        }
    }
    // The headers the service adds; one the client sent itself is kept.
    let added = [
        ("x-forwarded-for", Cow::Borrowed(req.source_ip.as_str())),
        ("x-forwarded-proto", Cow::Borrowed("http")),
        ("x-forwarded-port", Cow::Owned(req.port.to_string())),
    ];
    for (name, value) in added {
        headers.entry(name).or_insert(value);
    }
    let trace = match headers.get("x-amzn-trace-id") {
        Some(sent) => sent.clone().into_owned(),
        None => {
            let trace = trace_id(req);
            headers.insert("x-amzn-trace-id", Cow::Owned(trace.clone()));
            trace
        }
    };
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in req.query_pairs() {
        match query.entry(k) {
            Entry::Occupied(mut e) => {
                e.get_mut().push(',');
                e.get_mut().push_str(&v);
            }
            Entry::Vacant(e) => {
                e.insert(v);
            }
        }
    }
    let path: Cow<'_, str> = match ctx.stage {
        "$default" => Cow::Borrowed(&req.path),
        stage => Cow::Owned(format!("/{stage}{}", req.path)),
    };
    let (body, base64) = req.body(!is_text(req.header("content-type")));
    let event = Event {
        body,
        cookies,
        headers,
        is_base64_encoded: base64,
        path_parameters: ctx
            .path_parameters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect(),
        query_string_parameters: query,
        raw_path: &path,
        raw_query_string: &req.query,
        request_context: Context {
            account_id: ctx.account_id,
            api_id: ctx.api_id,
            domain_name: ctx.domain_name,
            domain_prefix: ctx.domain_name.split('.').next().unwrap_or_default(),
            http: Http {
                method: &req.method,
                path: &path,
                protocol: req.protocol,
                source_ip: &req.source_ip,
                user_agent: req.user_agent(),
            },
            request_id: &req.request_id,
            route_key: ctx.route_key,
            stage: ctx.stage,
            time: &req.stamp.text,
            time_epoch: req.stamp.epoch_ms,
        },
        route_key: ctx.route_key,
        version: "2.0",
    };
    // Sized for the usual event (about 1 KB of fields around the body) so it is written
    // without reallocating.
    let mut json = Vec::with_capacity(1536 + req.body.len() * 4 / 3);
    // Writing strings and numbers into a Vec cannot fail (serde_json fails only on map keys
    // that are not strings, and on the writer's I/O errors; a Vec has none).
    let _ = serde_json::to_writer(&mut json, &event);
    (json, trace)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use bytes::Bytes;
    use serde_json::Value;

    use super::*;
    use crate::server::http_front::clock::Stamp;

    #[test]
    fn the_text_is_what_a_value_with_sorted_keys_gives() {
        let req = HttpRequest {
            method: "POST".into(),
            path: "/a/b".into(),
            query: "k=1&k=2&q=a%20b".into(),
            headers: [
                ("x-multi", "a"),
                ("x-multi", "b"),
                ("cookie", "c1=v1; c2=v2"),
                ("content-type", "application/json"),
                ("x-amzn-trace-id", "Root=1-sent"),
                ("Upper", "case sorts first"),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
            body: Bytes::from_static(b"{\"x\":\"\\u00e9\"}"),
            source_ip: "127.0.0.1".into(),
            port: 9001,
            protocol: "HTTP/1.1",
            stamp: Stamp::at(UNIX_EPOCH + Duration::from_millis(1_583_348_638_390)),
            request_id: "c6af9ac6-7b61-11e6-9a41-93e8deadbeef".into(),
        };
        let params = [("id".to_owned(), "7".to_owned())];
        let ctx = V2Context {
            account_id: "anonymous",
            api_id: "urlid",
            domain_name: "urlid.lambda-url.us-east-1.on.aws",
            route_key: "$default",
            stage: "dev",
            path_parameters: &params,
        };
        let (json, trace) = v2_json(&req, &ctx);
        let text = String::from_utf8(json).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        // Re-serialising the parsed value (a BTreeMap per object) gives the same bytes: the
        // fields were written in sorted order, with the same escaping.
        assert_eq!(text, value.to_string());
        assert_eq!(trace, "Root=1-sent", "the client's trace id is kept");
        assert_eq!(value["headers"]["x-multi"], "a,b");
        assert_eq!(value["rawPath"], "/dev/a/b");
        assert_eq!(value["pathParameters"]["id"], "7");
        // Negative control: without the client's trace id, one is made up and sent.
        let mut plain = req.clone();
        plain.headers.retain(|(k, _)| k != "x-amzn-trace-id");
        let (json, trace) = v2_json(&plain, &ctx);
        let value: Value = serde_json::from_slice(&json).unwrap();
        assert!(
            trace.starts_with("Root=1-5e5ffb9e-c6af9ac67b6111e69a4193e8"),
            "{trace}"
        );
        assert_eq!(value["headers"]["x-amzn-trace-id"], trace.as_str());
    }
}
