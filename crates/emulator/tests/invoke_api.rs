//! Property tests of the Invoke API, black-box over HTTP: random methods, paths, function names
//! (plain, `name:$LATEST`, ARNs, percent-encoded), qualifiers, the `X-Amz-*` headers, bodies
//! (JSON, not JSON, invalid UTF-8, empty), content-length or chunked. A model of Lambda's
//! answer, checked in the order the service checks, gives the expected status and error code
//! for each; nothing may panic, hang, or answer 5xx. Afterwards a normal invoke must still work.

#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine as _;
use proptest::prelude::*;
use support::{Harness, Reply, chunked_request, proptest_config, request};

#[test]
fn scripted_runtime() {
    support::scripted_runtime_if_asked();
}

const MAX_SYNC: usize = 6 * 1024 * 1024;
const MAX_ASYNC: usize = 1024 * 1024;

/// One random Invoke API request.
#[derive(Debug, Clone)]
struct Case {
    method: String,
    /// `Some(name as sent in the path)` for an invoke path, else a path of no operation.
    invoke_name: Option<(String, bool)>,
    other_path: String,
    qualifier: Option<String>,
    invocation_type: Option<String>,
    log_type: Option<String>,
    client_context: Option<String>,
    content_type: Option<String>,
    body: Vec<u8>,
    chunk: Option<usize>,
}

/// What Lambda answers: a status, and the service error code (`X-Amzn-ErrorType`) or the
/// `errorType` of a plain error body.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    Ok(u16),
    Service(u16, &'static str),
    Plain(u16, &'static str),
}

fn model(c: &Case) -> Expect {
    let Some((_, known)) = &c.invoke_name else {
        return Expect::Service(404, "UnknownOperationException");
    };
    if c.method != "POST" {
        return Expect::Plain(405, "MethodNotAllowed");
    }
    let kind = c.invocation_type.as_deref().unwrap_or("RequestResponse");
    if !["RequestResponse", "Event", "DryRun"].contains(&kind) {
        return Expect::Service(400, "InvalidParameterValueException");
    }
    if let Some(q) = &c.qualifier
        && q != "$LATEST"
        && q != "%24LATEST"
    {
        return Expect::Service(404, "ResourceNotFoundException");
    }
    if c.body.len() > MAX_SYNC + 1 {
        return Expect::Service(413, "RequestTooLargeException");
    }
    if !known {
        return Expect::Service(404, "ResourceNotFoundException");
    }
    let limit = if kind == "Event" { MAX_ASYNC } else { MAX_SYNC };
    if c.body.len() > limit {
        return Expect::Service(413, "RequestTooLargeException");
    }
    let payload: &[u8] = if c.body.is_empty() { b"{}" } else { &c.body };
    if serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_err() {
        return Expect::Service(400, "InvalidRequestContentException");
    }
    if let Some(cc) = &c.client_context {
        let decoded = base64::engine::general_purpose::STANDARD.decode(cc);
        if !decoded.is_ok_and(|d| String::from_utf8(d).is_ok()) {
            return Expect::Service(400, "InvalidRequestContentException");
        }
    }
    Expect::Ok(match kind {
        "DryRun" => 204,
        "Event" => 202,
        _ => 200,
    })
}

fn percent_encode_some(name: &str, mask: u64) -> String {
    name.chars()
        .enumerate()
        .map(|(i, ch)| {
            if mask >> (i % 64) & 1 == 1 && ch.is_ascii() {
                format!("%{:02X}", ch as u8)
            } else {
                ch.to_string()
            }
        })
        .collect()
}

/// `(name as sent, whether it names function f)`.
fn function_name() -> impl Strategy<Value = (String, bool)> {
    let known = prop_oneof![
        Just("f".to_owned()),
        Just("f:$LATEST".to_owned()),
        Just("arn:aws:lambda:us-east-1:123456789012:function:f".to_owned()),
        Just("123456789012:function:f".to_owned()),
        Just("arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST".to_owned()),
    ];
    let unknown = "[A-Za-z0-9_-]{0,24}".prop_filter("not f", |n| n != "f");
    prop_oneof![
        3 => (known, any::<u64>()).prop_map(|(n, m)| (percent_encode_some(&n, m), true)),
        1 => unknown.prop_map(|n| (n, false)),
    ]
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9-]{0,12}"
}

fn header_text() -> impl Strategy<Value = String> {
    "[!-~][ -~]{0,40}[!-~]|[!-~]?"
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let json_value = prop_oneof![
        Just(serde_json::json!({})),
        any::<i64>().prop_map(serde_json::Value::from),
        "[ -~]{0,64}".prop_map(serde_json::Value::from),
        prop::collection::btree_map("[a-z_]{1,8}", any::<i32>(), 0..8)
            .prop_map(|m| serde_json::to_value(m).unwrap()),
        prop::collection::vec(any::<bool>(), 0..16).prop_map(serde_json::Value::from),
    ];
    prop_oneof![
        4 => json_value.prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => Just(Vec::new()),
        1 => "[ -~]{1,64}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 1..512),
        // JSON text with invalid UTF-8 inside a string.
        1 => prop::collection::vec(0x80u8..=0xff, 1..8).prop_map(|b| {
            let mut v = b"{\"k\":\"".to_vec();
            v.extend(b);
            v.extend(b"\"}");
            v
        }),
    ]
}

fn client_context() -> impl Strategy<Value = String> {
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    prop_oneof![
        Just(b64(br#"{"custom":{"k":"v"}}"#.to_vec())),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(b64),
        "[A-Za-z0-9+/=!*]{1,40}",
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let method = prop_oneof![
        24 => Just("POST".to_owned()),
        1 => Just("GET".to_owned()),
        1 => Just("PUT".to_owned()),
        1 => Just("DELETE".to_owned()),
        1 => Just("PATCH".to_owned()),
        1 => Just("OPTIONS".to_owned()),
        1 => token().prop_map(|t| t.to_ascii_uppercase()),
    ];
    let other_path = prop_oneof![
        Just("/".to_owned()),
        "/2015-03-31/functions/[a-z]{0,6}(/invocation|/invocations/|/x)?",
        "/(grace|grace/v1|2018-06-01)/[a-z0-9/._-]{0,24}",
        "/[A-Za-z0-9._~:@!$&'()*+,;=%-]{0,40}",
    ];
    let qualifier = prop_oneof![
        Just("$LATEST".to_owned()),
        Just("%24LATEST".to_owned()),
        Just("1".to_owned()),
        "[A-Za-z0-9_-]{0,10}",
    ];
    let invocation_type = prop_oneof![
        3 => Just("RequestResponse".to_owned()),
        2 => Just("Event".to_owned()),
        2 => Just("DryRun".to_owned()),
        1 => header_text(),
    ];
    let log_type = prop_oneof![
        Just("Tail".to_owned()),
        Just("None".to_owned()),
        header_text()
    ];
    let content_type = prop_oneof![
        Just("application/json".to_owned()),
        Just("application/x-amz-json-1.1".to_owned()),
        Just("binary/octet-stream".to_owned()),
        header_text(),
    ];
    (
        method,
        prop::option::weighted(0.85, function_name()),
        other_path,
        prop::option::weighted(0.2, qualifier),
        prop::option::weighted(0.6, invocation_type),
        prop::option::of(log_type),
        prop::option::weighted(0.25, client_context()),
        prop::option::of(content_type),
        body(),
        prop::option::of(1usize..64),
    )
        .prop_map(
            |(method, invoke_name, other_path, q, it, lt, cc, ct, body, chunk)| Case {
                method,
                invoke_name,
                other_path,
                qualifier: q,
                invocation_type: it,
                log_type: lt,
                client_context: cc,
                content_type: ct,
                body,
                chunk,
            },
        )
}

fn send(h: &Harness, c: &Case) -> Reply {
    let mut target = match &c.invoke_name {
        Some((name, _)) => format!("/2015-03-31/functions/{name}/invocations"),
        None => c.other_path.clone(),
    };
    if let Some(q) = &c.qualifier {
        target.push_str(&format!("?Qualifier={q}"));
    }
    let mut headers = Vec::new();
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            headers.push((k.to_owned(), v.clone()));
        }
    };
    put("X-Amz-Invocation-Type", &c.invocation_type);
    put("X-Amz-Log-Type", &c.log_type);
    put("X-Amz-Client-Context", &c.client_context);
    put("Content-Type", &c.content_type);
    let raw = match c.chunk {
        Some(n) => chunked_request(&c.method, &target, &headers, &c.body, n),
        None => request(&c.method, &target, &headers, &c.body),
    };
    h.invoke_api(&raw)
        .unwrap_or_else(|f| panic!("no answer ({f:?}) to {c:?}"))
}

/// Checks `reply` against the model; an error message on mismatch.
fn check(c: &Case, reply: &Reply) -> Result<(), TestCaseError> {
    let expect = model(c);
    prop_assert!(reply.status < 500, "5xx: {} {}", reply.status, reply.text());
    match expect {
        Expect::Service(status, code) => {
            prop_assert_eq!(reply.status, status, "{}", reply.text());
            prop_assert_eq!(reply.header("x-amzn-errortype"), Some(code));
            let body = reply.json().unwrap_or_default();
            prop_assert_eq!(&body["Type"], "User", "{}", reply.text());
            prop_assert!(body["Message"].is_string(), "{}", reply.text());
        }
        Expect::Plain(status, error_type) => {
            prop_assert_eq!(reply.status, status, "{}", reply.text());
            if c.method != "HEAD" {
                let got = reply.error_type();
                prop_assert_eq!(got.as_deref(), Some(error_type), "{}", reply.text());
            }
        }
        Expect::Ok(status) => {
            prop_assert_eq!(reply.status, status, "{}", reply.text());
            prop_assert_eq!(reply.header("x-amz-executed-version"), Some("$LATEST"));
            prop_assert!(
                reply
                    .header("x-amzn-requestid")
                    .is_some_and(|v| !v.is_empty())
            );
            if status == 200 {
                let payload: &[u8] = if c.body.is_empty() { b"{}" } else { &c.body };
                prop_assert_eq!(&reply.body[..], payload, "the echo");
                prop_assert_eq!(reply.header("x-amz-function-error"), None);
                let tail = c.log_type.as_deref() == Some("Tail");
                prop_assert_eq!(reply.header("x-amz-log-result").is_some(), tail);
            } else {
                prop_assert!(reply.body.is_empty(), "{}", reply.text());
            }
        }
    }
    Ok(())
}

#[test]
fn random_requests_get_lambdas_answers() {
    let h = Harness::start(|_| {});
    h.assert_normal_invoke(0);
    let started = std::time::Instant::now();
    let mut runner = proptest::test_runner::TestRunner::new(proptest_config(256));
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let result = runner.run(&case(), |c| {
        let reply = send(&h, &c);
        let code = reply.header("x-amzn-errortype").map(str::to_owned);
        *seen
            .borrow_mut()
            .entry(format!("{} {}", reply.status, code.unwrap_or_default()))
            .or_default() += 1;
        check(&c, &reply)
    });
    eprintln!(
        "invoke_api: {} cases in {:?}: {:?}",
        runner.config().cases,
        started.elapsed(),
        seen.borrow()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // Still serving, in the same environment or a fresh one.
    h.assert_normal_invoke(1);
}

/// Bodies at and around the payload limits, sync and async, announced or chunked.
#[test]
fn bodies_around_the_size_limits() {
    let h = Harness::start(|_| {});
    let sizes = prop_oneof![
        Just(MAX_ASYNC),
        Just(MAX_ASYNC + 1),
        Just(MAX_SYNC - 1),
        Just(MAX_SYNC),
        Just(MAX_SYNC + 1),
        Just(MAX_SYNC + 2),
        Just(MAX_SYNC + 1000),
        2usize..4096,
    ];
    let kinds = prop_oneof![Just("RequestResponse"), Just("Event"), Just("DryRun")];
    let strategy = (sizes, kinds, prop::option::of(4096usize..65536));
    let started = std::time::Instant::now();
    let mut runner = proptest::test_runner::TestRunner::new(proptest_config(24));
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    let result = runner.run(&strategy, |(size, kind, chunk)| {
        // A JSON string of exactly `size` bytes.
        let mut body = vec![b'a'; size];
        body[0] = b'"';
        body[size - 1] = b'"';
        let c = Case {
            method: "POST".to_owned(),
            invoke_name: Some(("f".to_owned(), true)),
            other_path: String::new(),
            qualifier: None,
            invocation_type: Some(kind.to_owned()),
            log_type: None,
            client_context: None,
            content_type: None,
            body,
            chunk,
        };
        let reply = send(&h, &c);
        *seen.borrow_mut().entry(reply.status).or_default() += 1;
        check(&c, &reply)
    });
    eprintln!(
        "invoke_api sizes: {} cases in {:?}: {:?}",
        runner.config().cases,
        started.elapsed(),
        seen.borrow()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    h.assert_normal_invoke(2);
}
