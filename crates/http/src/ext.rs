//! What the event says beyond the HTTP request, kept as request extensions: the request
//! context, path parameters, stage variables, the query parameters as the event parsed them,
//! the path as the event carried it, and the invocation's [`Context`].
//!
//! Read them with [`RequestExt`] (on `http::Request`, `http::request::Parts` and
//! `http::Extensions`), or with axum's `Extension<T>` extractor: each is its own type.

use std::collections::HashMap;

use aws_lambda_events::alb::AlbTargetGroupRequestContext;
use aws_lambda_events::apigw::{ApiGatewayProxyRequestContext, ApiGatewayV2httpRequestContext};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequestContext;
use aws_lambda_events::query_map::QueryMap;
use http::Extensions;
use lambda_grace::Context;

use crate::EventKind;

/// The event's `requestContext`, typed by kind.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RequestContext {
    /// REST API (and HTTP API payload 1.0).
    ApiGatewayRest(Box<ApiGatewayProxyRequestContext>),
    /// HTTP API payload 2.0.
    ApiGatewayHttp(Box<ApiGatewayV2httpRequestContext>),
    /// ALB.
    Alb(AlbTargetGroupRequestContext),
    /// Function URL.
    FunctionUrl(Box<LambdaFunctionUrlRequestContext>),
}

impl RequestContext {
    /// The kind of event this context came in.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::ApiGatewayRest(_) => EventKind::ApiGatewayRest,
            Self::ApiGatewayHttp(_) => EventKind::ApiGatewayHttp,
            Self::Alb(_) => EventKind::Alb,
            Self::FunctionUrl(_) => EventKind::FunctionUrl,
        }
    }

    /// The API Gateway stage (`$default` for HTTP APIs' default stage); `None` for ALB and
    /// Function URLs.
    pub fn stage(&self) -> Option<&str> {
        match self {
            Self::ApiGatewayRest(c) => c.stage.as_deref(),
            Self::ApiGatewayHttp(c) => c.stage.as_deref(),
            Self::Alb(_) | Self::FunctionUrl(_) => None,
        }
    }

    /// The front end's request id (API Gateway's or the Function URL's; not the Lambda
    /// request id, which is [`Context::request_id`]).
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Self::ApiGatewayRest(c) => c.request_id.as_deref(),
            Self::ApiGatewayHttp(c) => c.request_id.as_deref(),
            Self::FunctionUrl(c) => c.request_id.as_deref(),
            Self::Alb(_) => None,
        }
    }
}

/// The event's `pathParameters` (API Gateway only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParameters(pub HashMap<String, String>);

/// The event's `stageVariables` (API Gateway only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageVariables(pub HashMap<String, String>);

/// The query parameters as the event parsed them: decoded (but as sent for ALB), with no
/// order between keys (payload 2.0 joins a repeated key's values with commas, and
/// `aws_lambda_events` splits them again, also a value that had a comma of its own). The
/// request's URI is the faithful copy.
#[derive(Debug, Clone, Default)]
pub struct QueryParameters(pub QueryMap);

/// The path as the event carried it, before the stage was stripped (REST:
/// `requestContext.path`; HTTP API and Function URL: `rawPath`; ALB: `path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHttpPath(pub String);

/// Typed access to what [`crate`] puts in a request's extensions.
pub trait RequestExt {
    /// The extensions to read.
    fn lambda_extensions(&self) -> &Extensions;

    /// The event's request context.
    fn request_context(&self) -> Option<&RequestContext> {
        self.lambda_extensions().get()
    }

    /// The kind of event the request came in.
    fn event_kind(&self) -> Option<EventKind> {
        self.request_context().map(RequestContext::kind)
    }

    /// The invocation's context (request id, deadline…).
    fn lambda_context(&self) -> Option<&Context> {
        self.lambda_extensions().get()
    }

    /// One path parameter.
    fn path_parameter(&self, name: &str) -> Option<&str> {
        let params: &PathParameters = self.lambda_extensions().get()?;
        params.0.get(name).map(String::as_str)
    }

    /// All path parameters.
    fn path_parameters(&self) -> Option<&HashMap<String, String>> {
        self.lambda_extensions()
            .get::<PathParameters>()
            .map(|p| &p.0)
    }

    /// One stage variable.
    fn stage_variable(&self, name: &str) -> Option<&str> {
        let vars: &StageVariables = self.lambda_extensions().get()?;
        vars.0.get(name).map(String::as_str)
    }

    /// All stage variables.
    fn stage_variables(&self) -> Option<&HashMap<String, String>> {
        self.lambda_extensions()
            .get::<StageVariables>()
            .map(|v| &v.0)
    }

    /// The query parameters as the event parsed them.
    fn query_parameters(&self) -> Option<&QueryMap> {
        self.lambda_extensions()
            .get::<QueryParameters>()
            .map(|q| &q.0)
    }

    /// The path as the event carried it, stage included.
    fn raw_http_path(&self) -> Option<&str> {
        self.lambda_extensions()
            .get::<RawHttpPath>()
            .map(|p| p.0.as_str())
    }
}

impl RequestExt for Extensions {
    fn lambda_extensions(&self) -> &Extensions {
        self
    }
}

impl<B> RequestExt for http::Request<B> {
    fn lambda_extensions(&self) -> &Extensions {
        self.extensions()
    }
}

impl RequestExt for http::request::Parts {
    fn lambda_extensions(&self) -> &Extensions {
        &self.extensions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_lambda_extensions_answers_none() {
        let req = http::Request::new(());
        assert!(req.request_context().is_none());
        assert!(req.event_kind().is_none());
        assert!(req.path_parameter("id").is_none());
        assert!(req.raw_http_path().is_none());
    }

    #[test]
    fn extensions_are_read_back_by_type() {
        let mut req = http::Request::new(());
        let params = HashMap::from([("id".to_owned(), "7".to_owned())]);
        req.extensions_mut().insert(PathParameters(params));
        req.extensions_mut().insert(RawHttpPath("/prod/a".into()));
        req.extensions_mut()
            .insert(RequestContext::Alb(AlbTargetGroupRequestContext::default()));
        assert_eq!(req.path_parameter("id"), Some("7"));
        assert_eq!(req.raw_http_path(), Some("/prod/a"));
        assert_eq!(req.event_kind(), Some(EventKind::Alb));
        let (parts, ()) = req.into_parts();
        assert_eq!(parts.path_parameter("id"), Some("7"));
        assert_eq!(parts.extensions.stage_variable("x"), None);
    }
}
