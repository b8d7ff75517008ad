//! The request's URI: scheme and authority from the headers, the path (see `stage`) and the
//! query string, percent-encoded as each event kind needs.
//!
//! - REST events carry query values decoded: they are encoded again here.
//! - ALB events carry them as the client sent them ("the load balancer does not decode
//!   them"): only what cannot appear in a URI is encoded.
//! - Payload 2.0 events carry `rawQueryString`, used as it is.
//!
//! Keys are sorted (payload 1.0 events carry them in a map, whose order is not the
//! request's); the values of one key keep their order.

use aws_lambda_events::query_map::QueryMap;
use http::HeaderMap;
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::Error;

/// What a decoded query key or value must have encoded: all but RFC 3986's unreserved.
const DECODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What an as-sent (ALB) query key or value still needs encoded to be a valid URI.
const AS_SENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// What a path needs encoded. `%` is handled apart: a `%XX` escape stays as it is.
const PATH: &AsciiSet = &AS_SENT.add(b'?').add(b'%');

/// How the query values of an event are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueryEncoding {
    Decoded,
    AsSent,
}

/// `key=value&…` from a payload 1.0 map, keys sorted, repeated keys repeated.
pub(crate) fn query_string(map: &QueryMap, encoding: QueryEncoding) -> String {
    let set = match encoding {
        QueryEncoding::Decoded => DECODED,
        QueryEncoding::AsSent => AS_SENT,
    };
    let mut pairs: Vec<(&str, &str)> = map.iter().collect();
    // Stable: the values of one key keep their order.
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (key, value) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.extend(utf8_percent_encode(key, set));
        out.push('=');
        out.extend(utf8_percent_encode(value, set));
    }
    out
}

/// `path` made a valid URI path: a `%XX` escape is kept, any other `%` and what a path cannot
/// hold is encoded.
pub(crate) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        out.extend(utf8_percent_encode(&rest[..at], PATH));
        let escape = rest.as_bytes().get(at + 1..at + 3);
        if escape.is_some_and(|e| e.iter().all(u8::is_ascii_hexdigit)) {
            out.push_str(&rest[at..at + 3]);
            rest = &rest[at + 3..];
        } else {
            out.push_str("%25");
            rest = &rest[at + 1..];
        }
    }
    out.extend(utf8_percent_encode(rest, PATH));
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    out
}

/// The request URI: `https://host/path?query` when the `Host` header (or the event's domain)
/// is a valid authority, else just `/path?query`. The scheme is `X-Forwarded-Proto`'s
/// (`https` when absent).
pub(crate) fn build(
    headers: &HeaderMap,
    domain: Option<&str>,
    path: &str,
    query: &str,
) -> Result<Uri, Error> {
    let mut pq = encode_path(path);
    if !query.is_empty() {
        pq.push('?');
        pq.push_str(query);
    }
    let path_and_query = PathAndQuery::try_from(pq).map_err(|e| Error::InvalidRequest {
        what: "path or query string",
        source: e.into(),
    })?;
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or(domain)
        .and_then(|h| Authority::try_from(h).ok());
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
    {
        Some(p) if p.eq_ignore_ascii_case("http") => Scheme::HTTP,
        _ => Scheme::HTTPS,
    };
    let mut parts = http::uri::Parts::default();
    if let Some(host) = host {
        parts.scheme = Some(scheme);
        parts.authority = Some(host);
    }
    parts.path_and_query = Some(path_and_query);
    Uri::from_parts(parts).map_err(|e| Error::InvalidRequest {
        what: "uri",
        source: e.into(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn map(pairs: &[(&str, &[&str])]) -> QueryMap {
        let inner: HashMap<String, Vec<String>> = pairs
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect();
        QueryMap::from(inner)
    }

    #[test]
    fn decoded_values_are_encoded_and_repeated_keys_kept_in_order() {
        let m = map(&[("tag", &["b", "a"]), ("q", &["hello world&more"])]);
        assert_eq!(
            query_string(&m, QueryEncoding::Decoded),
            "q=hello%20world%26more&tag=b&tag=a"
        );
    }

    #[test]
    fn as_sent_values_are_not_encoded_twice() {
        let m = map(&[("q", &["hello%20world"]), ("x", &["a b"])]);
        assert_eq!(
            query_string(&m, QueryEncoding::AsSent),
            "q=hello%20world&x=a%20b"
        );
        // Negative control: taken as decoded, the escape would be encoded again.
        assert_eq!(
            query_string(&m, QueryEncoding::Decoded),
            "q=hello%2520world&x=a%20b"
        );
    }

    #[test]
    fn paths_keep_escapes_and_encode_the_rest() {
        assert_eq!(encode_path("/a b/c%20d"), "/a%20b/c%20d");
        assert_eq!(encode_path("/100%"), "/100%25");
        assert_eq!(encode_path("/what?/é"), "/what%3F/%C3%A9");
        assert_eq!(encode_path("no-slash"), "/no-slash");
    }

    #[test]
    fn the_uri_is_absolute_when_the_host_is_known() {
        let mut h = HeaderMap::new();
        h.insert("host", "api.example.com".parse().unwrap());
        h.insert("x-forwarded-proto", "http".parse().unwrap());
        let uri = build(&h, None, "/a", "b=1").unwrap();
        assert_eq!(uri.to_string(), "http://api.example.com/a?b=1");
        let uri = build(&HeaderMap::new(), Some("d.example.com"), "/a", "").unwrap();
        assert_eq!(uri.to_string(), "https://d.example.com/a");
        let uri = build(&HeaderMap::new(), None, "/a", "").unwrap();
        assert_eq!(uri.to_string(), "/a");
    }
}
