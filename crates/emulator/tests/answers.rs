//! Property tests of how an invocation is answered on the Runtime API (§1.3–§1.6): the scripted
//! runtime hands each invocation over to the test, which answers it with a random sequence of
//! requests carrying the real request id (or a wrong one): responses with any bytes and content
//! type, `/error` with or without a body and error-type header, invalid response modes,
//! streamed responses, an early second `/next`, oversized responses. A model of the state
//! machine gives each request's status and `errorType` and what the caller of the Invoke API
//! gets. Every invocation must end with a defined answer, and the next one must work.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use proptest::prelude::*;
use support::{
    ANSWER_LIMIT, HOLD_INVOKES_ENV, Harness, Reply, chunked_request, exchange, proptest_config,
    request,
};

#[test]
fn scripted_runtime() {
    support::scripted_runtime_if_asked();
}

/// The largest response accepted: 6 MiB + 100 (RIE's `MaxPayloadSize`).
const MAX_RESPONSE: usize = 6 * 1024 * 1024 + 100;

#[derive(Debug, Clone)]
enum Op {
    Response {
        body: Vec<u8>,
        content_type: Option<String>,
    },
    Error {
        body: Vec<u8>,
        error_type: Option<String>,
    },
    BadMode {
        mode: String,
    },
    Stream {
        chunks: Vec<Vec<u8>>,
    },
    /// A response of this many bytes, at or past the limit.
    Sized(usize),
    WrongId {
        id: String,
    },
    NextEarly,
    /// A request of another API in mid-invocation: `(method, path, status, errorType)`.
    Stranger(&'static str, &'static str, u16, Option<&'static str>),
}

/// What the caller gets.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ok(Vec<u8>),
    FunctionError(Vec<u8>, String),
    PlatformError(&'static str),
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"{\"ok\":true}".to_vec()),
        "[ -~]{0,64}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..256),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let text = "[!-~]{1,20}";
    prop_oneof![
        4 => (bytes(), prop::option::of(prop_oneof![Just("text/plain".to_owned()), text.prop_map(String::from)]))
            .prop_map(|(body, content_type)| Op::Response { body, content_type }),
        3 => (
            prop_oneof![
                Just(Vec::new()),
                Just(br#"{"errorType":"My.Error","errorMessage":"m"}"#.to_vec()),
                bytes()
            ],
            prop::option::of(prop_oneof![Just("Custom.Type".to_owned()), text.prop_map(String::from)]),
        )
            .prop_map(|(body, error_type)| Op::Error { body, error_type }),
        1 => "[a-z]{0,10}"
            .prop_filter("not streaming", |m| m != "streaming")
            .prop_map(|mode| Op::BadMode { mode }),
        1 => prop::collection::vec("[a-z]{1,10}".prop_map(String::into_bytes), 1..4)
            .prop_map(|chunks| Op::Stream { chunks }),
        1 => "[0-9a-f-]{0,36}".prop_map(|id| Op::WrongId { id }),
        1 => Just(Op::NextEarly),
        1 => prop_oneof![
            Just(Op::Stranger("POST", "/2018-06-01/runtime/init/error", 403, Some("InvalidStateTransition"))),
            Just(Op::Stranger("POST", "/2020-01-01/extension/register", 403, None)),
            Just(Op::Stranger("GET", "/2020-01-01/extension/event/next", 403, Some("Extension.MissingExtensionIdentifier"))),
            Just(Op::Stranger("PUT", "/2022-07-01/telemetry", 403, None)),
            Just(Op::Stranger("GET", "/ping", 200, None)),
        ],
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let size = prop_oneof![
        Just(MAX_RESPONSE),
        Just(MAX_RESPONSE + 1),
        Just(MAX_RESPONSE + 1000)
    ];
    let big = prop::option::weighted(0.04, size);
    (prop::collection::vec(op(), 1..4), big).prop_map(|(mut ops, big)| {
        if let Some(n) = big {
            ops.insert(0, Op::Sized(n));
        }
        ops
    })
}

/// One request and what the model expects of it: `(raw request, status, errorType, outcome)`.
type Step = (Vec<u8>, u16, Option<&'static str>, Option<Outcome>);

/// The request for `op`, and the status and `errorType` it gets given whether the invocation
/// was already answered; plus the outcome it gives the caller if it is the first answer.
fn play(op: &Op, id: &str, answered: bool) -> Option<Step> {
    const LATE: Option<&str> = Some("InvalidStateTransition");
    let response = format!("/2018-06-01/runtime/invocation/{id}/response");
    let error = format!("/2018-06-01/runtime/invocation/{id}/error");
    let h = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    Some(match op {
        Op::WrongId { id: wrong } => {
            let path = format!("/2018-06-01/runtime/invocation/{wrong}/response");
            (
                request("POST", &path, &[], b"{}"),
                400,
                Some("InvalidRequestID"),
                None,
            )
        }
        Op::Stranger(method, path, status, error_type) => {
            let headers = [h("Lambda-Extension-Name", "x")];
            (
                request(method, path, &headers, br#"{"events":[]}"#),
                *status,
                *error_type,
                None,
            )
        }
        Op::NextEarly if answered => return None,
        Op::NextEarly => (
            request("GET", "/2018-06-01/runtime/invocation/next", &[], b""),
            403,
            LATE,
            None,
        ),
        _ if answered => {
            let raw = request("POST", &response, &[], b"{}");
            (raw, 403, LATE, None)
        }
        Op::Response { body, content_type } => {
            let headers: Vec<_> = content_type.iter().map(|c| h("Content-Type", c)).collect();
            (
                request("POST", &response, &headers, body),
                202,
                None,
                Some(Outcome::Ok(body.clone())),
            )
        }
        Op::Error { body, error_type } => {
            let headers: Vec<_> = error_type
                .iter()
                .map(|t| h("Lambda-Runtime-Function-Error-Type", t))
                .collect();
            let parsed = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["errorType"].as_str().map(str::to_owned));
            let kind = parsed
                .or(error_type.clone())
                .unwrap_or_else(|| "Runtime.Unknown".to_owned());
            let outcome = Outcome::FunctionError(body.clone(), kind);
            (
                request("POST", &error, &headers, body),
                202,
                None,
                Some(outcome),
            )
        }
        Op::BadMode { mode } => {
            let headers = [h("Lambda-Runtime-Function-Response-Mode", mode)];
            let outcome = Outcome::PlatformError("Runtime.InvalidResponseModeHeader");
            (
                request("POST", &response, &headers, b"{}"),
                400,
                Some("InvalidFunctionResponseMode"),
                Some(outcome),
            )
        }
        Op::Stream { chunks } => {
            let headers = [
                h("Lambda-Runtime-Function-Response-Mode", "streaming"),
                h("Content-Type", "text/plain"),
            ];
            let body: Vec<u8> = chunks.concat();
            let raw = chunked_request("POST", &response, &headers, &body, chunks[0].len());
            (raw, 202, None, Some(Outcome::Ok(body)))
        }
        Op::Sized(n) if *n <= MAX_RESPONSE => {
            let body = vec![b'a'; *n];
            let raw = request("POST", &response, &[], &body);
            (raw, 202, None, Some(Outcome::Ok(body)))
        }
        Op::Sized(n) => {
            let body = vec![b'a'; *n];
            let outcome = Outcome::PlatformError("Function.ResponseSizeTooLarge");
            let raw = request("POST", &response, &[], &body);
            (raw, 413, Some("RequestEntityTooLarge"), Some(outcome))
        }
    })
}

/// Sends `ops` for invocation `id`; records in `outcome` what the first answer gave the caller.
fn answer_with(
    h: &Harness,
    addr: SocketAddr,
    id: &str,
    ops: &[Op],
    outcome: &mut Option<Outcome>,
    seen: &std::cell::RefCell<std::collections::BTreeMap<String, u32>>,
) -> Result<(), TestCaseError> {
    for op in ops {
        let Some((raw, status, error_type, gives)) = play(op, id, outcome.is_some()) else {
            continue;
        };
        let reply = h.block_on(exchange(addr, &raw, ANSWER_LIMIT)).unwrap();
        let got = reply.error_type();
        let key = format!("{} {}", reply.status, got.clone().unwrap_or_default());
        *seen.borrow_mut().entry(key).or_default() += 1;
        prop_assert_eq!(reply.status, status, "{:?}: {}", op, reply.text());
        if let Some(t) = error_type {
            prop_assert_eq!(got.as_deref(), Some(t), "{:?}", op);
        }
        if outcome.is_none() {
            *outcome = gives;
        }
    }
    Ok(())
}

fn check_caller(reply: &Reply, outcome: &Outcome) -> Result<(), TestCaseError> {
    prop_assert_eq!(reply.status, 200, "{}", reply.text());
    match outcome {
        Outcome::Ok(body) => {
            prop_assert_eq!(
                reply.header("x-amz-function-error"),
                None,
                "{}",
                reply.text()
            );
            prop_assert_eq!(&reply.body, body);
        }
        Outcome::FunctionError(body, kind) => {
            prop_assert_eq!(reply.header("x-amz-function-error"), Some("Unhandled"));
            if body.is_empty() {
                prop_assert_eq!(reply.error_type(), Some(kind.clone()), "{}", reply.text());
            } else {
                prop_assert_eq!(&reply.body, body);
            }
        }
        Outcome::PlatformError(kind) => {
            prop_assert_eq!(reply.header("x-amz-function-error"), Some("Unhandled"));
            let got = reply.error_type();
            prop_assert_eq!(got.as_deref(), Some(*kind), "{}", reply.text());
        }
    }
    Ok(())
}

#[test]
fn every_way_of_answering_an_invocation_gets_its_defined_result() {
    let dir = std::env::temp_dir().join(format!("grace-answers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let h = Harness::start(|cfg| {
        cfg.env
            .push((HOLD_INVOKES_ENV.to_owned(), dir.display().to_string()));
        cfg.concurrency = 1;
    });
    h.assert_normal_invoke(0);
    let started = std::time::Instant::now();
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let mut runner = proptest::test_runner::TestRunner::new(proptest_config(256));
    let result = runner.run(&ops(), |ops| {
        let invoke = request(
            "POST",
            "/2015-03-31/functions/f/invocations",
            &[],
            br#"{"held":1}"#,
        );
        let invoke_addr = h.invoke_addr;
        let caller =
            h.rt.spawn(async move { exchange(invoke_addr, &invoke, ANSWER_LIMIT).await });
        let (addr, id) = h.handed_over(&dir);
        let mut outcome = None;
        let played = answer_with(&h, addr, &id, &ops, &mut outcome, &seen);
        // Whatever happened, end the invocation and let the runtime go, so the next case
        // starts clean: a failure here must not cascade into the shrinking.
        if outcome.is_none() {
            let path = format!("/2018-06-01/runtime/invocation/{id}/response");
            let closer = request("POST", &path, &[], b"{}");
            let _ = h.block_on(exchange(addr, &closer, ANSWER_LIMIT));
            outcome = Some(Outcome::Ok(b"{}".to_vec()));
        }
        let answer = h.block_on(caller).unwrap();
        std::fs::remove_file(dir.join("held")).unwrap();
        played?;
        let answer = answer.map_err(|f| TestCaseError::fail(format!("caller: {f:?}")))?;
        check_caller(&answer, outcome.as_ref().unwrap())
    });
    eprintln!(
        "answers: {} cases in {:?}: {:?}",
        runner.config().cases,
        started.elapsed(),
        seen.borrow()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    h.assert_normal_invoke(1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A runtime whose `/next` is given up on the client side (a client timeout, a proxy) and sent
/// again: the retried `/next` must get the next event, and that invoke must be answered. Today
/// the environment keeps the dead waiter: the retry gets 403 `InvalidStateTransition` ("Ready
/// to Ready"), the next event goes to the dropped request, and the invoke times out.
#[test]
fn a_retried_next_gets_the_event() {
    let dir = std::env::temp_dir().join(format!("grace-retried-next-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let h = Harness::start(|cfg| {
        cfg.env
            .push((HOLD_INVOKES_ENV.to_owned(), dir.display().to_string()));
        cfg.timeout = Duration::from_secs(3);
    });
    // The scripted runtime hands the first invocation over; from then on the test is the runtime.
    let raw = request(
        "POST",
        "/2015-03-31/functions/f/invocations",
        &[],
        br#"{"held":1}"#,
    );
    let invoke_addr = h.invoke_addr;
    let caller =
        h.rt.spawn(async move { exchange(invoke_addr, &raw, ANSWER_LIMIT).await });
    let (rt, id) = h.handed_over(&dir);
    let answer = format!("/2018-06-01/runtime/invocation/{id}/response");
    let reply = h.block_on(exchange(
        rt,
        &request("POST", &answer, &[], b"{}"),
        ANSWER_LIMIT,
    ));
    assert_eq!(reply.unwrap().status, 202);
    assert_eq!(h.block_on(caller).unwrap().unwrap().status, 200);
    let next = request("GET", "/2018-06-01/runtime/invocation/next", &[], b"");
    // Given up after 200 ms: nothing was pending, so nothing is lost yet.
    let first = h.block_on(exchange(rt, &next, Duration::from_millis(200)));
    assert!(matches!(first, Err(support::Failure::Hang)), "{first:?}");
    let retried =
        h.rt.spawn(async move { exchange(rt, &next, ANSWER_LIMIT).await });
    let raw = request(
        "POST",
        "/2015-03-31/functions/f/invocations",
        &[],
        br#"{"x":1}"#,
    );
    let caller =
        h.rt.spawn(async move { exchange(invoke_addr, &raw, ANSWER_LIMIT).await });
    let event = h.block_on(retried).unwrap().unwrap();
    assert_eq!(event.status, 200, "the retried /next: {}", event.text());
    assert_eq!(event.body, br#"{"x":1}"#);
    let id = event
        .header("lambda-runtime-aws-request-id")
        .unwrap()
        .to_owned();
    let answer = format!("/2018-06-01/runtime/invocation/{id}/response");
    let reply = h.block_on(exchange(
        rt,
        &request("POST", &answer, &[], b"{\"y\":2}"),
        ANSWER_LIMIT,
    ));
    assert_eq!(reply.unwrap().status, 202);
    let out = h.block_on(caller).unwrap().unwrap();
    assert_eq!((out.status, out.body), (200, b"{\"y\":2}".to_vec()));
    std::fs::remove_file(dir.join("held")).ok();
}
