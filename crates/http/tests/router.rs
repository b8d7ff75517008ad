//! An axum `Router` answering the fixtures through the public API (`invoke`,
//! `invoke_streaming`), as a user would test their own app without a runtime. (The example
//! binary under the emulator is tested in `examples/http-axum/tests/lambda.rs`: cargo gives
//! a test the path of its own package's binaries only.)

#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::extract::Request;
use axum::http::header::SET_COOKIE;
use axum::response::AppendHeaders;
use axum::routing::{any, get};
use http_body_util::BodyExt;
use lambda_grace_http::{HttpOptions, RequestExt, StagePath, invoke, invoke_streaming};
use serde_json::{Value, json};

/// Answers with what it saw.
async fn seen(req: Request) -> axum::Json<Value> {
    axum::Json(json!({
        "method": req.method().as_str(),
        "path": req.uri().path(),
        "query": req.uri().query(),
        "raw_path": req.raw_http_path(),
        "stage": req.request_context().and_then(|c| c.stage()),
        "kind": req.event_kind().map(|k| format!("{k:?}")),
        "stage_variable": req.stage_variable("table"),
    }))
}

fn app() -> Router {
    Router::new()
        .route("/hello/world", any(seen))
        .route("/v1/orders/{id}", any(seen))
        .route("/items/{id}", any(seen))
        .route("/default/items", any(seen))
        .route("/lambda", any(seen))
        .route("/echo", any(seen))
        .route(
            "/cookies",
            get(|| async {
                (
                    AppendHeaders([(SET_COOKIE, "a=1"), (SET_COOKIE, "b=2")]),
                    "set",
                )
            }),
        )
}

async fn answer(fixture: &str, options: &HttpOptions) -> Value {
    let path = format!("{}/fixtures/{fixture}.json", env!("CARGO_MANIFEST_DIR"));
    let payload = std::fs::read(path).unwrap();
    let bytes = invoke(&mut app(), &payload, options, None).await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn body(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn every_fixture_reaches_its_route() {
    let strip = HttpOptions::default();
    for (fixture, path, kind) in [
        ("rest-default-domain", "/hello/world", "ApiGatewayRest"),
        ("rest-custom-domain", "/v1/orders/7", "ApiGatewayRest"),
        ("http-api-stage", "/items/42", "ApiGatewayHttp"),
        ("http-api-default", "/default/items", "ApiGatewayHttp"),
        ("alb", "/lambda", "Alb"),
        ("alb-multi", "/lambda", "Alb"),
        ("function-url", "/echo", "FunctionUrl"),
    ] {
        let a = answer(fixture, &strip).await;
        assert_eq!(a["statusCode"], 200, "{fixture}: {a}");
        let seen = body(&a);
        assert_eq!(seen["path"], path, "{fixture}");
        assert_eq!(seen["kind"], kind, "{fixture}");
    }
}

#[tokio::test]
async fn with_the_stage_kept_the_staged_fixtures_miss_their_routes() {
    // Negative control of the test above: the stage is what made them match.
    let keep = HttpOptions::default().stage_path(StagePath::Keep);
    assert_eq!(
        answer("rest-default-domain", &keep).await["statusCode"],
        404
    );
    assert_eq!(answer("http-api-stage", &keep).await["statusCode"], 404);
    // Those without a stage in their path are unchanged.
    assert_eq!(answer("rest-custom-domain", &keep).await["statusCode"], 200);
    assert_eq!(answer("http-api-default", &keep).await["statusCode"], 200);
}

#[tokio::test]
async fn extensions_reach_the_handler() {
    let seen = body(&answer("http-api-stage", &HttpOptions::default()).await);
    assert_eq!(seen["raw_path"], "/dev/items/42");
    assert_eq!(seen["stage"], "dev");
    assert_eq!(seen["stage_variable"], "orders-dev");
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["query"], "tag=a&tag=b&q=hello%20world");
}

#[tokio::test]
async fn a_streamed_answer_is_prelude_nuls_body() {
    let payload = include_bytes!("../fixtures/function-url.json");
    let mut router = Router::new().route(
        "/echo",
        any(|| async {
            (
                AppendHeaders([(SET_COOKIE, "a=1"), (SET_COOKIE, "b=2")]),
                "streamed body",
            )
        }),
    );
    let body = invoke_streaming(&mut router, payload, &HttpOptions::default(), None)
        .await
        .unwrap();
    let bytes = body.collect().await.unwrap().to_bytes();
    let at = bytes.windows(8).position(|w| w == [0; 8]).unwrap();
    let prelude: Value = serde_json::from_slice(&bytes[..at]).unwrap();
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(prelude["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(&bytes[at + 8..], b"streamed body");
}

#[tokio::test]
async fn set_cookie_becomes_cookies_for_payload_2() {
    let mut event: Value =
        serde_json::from_str(include_str!("../fixtures/function-url.json")).unwrap();
    event["rawPath"] = json!("/cookies");
    event["requestContext"]["http"]["method"] = json!("GET");
    let payload = serde_json::to_vec(&event).unwrap();
    let bytes = invoke(&mut app(), &payload, &HttpOptions::default(), None)
        .await
        .unwrap();
    let a: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(a["cookies"], json!(["a=1", "b=2"]));
    assert_eq!(a["body"], "set");
}
