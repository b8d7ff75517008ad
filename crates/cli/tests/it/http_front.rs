//! The HTTP front of `grace serve`: function URLs at `/lambda-url/NAME/…` and, with `--api`, a
//! template's `Api` and `HttpApi` routes. Real HTTP/1.1 requests over loopback to the real
//! binary; the functions are Python handlers under the official `awslambdaric`
//! (`tests/python/http_app.py`, `error_app.py`) that echo the event they get, and a custom
//! runtime that streams (`tests/fixtures/http-stream/bootstrap`); all in
//! `tests/fixtures/sam/http-front.yaml`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Answer, Serve, grace_bin, http, parse_raw_answer, venv_bin, workspace_root};

fn template() -> String {
    workspace_root()
        .join("tests/fixtures/sam/http-front.yaml")
        .to_string_lossy()
        .into_owned()
}

/// `grace serve --template http-front.yaml --api 127.0.0.1:0`, and the API's address.
fn serve() -> (Serve, String) {
    let python = venv_bin("python");
    let s = Serve::start(&[
        "--template",
        &template(),
        "--python",
        python.to_str().unwrap(),
        "--api",
        "127.0.0.1:0",
    ]);
    let stderr = s.stderr();
    let api = stderr
        .split("API on http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no API line in:\n{stderr}"))
        .to_owned();
    (s, api)
}

/// The event the echo function got: the body of its answer.
fn echoed(a: &Answer) -> Value {
    assert_eq!(a.status, 200, "{}", a.text());
    a.json()
}

fn headers_of<'a>(a: &'a Answer, name: &str) -> Vec<&'a str> {
    a.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn a_function_url_request_becomes_the_function_url_event() {
    let (s, _) = serve();
    let a = s.request(
        "GET",
        "/lambda-url/Echo/my/path?k=1&k=2&q=a%20b",
        &[
            ("X-Multi", "a"),
            ("X-Multi", "b"),
            ("Cookie", "c1=v1; c2=v2"),
            ("User-Agent", "grace-test"),
        ],
        b"",
    );
    let e = echoed(&a);
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "$default");
    assert_eq!(e["rawPath"], "/my/path");
    assert_eq!(e["rawQueryString"], "k=1&k=2&q=a%20b");
    assert_eq!(e["queryStringParameters"], json!({"k": "1,2", "q": "a b"}));
    assert_eq!(e["headers"]["x-multi"], "a,b");
    assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
    assert!(e["headers"].get("cookie").is_none());
    assert_eq!(e["isBase64Encoded"], false);
    let rc = &e["requestContext"];
    assert_eq!(rc["accountId"], "anonymous");
    assert_eq!(
        (rc["routeKey"].as_str(), rc["stage"].as_str()),
        (Some("$default"), Some("$default"))
    );
    let domain = rc["domainName"].as_str().unwrap();
    assert!(domain.ends_with(".lambda-url.us-east-1.on.aws"), "{domain}");
    assert_eq!(rc["domainPrefix"].as_str(), domain.split('.').next());
    assert_eq!(rc["apiId"], rc["domainPrefix"]);
    assert_eq!(
        rc["http"],
        json!({"method": "GET", "path": "/my/path", "protocol": "HTTP/1.1",
               "sourceIp": "127.0.0.1", "userAgent": "grace-test"})
    );
    assert!(rc["requestId"].as_str().is_some_and(|id| id.len() == 36));
    assert!(rc["timeEpoch"].as_u64().is_some());
    let time = rc["time"].as_str().unwrap();
    assert!(
        time.ends_with(" +0000") && time.as_bytes()[2] == b'/',
        "{time}"
    );
    // The function's answer mapped back: its header, its cookie as Set-Cookie.
    assert_eq!(a.header("x-echo"), Some("1"));
    assert_eq!(headers_of(&a, "set-cookie"), ["echo=1; Path=/"]);

    // Negative control: no query, no cookie, the URL's root: none of those keys.
    let e = echoed(&s.request("GET", "/lambda-url/Echo", &[], b""));
    assert_eq!(e["rawPath"], "/");
    assert!(e.get("cookies").is_none() && e.get("queryStringParameters").is_none());
    assert!(e.get("body").is_none());
}

#[test]
fn a_binary_body_reaches_the_function_in_base64_and_text_does_not() {
    let (s, _) = serve();
    let bytes = [0u8, 255, 1, 2, 128];
    let e = echoed(&s.request(
        "POST",
        "/lambda-url/Echo/upload",
        &[("Content-Type", "application/octet-stream")],
        &bytes,
    ));
    assert_eq!(
        (e["body"].as_str(), e["isBase64Encoded"].as_bool()),
        (Some("AP8BAoA="), Some(true))
    );
    assert_eq!(e["requestContext"]["http"]["method"], "POST");
    // Negative control: a JSON body stays text.
    let e = echoed(&s.request(
        "POST",
        "/lambda-url/Echo/upload",
        &[("Content-Type", "application/json")],
        br#"{"a":1}"#,
    ));
    assert_eq!(
        (e["body"].as_str(), e["isBase64Encoded"].as_bool()),
        (Some(r#"{"a":1}"#), Some(false))
    );
}

#[test]
fn function_url_answers_and_errors_are_mapped_as_the_service_maps_them() {
    let (s, _) = serve();
    // An answer without statusCode: 200, application/json, the JSON as the body.
    let a = s.request("GET", "/lambda-url/Raw/x", &[], b"");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("application/json"));
    assert_eq!(a.json()["rawPath"], "/x");
    // A function error: 502.
    let a = s.request("GET", "/lambda-url/Boom/", &[], b"");
    assert_eq!(a.status, 502, "{}", a.text());
    assert_eq!(a.json(), json!({"Message": "Internal Server Error"}));
    // A body larger than Lambda's 6 MB invoke payload: 413.
    let big = vec![b'a'; 7 * 1024 * 1024];
    let a = s.request(
        "POST",
        "/lambda-url/Echo/",
        &[("Content-Type", "text/plain")],
        &big,
    );
    assert_eq!(a.status, 413, "{}", a.text());
    // An unknown function: 404.
    let a = s.request("GET", "/lambda-url/Nope/", &[], b"");
    assert_eq!(a.status, 404, "{}", a.text());
    // Negative controls: the same paths for a function that answers, a body that fits.
    let small = vec![b'a'; 1024];
    let a = s.request(
        "POST",
        "/lambda-url/Echo/",
        &[("Content-Type", "text/plain")],
        &small,
    );
    assert_eq!(echoed(&a)["body"].as_str().map(str::len), Some(1024));
}

#[test]
fn rest_routes_get_path_parameters_greedy_paths_and_the_stage_in_the_context() {
    let (s, api) = serve();
    let e = echoed(&http(
        &api,
        "GET",
        "/items/7?k=1&k=2",
        &[("X-Multi", "a"), ("X-Multi", "b")],
        b"",
    ));
    assert_eq!(e["resource"], "/items/{id}");
    assert_eq!(e["path"], "/items/7");
    assert_eq!(e["httpMethod"], "GET");
    assert_eq!(e["pathParameters"], json!({"id": "7"}));
    assert_eq!(e["queryStringParameters"], json!({"k": "2"}));
    assert_eq!(
        e["multiValueQueryStringParameters"],
        json!({"k": ["1", "2"]})
    );
    assert_eq!(e["multiValueHeaders"]["x-multi"], json!(["a", "b"]));
    assert_eq!(e["requestContext"]["stage"], "dev");
    assert_eq!(e["requestContext"]["path"], "/dev/items/7");
    assert_eq!(e["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
    // A greedy path, any method.
    let e = echoed(&http(&api, "DELETE", "/files/a/b/c", &[], b""));
    assert_eq!(e["resource"], "/files/{proxy+}");
    assert_eq!(e["pathParameters"], json!({"proxy": "a/b/c"}));
    assert_eq!(e["requestContext"]["path"], "/dev/files/a/b/c");
    assert_eq!(e["httpMethod"], "DELETE");
    // Warm: the same environment answered the three requests.
    let echo_envs = s
        .environments()
        .iter()
        .filter(|e| e["function"] == "Echo")
        .count();
    assert_eq!(echo_envs, 1, "{:?}", s.environments());

    // Negative controls: the stage is not part of the served path, and what no route takes is
    // a REST API's 403; the method of a method route matters.
    for (method, path) in [
        ("GET", "/dev/items/7"),
        ("GET", "/nothing"),
        ("POST", "/items/7"),
    ] {
        let a = http(&api, method, path, &[], b"");
        assert_eq!(a.status, 403, "{method} {path}: {}", a.text());
        assert_eq!(a.json(), json!({"message": "Missing Authentication Token"}));
    }
    // A body above API Gateway's 10 MB: 413.
    let big = vec![b'a'; 11 * 1024 * 1024];
    let a = http(
        &api,
        "POST",
        "/files/x",
        &[("Content-Type", "text/plain")],
        &big,
    );
    assert_eq!(a.status, 413, "{}", a.text());
}

#[test]
fn http_api_routes_get_the_2_0_event_with_the_stage_in_the_raw_path() {
    let (_s, api) = serve();
    let e = echoed(&http(
        &api,
        "GET",
        "/h/items/42?x=1&x=2",
        &[("Cookie", "a=1")],
        b"",
    ));
    assert_eq!(e["version"], "2.0");
    assert_eq!(e["routeKey"], "GET /h/items/{id}");
    assert_eq!(e["rawPath"], "/beta/h/items/42");
    assert_eq!(e["pathParameters"], json!({"id": "42"}));
    assert_eq!(e["queryStringParameters"], json!({"x": "1,2"}));
    assert_eq!(e["cookies"], json!(["a=1"]));
    assert_eq!(e["requestContext"]["stage"], "beta");
    assert_eq!(e["requestContext"]["http"]["path"], "/beta/h/items/42");
    // Negative control: the implicit HTTP API's `$default` stage adds no prefix (and an answer
    // without statusCode is a 200 JSON body at 2.0).
    let a = http(&api, "GET", "/h/raw", &[], b"");
    assert_eq!(a.status, 200, "{}", a.text());
    let e = a.json();
    assert_eq!(
        (e["rawPath"].as_str(), e["requestContext"]["stage"].as_str()),
        (Some("/h/raw"), Some("$default"))
    );
}

#[test]
fn an_invalid_rest_answer_is_a_502() {
    let (_s, api) = serve();
    // The event itself, without statusCode: malformed for a REST API.
    let a = http(&api, "GET", "/raw", &[], b"");
    assert_eq!(a.status, 502, "{}", a.text());
    assert_eq!(a.json(), json!({"message": "Internal server error"}));
    // Negative control: a proxy response from the same API is passed on.
    assert_eq!(http(&api, "GET", "/items/1", &[], b"").status, 200);
}

#[test]
fn a_rest_route_past_its_integration_timeout_is_a_504() {
    let (_s, api) = serve();
    // TimeoutInMillis 300; the function takes 2 s.
    let started = Instant::now();
    let a = http(&api, "GET", "/slow", &[], b"");
    assert_eq!(a.status, 504, "{}", a.text());
    assert_eq!(a.json(), json!({"message": "Endpoint request timed out"}));
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
    // Negative control: the same function behind the default 29 s answers.
    let a = http(&api, "GET", "/patient", &[], b"");
    assert_eq!(a.status, 200, "{}", a.text());
}

/// Reads from `s` until `needle` is in what was read; all of it.
fn read_until(s: &mut TcpStream, got: &mut Vec<u8>, needle: &[u8]) {
    let mut buf = [0u8; 4096];
    while !got.windows(needle.len()).any(|w| w == needle) {
        let n = s.read(&mut buf).expect("read (10 s limit)");
        assert!(
            n > 0,
            "closed before {:?}: {}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn a_streaming_function_url_passes_chunks_on_as_they_come() {
    let (s, _) = serve();
    let gate = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = gate.local_addr().unwrap().port();
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "GET /lambda-url/Stream/?gate={port} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    // The first chunk arrives while the function waits at the gate, before it sends the second.
    read_until(&mut c, &mut got, b"first;");
    let text = String::from_utf8_lossy(&got).into_owned();
    assert!(text.starts_with("HTTP/1.1 201"), "{text}");
    assert!(!text.contains("second"), "{text}");
    let (mut opened, _) = gate.accept().unwrap();
    opened.write_all(b"x").unwrap();
    c.read_to_end(&mut got).unwrap();
    let a = parse_raw_answer(&got).unwrap();
    assert_eq!(a.body, b"first;second");
    assert_eq!(a.header("x-streamed"), Some("yes"));
    assert_eq!(a.header("content-type"), Some("text/plain"));
    assert_eq!(headers_of(&a, "set-cookie"), ["s=1"]);
    assert!(
        a.text().find('\0').is_none(),
        "the prelude leaked: {:?}",
        a.text()
    );

    // Negative control: the same runtime behind a BUFFERED URL: read whole, not parsed as a
    // prelude (it is no JSON): the service's 502.
    let a = s.request("GET", "/lambda-url/Buffered/", &[], b"");
    assert_eq!(a.status, 502, "{}", a.text());
}

#[test]
fn response_stream_streams_a_named_function_and_refuses_other_names() {
    let python = venv_bin("python");
    let s = Serve::start(&[
        "--template",
        &template(),
        "--python",
        python.to_str().unwrap(),
        "--response-stream",
        "Buffered",
    ]);
    // The flag makes Buffered's URL read the prelude (the negative control of this, without
    // the flag, is in a_streaming_function_url_passes_chunks_on_as_they_come).
    let a = s.request("GET", "/lambda-url/Buffered/", &[], b"");
    assert_eq!(
        (a.status, a.body.as_slice()),
        (201, &b"first;second"[..]),
        "{}",
        a.text()
    );

    let out = Command::new(grace_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--no-resource-model",
            "--template",
            &template(),
        ])
        .args([
            "--python",
            venv_bin("python").to_str().unwrap(),
            "--response-stream",
            "Nope",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--response-stream Nope: no such function"),
        "{stderr}"
    );
}
