//! Which path the service sees, and where the API Gateway stage is taken out of it.
//!
//! What API Gateway sends (the AWS documentation, and events observed in the field):
//!
//! | event | request URL | `path` / `rawPath` | `requestContext.path` |
//! |---|---|---|---|
//! | REST, default domain | `https://{id}.execute-api.{region}.amazonaws.com/prod/a` | `/a` | `/prod/a` |
//! | REST, custom domain, base path `v1` | `https://api.example.com/v1/a` | `/v1/a` | `/v1/a` |
//! | HTTP API, stage `dev` | `…/dev/a`, or a custom domain's mapping | `/dev/a` | — |
//! | HTTP API, stage `$default` | `…/a` | `/a` | — |
//! | Function URL, ALB | `…/a` | `/a` | — |
//!
//! With [`StagePath::Strip`] (the default) the service sees `/a` in every row but the custom
//! domain one, where it sees `/v1/a`: the base path mapping is part of the URL the client
//! asked for, and API Gateway adds no stage there. So a router's routes do not depend on the
//! stage it is deployed to. A REST event's stage is stripped only where API Gateway added it:
//! on an `execute-api` domain, or when `requestContext.path` is exactly `/{stage}` + `path`;
//! an HTTP API's only when the stage is not `$default`; and only a whole segment (stage `dev`
//! leaves `/devices` alone).
//!
//! With [`StagePath::Keep`] the service sees the REST event's `requestContext.path` and the
//! HTTP API's `rawPath`, as they are.

use crate::options::StagePath;

/// `path` without its first segment if that segment is `stage`; `/` if nothing is left.
fn strip_segment<'a>(path: &'a str, stage: &str) -> Option<&'a str> {
    let rest = path.strip_prefix('/')?.strip_prefix(stage)?;
    if rest.is_empty() {
        Some("/")
    } else if rest.starts_with('/') {
        Some(rest)
    } else {
        None
    }
}

/// API Gateway's own domains (`{id}.execute-api.{region}.amazonaws.com`, the `.com.cn` ones,
/// and private APIs' `{id}-{vpce}.execute-api.{region}.vpce.amazonaws.com`).
fn is_execute_api_domain(domain: &str) -> bool {
    domain.contains(".execute-api.")
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// The fields of a REST (payload 1.0) event that decide its path.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RestPath<'a> {
    /// `path`.
    pub(crate) path: Option<&'a str>,
    /// `requestContext.path`.
    pub(crate) context_path: Option<&'a str>,
    /// `requestContext.stage`.
    pub(crate) stage: Option<&'a str>,
    /// `requestContext.domainName`.
    pub(crate) domain: Option<&'a str>,
}

impl<'a> RestPath<'a> {
    /// The path as the event carries it: `requestContext.path`, else `path`.
    pub(crate) fn raw(&self) -> &'a str {
        non_empty(self.context_path)
            .or(non_empty(self.path))
            .unwrap_or("/")
    }

    /// The path the service sees.
    pub(crate) fn resolve(&self, mode: StagePath) -> &'a str {
        let Some(full) = non_empty(self.context_path) else {
            return non_empty(self.path).unwrap_or("/");
        };
        let stage = match (mode, non_empty(self.stage)) {
            (StagePath::Strip, Some(stage)) => stage,
            _ => return full,
        };
        let Some(stripped) = strip_segment(full, stage) else {
            return full;
        };
        let added_by_api_gateway = self.domain.is_some_and(is_execute_api_domain)
            || self.path.is_some_and(|p| p == stripped);
        if added_by_api_gateway { stripped } else { full }
    }
}

/// The path an HTTP API (payload 2.0) event's service sees: `rawPath`, without `/{stage}`
/// unless the stage is `$default`.
pub(crate) fn http_api_path<'a>(
    raw_path: Option<&'a str>,
    stage: Option<&str>,
    mode: StagePath,
) -> &'a str {
    let raw = non_empty(raw_path).unwrap_or("/");
    match (mode, non_empty(stage)) {
        (StagePath::Strip, Some(stage)) if stage != "$default" => {
            strip_segment(raw, stage).unwrap_or(raw)
        }
        _ => raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_DOMAIN: &str = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com";

    fn rest<'a>(
        path: &'a str,
        context_path: &'a str,
        stage: &'a str,
        domain: &'a str,
    ) -> RestPath<'a> {
        RestPath {
            path: Some(path),
            context_path: Some(context_path),
            stage: Some(stage),
            domain: Some(domain),
        }
    }

    #[test]
    fn rest_default_domain_strips_the_stage_api_gateway_added() {
        let r = rest("/hello/world", "/prod/hello/world", "prod", DEFAULT_DOMAIN);
        assert_eq!(r.resolve(StagePath::Strip), "/hello/world");
        // Negative control: kept, the router would see the stage.
        assert_eq!(r.resolve(StagePath::Keep), "/prod/hello/world");
        assert_eq!(r.raw(), "/prod/hello/world");
        // The stage's root.
        assert_eq!(
            rest("/", "/prod/", "prod", DEFAULT_DOMAIN).resolve(StagePath::Strip),
            "/"
        );
        assert_eq!(
            rest("/", "/prod", "prod", DEFAULT_DOMAIN).resolve(StagePath::Strip),
            "/"
        );
    }

    #[test]
    fn rest_custom_domain_has_no_stage_to_strip() {
        // Base path mapping `v1` → stage `prod`: the mapping key is what the client asked for.
        let r = rest("/v1/orders/7", "/v1/orders/7", "prod", "api.example.com");
        assert_eq!(r.resolve(StagePath::Strip), "/v1/orders/7");
        // A mapping key equal to the stage's name is not the stage: it is not stripped
        // (negative control of the domain test above: the same paths on an execute-api
        // domain would lose it).
        let r = rest("/prod/orders", "/prod/orders", "prod", "api.example.com");
        assert_eq!(r.resolve(StagePath::Strip), "/prod/orders");
        let r = rest("/orders", "/prod/orders", "prod", DEFAULT_DOMAIN);
        assert_eq!(r.resolve(StagePath::Strip), "/orders");
    }

    #[test]
    fn rest_without_a_known_domain_strips_only_an_exact_decomposition() {
        // The console's test invocations and hand-written events have no real domain.
        let r = rest("/a", "/prod/a", "prod", "testPrefix.testDomainName");
        assert_eq!(r.resolve(StagePath::Strip), "/a");
        let r = RestPath {
            domain: None,
            ..rest("/prod/a", "/prod/a", "prod", "")
        };
        assert_eq!(r.resolve(StagePath::Strip), "/prod/a");
    }

    #[test]
    fn rest_falls_back_to_path_without_a_context_path() {
        let r = RestPath {
            path: Some("/only"),
            ..RestPath::default()
        };
        assert_eq!(r.resolve(StagePath::Strip), "/only");
        assert_eq!(r.raw(), "/only");
        assert_eq!(RestPath::default().resolve(StagePath::Strip), "/");
    }

    #[test]
    fn only_a_whole_segment_is_a_stage() {
        let r = rest("/ices", "/devices", "dev", DEFAULT_DOMAIN);
        assert_eq!(r.resolve(StagePath::Strip), "/devices");
        assert_eq!(
            http_api_path(Some("/devices"), Some("dev"), StagePath::Strip),
            "/devices"
        );
    }

    #[test]
    fn http_api_strips_a_named_stage() {
        assert_eq!(
            http_api_path(Some("/dev/items/42"), Some("dev"), StagePath::Strip),
            "/items/42"
        );
        assert_eq!(
            http_api_path(Some("/dev"), Some("dev"), StagePath::Strip),
            "/"
        );
        // Negative control.
        assert_eq!(
            http_api_path(Some("/dev/items/42"), Some("dev"), StagePath::Keep),
            "/dev/items/42"
        );
    }

    #[test]
    fn http_api_default_stage_strips_nothing() {
        assert_eq!(
            http_api_path(Some("/default/items"), Some("$default"), StagePath::Strip),
            "/default/items"
        );
        assert_eq!(
            http_api_path(Some("/items"), None, StagePath::Strip),
            "/items"
        );
        assert_eq!(http_api_path(None, Some("dev"), StagePath::Strip), "/");
    }
}
