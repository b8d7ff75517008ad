//! The emulator core, driven through `grace serve` with the scriptable runtime `grace-testfn`:
//! the Runtime API contract, the lifecycle (init, invoke, freeze, timeout, crash, spin-down),
//! the pool and the Invoke API. Each behaviour has its negative control next to it.

use std::time::Duration;

use base64::Engine as _;

use crate::util::{Serve, alive, poll_until, signal, temp_dir};

fn pid_of(a: &crate::util::Answer) -> u64 {
    a.json()["pid"].as_u64().expect("pid in answer")
}

#[test]
fn echo_answers_with_every_runtime_header_and_variable() {
    let s = Serve::testfn("echo", &["--memory", "256", "--timeout", "5s"], &[]);
    let a = s.invoke("echo", r#"{"hello":"world"}"#);
    assert_eq!(a.status, 200);
    assert_eq!(a.json(), serde_json::json!({"hello":"world"}));
    assert_eq!(a.header("x-amz-executed-version"), Some("$LATEST"));
    assert!(a.header("x-amz-function-error").is_none());

    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let h = s.invoke("echo", r#"{"headers":true}"#).json();
    let deadline: u64 = h["lambda-runtime-deadline-ms"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        deadline >= before + 4_000 && deadline <= before + 6_000,
        "deadline {deadline} vs now {before}"
    );
    assert_eq!(
        h["lambda-runtime-invoked-function-arn"],
        "arn:aws:lambda:us-east-1:123456789012:function:echo"
    );
    assert_eq!(
        h["lambda-runtime-aws-request-id"].as_str().unwrap().len(),
        36
    );
    assert!(
        h["lambda-runtime-trace-id"]
            .as_str()
            .unwrap()
            .starts_with("Root=1-")
    );
    let env = &h["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "echo");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/echo");
    assert!(
        env["AWS_LAMBDA_LOG_STREAM_NAME"]
            .as_str()
            .unwrap()
            .contains("[$LATEST]")
    );
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["_HANDLER"], "bootstrap");
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert_eq!(env["LAMBDA_TASK_ROOT"], h["cwd"]);

    // START / END / REPORT, in AWS's order, with measured memory and a cold-start Init Duration.
    assert!(poll_until(Duration::from_secs(5), || s
        .stdout()
        .matches("REPORT RequestId")
        .count()
        == 2));
    let out = s.stdout();
    let first_report = out.lines().find(|l| l.starts_with("REPORT")).unwrap();
    assert!(
        first_report.contains("\tMemory Size: 256 MB\t"),
        "{first_report}"
    );
    assert!(
        first_report.contains("Init Duration: "),
        "cold start reports init: {first_report}"
    );
    let used: u64 = first_report
        .split("Max Memory Used: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(used >= 1, "memory is measured: {first_report}");
    let second_report = out
        .lines()
        .filter(|l| l.starts_with("REPORT"))
        .nth(1)
        .unwrap();
    assert!(
        !second_report.contains("Init Duration"),
        "warm invokes do not: {second_report}"
    );
    let start = out.find("START RequestId").unwrap();
    let end = out.find("END RequestId").unwrap();
    assert!(start < end && end < out.find("REPORT RequestId").unwrap());
}

#[test]
fn timeout_fails_the_invoke_and_resets_the_environment() {
    let s = Serve::testfn("slow", &["--timeout", "1s"], &[]);
    let first = pid_of(&s.invoke("slow", r#"{"headers":true}"#));
    // Negative control: a handler inside the timeout is answered normally.
    let ok = s.invoke("slow", r#"{"sleep_ms":100}"#);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json(), serde_json::json!({"slept_ms":100}));

    let a = s.invoke("slow", r#"{"sleep_ms":5000}"#);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-amz-function-error"), Some("Unhandled"));
    let body = a.json();
    assert_eq!(body["errorType"], "Sandbox.Timedout");
    let msg = body["errorMessage"].as_str().unwrap();
    assert!(msg.contains("Task timed out after 1.0"), "{msg}");
    assert!(s.wait_stdout("Status: timeout", Duration::from_secs(2)));

    let next = s.invoke("slow", r#"{"headers":true}"#);
    assert_eq!(next.status, 200);
    assert_ne!(
        pid_of(&next),
        first,
        "a timed-out environment is not reused"
    );
    assert!(!alive(first as u32), "the timed-out runtime is gone");
}

#[test]
fn crash_mid_invoke_is_a_runtime_exit_error_and_the_next_invoke_gets_a_fresh_environment() {
    let s = Serve::testfn("crashy", &[], &[]);
    let first = pid_of(&s.invoke("crashy", r#"{"headers":true}"#));
    let a = s.invoke("crashy", r#"{"crash":3}"#);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-amz-function-error"), Some("Unhandled"));
    let body = a.json();
    assert_eq!(body["errorType"], "Runtime.ExitError");
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .ends_with("Error: Runtime exited with error: exit status 3")
    );
    let next = s.invoke("crashy", r#"{"headers":true}"#);
    assert_eq!(next.status, 200);
    assert_ne!(pid_of(&next), first);
}

#[test]
fn function_error_passes_the_runtime_payload_through() {
    let s = Serve::testfn("errs", &[], &[]);
    let a = s.invoke("errs", r#"{"error":"boom"}"#);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(
        a.json(),
        serde_json::json!({"errorType":"Function.TestError","errorMessage":"boom"})
    );
    // An /error is a normal completion: the environment is reused.
    let pid = pid_of(&s.invoke("errs", r#"{"headers":true}"#));
    assert_eq!(pid_of(&s.invoke("errs", r#"{"headers":true}"#)), pid);
}

#[test]
fn init_failure_is_served_to_the_first_invoke_and_the_next_runs_a_suppressed_init() {
    let marker = temp_dir("init-once").join("failed-once");
    let env = format!("TESTFN_INIT_FAIL_ONCE={}", marker.display());
    let s = Serve::testfn("fragile", &[], &[&env]);
    let a = s.invoke("fragile", "{}");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(a.json()["errorType"], "Runtime.TestInitError");
    let b = s.invoke("fragile", r#"{"x":1}"#);
    assert_eq!(b.status, 200);
    assert_eq!(b.json(), serde_json::json!({"x":1}));
    let phases: Vec<String> = s
        .events()
        .iter()
        .filter(|e| e["type"] == "init_start")
        .map(|e| e["phase"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(phases, ["init", "invoke"], "the retry is a suppressed init");
    assert!(s.stdout().contains("INIT_REPORT Init Duration"));
}

#[test]
fn init_crash_and_init_timeout_are_reported() {
    let s = Serve::testfn("dead", &[], &["TESTFN_INIT=crash"]);
    let a = s.invoke("dead", "{}");
    assert_eq!(a.json()["errorType"], "Runtime.ExitError");
    assert!(
        a.json()["errorMessage"]
            .as_str()
            .unwrap()
            .contains("exit status 3")
    );
    drop(s);
    let s = Serve::testfn("stuck", &["--init-timeout", "500ms"], &["TESTFN_INIT=hang"]);
    let a = s.invoke("stuck", "{}");
    assert_eq!(a.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(a.json()["errorType"], "Sandbox.Timedout");
}

#[test]
fn runtime_api_errors_have_the_documented_codes_and_bodies() {
    let s = Serve::testfn("strict", &[], &[]);
    // Unknown request id: 400 InvalidRequestID to the runtime; the caller still gets its answer.
    let a = s.invoke("strict", r#"{"bad_id":true}"#);
    assert_eq!(a.json(), serde_json::json!({"ok":true}));
    assert!(s.wait_stdout(
        r#"bad id status=400 body={"errorType":"InvalidRequestID","errorMessage":"Invalid request ID"}"#,
        Duration::from_secs(2)
    ));
    // A second response: 403 InvalidStateTransition; the caller got the first.
    let a = s.invoke("strict", r#"{"respond_twice":true}"#);
    assert_eq!(a.json(), serde_json::json!({"first":true}));
    assert!(s.wait_stdout(
        r#"second response status=403 body={"errorType":"InvalidStateTransition""#,
        Duration::from_secs(2)
    ));
    // Oversized response: 413 to the runtime, Function.ResponseSizeTooLarge to the caller.
    let a = s.invoke("strict", r#"{"response_bytes":6291557}"#);
    assert_eq!(a.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(a.json()["errorType"], "Function.ResponseSizeTooLarge");
    assert!(s.wait_stdout(
        r#"response status=413 body={"errorType":"RequestEntityTooLarge""#,
        Duration::from_secs(2)
    ));
    // Negative control: a response at the limit is accepted.
    let a = s.invoke("strict", r#"{"response_bytes":6291556}"#);
    assert!(a.header("x-amz-function-error").is_none());
    assert_eq!(a.body.len(), 6_291_556);
    // The environment is still good.
    assert_eq!(
        s.invoke("strict", r#"{"y":2}"#).json(),
        serde_json::json!({"y":2})
    );
}

#[test]
fn invoke_api_refuses_bad_requests_like_lambda() {
    let s = Serve::testfn("api", &[], &[]);
    let a = s.invoke("nope", "{}");
    assert_eq!(a.status, 404);
    assert_eq!(
        a.header("x-amzn-errortype"),
        Some("ResourceNotFoundException")
    );
    let big = format!("\"{}\"", "a".repeat(6 * 1024 * 1024));
    let a = s.invoke("api", &big);
    assert_eq!(a.status, 413);
    assert_eq!(
        a.header("x-amzn-errortype"),
        Some("RequestTooLargeException")
    );
    let a = s.invoke("api", "{not json");
    assert_eq!(a.status, 400);
    assert_eq!(
        a.header("x-amzn-errortype"),
        Some("InvalidRequestContentException")
    );
    let a = s.invoke_with("api", "{}", &[("X-Amz-Invocation-Type", "DryRun")]);
    assert_eq!(a.status, 204);
    let a = s.invoke_with("api", "{}", &[("X-Amz-Invocation-Type", "Sometimes")]);
    assert_eq!(a.status, 400);
    // ARN and qualifier forms name the same function.
    let arn = "arn:aws:lambda:us-east-1:123456789012:function:api";
    assert_eq!(
        s.invoke(arn, r#"{"z":1}"#).json(),
        serde_json::json!({"z":1})
    );
}

#[test]
fn tail_returns_the_invocations_log() {
    let s = Serve::testfn("tail", &[], &[]);
    let a = s.invoke_with(
        "tail",
        r#"{"log":"hello from the handler"}"#,
        &[("X-Amz-Log-Type", "Tail")],
    );
    let log = base64::engine::general_purpose::STANDARD
        .decode(a.header("x-amz-log-result").unwrap())
        .unwrap();
    let log = String::from_utf8(log).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines[0].starts_with("START RequestId: "), "{log}");
    assert_eq!(lines[1], "[testfn] log: hello from the handler");
    assert!(lines[2].starts_with("END RequestId: "));
    assert!(lines[3].starts_with("REPORT RequestId: "));
    // Negative control: without Tail, no log result.
    assert!(s.invoke("tail", "{}").header("x-amz-log-result").is_none());
}

#[test]
fn idle_environments_are_frozen_and_thawed() {
    let s = Serve::testfn("frosty", &[], &[]);
    let pid = pid_of(&s.invoke("frosty", r#"{"headers":true}"#)) as u32;
    assert!(
        poll_until(Duration::from_secs(2), || grace_emulator::proc_state(pid)
            == Some('T')),
        "idle runtime is stopped"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        s.invoke("frosty", r#"{"after":"freeze"}"#).json(),
        serde_json::json!({"after":"freeze"})
    );
    assert!(poll_until(Duration::from_secs(2), || {
        let types = s.event_types(None);
        types.iter().filter(|t| *t == "freeze").count() >= 2 && types.contains(&"thaw".to_owned())
    }));

    let s = Serve::testfn("warm", &["--no-freeze"], &[]);
    let pid = pid_of(&s.invoke("warm", r#"{"headers":true}"#)) as u32;
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        grace_emulator::proc_state(pid),
        Some('S'),
        "with --no-freeze the runtime sleeps in /next"
    );
    assert!(!s.event_types(None).contains(&"freeze".to_owned()));
}

/// (type, time_us) of the events of the last environment.
fn timeline(s: &Serve) -> Vec<(String, u64)> {
    s.events()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["time_us"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn spin_down_sends_sigterm_only_when_an_extension_is_registered() {
    let s = Serve::testfn(
        "graceful",
        &[],
        &[
            "TESTFN_EXTENSION=noop",
            "TESTFN_SIGTERM=handle",
            "TESTFN_CLEANUP_MS=50",
        ],
    );
    s.invoke("graceful", "{}");
    assert_eq!(s.spin_down(Some("graceful")), 1);
    assert!(s.wait_stdout("[testfn] SIGTERM received", Duration::from_secs(3)));
    assert!(s.wait_stdout("[testfn] cleanup done", Duration::from_secs(3)));
    let types = s.event_types(None);
    assert!(
        types.contains(&"sigterm".to_owned()) && !types.contains(&"sigkill".to_owned()),
        "{types:?}"
    );

    // Negative control: the same runtime without an extension gets SIGKILL and no SIGTERM.
    let s = Serve::testfn("abrupt", &[], &["TESTFN_SIGTERM=handle"]);
    s.invoke("abrupt", "{}");
    assert_eq!(s.spin_down(None), 1);
    let types = s.event_types(None);
    assert!(
        types.contains(&"sigkill".to_owned()) && !types.contains(&"sigterm".to_owned()),
        "{types:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(!s.stdout().contains("SIGTERM received"));
}

#[test]
fn a_runtime_that_ignores_sigterm_is_killed_at_the_budget() {
    let s = Serve::testfn(
        "stubborn",
        &[],
        &["TESTFN_EXTENSION=noop", "TESTFN_SIGTERM=ignore"],
    );
    let pid = pid_of(&s.invoke("stubborn", r#"{"headers":true}"#)) as u32;
    s.spin_down(None);
    assert!(
        s.stdout().contains("SIGTERM received (ignored)")
            || s.wait_stdout("SIGTERM received (ignored)", Duration::from_secs(2))
    );
    let t = timeline(&s);
    let at = |kind: &str| {
        t.iter()
            .find(|(k, _)| k == kind)
            .map(|(_, us)| *us)
            .unwrap_or_else(|| panic!("no {kind} in {t:?}"))
    };
    let grace_ms = (at("sigkill") - at("sigterm")) / 1000;
    assert!(
        (450..1500).contains(&grace_ms),
        "SIGKILL {grace_ms} ms after SIGTERM (budget 500 ms)"
    );
    assert!(!alive(pid));

    // A shorter budget is honoured too.
    let s = Serve::testfn(
        "stubborn2",
        &["--runtime-budget", "100ms"],
        &["TESTFN_EXTENSION=noop", "TESTFN_SIGTERM=ignore"],
    );
    s.invoke("stubborn2", "{}");
    s.spin_down(None);
    let t = timeline(&s);
    let at = |kind: &str| {
        t.iter()
            .find(|(k, _)| k == kind)
            .map(|(_, us)| *us)
            .unwrap()
    };
    let grace_ms = (at("sigkill") - at("sigterm")) / 1000;
    assert!(
        (90..450).contains(&grace_ms),
        "SIGKILL {grace_ms} ms after SIGTERM (budget 100 ms)"
    );
}

#[test]
fn idle_shutdown_spins_environments_down_by_itself() {
    let s = Serve::testfn(
        "idle",
        &["--idle-shutdown", "300ms"],
        &["TESTFN_EXTENSION=noop", "TESTFN_SIGTERM=handle"],
    );
    s.invoke("idle", "{}");
    assert!(s.wait_stdout("[testfn] SIGTERM received", Duration::from_secs(5)));
    assert!(poll_until(Duration::from_secs(3), || s
        .environments()
        .is_empty()));
    // The function still answers: a new environment starts.
    assert_eq!(
        s.invoke("idle", r#"{"again":true}"#).json(),
        serde_json::json!({"again":true})
    );
}

#[test]
fn concurrency_runs_parallel_invokes_in_separate_environments_and_throttles_beyond() {
    let s = Serve::testfn("wide", &["--concurrency", "3", "--timeout", "10s"], &[]);
    let addr = s.addr.clone();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                crate::util::http(
                    &addr,
                    "POST",
                    "/2015-03-31/functions/wide/invocations",
                    &[],
                    br#"{"sleep_ms":1500,"headers":true}"#,
                )
            })
        })
        .collect();
    assert!(poll_until(Duration::from_secs(5), || s
        .environments()
        .iter()
        .filter(|e| e["phase"] == "busy")
        .count()
        == 3));
    let extra = s.invoke("wide", "{}");
    assert_eq!(extra.status, 429);
    assert_eq!(
        extra.header("x-amzn-errortype"),
        Some("TooManyRequestsException")
    );
    let mut pids: Vec<u64> = handles
        .into_iter()
        .map(|h| pid_of(&h.join().unwrap()))
        .collect();
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 3, "three environments");
    // Negative control: once they are idle, the next invoke is served.
    assert_eq!(s.invoke("wide", r#"{"k":1}"#).status, 200);
}

#[test]
fn sequential_invokes_at_concurrency_one_are_never_throttled() {
    let s = Serve::testfn("one", &["--concurrency", "1", "--no-freeze"], &[]);
    for i in 0..200 {
        let a = s.invoke("one", &format!("{{\"i\":{i}}}"));
        assert_eq!(a.status, 200, "invoke {i}: {}", a.text());
    }
}

#[test]
fn no_process_survives_a_sigkilled_emulator() {
    let s = Serve::testfn("orphans", &["--concurrency", "2"], &[]);
    let mut pids = Vec::new();
    let a = s.invoke("orphans", r#"{"spawn_child":true}"#);
    pids.push(a.json()["child_pid"].as_u64().unwrap() as u32);
    pids.extend(s.runtime_pids());
    assert!(pids.len() >= 2 && pids.iter().all(|p| alive(*p)));
    signal(s.child.id(), "KILL");
    assert!(
        poll_until(Duration::from_secs(5), || pids.iter().all(|p| !alive(*p))),
        "left behind: {:?}",
        pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>()
    );
}

#[test]
fn stopping_the_emulator_finishes_invocations_in_flight_then_spins_down_gracefully() {
    let s = Serve::testfn(
        "drain",
        &["--timeout", "10s"],
        &["TESTFN_EXTENSION=noop", "TESTFN_SIGTERM=handle"],
    );
    let pid = pid_of(&s.invoke("drain", r#"{"headers":true}"#)) as u32;
    let addr = s.addr.clone();
    let inflight = std::thread::spawn(move || {
        crate::util::http(
            &addr,
            "POST",
            "/2015-03-31/functions/drain/invocations",
            &[],
            br#"{"sleep_ms":700}"#,
        )
    });
    std::thread::sleep(Duration::from_millis(200));
    let out = s.stdout_handle();
    let status = s.stop();
    assert!(status.success(), "{status:?}");
    let a = inflight.join().unwrap();
    assert_eq!(
        a.json(),
        serde_json::json!({"slept_ms":700}),
        "the invocation in flight finished"
    );
    // The reader thread may still be copying grace's last lines.
    assert!(
        poll_until(Duration::from_secs(2), || out
            .lock()
            .unwrap()
            .contains("[testfn] SIGTERM received")),
        "spun down gracefully"
    );
    assert!(!alive(pid));
}

#[test]
fn event_invokes_are_queued_and_retried_on_error() {
    let s = Serve::testfn("later", &["--async-retry-delay", "100ms"], &[]);
    let a = s.invoke_with(
        "later",
        r#"{"log":"queued work"}"#,
        &[("X-Amz-Invocation-Type", "Event")],
    );
    assert_eq!(a.status, 202);
    assert!(a.body.is_empty());
    assert!(s.wait_stdout("[testfn] log: queued work", Duration::from_secs(5)));
    let a = s.invoke_with(
        "later",
        r#"{"log":"doomed","error":"always"}"#,
        &[("X-Amz-Invocation-Type", "Event")],
    );
    assert_eq!(a.status, 202);
    assert!(poll_until(Duration::from_secs(5), || s
        .stdout()
        .matches("[testfn] log: doomed")
        .count()
        == 3));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        s.stdout().matches("[testfn] log: doomed").count(),
        3,
        "one try and two retries, no more"
    );
    assert_eq!(
        s.stdout().matches("[testfn] log: queued work").count(),
        1,
        "a success is not retried"
    );
}

#[test]
fn streamed_responses_reach_the_caller_as_they_arrive_with_error_trailers() {
    use std::io::{Read, Write};
    let s = Serve::testfn("streamer", &[], &[]);
    let payload = r#"{"stream":["part-1;","part-2;","part-3"],"stream_pause_ms":400,"stream_error":"late failure"}"#;
    let mut conn = std::net::TcpStream::connect(&s.addr).unwrap();
    let started = std::time::Instant::now();
    write!(
        conn,
        "POST /2015-03-31/functions/streamer/invocations HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let mut first_chunk_at = None;
    loop {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if first_chunk_at.is_none() && String::from_utf8_lossy(&raw).contains("part-1;") {
            first_chunk_at = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let text = String::from_utf8_lossy(&raw).to_lowercase();
    let first = first_chunk_at.expect("first chunk");
    assert!(
        total >= Duration::from_millis(800),
        "two pauses of 400 ms: {total:?}"
    );
    assert!(
        first + Duration::from_millis(600) < total,
        "the first chunk came early ({first:?} of {total:?})"
    );
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    assert!(text.contains("part-3"));
    assert!(
        text.contains("lambda-runtime-function-error-type: function.streamerror"),
        "trailers passed on: {text}"
    );
    assert!(s.wait_stdout("Error Type: Function.StreamError", Duration::from_secs(2)));
    // Negative control: a stream without an error ends cleanly and the REPORT has no error.
    let a = s.invoke("streamer", r#"{"stream":["a","b"]}"#);
    assert_eq!(a.text(), "ab");
    assert!(a.header("x-amz-function-error").is_none());
}

/// Sends an invoke and hangs up after `after`, without reading the answer.
fn hang_up_after(s: &Serve, function: &str, payload: &str, after: Duration) {
    use std::io::Write;
    let mut c = std::net::TcpStream::connect(&s.addr).unwrap();
    write!(
        c,
        "POST /2015-03-31/functions/{function}/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    std::thread::sleep(after);
    drop(c);
}

#[test]
fn callers_that_hang_up_lose_no_environment() {
    let s = Serve::testfn(
        "hangup",
        &["--concurrency", "1", "--timeout", "1s"],
        &["TESTFN_INIT=sleep:300"],
    );
    // During the cold start: the environment still joins the pool and serves the next invoke.
    hang_up_after(&s, "hangup", "{}", Duration::from_millis(50));
    assert!(poll_until(Duration::from_secs(3), || s
        .environments()
        .iter()
        .any(|e| e["phase"] == "idle")));
    let a = s.invoke("hangup", r#"{"headers":true}"#);
    assert_eq!(a.status, 200, "{}", a.text());
    let first = pid_of(&a);
    assert_eq!(s.environments().len(), 1);
    // Mid-invoke, with a handler slower than the timeout: the invocation still times out and
    // the environment resets; the function is not stuck at 429.
    hang_up_after(
        &s,
        "hangup",
        r#"{"sleep_ms":5000}"#,
        Duration::from_millis(100),
    );
    assert!(poll_until(Duration::from_secs(3), || s
        .event_types(None)
        .contains(&"timeout".to_owned())));
    let a = s.invoke("hangup", r#"{"headers":true}"#);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_ne!(pid_of(&a), first, "a fresh environment after the reset");
}

#[test]
fn the_control_endpoint_serves_the_timeline_and_the_trace() {
    let s = Serve::testfn(
        "traced",
        &[],
        &["TESTFN_EXTENSION=noop", "TESTFN_SIGTERM=handle"],
    );
    let trace = |s: &Serve| {
        let a = s.request("GET", "/grace/v1/trace.json", &[], b"");
        assert_eq!(a.status, 200, "{}", a.text());
        assert_eq!(a.header("content-type"), Some("application/json"));
        a.json()["traceEvents"].as_array().cloned().unwrap()
    };
    // Negative control: nothing has run yet, so there is nothing to trace.
    assert!(trace(&s).is_empty());
    s.invoke("traced", "{}");
    s.spin_down(None);
    assert!(poll_until(Duration::from_secs(5), || {
        s.event_types(None).contains(&"shutdown_done".to_owned())
    }));
    let events = trace(&s);
    for e in &events {
        assert!(matches!(e["ph"].as_str(), Some("X" | "i" | "M")), "{e}");
        assert!(
            e["ts"].is_u64() && e["pid"].is_u64() && e["tid"].is_u64(),
            "{e}"
        );
    }
    let has = |cat: &str| events.iter().any(|e| e["cat"] == cat);
    assert!(has("init") && has("invoke") && has("sigterm") && has("exit"));
    let svg = s.request("GET", "/grace/v1/timeline.svg", &[], b"");
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(svg.text().contains("class=\"sigterm\""));
}

#[test]
fn the_serve_timeline_draws_the_runtimes_shutdown_hooks() {
    let hello = crate::util::workspace_bin("hello");
    let s = Serve::start(&["--name", "hello", "--", hello.to_str().unwrap()]);
    let hooks = |s: &Serve| {
        let a = s.request("GET", "/grace/v1/trace.json", &[], b"");
        assert_eq!(a.status, 200, "{}", a.text());
        a.json()["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["cat"] == "hook")
            .count()
    };
    assert_eq!(s.invoke("hello", "{}").status, 200);
    // Negative control: no spin-down yet, so no shutdown report and no hook.
    assert_eq!(hooks(&s), 0);
    s.spin_down(None);
    assert!(poll_until(Duration::from_secs(5), || {
        s.event_types(None).contains(&"shutdown_done".to_owned())
    }));
    // The runtime's report line arrives with its exit; hello has two hooks.
    assert!(poll_until(Duration::from_secs(5), || hooks(&s) >= 2));
    let svg = s.request("GET", "/grace/v1/timeline.svg", &[], b"");
    assert!(svg.text().contains("class=\"hook\""), "{}", svg.text());
}
