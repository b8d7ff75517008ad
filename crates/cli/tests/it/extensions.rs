//! External extensions from layers, SHUTDOWN events, and the Telemetry API (§2, §3, §4.4),
//! driven through `grace serve --layer` with a stdlib-Python extension that records what it
//! receives.

use std::path::PathBuf;
use std::time::Duration;

use crate::util::{Serve, poll_until, temp_dir, workspace_root};

fn recorder_layer() -> PathBuf {
    workspace_root().join("tests/fixtures/layers/recorder")
}

fn read_jsonl(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn a_telemetry_subscriber_sees_one_cold_invoke_in_the_documented_order_and_nothing_is_lost() {
    let out = temp_dir("telemetry").join("records.jsonl");
    let layer = recorder_layer();
    let env = format!("RECORDER_OUT={}", out.display());
    let s = Serve::testfn(
        "observed",
        &["--layer", layer.to_str().unwrap()],
        &[&env, "TESTFN_SIGTERM=handle"],
    );
    let a = s.invoke("observed", r#"{"log":"inside the handler"}"#);
    assert_eq!(a.status, 200, "{}", a.text());
    let request_id = a.header("x-amzn-requestid").unwrap().to_owned();
    assert!(
        s.stdout()
            .contains("[recorder] subscribed status=200 body=\"OK\""),
        "{}",
        s.stdout()
    );
    assert!(
        s.stdout()
            .contains("EXTENSION\tName: recorder\tState: Ready\tEvents: [INVOKE, SHUTDOWN]")
    );
    assert_eq!(s.spin_down(None), 1);
    assert!(s.wait_stdout(
        "[recorder] SHUTDOWN reason=spindown",
        Duration::from_secs(3)
    ));
    assert!(
        s.wait_stdout("[testfn] SIGTERM received", Duration::from_secs(1)),
        "external extension enables SIGTERM"
    );

    let lines = read_jsonl(&out);
    let events: Vec<&serde_json::Value> = lines.iter().filter_map(|l| l.get("event")).collect();
    assert_eq!(events[0]["eventType"], "INVOKE");
    assert_eq!(events[0]["requestId"], request_id.as_str());
    assert!(events[0]["deadlineMs"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(
        events[0]["invokedFunctionArn"]
            .as_str()
            .unwrap()
            .ends_with(":function:observed")
    );
    assert_eq!(events[0]["tracing"]["type"], "X-Amzn-Trace-Id");
    assert_eq!(events.last().unwrap()["eventType"], "SHUTDOWN");
    assert_eq!(events.last().unwrap()["shutdownReason"], "spindown");

    let records: Vec<&serde_json::Value> =
        lines.iter().filter_map(|l| l.get("telemetry")).collect();
    let types: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    let platform: Vec<&str> = types
        .iter()
        .copied()
        .filter(|t| t.starts_with("platform."))
        .collect();
    assert_eq!(
        platform,
        [
            "platform.initStart",
            "platform.telemetrySubscription",
            "platform.initRuntimeDone",
            "platform.extension",
            "platform.initReport",
            "platform.start",
            "platform.runtimeDone",
            "platform.report"
        ],
        "{types:?}"
    );
    let pos = |t: &str| types.iter().position(|x| *x == t).unwrap();
    let log = records
        .iter()
        .position(|r| r["type"] == "function" && r["record"] == "[testfn] log: inside the handler");
    let log = log.expect("the function's log line is delivered");
    assert!(
        pos("platform.start") < log && log < pos("platform.runtimeDone"),
        "{types:?}"
    );
    // The shutdown's own lines (the runtime's SIGTERM handler) arrive before SHUTDOWN.
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "function" && r["record"] == "[testfn] SIGTERM received"),
        "flushed at shutdown: {types:?}"
    );
    let by_type = |t: &str| records.iter().find(|r| r["type"] == t).unwrap()["record"].clone();
    for t in ["platform.start", "platform.runtimeDone", "platform.report"] {
        assert_eq!(by_type(t)["requestId"], request_id.as_str(), "{t}");
    }
    let report = by_type("platform.report");
    assert_eq!(report["status"], "success");
    let duration = report["metrics"]["durationMs"].as_f64().unwrap();
    let runtime_done = by_type("platform.runtimeDone")["metrics"]["durationMs"]
        .as_f64()
        .unwrap();
    assert!(
        duration > 0.0 && runtime_done > 0.0 && runtime_done <= duration,
        "{runtime_done} <= {duration}"
    );
    assert!(
        report["metrics"]["initDurationMs"].as_f64().unwrap() > 0.0,
        "cold start"
    );
    assert!(report["metrics"]["maxMemoryUsedMB"].as_u64().unwrap() >= 1);
    assert_eq!(by_type("platform.initStart")["phase"], "init");
    assert_eq!(by_type("platform.extension")["name"], "recorder");
    assert!(
        records
            .iter()
            .all(|r| r["time"].as_str().unwrap().ends_with('Z'))
    );
}

#[test]
fn shutdown_with_an_external_extension_gives_the_runtime_300ms_then_shutdown_to_the_extension() {
    let out = temp_dir("ext-budget").join("records.jsonl");
    let layer = recorder_layer();
    let env = format!("RECORDER_OUT={}", out.display());
    let s = Serve::testfn(
        "budgeted",
        &["--layer", layer.to_str().unwrap()],
        &[&env, "TESTFN_SIGTERM=ignore", "RECORDER_IGNORE_SHUTDOWN=1"],
    );
    s.invoke("budgeted", "{}");
    s.spin_down(None);
    let ev = s.events();
    let at = |kind: &str, role: Option<&str>| {
        ev.iter()
            .find(|e| e["type"] == kind && role.is_none_or(|r| e["role"] == r))
            .map(|e| e["time_us"].as_u64().unwrap())
            .unwrap_or_else(|| panic!("no {kind}: {ev:?}"))
    };
    let start = at("shutdown_start", None);
    let runtime_kill = at("sigkill", Some("runtime"));
    let ext_kill = at("sigkill", Some("extension"));
    let shutdown_event = at("shutdown_event", None);
    let ms = |a: u64, b: u64| (b - a) / 1000;
    assert!(
        (250..800).contains(&ms(at("sigterm", Some("runtime")), runtime_kill)),
        "runtime killed after ~300 ms"
    );
    assert!(
        runtime_kill <= shutdown_event,
        "SHUTDOWN only after the runtime is gone"
    );
    assert!(
        (1800..2800).contains(&ms(start, ext_kill)),
        "extension that ignores SHUTDOWN is killed at the 2,000 ms deadline"
    );
    let shutdown = read_jsonl(&out)
        .into_iter()
        .rev()
        .find_map(|l| l.get("event").cloned())
        .unwrap();
    assert_eq!(shutdown["eventType"], "SHUTDOWN");
    let deadline = shutdown["deadlineMs"].as_u64().unwrap();
    assert_eq!(
        deadline,
        ev.iter().find(|e| e["type"] == "shutdown_event").unwrap()["deadline_ms"]
            .as_u64()
            .unwrap()
    );
}

#[test]
fn registration_errors_get_the_documented_bodies() {
    let s = Serve::testfn("reg", &[], &["TESTFN_EXTENSION=first"]);
    s.invoke("reg", "{}");
    let env = s.environments().remove(0);
    let api = env["runtime_api"].as_str().unwrap().to_owned();
    let post = |path: &str, headers: &[(&str, &str)], body: &str| {
        crate::util::http(&api, "POST", path, headers, body.as_bytes())
    };
    // After init, registration is closed.
    let a = post(
        "/2020-01-01/extension/register",
        &[("Lambda-Extension-Name", "late")],
        r#"{"events":[]}"#,
    );
    assert_eq!(a.status, 403);
    assert_eq!(a.json()["errorType"], "Extension.RegistrationClosed");
    // Unknown, missing and malformed identifiers.
    let next = |id: Option<&str>| {
        let headers: Vec<(&str, &str)> = id
            .map(|i| vec![("Lambda-Extension-Identifier", i)])
            .unwrap_or_default();
        crate::util::http(
            &api,
            "GET",
            "/2020-01-01/extension/event/next",
            &headers,
            b"",
        )
    };
    assert_eq!(
        next(None).json()["errorType"],
        "Extension.MissingExtensionIdentifier"
    );
    assert_eq!(
        next(Some("nope")).json()["errorType"],
        "Extension.InvalidExtensionIdentifier"
    );
    assert_eq!(
        next(Some("6f1e4a4e-8a0e-4c1e-9d43-3c5f1f2b9a10")).json()["errorType"],
        "Extension.UnknownExtensionIdentifier"
    );
    // Telemetry after init is refused too.
    let a = crate::util::http(&api, "PUT", "/2022-07-01/telemetry", &[], b"{}");
    assert_eq!(a.status, 403);
    assert_eq!(
        a.json()["errorType"],
        "Extension.MissingExtensionIdentifier"
    );
}

#[test]
fn registration_limits_are_enforced_during_init() {
    // An init that hangs keeps registration open; the test registers through the Runtime API.
    let s = Serve::testfn(
        "limits",
        &["--init-timeout", "5s"],
        &["TESTFN_INIT=sleep:3000"],
    );
    let addr = s.addr.clone();
    let pending = std::thread::spawn(move || {
        crate::util::http(
            &addr,
            "POST",
            "/2015-03-31/functions/limits/invocations",
            &[],
            b"{}",
        )
    });
    assert!(poll_until(Duration::from_secs(3), || !s
        .environments()
        .is_empty()));
    let api = s.environments()[0]["runtime_api"]
        .as_str()
        .unwrap()
        .to_owned();
    let register = |name: &str, body: &str| {
        crate::util::http(
            &api,
            "POST",
            "/2020-01-01/extension/register",
            &[("Lambda-Extension-Name", name)],
            body.as_bytes(),
        )
    };
    let a = register("internal", r#"{"events":["INVOKE","SHUTDOWN"]}"#);
    assert_eq!(
        (a.status, a.json()["errorType"].as_str().unwrap()),
        (403, "Extension.InvalidEventType")
    );
    let a = register("", r#"{"events":[]}"#);
    assert_eq!(a.json()["errorType"], "Extension.InvalidExtensionName");
    let a = register("x", r#"{"events":["BOGUS"]}"#);
    assert_eq!(a.json()["errorType"], "Extension.InvalidEventType");
    for i in 0..10 {
        let a = register(&format!("ext-{i}"), r#"{"events":[]}"#);
        assert_eq!(a.status, 200, "registration {i}: {}", a.text());
        assert_eq!(a.json()["functionName"], "limits");
        assert!(a.header("lambda-extension-identifier").is_some());
    }
    let a = register("ext-10", r#"{"events":[]}"#);
    assert_eq!(
        (a.status, a.json()["errorType"].as_str().unwrap()),
        (403, "Extension.TooManyExtensions")
    );
    let a = register("ext-0", r#"{"events":[]}"#);
    assert_eq!(a.json()["errorType"], "Extension.InvalidExtensionState");
    // Ten extensions that never call event/next: init cannot complete (§6 gotcha 11).
    let answer = pending.join().unwrap();
    assert_eq!(answer.json()["errorType"], "Sandbox.Timedout");
}

#[test]
fn an_extension_that_crashes_resets_the_environment() {
    let layer = crate::util::workspace_root().join("tests/fixtures/layers/crasher");
    let s = Serve::testfn("crashy-ext", &["--layer", layer.to_str().unwrap()], &[]);
    let first = s.invoke("crashy-ext", r#"{"headers":true}"#);
    assert_eq!(first.status, 200, "{}", first.text());
    let pid = first.json()["pid"].as_u64().unwrap();
    assert!(s.wait_stdout("[crasher] got INVOKE, crashing", Duration::from_secs(3)));
    // The crash resets the environment (reason failure); the next invoke gets a fresh one.
    assert!(poll_until(Duration::from_secs(5), || s
        .events()
        .iter()
        .any(
            |e| e["type"] == "shutdown_start" && e["reason"] == "failure"
        )));
    assert!(s.events().iter().any(|e| e["type"] == "process_exit"
        && e["role"] == "extension"
        && e["exit"] == "exit status 3"
        && e["during_shutdown"] == false));
    let next = s.invoke("crashy-ext", r#"{"headers":true}"#);
    assert_eq!(next.status, 200, "{}", next.text());
    assert_ne!(
        next.json()["pid"].as_u64().unwrap(),
        pid,
        "a new environment after the reset"
    );
    // Negative control: with the recorder extension (which does not crash) the environment is reused.
    let out = temp_dir("no-crash").join("r.jsonl");
    let env = format!("RECORDER_OUT={}", out.display());
    let s = Serve::testfn(
        "steady",
        &["--layer", recorder_layer().to_str().unwrap()],
        &[&env],
    );
    let a = s.invoke("steady", r#"{"headers":true}"#).json()["pid"]
        .as_u64()
        .unwrap();
    let b = s.invoke("steady", r#"{"headers":true}"#).json()["pid"]
        .as_u64()
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn a_logs_api_subscriber_gets_the_logs_api_records() {
    let out = temp_dir("logs-api").join("records.jsonl");
    let env = format!("RECORDER_OUT={}", out.display());
    let s = Serve::testfn(
        "logged",
        &["--layer", recorder_layer().to_str().unwrap()],
        &[&env, "RECORDER_API=logs"],
    );
    let ok = s.invoke("logged", r#"{"log":"via the logs api"}"#);
    let id = ok.header("x-amzn-requestid").unwrap().to_owned();
    let crash = s.invoke("logged", r#"{"crash":3}"#);
    assert_eq!(crash.json()["errorType"], "Runtime.ExitError");
    // The crash resets the environment in the background: its telemetry is flushed to the
    // recorder before the recorder gets SHUTDOWN, so wait for that.
    assert!(
        s.wait_stdout("[recorder] SHUTDOWN reason=failure", Duration::from_secs(5)),
        "{}",
        s.stdout()
    );
    assert!(s.stdout().contains("[recorder] subscribed status=200"));
    let records: Vec<serde_json::Value> = read_jsonl(&out)
        .into_iter()
        .filter_map(|l| l.get("telemetry").cloned())
        .collect();
    let types: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    for t in [
        "platform.logsSubscription",
        "platform.start",
        "platform.end",
        "platform.report",
        "platform.fault",
        "function",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    // The Telemetry API's own records are not the Logs API's.
    for t in [
        "platform.initStart",
        "platform.initReport",
        "platform.telemetrySubscription",
    ] {
        assert!(
            !types.contains(&t),
            "{t} should not reach a Logs API subscriber: {types:?}"
        );
    }
    let end = records
        .iter()
        .find(|r| r["type"] == "platform.end")
        .unwrap();
    assert_eq!(end["record"]["requestId"], id.as_str());
    let fault = records
        .iter()
        .find(|r| r["type"] == "platform.fault")
        .unwrap();
    assert!(
        fault["record"]
            .as_str()
            .unwrap()
            .contains("Runtime exited with error: exit status 3")
    );
    // Negative control: a Telemetry API subscriber gets initStart and no platform.end.
    let out = temp_dir("telemetry-api").join("records.jsonl");
    let env = format!("RECORDER_OUT={}", out.display());
    let s = Serve::testfn(
        "telemetered",
        &["--layer", recorder_layer().to_str().unwrap()],
        &[&env],
    );
    s.invoke("telemetered", "{}");
    s.spin_down(None);
    let types: Vec<String> = read_jsonl(&out)
        .into_iter()
        .filter_map(|l| {
            l.get("telemetry")
                .and_then(|r| r["type"].as_str().map(str::to_owned))
        })
        .collect();
    assert!(
        types.contains(&"platform.initStart".to_owned())
            && !types.contains(&"platform.end".to_owned()),
        "{types:?}"
    );
}
