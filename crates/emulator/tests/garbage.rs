//! Property tests with bytes that are barely or not at all HTTP, on both kinds of listener (the
//! Invoke API and an environment's Runtime API): random bytes, request lines with random
//! methods, targets and versions, header blocks with random names, values and line endings,
//! conflicting or absurd `content-length` / `transfer-encoding`. The sender then closes its
//! side. The server must answer 4xx or close, never 5xx, never hang, and both listeners must
//! still serve a normal invoke afterwards, in the same environment.

#![allow(clippy::unwrap_used)]

mod support;

use proptest::prelude::*;
use support::{Harness, exchange_then_eof, proptest_config};

#[test]
fn scripted_runtime() {
    support::scripted_runtime_if_asked();
}

fn garbage() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        Just("POST".to_owned()),
        Just("GET".to_owned()),
        "[A-Z]{0,10}",
        "[ -~]{0,10}"
    ];
    let target = prop_oneof![
        Just("/2015-03-31/functions/f/invocations".to_owned()),
        Just("/2018-06-01/runtime/invocation/next".to_owned()),
        "[ -~]{0,40}",
        "/[^\r\n]{0,20}",
    ];
    let version = prop_oneof![
        Just("HTTP/1.1".to_owned()),
        Just("HTTP/1.0".to_owned()),
        Just("HTTP/2.0".to_owned()),
        "[ -~]{0,10}"
    ];
    let header = prop_oneof![
        "[A-Za-z-]{1,20}: [ -~]{0,40}",
        Just("content-length: 5".to_owned()),
        Just("content-length: -1".to_owned()),
        Just("content-length: 99999999999999999999999".to_owned()),
        Just("content-length: 3, 4".to_owned()),
        Just("transfer-encoding: chunked".to_owned()),
        Just("transfer-encoding: gzip, chunked".to_owned()),
        Just("transfer-encoding: identity".to_owned()),
        Just("expect: 100-continue".to_owned()),
        Just("connection: upgrade\r\nupgrade: h2c".to_owned()),
        "[^\r\n]{0,30}",
    ];
    let line_end = prop_oneof![Just("\r\n"), Just("\n"), Just("\r")];
    let structured = (
        method,
        target,
        version,
        prop::collection::vec(header, 0..6),
        line_end,
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(m, t, v, headers, end, body)| {
            let mut raw = format!("{m} {t} {v}{end}host: t{end}").into_bytes();
            for h in headers {
                raw.extend_from_slice(h.as_bytes());
                raw.extend_from_slice(end.as_bytes());
            }
            raw.extend_from_slice(end.as_bytes());
            raw.extend(body);
            raw
        });
    prop_oneof![
        3 => structured,
        1 => prop::collection::vec(any::<u8>(), 0..512),
        // An HTTP/2 preface, TLS client hello start.
        1 => Just(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()),
        1 => Just(vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
    ]
}

#[test]
fn garbage_gets_4xx_or_a_close_on_both_listeners() {
    let h = Harness::start(|_| {});
    h.assert_normal_invoke(0);
    h.wait_idle();
    let before = h.environments();
    let listeners = [
        ("invoke_api", h.invoke_addr),
        ("runtime_api", h.runtime_api()),
    ];
    let started = std::time::Instant::now();
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let mut runner = proptest::test_runner::TestRunner::new(proptest_config(256));
    let result = runner.run(&(garbage(), 0..2usize), |(raw, which)| {
        let (name, addr) = listeners[which];
        let got = h
            .block_on(exchange_then_eof(addr, &raw, support::ANSWER_LIMIT))
            .unwrap_or_else(|f| panic!("{name}: no end ({f:?}) to {raw:?}"));
        let key = format!(
            "{name} {}",
            got.as_ref()
                .map_or("closed".to_owned(), |r| r.status.to_string())
        );
        *seen.borrow_mut().entry(key).or_default() += 1;
        if let Some(reply) = got {
            prop_assert!(
                reply.status < 500,
                "{name}: {} {}",
                reply.status,
                reply.text()
            );
        }
        Ok(())
    });
    eprintln!(
        "garbage: {} cases in {:?}: {:?}",
        runner.config().cases,
        started.elapsed(),
        seen.borrow()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    let after = h.environments();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(before[0].id, after[0].id);
    h.assert_normal_invoke(1);
}
