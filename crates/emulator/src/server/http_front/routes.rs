//! Which route a request takes, as API Gateway chooses: the most specific path wins (a literal
//! segment before a `{param}`, a `{param}` before a greedy `{proxy+}`), then a method route
//! before `ANY`; an HTTP API's `$default` route takes what no other route does. Paths are
//! matched without the stage (as `sam local start-api` serves them).

use std::cmp::Ordering;

use super::Route;
use crate::server::invoke_api::percent_decode;

/// A route a request matched, and its path parameters (decoded).
#[derive(Debug)]
pub(crate) struct Matched<'a> {
    pub(crate) route: &'a Route,
    pub(crate) params: Params,
}

/// Path parameters, name and decoded value, in template order.
type Params = Vec<(String, String)>;

/// How specific one matching route is; larger is more specific.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    /// Not the `$default` route.
    routed: bool,
    /// Per segment: 2 literal, 1 `{param}`, 0 greedy.
    segments: Vec<u8>,
    /// A method route, not `ANY`.
    method: bool,
}

/// The route for `method path` in `routes`, if any.
pub(crate) fn find<'a>(routes: &'a [Route], method: &str, path: &str) -> Option<Matched<'a>> {
    let request: Vec<&str> = segments(path);
    let mut best: Option<(Rank, Matched<'a>)> = None;
    for route in routes {
        if route.method.as_deref().is_some_and(|m| m != method) {
            continue;
        }
        let Some((segments, params)) = match_path(route.path.as_deref(), &request) else {
            continue;
        };
        let rank = Rank {
            routed: route.path.is_some(),
            segments,
            method: route.method.is_some(),
        };
        let better = best
            .as_ref()
            .is_none_or(|(b, _)| rank.cmp(b) == Ordering::Greater);
        if better {
            best = Some((rank, Matched { route, params }));
        }
    }
    best.map(|(_, m)| m)
}

fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// The ranks of `template`'s segments and the parameters, when `request` matches it. `None`
/// (the `$default` route) matches everything.
fn match_path(template: Option<&str>, request: &[&str]) -> Option<(Vec<u8>, Params)> {
    let Some(template) = template else {
        return Some((Vec::new(), Vec::new()));
    };
    let parts = segments(template);
    let mut ranks = Vec::with_capacity(parts.len());
    let mut params = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if let Some(name) = part
            .strip_prefix('{')
            .and_then(|p| p.strip_suffix("+}"))
            .filter(|_| i + 1 == parts.len())
        {
            // Greedy: one segment or more, the rest of the path.
            let rest = request.get(i..).filter(|r| !r.is_empty())?;
            let value: Vec<String> = rest.iter().map(|s| percent_decode(s)).collect();
            params.push((name.to_owned(), value.join("/")));
            ranks.push(0);
            return Some((ranks, params));
        }
        let segment = request.get(i)?;
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            params.push((name.to_owned(), percent_decode(segment)));
            ranks.push(1);
        } else if part == segment {
            ranks.push(2);
        } else {
            return None;
        }
    }
    (request.len() == parts.len()).then_some((ranks, params))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{Api, ApiKind, PayloadFormat};
    use super::*;

    fn route(function: &str, method: Option<&str>, path: Option<&str>) -> Route {
        Route {
            function: function.into(),
            method: method.map(str::to_owned),
            path: path.map(str::to_owned),
            api: Arc::new(Api {
                name: "A".into(),
                kind: ApiKind::Http(PayloadFormat::V2),
                stage: "$default".into(),
                binary_media_types: Vec::new(),
            }),
            timeout: None,
        }
    }

    fn chosen(
        routes: &[Route],
        method: &str,
        path: &str,
    ) -> Option<(String, Vec<(String, String)>)> {
        find(routes, method, path).map(|m| (m.route.function.clone(), m.params))
    }

    #[test]
    fn the_most_specific_route_wins() {
        let routes = [
            route("greedy", None, Some("/items/{proxy+}")),
            route("param", Some("GET"), Some("/items/{id}")),
            route("literal", Some("GET"), Some("/items/new")),
            route("any", None, Some("/items/{id}")),
        ];
        let p = |k: &str, v: &str| vec![(k.to_owned(), v.to_owned())];
        assert_eq!(
            chosen(&routes, "GET", "/items/new"),
            Some(("literal".into(), vec![]))
        );
        assert_eq!(
            chosen(&routes, "GET", "/items/7"),
            Some(("param".into(), p("id", "7")))
        );
        assert_eq!(
            chosen(&routes, "POST", "/items/7"),
            Some(("any".into(), p("id", "7")))
        );
        assert_eq!(
            chosen(&routes, "GET", "/items/a/b%20c"),
            Some(("greedy".into(), p("proxy", "a/b c")))
        );
        // Negative controls: a greedy path needs one segment at least; other paths miss.
        assert_eq!(chosen(&routes, "GET", "/items"), None);
        assert_eq!(chosen(&routes, "GET", "/other"), None);
    }

    #[test]
    fn the_default_route_takes_only_what_no_route_does() {
        let routes = [
            route("default", None, None),
            route("hello", Some("GET"), Some("/hello")),
        ];
        assert_eq!(chosen(&routes, "GET", "/hello").unwrap().0, "hello");
        assert_eq!(chosen(&routes, "POST", "/hello").unwrap().0, "default");
        assert_eq!(chosen(&routes, "GET", "/").unwrap().0, "default");
        // Negative control: without it, a miss.
        assert!(chosen(&routes[1..], "GET", "/").is_none());
    }
}
