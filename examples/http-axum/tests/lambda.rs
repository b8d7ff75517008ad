//! Both binaries under the local Lambda (grace-harness), invoked with raw API Gateway events
//! as the front ends send them: the answers' JSON, the stage rules, streaming, and the
//! shutdown hook at spin-down (with its negative control).

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use grace_harness::{Function, Harness, Invocation};
use serde_json::{Value, json};

fn http_axum() -> Function {
    Function::binary(env!("CARGO_BIN_EXE_http-axum")).memory_mb(128)
}

fn lambda_http() -> Function {
    Function::binary(env!("CARGO_BIN_EXE_http-lambda-http")).memory_mb(128)
}

/// An HTTP API (payload 2.0) event on stage `stage`, as API Gateway sends it: `rawPath`
/// carries `/{stage}` unless the stage is `$default`.
fn v2(method: &str, stage: &str, path: &str, query: &str) -> Value {
    let raw_path = if stage == "$default" {
        path.to_owned()
    } else {
        format!("/{stage}{path}")
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "cookies": ["session=abc", "theme=dark"],
        "headers": {
            "host": "r3pmxmplak.execute-api.us-east-2.amazonaws.com",
            "x-forwarded-proto": "https",
            "x-multi": "one,two"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "r3pmxmplak",
            "domainName": "r3pmxmplak.execute-api.us-east-2.amazonaws.com",
            "domainPrefix": "r3pmxmplak",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.10", "userAgent": "curl/8.5.0"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": stage,
            "time": "10/Mar/2020:05:16:23 +0000",
            "timeEpoch": 1583817383220_u64
        },
        "isBase64Encoded": false
    })
}

/// A Function URL event.
fn function_url(path: &str) -> Value {
    let mut event = v2("GET", "$default", path, "");
    event["requestContext"]["domainName"] = json!("abcdefg3xmpl.lambda-url.us-east-1.on.aws");
    event["headers"]["host"] = json!("abcdefg3xmpl.lambda-url.us-east-1.on.aws");
    event
}

/// A REST API (payload 1.0) event on the default domain, stage `prod`: `path` without the
/// stage, `requestContext.path` with it.
fn v1(path: &str) -> Value {
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": "GET",
        "headers": {"Host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com", "X-Multi": "two"},
        "multiValueHeaders": {
            "Host": ["a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"],
            "X-Multi": ["one", "two"]
        },
        "queryStringParameters": {"tag": "b"},
        "multiValueQueryStringParameters": {"tag": ["a", "b"]},
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "httpMethod": "GET",
            "identity": {"sourceIp": "192.0.2.10"},
            "path": format!("/prod{path}"),
            "protocol": "HTTP/1.1",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "requestTimeEpoch": 1428582896000_u64,
            "resourcePath": "/{proxy+}",
            "stage": "prod"
        },
        "body": null,
        "isBase64Encoded": false
    })
}

async fn answer(h: &Harness, event: &Value) -> Value {
    let out: Invocation = h.invoke(event).await.unwrap();
    assert!(out.is_ok(), "{}", out.text());
    out.json().unwrap()
}

fn body_json(answer: &Value) -> Value {
    serde_json::from_str(answer["body"].as_str().unwrap()).unwrap()
}

/// Polls `done` every 10 ms for at most 5 s.
async fn until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

fn has(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

#[tokio::test]
async fn http_api_and_rest_events_are_answered_and_the_hook_runs_at_spin_down() {
    let h = Harness::start(http_axum()).await.unwrap();

    // HTTP API, stage `dev`: the router sees `/echo`, not `/dev/echo`.
    let a = answer(
        &h,
        &v2("GET", "dev", "/echo", "tag=a&tag=b&q=hello%20world"),
    )
    .await;
    assert_eq!(a["statusCode"], 200, "{a}");
    assert_eq!(a["headers"]["content-type"], "application/json");
    let echo = body_json(&a);
    assert_eq!(echo["path"], "/echo");
    assert_eq!(
        echo["query"],
        json!({"q": ["hello world"], "tag": ["a", "b"]})
    );
    assert_eq!(echo["cookies"], json!({"session": "abc", "theme": "dark"}));
    assert_eq!(echo["headers"]["x-multi"], json!(["one,two"]));

    // REST, default domain: the stage in requestContext.path is stripped; every value of
    // repeated headers and query keys arrives; the answer has multiValueHeaders.
    let a = answer(&h, &v1("/echo")).await;
    assert_eq!(a["statusCode"], 200, "{a}");
    assert_eq!(
        a["multiValueHeaders"]["content-type"],
        json!(["application/json"])
    );
    let echo = body_json(&a);
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["query"]["tag"], json!(["a", "b"]));
    assert_eq!(echo["headers"]["x-multi"], json!(["one", "two"]));
    let a = answer(&h, &v1("/hello/Ada")).await;
    assert_eq!(a["body"], "Hello, Ada!");

    // Cookies: Set-Cookie → `cookies` (payload 2.0).
    let a = answer(&h, &v2("GET", "$default", "/cookies", "")).await;
    assert_eq!(a["cookies"].as_array().unwrap().len(), 2, "{a}");
    assert!(a["headers"].get("set-cookie").is_none(), "{a}");

    // Binary: base64.
    let a = answer(&h, &v2("GET", "$default", "/binary", "")).await;
    assert_eq!(a["isBase64Encoded"], true);
    assert_eq!(a["headers"]["content-type"], "image/png");
    assert!(
        a["body"].as_str().unwrap().starts_with("iVBORw0KGgo"),
        "{a}"
    );

    // Errors and a missing database are statuses, not failed invocations.
    assert_eq!(
        answer(&h, &v2("GET", "$default", "/error", "")).await["statusCode"],
        500
    );
    assert_eq!(
        answer(&h, &v2("GET", "$default", "/db", "")).await["statusCode"],
        503
    );

    // Not an HTTP event: the invocation fails, with lambda-grace-http's error type.
    let bad = h.invoke(json!({"hello": "world"})).await.unwrap();
    assert_eq!(bad.function_error, Some("Unhandled"));
    assert!(bad.text().contains("Http.NotAnHttpEvent"), "{}", bad.text());

    assert_eq!(h.spin_down().await.unwrap(), 1);
    assert!(
        until(|| has(&h.output(), "[http-axum] done")).await,
        "{:#?}",
        h.output()
    );
    let out = h.output();
    assert!(
        has(
            &out,
            "[http-axum] SIGTERM received → cleanup: 0 database connections closed"
        ),
        "{out:#?}"
    );
    assert!(has(&out, "[http-axum] done: cleanup complete"), "{out:#?}");
    h.close().await;
}

#[tokio::test]
async fn without_the_hook_nothing_is_cleaned_up() {
    // Negative control of the hook assertion above.
    let h = Harness::start(http_axum().env("HTTP_AXUM_NO_HOOK", "1"))
        .await
        .unwrap();
    assert_eq!(answer(&h, &v1("/hello/Ada")).await["body"], "Hello, Ada!");
    assert_eq!(h.spin_down().await.unwrap(), 1);
    assert!(
        until(|| has(&h.output(), "[http-axum] done")).await,
        "{:#?}",
        h.output()
    );
    assert!(!has(&h.output(), "cleanup: "), "{:#?}", h.output());
    h.close().await;
}

#[tokio::test]
async fn keeping_the_stage_is_a_switch() {
    // Negative control of the stage stripping: kept, the router sees `/dev/echo`: a 404.
    let h = Harness::start(http_axum().env("LAMBDA_GRACE_HTTP_STAGE_PATH", "keep"))
        .await
        .unwrap();
    assert_eq!(
        answer(&h, &v2("GET", "dev", "/echo", "")).await["statusCode"],
        404
    );
    assert_eq!(
        answer(&h, &v2("GET", "$default", "/echo", "")).await["statusCode"],
        200
    );
    h.close().await;
}

#[tokio::test]
async fn a_function_url_in_response_stream_mode_gets_the_prelude_then_the_chunks() {
    let h = Harness::start(http_axum().env("HTTP_AXUM_STREAMING", "1"))
        .await
        .unwrap();
    let out = h.invoke(function_url("/stream")).await.unwrap();
    assert!(out.is_ok() && out.streamed, "{out:?}");
    let at = out
        .body
        .windows(8)
        .position(|w| w == [0; 8])
        .expect("8 NUL bytes");
    let prelude: Value = serde_json::from_slice(&out.body[..at]).unwrap();
    assert_eq!(prelude["statusCode"], 200);
    assert_eq!(
        prelude["headers"]["content-type"],
        "text/plain; charset=utf-8"
    );
    let body = std::str::from_utf8(&out.body[at + 8..]).unwrap();
    assert_eq!(body.lines().count(), 5, "{body}");
    assert!(body.starts_with("chunk 1 of 5\n"), "{body}");

    let out = h.invoke(function_url("/cookies")).await.unwrap();
    let at = out.body.windows(8).position(|w| w == [0; 8]).unwrap();
    let prelude: Value = serde_json::from_slice(&out.body[..at]).unwrap();
    assert_eq!(prelude["cookies"].as_array().unwrap().len(), 2, "{prelude}");
    h.close().await;
}

#[tokio::test]
async fn lambda_http_answers_the_same_where_the_two_agree() {
    let ours = Harness::start(http_axum()).await.unwrap();
    let theirs = Harness::start(lambda_http()).await.unwrap();
    for event in [
        v2("GET", "$default", "/hello/Ada", ""),
        v2("GET", "$default", "/cookies", ""),
        v2("GET", "$default", "/binary", ""),
        v2("GET", "$default", "/error", ""),
    ] {
        let a = answer(&ours, &event).await;
        let b = answer(&theirs, &event).await;
        for key in ["statusCode", "body", "isBase64Encoded", "cookies"] {
            assert_eq!(a[key], b[key], "{key} of {}: {a} vs {b}", event["rawPath"]);
        }
        assert_eq!(a["headers"]["content-type"], b["headers"]["content-type"]);
    }
    // Where they differ: lambda_http keeps an HTTP API stage in the path by default.
    let event = v2("GET", "dev", "/hello/Ada", "");
    assert_eq!(answer(&ours, &event).await["statusCode"], 200);
    assert_eq!(answer(&theirs, &event).await["statusCode"], 404);
    ours.close().await;
    theirs.close().await;
}

#[tokio::test]
async fn with_a_database_the_hook_closes_the_pool() {
    // Needs a PostgreSQL server: `HTTP_AXUM_TEST_DATABASE_URL=postgres://…` (skipped without).
    let Ok(url) = std::env::var("HTTP_AXUM_TEST_DATABASE_URL") else {
        eprintln!("skipped: HTTP_AXUM_TEST_DATABASE_URL is not set");
        return;
    };
    let h = Harness::start(http_axum().env("DATABASE_URL", url.clone()))
        .await
        .unwrap();
    let a = answer(&h, &v2("GET", "$default", "/db", "")).await;
    assert_eq!(a["statusCode"], 200, "{a}");
    assert!(body_json(&a)["backend_pid"].as_i64().is_some(), "{a}");
    assert_eq!(h.spin_down().await.unwrap(), 1);
    assert!(
        until(|| has(&h.output(), "[http-axum] done")).await,
        "{:#?}",
        h.output()
    );
    let out = h.output();
    assert!(
        has(&out, "cleanup: 2 database connections closed"),
        "{out:#?}"
    );
    assert!(has(&out, "0 database connections still open"), "{out:#?}");
    h.close().await;

    // Negative control: without the hook, the connections are still open when `run` returns.
    let h = Harness::start(
        http_axum()
            .env("DATABASE_URL", url)
            .env("HTTP_AXUM_NO_HOOK", "1"),
    )
    .await
    .unwrap();
    assert_eq!(
        answer(&h, &v2("GET", "$default", "/db", "")).await["statusCode"],
        200
    );
    assert_eq!(h.spin_down().await.unwrap(), 1);
    assert!(
        until(|| has(&h.output(), "[http-axum] done")).await,
        "{:#?}",
        h.output()
    );
    assert!(
        has(&h.output(), "2 database connections still open"),
        "{:#?}",
        h.output()
    );
    h.close().await;
}
