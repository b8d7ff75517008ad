//! The service's `http::Response` becomes the answer the front end expects, in the shape the
//! event decided (`request::Shape`):
//!
//! | shape | headers | cookies | body |
//! |---|---|---|---|
//! | REST, ALB with multi-value headers | `multiValueHeaders`, every value | `Set-Cookie` values there | text, or base64 + `isBase64Encoded` |
//! | ALB without | `headers`, repeated values joined with `, ` | one `Set-Cookie` only (the last) | same |
//! | HTTP API, Function URL | `headers`, joined, without `Set-Cookie` | `cookies` array | same |
//!
//! ALB answers also carry `statusDescription` (`200 OK`), which it sends as the reason phrase.

use aws_lambda_events::alb::AlbTargetGroupResponse;
use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlResponse;
use base64::Engine as _;
use bytes::Bytes;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::BodyExt;

use crate::binary::is_text;
use crate::error::{BoxError, Error};
use crate::request::Shape;

/// Reads a whole response body.
pub(crate) async fn collect<B>(body: B) -> Result<Bytes, Error>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    match body.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(Error::Body(e.into())),
    }
}

/// One value per header name: repeated values joined with `, ` (RFC 9110 §5.3), and
/// `Set-Cookie`, which cannot be joined, left out (it is returned apart, in order).
pub(crate) fn single_valued(headers: &HeaderMap) -> (HeaderMap, Vec<String>) {
    let mut out = HeaderMap::with_capacity(headers.keys_len());
    let mut cookies = Vec::new();
    for name in headers.keys() {
        let values: Vec<&HeaderValue> = headers.get_all(name).iter().collect();
        if name == SET_COOKIE {
            cookies.extend(
                values
                    .iter()
                    .filter_map(|v| v.to_str().ok().map(str::to_owned)),
            );
            continue;
        }
        let joined = if values.len() == 1 {
            values[0].clone()
        } else {
            let bytes = values
                .iter()
                .map(|v| v.as_bytes())
                .collect::<Vec<_>>()
                .join(&b", "[..]);
            match HeaderValue::from_bytes(&bytes) {
                Ok(v) => v,
                Err(_) => continue,
            }
        };
        out.insert(name.clone(), joined);
    }
    (out, cookies)
}

/// The body, as text or base64, and whether it is base64.
fn encode_body(headers: &HeaderMap, body: &Bytes) -> (Option<Body>, bool) {
    if body.is_empty() {
        return (None, false);
    }
    if is_text(headers, body) {
        // `is_text` checked that it is UTF-8.
        let text = String::from_utf8_lossy(body).into_owned();
        (Some(Body::Text(text)), false)
    } else {
        (Some(Body::Binary(body.to_vec())), true)
    }
}

/// The JSON answer for a buffered response.
pub(crate) fn encode(
    shape: Shape,
    status: StatusCode,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Vec<u8>, Error> {
    let code = i64::from(status.as_u16());
    let (body, is_base64) = encode_body(headers, body);
    let json = match shape {
        Shape::Rest { multi_value } => {
            let mut r = ApiGatewayProxyResponse::default();
            r.status_code = code;
            set_v1_headers(
                &mut r.headers,
                &mut r.multi_value_headers,
                headers,
                multi_value,
            );
            r.body = body;
            r.is_base64_encoded = is_base64;
            serde_json::to_vec(&r)
        }
        Shape::Alb { multi_value } => {
            let mut r = AlbTargetGroupResponse::default();
            r.status_code = code;
            r.status_description = Some(match status.canonical_reason() {
                Some(reason) => format!("{} {reason}", status.as_u16()),
                None => status.as_u16().to_string(),
            });
            set_v1_headers(
                &mut r.headers,
                &mut r.multi_value_headers,
                headers,
                multi_value,
            );
            r.body = body;
            r.is_base64_encoded = is_base64;
            serde_json::to_vec(&r)
        }
        Shape::Http => {
            let mut r = ApiGatewayV2httpResponse::default();
            r.status_code = code;
            (r.headers, r.cookies) = single_valued(headers);
            r.body = body;
            r.is_base64_encoded = is_base64;
            serde_json::to_vec(&r)
        }
        Shape::FunctionUrl => {
            let mut r = LambdaFunctionUrlResponse::default();
            r.status_code = code;
            (r.headers, r.cookies) = single_valued(headers);
            r.body = body.map(|b| match b {
                Body::Binary(bytes) => base64::engine::general_purpose::STANDARD.encode(bytes),
                Body::Text(text) => text,
                _ => String::new(),
            });
            r.is_base64_encoded = is_base64;
            serde_json::to_vec(&r)
        }
    };
    json.map_err(Error::Serialize)
}

/// Payload 1.0 headers: every value in `multiValueHeaders` when the request used them; else
/// one per name in `headers`, where only one `Set-Cookie` fits.
fn set_v1_headers(
    single: &mut HeaderMap,
    multi: &mut HeaderMap,
    headers: &HeaderMap,
    multi_value: bool,
) {
    if multi_value {
        *multi = headers.clone();
        return;
    }
    let (joined, cookies) = single_valued(headers);
    *single = joined;
    if cookies.len() > 1 {
        tracing::warn!(
            count = cookies.len(),
            "several Set-Cookie headers, but the request had no multiValueHeaders: only the last one is sent"
        );
    }
    if let Some(last) = cookies.last().and_then(|c| HeaderValue::from_str(c).ok()) {
        single.insert(SET_COOKIE, last);
    }
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
