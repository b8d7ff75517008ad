//! Which HTTP event a payload is ([`EventKind`]), and the typed event (`aws_lambda_events`).
//!
//! The kind is read from the few fields that tell the kinds apart, with a small probe struct
//! that ignores everything else; then the payload is parsed once more, into that kind's type.
//! (A trial-and-error untagged enum would also work, but it cannot tell a Function URL from an
//! HTTP API event, which share one shape, and its error says only "no variant matched".)
//!
//! | kind | tell-tale |
//! |---|---|
//! | ALB | `requestContext.elb` |
//! | Function URL | `requestContext.http`, and `requestContext.domainName` is `*.lambda-url.*` |
//! | HTTP API (payload 2.0) | `requestContext.http` |
//! | REST API, and HTTP API with payload 1.0 | `httpMethod` and `requestContext` |

use std::fmt;

use aws_lambda_events::alb::AlbTargetGroupRequest;
use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::error::Error;

/// The kinds of HTTP event a function can receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// API Gateway REST API (proxy integration, payload 1.0); also an HTTP API route set to
    /// payload 1.0.
    ApiGatewayRest,
    /// API Gateway HTTP API, payload 2.0.
    ApiGatewayHttp,
    /// Application Load Balancer target group.
    Alb,
    /// Lambda Function URL (payload 2.0, without stages).
    FunctionUrl,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ApiGatewayRest => "an API Gateway REST event (payload 1.0)",
            Self::ApiGatewayHttp => "an API Gateway HTTP API event (payload 2.0)",
            Self::Alb => "an ALB event",
            Self::FunctionUrl => "a Function URL event",
        })
    }
}

/// A parsed HTTP event. Boxed: the types are several hundred bytes each.
#[derive(Debug)]
pub(crate) enum Incoming {
    Rest(Box<ApiGatewayProxyRequest>),
    Http(Box<ApiGatewayV2httpRequest>),
    Alb(Box<AlbTargetGroupRequest>),
    FunctionUrl(Box<LambdaFunctionUrlRequest>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    http_method: Option<IgnoredAny>,
    #[serde(default)]
    request_context: Option<ProbeContext>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProbeContext {
    #[serde(default)]
    http: Option<IgnoredAny>,
    #[serde(default)]
    elb: Option<IgnoredAny>,
    #[serde(default)]
    domain_name: Option<String>,
}

/// A Function URL's domain: `<url-id>.lambda-url.<region>.on.aws`.
fn is_function_url_domain(domain: &str) -> bool {
    domain.contains(".lambda-url.")
}

/// Tells the kind of `payload` from its tell-tale fields.
pub fn detect(payload: &[u8]) -> Result<EventKind, Error> {
    let probe: Probe = serde_json::from_slice(payload).map_err(Error::NotJson)?;
    let Some(ctx) = probe.request_context else {
        return Err(Error::NotHttp {
            reason: "no `requestContext`",
        });
    };
    if ctx.elb.is_some() {
        return Ok(EventKind::Alb);
    }
    if ctx.http.is_some() {
        let url = ctx
            .domain_name
            .as_deref()
            .is_some_and(is_function_url_domain);
        return Ok(if url {
            EventKind::FunctionUrl
        } else {
            EventKind::ApiGatewayHttp
        });
    }
    if probe.http_method.is_some() {
        return Ok(EventKind::ApiGatewayRest);
    }
    Err(Error::NotHttp {
        reason: "neither `requestContext.http`, `requestContext.elb` nor `httpMethod`",
    })
}

impl Incoming {
    /// Detects the kind of `payload` and parses it as that kind.
    pub(crate) fn parse(payload: &[u8]) -> Result<Self, Error> {
        let kind = detect(payload)?;
        let malformed = |source| Error::Malformed { kind, source };
        Ok(match kind {
            EventKind::ApiGatewayRest => {
                Self::Rest(serde_json::from_slice(payload).map_err(malformed)?)
            }
            EventKind::ApiGatewayHttp => {
                Self::Http(serde_json::from_slice(payload).map_err(malformed)?)
            }
            EventKind::Alb => Self::Alb(serde_json::from_slice(payload).map_err(malformed)?),
            EventKind::FunctionUrl => {
                Self::FunctionUrl(serde_json::from_slice(payload).map_err(malformed)?)
            }
        })
    }

    #[cfg(test)]
    pub(crate) fn kind(&self) -> EventKind {
        match self {
            Self::Rest(_) => EventKind::ApiGatewayRest,
            Self::Http(_) => EventKind::ApiGatewayHttp,
            Self::Alb(_) => EventKind::Alb,
            Self::FunctionUrl(_) => EventKind::FunctionUrl,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn each_fixture_is_detected_as_its_kind() {
        for (name, json, kind) in fixtures::ALL {
            assert_eq!(detect(json.as_bytes()).unwrap(), *kind, "{name}");
            let parsed = Incoming::parse(json.as_bytes()).unwrap();
            assert_eq!(parsed.kind(), *kind, "{name}");
        }
    }

    #[test]
    fn a_function_url_is_told_from_an_http_api_by_its_domain() {
        // Negative control: the same event on an execute-api domain is an HTTP API event.
        let url = fixtures::FUNCTION_URL;
        let http = url.replace(
            ".lambda-url.us-east-1.on.aws",
            ".execute-api.us-east-1.amazonaws.com",
        );
        assert_eq!(detect(url.as_bytes()).unwrap(), EventKind::FunctionUrl);
        assert_eq!(detect(http.as_bytes()).unwrap(), EventKind::ApiGatewayHttp);
    }

    #[test]
    fn other_payloads_are_refused_with_a_reason() {
        let e = detect(br#"{"Records":[]}"#).unwrap_err();
        assert!(
            matches!(e, Error::NotHttp { reason } if reason.contains("requestContext")),
            "{e}"
        );
        let e = detect(br#"{"requestContext":{"stage":"x"}}"#).unwrap_err();
        assert!(matches!(e, Error::NotHttp { .. }), "{e}");
        assert!(matches!(
            detect(b"not json").unwrap_err(),
            Error::NotJson(_)
        ));
        // Looks like REST, but `httpMethod` is not a method.
        let e = Incoming::parse(br#"{"httpMethod":7,"requestContext":{}}"#).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Malformed {
                    kind: EventKind::ApiGatewayRest,
                    ..
                }
            ),
            "{e}"
        );
    }
}
