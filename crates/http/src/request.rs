//! An event becomes an `http::Request<Body>`: method, URI (see `stage` and `uri`), headers
//! (repeated ones kept), cookies, the body (base64-decoded when the event says so), and the
//! extensions of `ext`. Also returned: the [`Shape`] the answer must take.

use aws_lambda_events::encodings::Body;
use base64::Engine as _;
use http::header::{COOKIE, HeaderValue};
use http::{HeaderMap, Method};
use lambda_grace::Context;

use crate::error::Error;
use crate::event::Incoming;
use crate::ext::{PathParameters, QueryParameters, RawHttpPath, RequestContext, StageVariables};
use crate::options::HttpOptions;
use crate::stage::{RestPath, http_api_path};
use crate::uri::{QueryEncoding, build, query_string};

/// The shape of the answer, decided by the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// REST: `multiValueHeaders` when the request had them, else `headers`.
    Rest { multi_value: bool },
    /// HTTP API payload 2.0: `headers` (repeated values joined) and `cookies`.
    Http,
    /// ALB: like REST, plus `statusDescription`.
    Alb { multi_value: bool },
    /// Function URL: like HTTP API.
    FunctionUrl,
}

/// The request's parts before it is assembled.
struct Parts {
    method: Method,
    path: String,
    raw_path: String,
    query: String,
    headers: HeaderMap,
    domain: Option<String>,
    body: Body,
    context: RequestContext,
    path_parameters: Option<PathParameters>,
    stage_variables: Option<StageVariables>,
    query_parameters: QueryParameters,
}

/// `body` as the service gets it: decoded from base64 if the event says so.
fn decode_body(body: Option<String>, base64: bool) -> Result<Body, Error> {
    match body {
        None => Ok(Body::Empty),
        Some(text) if text.is_empty() => Ok(Body::Empty),
        Some(text) if base64 => base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Body::Binary)
            .map_err(Error::Base64),
        Some(text) => Ok(Body::Text(text)),
    }
}

/// Payload 2.0's `cookies` become one `Cookie` header (`a=1; b=2`), after any the event had.
fn add_cookies(headers: &mut HeaderMap, cookies: Option<Vec<String>>) {
    let Some(cookies) = cookies.filter(|c| !c.is_empty()) else {
        return;
    };
    match HeaderValue::from_str(&cookies.join("; ")) {
        Ok(value) => {
            headers.append(COOKIE, value);
        }
        Err(_) => tracing::warn!("the event's cookies are not a valid header value; dropped"),
    }
}

fn method(name: Option<&str>) -> Result<Method, Error> {
    Method::from_bytes(name.unwrap_or("GET").as_bytes()).map_err(|e| Error::InvalidRequest {
        what: "method",
        source: e.into(),
    })
}

fn non_empty<T>(
    map: std::collections::HashMap<String, T>,
) -> Option<std::collections::HashMap<String, T>> {
    (!map.is_empty()).then_some(map)
}

fn parts(event: Incoming, options: &HttpOptions) -> Result<(Parts, Shape), Error> {
    Ok(match event {
        Incoming::Rest(e) => {
            let e = *e;
            let ctx = e.request_context;
            let where_from = RestPath {
                path: e.path.as_deref(),
                context_path: ctx.path.as_deref(),
                stage: ctx.stage.as_deref(),
                domain: ctx.domain_name.as_deref(),
            };
            let path = where_from.resolve(options.stage_path).to_owned();
            let raw_path = where_from.raw().to_owned();
            let multi_value = !e.multi_value_headers.is_empty();
            let queries = if e.multi_value_query_string_parameters.is_empty() {
                e.query_string_parameters
            } else {
                e.multi_value_query_string_parameters
            };
            let parts = Parts {
                method: e.http_method,
                path,
                raw_path,
                query: query_string(&queries, QueryEncoding::Decoded),
                headers: if multi_value {
                    e.multi_value_headers
                } else {
                    e.headers
                },
                domain: ctx.domain_name.clone(),
                body: decode_body(e.body, e.is_base64_encoded)?,
                context: RequestContext::ApiGatewayRest(Box::new(ctx)),
                path_parameters: non_empty(e.path_parameters).map(PathParameters),
                stage_variables: non_empty(e.stage_variables).map(StageVariables),
                query_parameters: QueryParameters(queries),
            };
            (parts, Shape::Rest { multi_value })
        }
        Incoming::Http(e) => {
            let e = *e;
            let ctx = e.request_context;
            let raw_path = e.raw_path.unwrap_or_else(|| "/".to_owned());
            let path =
                http_api_path(Some(&raw_path), ctx.stage.as_deref(), options.stage_path).to_owned();
            let mut headers = e.headers;
            add_cookies(&mut headers, e.cookies);
            let parts = Parts {
                method: ctx.http.method.clone(),
                path,
                raw_path,
                query: e.raw_query_string.unwrap_or_default(),
                headers,
                domain: ctx.domain_name.clone(),
                body: decode_body(e.body, e.is_base64_encoded)?,
                context: RequestContext::ApiGatewayHttp(Box::new(ctx)),
                path_parameters: non_empty(e.path_parameters).map(PathParameters),
                stage_variables: non_empty(e.stage_variables).map(StageVariables),
                query_parameters: QueryParameters(e.query_string_parameters),
            };
            (parts, Shape::Http)
        }
        Incoming::Alb(e) => {
            let e = *e;
            let multi_value = !e.multi_value_headers.is_empty();
            let queries = if e.multi_value_query_string_parameters.is_empty() {
                e.query_string_parameters
            } else {
                e.multi_value_query_string_parameters
            };
            let path = e.path.unwrap_or_else(|| "/".to_owned());
            let parts = Parts {
                method: e.http_method,
                raw_path: path.clone(),
                path,
                query: query_string(&queries, QueryEncoding::AsSent),
                headers: if multi_value {
                    e.multi_value_headers
                } else {
                    e.headers
                },
                domain: None,
                body: decode_body(e.body, e.is_base64_encoded)?,
                context: RequestContext::Alb(e.request_context),
                path_parameters: None,
                stage_variables: None,
                query_parameters: QueryParameters(queries),
            };
            (parts, Shape::Alb { multi_value })
        }
        Incoming::FunctionUrl(e) => {
            let e = *e;
            let ctx = e.request_context;
            let path = e.raw_path.unwrap_or_else(|| "/".to_owned());
            let mut headers = e.headers;
            add_cookies(&mut headers, e.cookies);
            let parts = Parts {
                method: method(ctx.http.method.as_deref())?,
                raw_path: path.clone(),
                path,
                query: e.raw_query_string.unwrap_or_default(),
                headers,
                domain: ctx.domain_name.clone(),
                body: decode_body(e.body, e.is_base64_encoded)?,
                context: RequestContext::FunctionUrl(Box::new(ctx)),
                path_parameters: None,
                stage_variables: None,
                query_parameters: QueryParameters(e.query_string_parameters.into()),
            };
            (parts, Shape::FunctionUrl)
        }
    })
}

/// Parses `payload` and builds the request the service gets, and the shape of the answer.
pub(crate) fn into_request(
    payload: &[u8],
    options: &HttpOptions,
    ctx: Option<Context>,
) -> Result<(http::Request<Body>, Shape), Error> {
    let event = Incoming::parse(payload)?;
    let (p, shape) = parts(event, options)?;
    let uri = build(&p.headers, p.domain.as_deref(), &p.path, &p.query)?;
    let mut request = http::Request::new(p.body);
    *request.method_mut() = p.method;
    *request.uri_mut() = uri;
    *request.headers_mut() = p.headers;
    let ext = request.extensions_mut();
    ext.insert(p.context);
    ext.insert(RawHttpPath(p.raw_path));
    ext.insert(p.query_parameters);
    if let Some(params) = p.path_parameters {
        ext.insert(params);
    }
    if let Some(vars) = p.stage_variables {
        ext.insert(vars);
    }
    if let Some(ctx) = ctx {
        ext.insert(ctx);
    }
    Ok((request, shape))
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
