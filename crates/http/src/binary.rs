//! Whether a response body travels as text or as base64 (`isBase64Encoded: true`).
//!
//! The front ends decode base64 only when told to, and a JSON answer can only carry text, so
//! the choice is made the way the services themselves describe content: a body is text when
//! it is not content-encoded (`gzip`, `br`… are bytes) and its `Content-Type` is textual
//! (`text/*`, JSON, XML, JavaScript, forms, or any type with a `charset`), or there is no
//! `Content-Type` at all; and in every case only if it is valid UTF-8. Everything else
//! (`image/png`, `application/octet-stream`, `application/pdf`…) is base64.

use http::HeaderMap;
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};

/// Whether a media type (without parameters, lower case) is text.
fn is_text_type(essence: &str) -> bool {
    if essence.starts_with("text/") {
        return true;
    }
    let Some(subtype) = essence.strip_prefix("application/") else {
        return essence == "image/svg+xml";
    };
    matches!(
        subtype,
        "json"
            | "xml"
            | "javascript"
            | "ecmascript"
            | "x-www-form-urlencoded"
            | "graphql"
            | "x-ndjson"
            | "yaml"
            | "x-yaml"
            | "csv"
    ) || subtype.ends_with("+json")
        || subtype.ends_with("+xml")
}

/// Whether `body`, with these response headers, goes out as text.
pub(crate) fn is_text(headers: &HeaderMap, body: &[u8]) -> bool {
    let encoded = headers
        .get(CONTENT_ENCODING)
        .is_some_and(|e| !e.as_bytes().eq_ignore_ascii_case(b"identity"));
    if encoded {
        return false;
    }
    let textual = match headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(value) => {
            let lower = value.to_ascii_lowercase();
            let mut params = lower.split(';').map(str::trim);
            let essence = params.next().unwrap_or_default();
            is_text_type(essence) || params.any(|p| p.starts_with("charset="))
        }
    };
    textual && std::str::from_utf8(body).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    http::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn textual_types_are_text() {
        for ct in [
            "text/html; charset=utf-8",
            "application/json",
            "application/problem+json",
            "application/atom+xml",
            "image/svg+xml",
            "application/x-www-form-urlencoded",
            "APPLICATION/JSON",
            "application/octet-stream; charset=utf-8",
        ] {
            assert!(is_text(&headers(&[("content-type", ct)]), b"{}"), "{ct}");
        }
        assert!(
            is_text(&HeaderMap::new(), b"plain"),
            "no content-type, UTF-8"
        );
    }

    #[test]
    fn binary_types_and_encodings_are_base64() {
        for ct in [
            "image/png",
            "application/octet-stream",
            "application/pdf",
            "font/woff2",
        ] {
            assert!(
                !is_text(&headers(&[("content-type", ct)]), b"ascii"),
                "{ct}"
            );
        }
        // Negative control for the encoding rule: the same JSON, gzip-encoded, is bytes.
        let json = headers(&[("content-type", "application/json")]);
        assert!(is_text(&json, b"{}"));
        let gz = headers(&[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
        ]);
        assert!(!is_text(&gz, b"{}"));
        let id = headers(&[
            ("content-type", "application/json"),
            ("content-encoding", "identity"),
        ]);
        assert!(is_text(&id, b"{}"));
    }

    #[test]
    fn invalid_utf8_is_never_text() {
        let html = headers(&[("content-type", "text/html")]);
        assert!(!is_text(&html, &[0xff, 0xfe]));
        assert!(!is_text(&HeaderMap::new(), &[0x89, b'P', b'N', b'G']));
    }
}
