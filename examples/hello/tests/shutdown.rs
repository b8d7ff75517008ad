//! `hello` tested the way a user tests their own function: from `cargo test`, under a local
//! Lambda (grace-harness), with the real freeze and SIGTERM → hooks → SIGKILL sequence, and
//! the verdicts `grace check` prints as values. Each claim has a negative control: the same
//! binary configured (by its documented knobs) to shut down badly, which the check must fail.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use grace_harness::{EventKind, Function, Harness, Status, proc_state};
use serde_json::{Value, json};

fn hello() -> Function {
    Function::binary(env!("CARGO_BIN_EXE_hello")).memory_mb(128)
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

fn position(lines: &[String], needle: &str) -> Option<usize> {
    lines.iter().position(|l| l.contains(needle))
}

#[tokio::test]
async fn hooks_run_at_sigterm_in_reverse_order_and_the_check_passes() {
    let h = Harness::start(hello()).await.unwrap();
    let answer = h.invoke(json!({"name": "Ada"})).await.unwrap();
    assert!(answer.is_ok(), "{}", answer.text());
    let reply: Value = answer.json().unwrap();
    assert_eq!(reply["message"], "Hello, Ada!");

    // Idle, it is frozen: SIGSTOPped, and a moment later the kernel says it is stopped.
    assert!(h.until_frozen(Duration::from_secs(5)).await);
    let pid = h.runtime_pids().await[0];
    assert!(
        until(|| proc_state(pid) == Some('T')).await,
        "{:?}",
        proc_state(pid)
    );

    assert_eq!(h.spin_down().await.unwrap(), 1);
    let out = h.output();
    let cache = position(&out, "cleanup: closing the cache").expect("close-cache ran");
    let db = position(&out, "cleanup: closing the database").expect("close-database ran");
    assert!(
        cache < db,
        "hooks run in reverse order of registration: {out:#?}"
    );
    assert!(
        position(&out, "[hello] done: cleanup complete").is_some(),
        "{out:#?}"
    );
    let exit = h
        .until_event(
            |e| matches!(e.kind, EventKind::ProcessExit { .. }),
            Duration::from_secs(5),
        )
        .await;
    assert!(exit.is_some(), "the runtime's exit is recorded");
    assert!(
        until(|| proc_state(pid).is_none()).await,
        "the runtime is gone"
    );
    let kinds: Vec<EventKind> = h.events().into_iter().map(|e| e.kind).collect();
    let at = |f: fn(&EventKind) -> bool| kinds.iter().position(f);
    let frozen = at(|k| matches!(k, EventKind::Freeze)).expect("frozen");
    let sigterm = at(|k| matches!(k, EventKind::Sigterm { .. })).expect("SIGTERM");
    assert!(frozen < sigterm, "{kinds:#?}");
    assert!(
        at(|k| matches!(k, EventKind::Sigkill { .. })).is_none(),
        "{kinds:#?}"
    );

    let report = h.check().await.unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.verdict("sigterm").unwrap().status, Status::Pass);
    assert_eq!(report.verdict("exit").unwrap().status, Status::Pass);
    h.close().await;
}

#[tokio::test]
async fn without_the_extension_there_is_no_sigterm_and_the_check_fails() {
    // Negative control of the test above: hello's documented knob not to register lambda-grace's
    // internal extension. Lambda then SIGKILLs the runtime at once, and no hook runs.
    let h = Harness::start(hello().env("LAMBDA_GRACE_NO_EXTENSION", "1"))
        .await
        .unwrap();
    assert!(h.invoke(json!({"name": "Ada"})).await.unwrap().is_ok());
    assert_eq!(h.spin_down().await.unwrap(), 1);
    let out = h.output();
    assert!(position(&out, "SIGTERM received").is_none(), "{out:#?}");
    assert!(position(&out, "done: cleanup").is_none(), "{out:#?}");

    let report = h.check().await.unwrap();
    assert!(!report.passed(), "{report}");
    let failed: Vec<&str> = report.failures().map(|v| v.id).collect();
    assert_eq!(failed, ["sigterm"], "{report}");
    let advice = report
        .verdict("sigterm")
        .unwrap()
        .advice
        .as_deref()
        .unwrap();
    assert!(advice.contains("shutdown-enabler"), "{advice}");
    h.close().await;
}

#[tokio::test]
async fn a_hook_that_outlasts_the_platform_budget_is_sigkilled_and_the_check_fails() {
    // Another negative control: a 2 s hook under a 5 s budget of its own, past Lambda's 500 ms.
    let slow = hello()
        .env("HELLO_SLOW_HOOK_MS", "2000")
        .env("HELLO_SHUTDOWN_BUDGET_MS", "5000");
    let h = Harness::start(slow).await.unwrap();
    let report = h
        .check_with(&grace_harness::CheckOptions::default().invokes(1))
        .await
        .unwrap();
    assert!(!report.passed(), "{report}");
    let exit = report.verdict("exit").unwrap();
    assert_eq!(exit.status, Status::Fail, "{report}");
    assert!(exit.detail.contains("SIGKILLed"), "{}", exit.detail);
    h.close().await;
}

#[tokio::test]
async fn a_timeout_reset_sends_sigterm_mid_handler_and_the_next_invoke_gets_a_new_environment() {
    let h = Harness::start(hello()).await.unwrap();
    let first = h.invoke(json!({})).await.unwrap();
    let first_pid = first.json::<Value>().unwrap()["pid"].as_u64().unwrap();
    let reset = h
        .invoke_with_timeout(json!({"sleep_ms": 3000}), Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(reset.function_error, Some("Unhandled"));
    assert!(reset.text().contains("Task timed out"), "{}", reset.text());
    // SIGTERM arrives while the handler sleeps; the runtime runs its hooks and exits. The
    // handler gets the budget first (docs/guide.md, "Reset in the middle of a handler"): a 3 s
    // sleep outlasts it, so the hooks find it spent and the report says "cleanup incomplete".
    assert!(
        until(|| position(&h.output(), "[hello] done: cleanup").is_some()).await,
        "the runtime ended its shutdown: {:#?}",
        h.output()
    );
    let out = h.output();
    assert!(
        position(&out, "SIGTERM during invocation").is_some(),
        "{out:#?}"
    );
    assert!(
        position(&out, "SIGTERM received → cleanup: closing the database").is_some(),
        "{out:#?}"
    );
    let next = h.invoke(json!({})).await.unwrap();
    assert!(next.is_ok(), "{}", next.text());
    assert_ne!(
        next.json::<Value>().unwrap()["pid"].as_u64().unwrap(),
        first_pid
    );
    h.close().await;
}

#[tokio::test]
async fn the_invoke_api_serves_other_clients_too() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::start(hello()).await.unwrap();
    assert!(h.endpoint().starts_with("http://127.0.0.1:"));
    let body = r#"{"name":"curl"}"#;
    let request = format!(
        "POST /2015-03-31/functions/{}/invocations HTTP/1.1\r\nHost: x\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        h.name(),
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(h.addr()).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("Hello, curl!"), "{response}");
    h.close().await;
}

#[tokio::test]
async fn closing_or_dropping_the_harness_leaves_no_process_behind() {
    let h = Harness::start(hello()).await.unwrap();
    assert!(h.invoke(json!({})).await.unwrap().is_ok());
    let pid = h.runtime_pids().await[0];
    h.close().await;
    assert_eq!(
        proc_state(pid),
        None,
        "close returns once the runtime is gone"
    );

    let h = Harness::start(hello()).await.unwrap();
    assert!(h.invoke(json!({})).await.unwrap().is_ok());
    let pid = h.runtime_pids().await[0];
    // Negative control for the poll below: it is alive while the harness is.
    assert!(proc_state(pid).is_some());
    drop(h);
    assert!(
        until(|| proc_state(pid).is_none()).await,
        "dropped: spun down"
    );
}
