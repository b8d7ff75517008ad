//! Property tests of `Emulator::invoke`, the library entry point behind the Invoke API: random
//! function names, payloads, invocation types, log tails, client contexts, trace ids, content
//! types and per-invoke timeouts (zero included). A model gives the status, the service error
//! code or the echo; a per-invoke timeout too short for the function may instead end in
//! `Sandbox.Timedout`, never in anything else. Afterwards a normal invoke must still work.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use grace_emulator::events::EventKind;
use grace_emulator::{InvocationType, InvokeInput, InvokeOutput};
use proptest::prelude::*;
use support::{Harness, proptest_config};

#[test]
fn scripted_runtime() {
    support::scripted_runtime_if_asked();
}

const MAX_SYNC: usize = 6 * 1024 * 1024;
const MAX_ASYNC: usize = 1024 * 1024;

fn name() -> impl Strategy<Value = (String, bool)> {
    prop_oneof![
        Just(("f".to_owned(), true)),
        Just(("f:$LATEST".to_owned(), true)),
        Just((
            "arn:aws:lambda:us-east-1:123456789012:function:f".to_owned(),
            true
        )),
        Just(("123456789012:function:f".to_owned(), true)),
        "[ -~]{0,30}"
            .prop_filter("not a spelling of f", |n| {
                let tail = n.rsplit_once("function:").map_or(n.as_str(), |(_, t)| t);
                tail.split(':').next() != Some("f")
            })
            .prop_map(|n| (n, false)),
    ]
}

fn input() -> impl Strategy<Value = (InvokeInput, bool)> {
    let payload = prop_oneof![
        4 => prop::collection::btree_map("[a-z]{1,6}", any::<i32>(), 0..6)
            .prop_map(|m| serde_json::to_vec(&m).unwrap()),
        1 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 1..128),
        1 => Just(vec![b'1'; MAX_ASYNC + 1]),
    ];
    let kind = prop_oneof![
        Just(InvocationType::RequestResponse),
        Just(InvocationType::Event),
        Just(InvocationType::DryRun)
    ];
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(b);
    let client_context = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..32).prop_map(b64),
        "[ -~]{0,20}",
    ];
    let timeout = prop_oneof![
        Just(Duration::ZERO),
        (0u64..50).prop_map(Duration::from_millis),
        Just(Duration::from_secs(20)),
    ];
    (
        name(),
        payload,
        kind,
        any::<bool>(),
        prop::option::weighted(0.3, client_context),
        prop::option::weighted(0.3, "[ -~\t]{0,40}"),
        prop::option::weighted(0.3, "[ -~]{0,40}"),
        prop::option::weighted(0.3, timeout),
    )
        .prop_map(
            |((function, known), payload, kind, tail, cc, trace, ct, timeout)| {
                let mut input = InvokeInput::new(function, Bytes::from(payload));
                input.invocation_type = kind;
                input.tail = tail;
                input.client_context = cc;
                input.trace_id = trace;
                input.content_type = ct;
                input.timeout = timeout;
                (input, known)
            },
        )
}

/// `Err(code)` for a refusal, `Ok(status)` otherwise.
fn model(input: &InvokeInput, known: bool) -> Result<u16, &'static str> {
    if !known {
        return Err("ResourceNotFoundException");
    }
    let limit = match input.invocation_type {
        InvocationType::Event => MAX_ASYNC,
        _ => MAX_SYNC,
    };
    if input.payload.len() > limit {
        return Err("RequestTooLargeException");
    }
    let payload: &[u8] = if input.payload.is_empty() {
        b"{}"
    } else {
        &input.payload
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(payload).is_err() {
        return Err("InvalidRequestContentException");
    }
    if let Some(cc) = &input.client_context {
        let decoded = base64::engine::general_purpose::STANDARD.decode(cc);
        if !decoded.is_ok_and(|d| String::from_utf8(d).is_ok()) {
            return Err("InvalidRequestContentException");
        }
    }
    Ok(match input.invocation_type {
        InvocationType::DryRun => 204,
        InvocationType::Event => 202,
        _ => 200,
    })
}

fn check(input: &InvokeInput, known: bool, out: &InvokeOutput) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(&out.body);
    match model(input, known) {
        Err(code) => {
            prop_assert!(out.status == 400 || out.status == 404 || out.status == 413);
            prop_assert_eq!(out.error_code, Some(code), "{}", text);
        }
        Ok(status) => {
            prop_assert_eq!(out.status, status, "{}", text);
            prop_assert_eq!(out.error_code, None);
            prop_assert!(!out.request_id.is_empty());
            if status != 200 {
                return Ok(());
            }
            let short = input.timeout.is_some_and(|t| t < Duration::from_secs(1));
            let timed_out = out.function_error.is_some() && text.contains("Sandbox.Timedout");
            if short && timed_out {
                return Ok(());
            }
            prop_assert_eq!(out.function_error, None, "{}", text);
            let payload: &[u8] = if input.payload.is_empty() {
                b"{}"
            } else {
                &input.payload
            };
            prop_assert_eq!(&out.body[..], payload);
            prop_assert_eq!(out.log_result.is_some(), input.tail);
        }
    }
    Ok(())
}

/// Waits (bounded) until the invocation `request_id` has ended (an event from `since` on).
async fn ended(h: &Harness, since: u64, request_id: &str) -> bool {
    for _ in 0..10_000 {
        let done = h.emulator.events(since).iter().any(
            |e| matches!(&e.kind, EventKind::InvokeEnd { request_id: id, .. } if id == request_id),
        );
        if done {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

#[test]
fn random_invoke_inputs_get_lambdas_answers() {
    let h = Harness::start(|_| {});
    h.assert_normal_invoke(0);
    let started = std::time::Instant::now();
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let mut runner = proptest::test_runner::TestRunner::new(proptest_config(256));
    let result = runner.run(&input(), |(input, known)| {
        let since = h.emulator.events(0).last().map_or(0, |e| e.seq);
        let out = h.block_on(async {
            tokio::time::timeout(support::ANSWER_LIMIT, h.emulator.invoke(input.clone())).await
        });
        let out = out.map_err(|_| TestCaseError::fail(format!("hang: {input:?}")))?;
        if out.status == 202 {
            // Let the queued invoke run before the next case, as a caller pacing its events
            // would: otherwise they pile up and the next synchronous invoke may rightly be
            // throttled (429).
            let ended = h.block_on(ended(&h, since, &out.request_id));
            prop_assert!(ended, "the Event invoke {} never ran", out.request_id);
        }
        let key = format!(
            "{} {}",
            out.status,
            out.error_code.or(out.function_error).unwrap_or("")
        );
        *seen.borrow_mut().entry(key).or_default() += 1;
        check(&input, known, &out)
    });
    eprintln!(
        "invoke_lib: {} cases in {:?}: {:?}",
        runner.config().cases,
        started.elapsed(),
        seen.borrow()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    h.assert_normal_invoke(1);
}
