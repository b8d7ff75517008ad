//! A function's HTTP entry points: its `Api` and `HttpApi` events (the routes `grace serve
//! --api` serves) and its `FunctionUrlConfig` (the invoke mode of its function URL), as
//! [`HttpFront`] values.
//!
//! | template | becomes |
//! |---|---|
//! | `Events.X.Type: Api` | a REST API route: `Path`, `Method` (`any`: every method), `TimeoutInMillis`; the API is `RestApiId`'s `AWS::Serverless::Api` (its `StageName`, `BinaryMediaTypes`) or SAM's implicit `ServerlessRestApi` (stage `Prod`) |
//! | `Events.X.Type: HttpApi` | an HTTP API route: `Path` and `Method` (neither: the `$default` route), `PayloadFormatVersion` (default `2.0`), `TimeoutInMillis`; the API is `ApiId`'s `AWS::Serverless::HttpApi` (its `StageName`) or the implicit `ServerlessHttpApi` (stage `$default`) |
//! | `FunctionUrlConfig.InvokeMode: RESPONSE_STREAM` | a streaming function URL |
//!
//! Other event types are named in a warning by [`unsupported`]; `Auth` and other route
//! settings are not emulated and are named too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use grace_emulator::{Api, ApiKind, HttpFront, InvokeMode, PayloadFormat, Route};

use super::resolve::Resolver;
use super::yaml::Node;

/// Event properties read here; any other is named in a warning.
const READ: &[&str] = &[
    "Path",
    "Method",
    "RestApiId",
    "ApiId",
    "TimeoutInMillis",
    "PayloadFormatVersion",
];

/// Warnings for `props`' events that no part of `grace` serves (all but `Api` and `HttpApi`).
pub(crate) fn unsupported(props: &Node) -> Vec<String> {
    let Some(events) = props.get("Events") else {
        return Vec::new();
    };
    events
        .entries()
        .iter()
        .filter_map(|(name, event)| {
            let kind = event.get("Type").and_then(Node::as_str).unwrap_or("?");
            (!matches!(kind, "Api" | "HttpApi"))
                .then(|| format!("Events.{name} ({kind}): not emulated, ignored"))
        })
        .collect()
}

/// Reads the HTTP entry points of functions.
#[derive(Debug)]
pub(crate) struct FrontReader<'a> {
    pub(crate) template: &'a Node,
    pub(crate) resolver: &'a Resolver,
    pub(crate) front: HttpFront,
    pub(crate) warnings: Vec<String>,
    apis: BTreeMap<String, Arc<Api>>,
}

impl<'a> FrontReader<'a> {
    pub(crate) fn new(template: &'a Node, resolver: &'a Resolver) -> Self {
        Self {
            template,
            resolver,
            front: HttpFront::default(),
            warnings: Vec::new(),
            apis: BTreeMap::new(),
        }
    }

    /// Adds function `name`'s routes and invoke mode, from its merged `props`.
    pub(crate) fn read(&mut self, name: &str, props: &Node) {
        if let Some(mode) = props
            .get("FunctionUrlConfig")
            .and_then(|c| c.get("InvokeMode"))
            .and_then(|m| self.resolver.string(m).ok())
            && mode == "RESPONSE_STREAM"
        {
            self.front
                .invoke_modes
                .insert(name.to_owned(), InvokeMode::ResponseStream);
        }
        let Some(events) = props.get("Events") else {
            return;
        };
        for (event, spec) in events.entries() {
            let kind = spec.get("Type").and_then(Node::as_str).unwrap_or("?");
            let empty = Node::Map(Vec::new());
            let p = spec.get("Properties").unwrap_or(&empty);
            let ignored: Vec<&str> = p
                .entries()
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| !READ.contains(k))
                .collect();
            if matches!(kind, "Api" | "HttpApi") && !ignored.is_empty() {
                self.warnings.push(format!(
                    "{name}: Events.{event}: not emulated, ignored: {}",
                    ignored.join(", ")
                ));
            }
            let route = match kind {
                "Api" => self.route(name, event, p, true),
                "HttpApi" => self.route(name, event, p, false),
                _ => continue,
            };
            if let Some(route) = route {
                self.front.routes.push(route);
            }
        }
    }

    fn text(&self, node: Option<&Node>) -> Option<String> {
        node.and_then(|n| self.resolver.string(n).ok())
    }

    fn route(&mut self, function: &str, event: &str, p: &Node, rest: bool) -> Option<Route> {
        let path = self.text(p.get("Path"));
        let method = self.text(p.get("Method")).map(|m| m.to_ascii_uppercase());
        if rest && (path.is_none() || method.is_none()) {
            self.warnings.push(format!(
                "{function}: Events.{event}: an Api event needs Path and Method; not served"
            ));
            return None;
        }
        let api_ref = p.get(if rest { "RestApiId" } else { "ApiId" });
        let api = self.api(function, event, api_ref, rest, p)?;
        let timeout = self
            .text(p.get("TimeoutInMillis"))
            .and_then(|t| t.parse::<u64>().ok())
            .map(Duration::from_millis);
        Some(Route {
            function: function.to_owned(),
            method: method.filter(|m| m != "ANY"),
            path,
            api,
            timeout,
        })
    }

    /// The API an event names (`!Ref` to a resource of this template), or SAM's implicit one.
    fn api(
        &mut self,
        function: &str,
        event: &str,
        reference: Option<&Node>,
        rest: bool,
        p: &Node,
    ) -> Option<Arc<Api>> {
        let logical = match reference {
            None => (if rest {
                "ServerlessRestApi"
            } else {
                "ServerlessHttpApi"
            })
            .to_owned(),
            Some(Node::Fn(f, arg)) if f == "Ref" && arg.as_str().is_some() => {
                arg.as_str().unwrap_or_default().to_owned()
            }
            Some(Node::Str(s)) => s.clone(),
            Some(other) => {
                self.warnings.push(format!(
                    "{function}: Events.{event}: API {other} is not a resource of this template; not served"
                ));
                return None;
            }
        };
        let format = if rest {
            None
        } else {
            match self.text(p.get("PayloadFormatVersion")).as_deref() {
                None | Some("2.0") => Some(PayloadFormat::V2),
                Some("1.0") => Some(PayloadFormat::V1),
                Some(other) => {
                    self.warnings.push(format!(
                        "{function}: Events.{event}: PayloadFormatVersion {other} (1.0 or 2.0); 2.0 used"
                    ));
                    Some(PayloadFormat::V2)
                }
            }
        };
        // One API per resource; the payload format is the integration's, so per route.
        let key = format!("{logical}/{format:?}");
        if let Some(api) = self.apis.get(&key) {
            return Some(Arc::clone(api));
        }
        let resource = self
            .template
            .get("Resources")
            .and_then(|r| r.get(&logical))
            .and_then(|r| r.get("Properties"));
        let stage = self
            .text(resource.and_then(|r| r.get("StageName")))
            .unwrap_or_else(|| (if rest { "Prod" } else { "$default" }).to_owned());
        let binary_media_types = match resource.and_then(|r| r.get("BinaryMediaTypes")) {
            Some(Node::Seq(items)) => items
                .iter()
                .filter_map(|i| self.resolver.string(i).ok())
                // CloudFormation writes `/` as `~1` in these.
                .map(|t| t.replace("~1", "/"))
                .collect(),
            _ => Vec::new(),
        };
        let api = Arc::new(Api {
            name: logical,
            kind: match format {
                None => ApiKind::Rest,
                Some(f) => ApiKind::Http(f),
            },
            stage,
            binary_media_types,
        });
        self.apis.insert(key, Arc::clone(&api));
        Some(api)
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;

    const TEMPLATE: &str = "\
Resources:
  Rest:
    Type: AWS::Serverless::Api
    Properties: {StageName: dev, BinaryMediaTypes: ['image~1png']}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionUrlConfig: {AuthType: NONE, InvokeMode: RESPONSE_STREAM}
      Events:
        Get: {Type: Api, Properties: {Path: '/items/{id}', Method: get, RestApiId: !Ref Rest}}
        Implicit: {Type: Api, Properties: {Path: '/{proxy+}', Method: any, TimeoutInMillis: 500}}
        Http: {Type: HttpApi, Properties: {Path: /h, Method: POST, PayloadFormatVersion: '1.0'}}
        Default: {Type: HttpApi}
        Queue: {Type: SQS, Properties: {Queue: q}}
";

    #[test]
    fn api_and_http_api_events_become_routes() {
        let t = parse(TEMPLATE).unwrap();
        let resolver = Resolver::new(&t, "us-east-1", "123456789012", &[]).unwrap();
        let mut r = FrontReader::new(&t, &resolver);
        let props = t
            .get("Resources")
            .unwrap()
            .get("Fn")
            .unwrap()
            .get("Properties")
            .unwrap();
        r.read("Fn", props);
        let routes = &r.front.routes;
        assert_eq!(routes.len(), 4, "{routes:?}");
        let get = &routes[0];
        assert_eq!(
            (get.method.as_deref(), get.path.as_deref()),
            (Some("GET"), Some("/items/{id}"))
        );
        assert_eq!(
            (get.api.name.as_str(), get.api.stage.as_str()),
            ("Rest", "dev")
        );
        assert_eq!(get.api.binary_media_types, ["image/png"]);
        let implicit = &routes[1];
        assert_eq!(
            (implicit.method.as_deref(), implicit.api.stage.as_str()),
            (None, "Prod")
        );
        assert_eq!(implicit.timeout, Some(Duration::from_millis(500)));
        assert_eq!(routes[2].api.kind, ApiKind::Http(PayloadFormat::V1));
        let default = &routes[3];
        assert_eq!(
            (default.path.as_deref(), default.api.stage.as_str()),
            (None, "$default")
        );
        assert_eq!(default.api.kind, ApiKind::Http(PayloadFormat::V2));
        assert_eq!(
            r.front.invoke_modes.get("Fn"),
            Some(&InvokeMode::ResponseStream)
        );
        // Negative control: the SQS event is no route, and is named as not emulated.
        assert_eq!(
            unsupported(props),
            ["Events.Queue (SQS): not emulated, ignored"]
        );
    }
}
