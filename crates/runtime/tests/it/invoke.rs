//! The invoke loop on the wire.

use std::time::Duration;

use bytes::Bytes;
use lambda_grace::report::Trigger;
use lambda_grace::{Context, Diagnostic, Response, Runtime};

use crate::support::{Event, FakeApi, Quirks};

#[tokio::test]
async fn events_are_answered_on_one_kept_alive_connection_after_the_extension_registered() {
    let fake = FakeApi::start(
        vec![
            Event::new("r1", r#"{"n":1}"#),
            Event::new("r2", r#"{"n":2}"#),
            Event::new("r3", r#"{"n":3}"#),
        ],
        Quirks::default(),
    )
    .await;
    let report = Runtime::from_lookup(fake.lookup())
        .unwrap()
        .shutdown_on(fake.drained())
        .run(|event: serde_json::Value, _ctx: Context| async move {
            Ok::<_, Diagnostic>(serde_json::json!({ "got": event["n"] }))
        })
        .await
        .unwrap();
    assert_eq!(report.trigger, Trigger::Requested);

    let seen = fake.seen();
    let register = &seen[0];
    assert_eq!(register.path, "/2020-01-01/extension/register");
    assert_eq!(
        register.header("lambda-extension-name"),
        Some("lambda-grace")
    );
    assert_eq!(register.text(), r#"{"events":[]}"#);
    let parked: Vec<_> = seen
        .iter()
        .filter(|s| s.path == "/2020-01-01/extension/event/next")
        .collect();
    assert_eq!(parked.len(), 1);
    assert_eq!(
        parked[0].header("lambda-extension-identifier"),
        Some("ext-1")
    );
    assert_ne!(
        parked[0].conn, register.conn,
        "parked on a second connection"
    );

    let runtime: Vec<_> = seen
        .iter()
        .filter(|s| s.path.starts_with("/2018-06-01"))
        .collect();
    assert!(
        runtime.iter().all(|s| s.conn == register.conn),
        "one connection for the loop"
    );
    assert!(
        runtime
            .iter()
            .all(|s| s.header("host") == Some(fake.addr.as_str()))
    );
    let responses: Vec<(String, String)> = runtime
        .iter()
        .filter(|s| s.method == "POST")
        .map(|s| (s.path.clone(), s.text()))
        .collect();
    assert_eq!(
        responses,
        [1, 2, 3].map(|n| (
            format!("/2018-06-01/runtime/invocation/r{n}/response"),
            format!(r#"{{"got":{n}}}"#)
        ))
    );
    assert_eq!(fake.connections(), 2);
    let script = fake.script();
    let first_next = script.iter().position(|s| s == "GET next").unwrap();
    assert!(first_next > 0 && script[0] == "POST register", "{script:?}");

    // Negative control: with the extension turned off, nothing registers and the loop is the
    // only connection.
    let fake = FakeApi::start(vec![Event::new("r1", "{}")], Quirks::default()).await;
    Runtime::from_lookup(fake.lookup())
        .unwrap()
        .register_extension(false)
        .shutdown_on(fake.drained())
        .run(|e: serde_json::Value, _ctx: Context| async move { Ok::<_, Diagnostic>(e) })
        .await
        .unwrap();
    assert!(fake.seen().iter().all(|s| !s.path.contains("extension")));
    assert_eq!(fake.connections(), 1);
}

#[tokio::test]
async fn the_context_carries_every_header_and_the_trace_id_is_exported() {
    let fake = FakeApi::start(
        vec![
            Event::new("r1", "{}")
                .with(
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:eu-west-1:1:function:fake",
                )
                .with("Lambda-Runtime-Trace-Id", "Root=1-abc;Sampled=1")
                .with(
                    "Lambda-Runtime-Client-Context",
                    r#"{"client":{"app_title":"app"},"custom":{},"env":{}}"#,
                )
                .with(
                    "Lambda-Runtime-Cognito-Identity",
                    r#"{"cognitoIdentityId":"i","cognitoIdentityPoolId":"p"}"#,
                )
                .with("Lambda-Runtime-Aws-Tenant-Id", "t-1"),
            // No trace id: the variable is removed, not left over from the previous invocation.
            Event::new("r2", "{}"),
        ],
        Quirks::default(),
    )
    .await;
    Runtime::from_lookup(fake.lookup())
        .unwrap()
        .register_extension(false)
        .shutdown_on(fake.drained())
        .run(|_: serde_json::Value, ctx: Context| async move {
            Ok::<_, Diagnostic>(serde_json::json!({
                "id": ctx.request_id(),
                "arn": ctx.invoked_function_arn(),
                "trace": ctx.xray_trace_id(),
                "trace_env": std::env::var("_X_AMZN_TRACE_ID").ok(),
                "app": ctx.client_context().map(|c| c.client.app_title.clone()),
                "pool": ctx.identity().map(|i| i.identity_pool_id.clone()),
                "tenant": ctx.tenant_id(),
                "function": ctx.config().function_name,
                "memory": ctx.config().memory_size_mb,
                "remaining_s": ctx.remaining_time().as_secs(),
            }))
        })
        .await
        .unwrap();
    let answers: Vec<serde_json::Value> = fake
        .seen()
        .iter()
        .filter(|s| s.path.ends_with("/response"))
        .map(|s| serde_json::from_slice(&s.body).unwrap())
        .collect();
    assert_eq!(answers[0]["id"], "r1");
    assert_eq!(
        answers[0]["arn"],
        "arn:aws:lambda:eu-west-1:1:function:fake"
    );
    assert_eq!(answers[0]["trace"], "Root=1-abc;Sampled=1");
    assert_eq!(answers[0]["trace_env"], "Root=1-abc;Sampled=1");
    assert_eq!(answers[0]["app"], "app");
    assert_eq!(answers[0]["pool"], "p");
    assert_eq!(answers[0]["tenant"], "t-1");
    assert_eq!(answers[0]["function"], "fake");
    assert_eq!(answers[0]["memory"], 128);
    assert!(answers[0]["remaining_s"].as_u64().unwrap() >= 55);
    assert_eq!(answers[1]["trace"], serde_json::Value::Null);
    assert_eq!(answers[1]["trace_env"], serde_json::Value::Null);
}

#[tokio::test]
async fn errors_and_panics_are_posted_to_error_and_the_loop_goes_on() {
    let fake = FakeApi::start(
        vec![
            Event::new("r1", "fail"),
            Event::new("r2", "panic"),
            Event::new("r3", "fine"),
        ],
        Quirks::default(),
    )
    .await;
    Runtime::from_lookup(fake.lookup())
        .unwrap()
        .register_extension(false)
        .shutdown_on(fake.drained())
        .run_raw(|body: Bytes, _ctx: Context| async move {
            match &body[..] {
                b"fail" => Err(Diagnostic::new("Function.Refused", "no")),
                b"panic" => panic!("at the handler"),
                _ => Ok(body),
            }
        })
        .await
        .unwrap();
    let posts: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .collect();
    assert_eq!(posts[0].path, "/2018-06-01/runtime/invocation/r1/error");
    assert_eq!(
        posts[0].header("lambda-runtime-function-error-type"),
        Some("Function.Refused")
    );
    assert_eq!(
        posts[0].text(),
        r#"{"errorType":"Function.Refused","errorMessage":"no"}"#
    );
    assert_eq!(posts[1].path, "/2018-06-01/runtime/invocation/r2/error");
    assert_eq!(
        posts[1].header("lambda-runtime-function-error-type"),
        Some("Runtime.HandlerPanic")
    );
    assert_eq!(
        posts[1].text(),
        r#"{"errorType":"Runtime.HandlerPanic","errorMessage":"the handler panicked: at the handler"}"#
    );
    // Negative control: the next event is answered normally.
    assert_eq!(posts[2].path, "/2018-06-01/runtime/invocation/r3/response");
    assert_eq!(posts[2].text(), "fine");
}

#[tokio::test]
async fn a_dropped_connection_is_reopened() {
    let fake = FakeApi::start(
        vec![
            Event::new("r1", "1"),
            Event::new("r2", "2"),
            Event::new("r3", "3"),
        ],
        Quirks {
            close_after_answer: true,
            ..Quirks::default()
        },
    )
    .await;
    Runtime::from_lookup(fake.lookup())
        .unwrap()
        .register_extension(false)
        .shutdown_on(fake.drained())
        .run_raw(|body: Bytes, _ctx: Context| async move { Ok::<_, Diagnostic>(body) })
        .await
        .unwrap();
    let answered: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "POST")
        .map(|s| s.text())
        .collect();
    assert_eq!(answered, ["1", "2", "3"]);
    assert_eq!(
        fake.connections(),
        4,
        "each answer closed one, the last /next is on the 4th"
    );
}

#[tokio::test]
async fn flush_hooks_run_after_each_answer_and_before_the_next_poll() {
    let fake = FakeApi::start(
        vec![Event::new("r1", "a"), Event::new("r2", "b")],
        Quirks::default(),
    )
    .await;
    let notes = fake.clone();
    let slow = fake.clone();
    Runtime::from_lookup(fake.lookup())
        .unwrap()
        .register_extension(false)
        .flush_timeout(Duration::from_millis(50))
        .on_flush("note", move || {
            let notes = notes.clone();
            async move {
                notes.note("flush");
                Ok(())
            }
        })
        .on_flush("too-slow", move || {
            let slow = slow.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                slow.note("never");
                Ok(())
            }
        })
        .shutdown_on(fake.drained())
        .run_raw(
            |body: Bytes, _ctx: Context| async move { Ok::<_, Diagnostic>(Response::new(body)) },
        )
        .await
        .unwrap();
    assert_eq!(
        fake.script(),
        [
            "GET next",
            "POST r1/response",
            "flush",
            "GET next",
            "POST r2/response",
            "flush",
            "GET next"
        ],
        "a slow flush hook is cut off at its limit"
    );
}

#[tokio::test]
async fn init_errors_are_reported_to_init_error() {
    let fake = FakeApi::start(vec![], Quirks::default()).await;
    let mut runtime = Runtime::from_lookup(fake.lookup()).unwrap();
    let value = runtime
        .init(async { Ok::<_, Diagnostic>(5) })
        .await
        .unwrap();
    assert_eq!(value, 5);
    assert!(fake.seen().is_empty(), "a successful init posts nothing");
    let err = runtime
        .init(async { Err::<(), _>(std::io::Error::other("no database")) })
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "initialisation failed: Error: no database");
    let seen = fake.seen();
    assert_eq!(seen[0].path, "/2018-06-01/runtime/init/error");
    assert_eq!(
        seen[0].header("lambda-runtime-function-error-type"),
        Some("Error")
    );
    assert_eq!(
        seen[0].text(),
        r#"{"errorType":"Error","errorMessage":"no database"}"#
    );

    // The configuration's own errors are posted too, before `from_lookup` returns.
    let fake = FakeApi::start(vec![], Quirks::default()).await;
    let good = fake.lookup();
    let addr = fake.addr.clone();
    let err = tokio::task::spawn_blocking(move || {
        // A blocking post: run it off the fake's runtime thread.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            Runtime::from_lookup(|k| match k {
                "AWS_LAMBDA_FUNCTION_VERSION" => None,
                _ => good(k),
            })
            .map(|_| ())
        })
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(err, lambda_grace::Error::Config(_)), "{err:?}");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "{addr}");
    assert_eq!(seen[0].path, "/2018-06-01/runtime/init/error");
    assert_eq!(
        seen[0].header("lambda-runtime-function-error-type"),
        Some("Runtime.ConfigInvalid")
    );
    assert!(
        seen[0]
            .text()
            .contains("AWS_LAMBDA_FUNCTION_VERSION is not set"),
        "{}",
        seen[0].text()
    );
}
