//! Each fixture through `into_request`: what the service sees.

use super::*;
use crate::RequestExt;
use crate::fixtures;
use crate::options::StagePath;

fn request(json: &str) -> (http::Request<Body>, Shape) {
    into_request(json.as_bytes(), &HttpOptions::default(), None).unwrap()
}

fn keep() -> HttpOptions {
    HttpOptions::default().stage_path(StagePath::Keep)
}

fn all<'a>(req: &'a http::Request<Body>, name: &str) -> Vec<&'a str> {
    req.headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

#[test]
fn rest_on_the_default_domain() {
    let (req, shape) = request(fixtures::REST_DEFAULT_DOMAIN);
    assert_eq!(shape, Shape::Rest { multi_value: true });
    assert_eq!(req.method(), Method::GET);
    assert_eq!(req.uri().path(), "/hello/world", "the stage is stripped");
    assert_eq!(
        req.uri().host(),
        Some("a1b2c3d4e5.execute-api.us-east-1.amazonaws.com")
    );
    // Every value of a repeated key, re-encoded, from multiValueQueryStringParameters (the
    // single-value map has only the last `tag`).
    assert_eq!(req.uri().query(), Some("q=hello%20world&tag=a&tag=b"));
    assert_eq!(all(&req, "x-multi"), ["one", "two"]);
    assert_eq!(all(&req, "cookie"), ["session=abc; theme=dark"]);
    assert!(matches!(req.body(), Body::Empty));
    assert_eq!(req.raw_http_path(), Some("/prod/hello/world"));
    assert_eq!(req.path_parameter("proxy"), Some("hello/world"));
    assert_eq!(req.stage_variable("table"), Some("orders-prod"));
    assert_eq!(req.request_context().and_then(|c| c.stage()), Some("prod"));
    assert_eq!(
        req.query_parameters().and_then(|q| q.all("tag")),
        Some(vec!["a", "b"])
    );
}

#[test]
fn rest_keeps_the_stage_when_told_to() {
    let (req, _) = into_request(fixtures::REST_DEFAULT_DOMAIN.as_bytes(), &keep(), None).unwrap();
    assert_eq!(req.uri().path(), "/prod/hello/world");
}

#[test]
fn rest_on_a_custom_domain() {
    let (req, shape) = request(fixtures::REST_CUSTOM_DOMAIN);
    assert_eq!(shape, Shape::Rest { multi_value: true });
    assert_eq!(req.method(), Method::POST);
    assert_eq!(req.uri().to_string(), "https://api.example.com/v1/orders/7");
    assert!(matches!(req.body(), Body::Text(t) if t == r#"{"item":"book","qty":2}"#));
    assert_eq!(req.path_parameter("id"), Some("7"));
    assert!(req.stage_variables().is_none());
}

#[test]
fn http_api_on_a_named_stage() {
    let (req, shape) = request(fixtures::HTTP_API_STAGE);
    assert_eq!(shape, Shape::Http);
    assert_eq!(req.method(), Method::PUT);
    assert_eq!(req.uri().path(), "/items/42");
    assert_eq!(
        req.uri().query(),
        Some("tag=a&tag=b&q=hello%20world"),
        "rawQueryString as is"
    );
    assert_eq!(
        all(&req, "cookie"),
        ["session=abc; theme=dark"],
        "cookies → Cookie"
    );
    assert_eq!(all(&req, "x-multi"), ["one,two"]);
    assert!(
        matches!(req.body(), Body::Binary(b) if b == &[0, 1, 2, 255]),
        "base64 decoded"
    );
    assert_eq!(req.raw_http_path(), Some("/dev/items/42"));
    assert_eq!(req.stage_variable("table"), Some("orders-dev"));
    // Payload 2.0 joins a repeated key's values with commas; aws_lambda_events splits them.
    assert_eq!(
        req.query_parameters().and_then(|q| q.all("tag")),
        Some(vec!["a", "b"])
    );
    let (kept, _) = into_request(fixtures::HTTP_API_STAGE.as_bytes(), &keep(), None).unwrap();
    assert_eq!(kept.uri().path(), "/dev/items/42");
}

#[test]
fn http_api_on_the_default_stage() {
    let (req, _) = request(fixtures::HTTP_API_DEFAULT);
    assert_eq!(
        req.uri().path(),
        "/default/items",
        "$default strips nothing"
    );
    assert_eq!(req.uri().query(), None);
    assert!(req.headers().get(COOKIE).is_none());
}

#[test]
fn alb_single_value() {
    let (req, shape) = request(fixtures::ALB);
    assert_eq!(shape, Shape::Alb { multi_value: false });
    assert_eq!(
        req.uri().to_string(),
        "http://lambda-alb-123578498.us-east-1.elb.amazonaws.com/lambda?q=hello%20world&query=1234ABCD"
    );
    assert!(matches!(req.body(), Body::Empty));
    assert_eq!(req.event_kind(), Some(crate::EventKind::Alb));
}

#[test]
fn alb_multi_value() {
    let (req, shape) = request(fixtures::ALB_MULTI);
    assert_eq!(shape, Shape::Alb { multi_value: true });
    assert_eq!(req.uri().query(), Some("q=hello%20world&tag=a&tag=b"));
    assert_eq!(all(&req, "cookie"), ["session=abc", "theme=dark"]);
    assert_eq!(all(&req, "x-multi"), ["one", "two"]);
    assert_eq!(req.uri().scheme_str(), Some("https"));
}

#[test]
fn function_url() {
    let (req, shape) = request(fixtures::FUNCTION_URL);
    assert_eq!(shape, Shape::FunctionUrl);
    assert_eq!(req.method(), Method::POST);
    assert_eq!(
        req.uri().to_string(),
        "https://abcdefg3xmpl.lambda-url.us-east-1.on.aws/echo?tag=a&tag=b"
    );
    assert_eq!(all(&req, "cookie"), ["session=abc; theme=dark"]);
    assert!(matches!(req.body(), Body::Text(t) if t == r#"{"hello":"url"}"#));
    assert_eq!(req.raw_http_path(), Some("/echo"));
    assert!(req.request_context().and_then(|c| c.stage()).is_none());
}

#[test]
fn a_body_marked_base64_that_is_not_fails_the_invocation() {
    let json = fixtures::FUNCTION_URL
        .replace(r#""isBase64Encoded": false"#, r#""isBase64Encoded": true"#)
        .replace(r#""{\"hello\":\"url\"}""#, r#""not base64!""#);
    let e = into_request(json.as_bytes(), &HttpOptions::default(), None).unwrap_err();
    assert!(matches!(e, Error::Base64(_)), "{e}");
}
