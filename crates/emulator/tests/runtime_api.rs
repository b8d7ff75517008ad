//! Property tests of an environment's own listener (Runtime API §1, Extensions API §2,
//! Telemetry and Logs subscriptions §3) once the environment is ready and idle, its runtime
//! parked in `/next`: random methods, paths, request ids, extension identifiers, headers and
//! bodies from a stranger. A model gives each request's status and `errorType` (Lambda's
//! `{"errorType","errorMessage"}` body); no request may panic, hang, answer 5xx or disturb the
//! environment, which must then serve a normal invoke in the same process.

#![allow(clippy::unwrap_used)]

mod support;

use proptest::prelude::*;
use support::{ANSWER_LIMIT, Harness, Reply, chunked_request, exchange, proptest_config, request};

#[test]
fn scripted_runtime() {
    support::scripted_runtime_if_asked();
}

const INVOCATION: &str = "/2018-06-01/runtime/invocation/";

#[derive(Debug, Clone)]
struct Case {
    method: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    chunk: Option<usize>,
}

/// Status and `errorType` Lambda gives a stranger's request to a ready, idle environment.
fn model(method: &str, path: &str) -> (u16, Option<&'static str>) {
    const STATE: Option<&str> = Some("InvalidStateTransition");
    if path == "/2018-06-01/runtime/invocation/next" {
        // The runtime is already parked in /next: a second /next is a bad transition.
        return if method == "GET" {
            (403, STATE)
        } else {
            (405, Some("MethodNotAllowed"))
        };
    }
    let invocation = path
        .strip_prefix(INVOCATION)
        .and_then(|rest| rest.rsplit_once('/'))
        .is_some_and(|(_, what)| what == "response" || what == "error");
    if invocation {
        // No invocation is in flight: every id is unknown.
        return if method == "POST" {
            (400, Some("InvalidRequestID"))
        } else {
            (405, Some("MethodNotAllowed"))
        };
    }
    match (method, path) {
        // Init is over.
        ("POST", "/2018-06-01/runtime/init/error") => (403, STATE),
        // Registration is closed.
        ("POST", "/2020-01-01/extension/register") => (403, None),
        // No identifier a stranger can send is registered.
        ("GET", "/2020-01-01/extension/event/next")
        | ("POST", "/2020-01-01/extension/init/error")
        | ("POST", "/2020-01-01/extension/exit/error")
        | ("PUT", "/2022-07-01/telemetry")
        | ("PUT", "/2020-08-15/logs") => (403, None),
        ("GET", "/ping") => (200, None),
        // A known route with another method.
        (
            _,
            "/2018-06-01/runtime/init/error"
            | "/2020-01-01/extension/register"
            | "/2020-01-01/extension/event/next"
            | "/2020-01-01/extension/init/error"
            | "/2020-01-01/extension/exit/error"
            | "/2022-07-01/telemetry"
            | "/2020-08-15/logs"
            | "/ping",
        ) => (405, Some("MethodNotAllowed")),
        _ => (404, Some("NotFound")),
    }
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
        "[A-Za-z0-9._~-]{0,40}",
        "[A-Za-z0-9%:/-]{1,30}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    let fixed = prop_oneof![
        Just("/2018-06-01/runtime/invocation/next".to_owned()),
        Just("/2018-06-01/runtime/init/error".to_owned()),
        Just("/2020-01-01/extension/register".to_owned()),
        Just("/2020-01-01/extension/event/next".to_owned()),
        Just("/2020-01-01/extension/init/error".to_owned()),
        Just("/2020-01-01/extension/exit/error".to_owned()),
        Just("/2022-07-01/telemetry".to_owned()),
        Just("/2020-08-15/logs".to_owned()),
        Just("/ping".to_owned()),
        Just("/2018-06-01/runtime/restore/next".to_owned()),
    ];
    let invocation = (
        id(),
        prop_oneof![
            Just("response".to_owned()),
            Just("error".to_owned()),
            "[a-z]{0,9}"
        ],
    )
        .prop_map(|(id, what)| format!("{INVOCATION}{id}/{what}"));
    prop_oneof![
        4 => fixed,
        4 => invocation,
        1 => "/(2018-06-01|2020-01-01|2022-07-01)(/[a-z]{0,10}){0,3}/?",
        1 => "/[A-Za-z0-9._~:@!$&'()*+,;=%/-]{0,40}",
    ]
}

fn header() -> impl Strategy<Value = (String, String)> {
    let name = prop_oneof![
        Just("Lambda-Extension-Name"),
        Just("Lambda-Extension-Identifier"),
        Just("Lambda-Extension-Accept-Feature"),
        Just("Lambda-Extension-Function-Error-Type"),
        Just("Lambda-Runtime-Function-Error-Type"),
        Just("Lambda-Runtime-Function-Response-Mode"),
        Just("Content-Type"),
        Just("X-Something"),
    ];
    let value = prop_oneof![
        id(),
        Just("streaming".to_owned()),
        Just("accountId".to_owned()),
        "[!-~][ -~]{0,30}[!-~]",
    ];
    (name, value).prop_map(|(n, v)| (n.to_owned(), v))
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(br#"{"events":["INVOKE","SHUTDOWN"]}"#.to_vec()),
        Just(br#"{"errorType":"E","errorMessage":"m"}"#.to_vec()),
        Just(
            br#"{"schemaVersion":"2022-12-13","types":["platform"],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:1/x"}}"#
                .to_vec()
        ),
        "[ -~]{0,80}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    let method = prop_oneof![
        3 => Just("GET".to_owned()),
        4 => Just("POST".to_owned()),
        2 => Just("PUT".to_owned()),
        1 => Just("DELETE".to_owned()),
        1 => Just("PATCH".to_owned()),
        1 => "[A-Z]{1,8}",
    ];
    // Half the time the route's own method, so the handlers behind the router are reached.
    let routed = prop_oneof![
        Just(("GET", "/2018-06-01/runtime/invocation/next")),
        Just(("POST", "/2018-06-01/runtime/init/error")),
        Just(("POST", "/2020-01-01/extension/register")),
        Just(("GET", "/2020-01-01/extension/event/next")),
        Just(("POST", "/2020-01-01/extension/init/error")),
        Just(("POST", "/2020-01-01/extension/exit/error")),
        Just(("PUT", "/2022-07-01/telemetry")),
        Just(("PUT", "/2020-08-15/logs")),
        Just(("GET", "/ping")),
    ]
    .prop_map(|(m, p)| (m.to_owned(), p.to_owned()));
    let invocation = (id(), prop_oneof![Just("response"), Just("error")])
        .prop_map(|(id, what)| ("POST".to_owned(), format!("{INVOCATION}{id}/{what}")));
    let method_path = prop_oneof![
        2 => (method, path()),
        1 => routed,
        1 => invocation,
    ];
    (
        method_path,
        prop::option::weighted(0.2, "[a-z=&0-9]{0,20}"),
        prop::collection::vec(header(), 0..4),
        body(),
        prop::option::weighted(0.2, 1usize..32),
    )
        .prop_map(|((method, path), query, headers, body, chunk)| Case {
            method,
            path,
            query,
            headers,
            body,
            chunk,
        })
}

fn send(h: &Harness, addr: std::net::SocketAddr, c: &Case) -> Reply {
    let target = match &c.query {
        Some(q) => format!("{}?{q}", c.path),
        None => c.path.clone(),
    };
    let raw = match c.chunk {
        Some(n) => chunked_request(&c.method, &target, &c.headers, &c.body, n),
        None => request(&c.method, &target, &c.headers, &c.body),
    };
    h.block_on(exchange(addr, &raw, ANSWER_LIMIT))
        .unwrap_or_else(|f| panic!("no answer ({f:?}) to {c:?}"))
}

#[test]
fn a_strangers_requests_get_lambdas_answers_and_change_nothing() {
    let h = Harness::start(|_| {});
    h.assert_normal_invoke(0);
    h.wait_idle();
    let before = h.environments();
    let addr = h.runtime_api();
    let started = std::time::Instant::now();
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let mut runner = proptest::test_runner::TestRunner::new(proptest_config(256));
    let result = runner.run(&case(), |c| {
        let reply = send(&h, addr, &c);
        let (status, error_type) = model(&c.method, &c.path);
        let got = reply.error_type();
        *seen
            .borrow_mut()
            .entry(format!(
                "{} {}",
                reply.status,
                got.clone().unwrap_or_default()
            ))
            .or_default() += 1;
        prop_assert!(reply.status < 500, "5xx: {} {}", reply.status, reply.text());
        prop_assert_eq!(reply.status, status, "{}", reply.text());
        if status >= 400 {
            prop_assert!(got.is_some(), "not an error body: {}", reply.text());
        }
        if let Some(expected) = error_type {
            prop_assert_eq!(got.as_deref(), Some(expected));
        }
        Ok(())
    });
    eprintln!(
        "runtime_api: {} cases in {:?}: {:?}",
        runner.config().cases,
        started.elapsed(),
        seen.borrow()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    // The same environment, the same runtime process, still serving.
    let after = h.environments();
    assert_eq!(before.len(), 1);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(before[0].id, after[0].id);
    let pids =
        |e: &grace_emulator::EnvironmentInfo| e.processes.iter().map(|p| p.pid).collect::<Vec<_>>();
    assert_eq!(pids(&before[0]), pids(&after[0]));
    h.assert_normal_invoke(1);
}

/// RAPID's router answers 405 for a known route with the wrong method, as this listener does for
/// `/next` and the invocation paths; the other routes answer 404 `NotFound`.
#[test]
fn known_routes_with_the_wrong_method_are_405() {
    let h = Harness::start(|_| {});
    h.assert_normal_invoke(0);
    let addr = h.runtime_api();
    // Negative control: the routes that already answer 405.
    for (method, path) in [
        ("POST", "/2018-06-01/runtime/invocation/next"),
        ("GET", "/2018-06-01/runtime/invocation/x/response"),
    ] {
        let reply = h
            .block_on(exchange(
                addr,
                &request(method, path, &[], b""),
                ANSWER_LIMIT,
            ))
            .unwrap();
        assert_eq!(reply.status, 405, "{method} {path}");
    }
    for (method, path) in [
        ("GET", "/2018-06-01/runtime/init/error"),
        ("GET", "/2020-01-01/extension/register"),
        ("POST", "/2020-01-01/extension/event/next"),
        ("GET", "/2020-01-01/extension/init/error"),
        ("GET", "/2020-01-01/extension/exit/error"),
        ("GET", "/2022-07-01/telemetry"),
        ("POST", "/2020-08-15/logs"),
    ] {
        let reply = h
            .block_on(exchange(
                addr,
                &request(method, path, &[], b""),
                ANSWER_LIMIT,
            ))
            .unwrap();
        assert_eq!(reply.status, 405, "{method} {path}: {}", reply.text());
    }
}
