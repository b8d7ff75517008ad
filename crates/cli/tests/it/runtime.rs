//! The `lambda-grace` runtime client, run as real functions (`examples/echo`, `examples/hello`)
//! under `grace serve`: the invoke loop, errors and panics, graceful shutdown (hooks in reverse
//! order inside the budget, the report line, exit before the SIGKILL), flush hooks before the
//! freeze, init errors, logging. Each behaviour has its negative control next to it.
//!
//! Build the examples first (`cargo build -p example-echo -p example-hello`);
//! `cargo test --workspace` builds them.

use std::time::Duration;

use crate::util::{Answer, Serve, poll_until, report_line, workspace_bin};

fn hello(flags: &[&str], env: &[&str]) -> Serve {
    function("hello", flags, env)
}

fn function(bin: &str, flags: &[&str], env: &[&str]) -> Serve {
    let path = workspace_bin(bin);
    let path = path.to_string_lossy();
    let mut args: Vec<&str> = flags.to_vec();
    for e in env {
        args.extend(["--env", e]);
    }
    args.extend(["--name", bin, "--", &path]);
    Serve::start(&args)
}

fn pid(a: &Answer) -> u64 {
    a.json()["pid"].as_u64().expect("pid in the answer")
}

/// `(type, time_us)` of every lifecycle event.
fn timeline(s: &Serve) -> Vec<(String, u64)> {
    s.events()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_owned(),
                e["time_us"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

fn first(t: &[(String, u64)], kind: &str) -> Option<u64> {
    t.iter().find(|(k, _)| k == kind).map(|(_, us)| *us)
}

/// Waits until the environment has been frozen `n` times: it is idle, so the next invoke goes
/// to it rather than to a new one.
fn wait_idle(s: &Serve, n: usize) {
    let frozen = || timeline(s).iter().filter(|(k, _)| k == "freeze").count() >= n;
    assert!(
        poll_until(Duration::from_secs(5), frozen),
        "{:?}",
        timeline(s)
    );
}

/// The timeline once the runtime process has exited (by itself or killed): a reset goes on in
/// the background after the invoke was answered.
fn wait_for_exit(s: &Serve) -> Vec<(String, u64)> {
    let mut t = Vec::new();
    let exited = poll_until(Duration::from_secs(3), || {
        t = timeline(s);
        first(&t, "process_exit").is_some()
    });
    assert!(exited, "{t:?}");
    t
}

/// `N.Nms of` in the report: the time the shutdown took.
fn report_elapsed_ms(line: &str) -> f64 {
    let head = line.rsplit("; ").next().unwrap_or_default();
    head.split("ms of").next().unwrap().trim().parse().unwrap()
}

#[test]
fn echo_returns_each_event_unchanged_on_one_environment() {
    let s = function("echo", &[], &[]);
    // Different payloads, each answered with itself (so not a canned answer).
    for (n, payload) in [r#"{"hello":"world"}"#, r#"[1,2,{"x":null}]"#, r#""text""#]
        .into_iter()
        .enumerate()
    {
        wait_idle(&s, n);
        let a = s.invoke("echo", payload);
        assert_eq!(a.status, 200);
        assert!(a.header("x-amz-function-error").is_none(), "{}", a.text());
        assert_eq!(
            a.json(),
            serde_json::from_str::<serde_json::Value>(payload).unwrap()
        );
    }
    assert_eq!(s.runtime_pids().len(), 1, "one environment served them all");
}

#[test]
fn a_handler_error_is_an_unhandled_function_error_with_its_type_and_message() {
    let s = hello(&[], &[]);
    let a = s.invoke("hello", r#"{"error":"no greeting today"}"#);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(
        a.json(),
        serde_json::json!({"errorType":"Hello.Failed","errorMessage":"no greeting today"})
    );
    // An event the handler's type does not accept is a function error too.
    let a = s.invoke("hello", r#"{"name":5}"#);
    assert_eq!(a.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(a.json()["errorType"], "Runtime.InvalidEvent");
    // Negative control: a successful invoke carries no function error.
    let ok = s.invoke("hello", r#"{"name":"Ada"}"#);
    assert!(ok.header("x-amz-function-error").is_none());
    assert_eq!(ok.json()["message"], "Hello, Ada!");
}

#[test]
fn a_panic_is_reported_and_the_same_process_serves_the_next_invoke() {
    let s = hello(&[], &[]);
    let before = pid(&s.invoke("hello", "{}"));
    wait_idle(&s, 1);
    let a = s.invoke("hello", r#"{"panic":"boom"}"#);
    assert_eq!(a.header("x-amz-function-error"), Some("Unhandled"));
    let body = a.json();
    assert_eq!(body["errorType"], "Runtime.HandlerPanic");
    assert_eq!(body["errorMessage"], "the handler panicked: boom");

    // Once the environment is idle again (else the pool would rightly start a second one).
    wait_idle(&s, 2);
    let next = s.invoke("hello", r#"{"name":"again"}"#);
    assert!(
        next.header("x-amz-function-error").is_none(),
        "{}",
        next.text()
    );
    assert_eq!(next.json()["message"], "Hello, again!");
    assert_eq!(pid(&next), before, "the panic did not cost the process");
    assert_eq!(next.json()["invocations"], 3, "its state survived too");
    // Negative control: a crash (as opposed to a caught panic) would show up as an exit.
    let types: Vec<String> = timeline(&s).into_iter().map(|(k, _)| k).collect();
    assert!(!types.contains(&"process_exit".to_owned()), "{types:?}");
}

#[test]
fn spin_down_runs_the_hooks_in_reverse_order_inside_the_budget() {
    let s = hello(&[], &[]);
    s.invoke("hello", "{}");
    assert_eq!(s.spin_down(None), 1);
    let report = report_line(&s).expect("the report line");
    assert!(
        report.starts_with("[lambda-grace] shutdown: SIGTERM; hooks: close-cache ok ")
            && report.contains(", close-database ok ")
            && report.ends_with("ms of 450ms budget"),
        "{report}"
    );
    assert!(report_elapsed_ms(&report) < 450.0, "{report}");
    // The function's last line comes after its report line.
    assert!(
        s.wait_stdout("[hello] done: cleanup complete", Duration::from_secs(5)),
        "{}",
        s.stdout()
    );
    let out = s.stdout();
    let cache = out.find("cleanup: closing the cache").expect("cache hook");
    let database = out.find("cleanup: closing the database").expect("db hook");
    let done = out
        .find("[hello] done: cleanup complete")
        .expect("main ended");
    assert!(cache < database && database < done, "{out}");
    let t = timeline(&s);
    let (sigterm, exit) = (first(&t, "sigterm"), first(&t, "process_exit"));
    assert!(sigterm.is_some() && exit > sigterm, "{t:?}");
    assert!(first(&t, "sigkill").is_none(), "{t:?}");

    // Negative control: without the internal extension, the platform sends SIGKILL at once,
    // no hook runs and there is no report.
    let s = hello(&[], &["LAMBDA_GRACE_NO_EXTENSION=1"]);
    s.invoke("hello", "{}");
    assert_eq!(s.spin_down(None), 1);
    let t = timeline(&s);
    assert!(
        first(&t, "sigkill").is_some() && first(&t, "sigterm").is_none(),
        "{t:?}"
    );
    std::thread::sleep(Duration::from_millis(200));
    let out = s.stdout();
    assert!(!out.contains("[lambda-grace] shutdown"), "{out}");
    assert!(!out.contains("SIGTERM received"), "{out}");
}

#[test]
fn a_hook_past_the_budget_is_abandoned_the_rest_run_and_the_process_exits_before_sigkill() {
    let s = hello(&[], &["HELLO_SLOW_HOOK_MS=2000"]);
    s.invoke("hello", "{}");
    s.spin_down(None);
    let report = report_line(&s).expect("the report line");
    assert!(
        report.contains("hooks: close-cache ok ")
            && report.contains(", export-metrics timed out 4")
            && report.contains(", close-database ok "),
        "{report}"
    );
    // The budget (450 ms) was used up, and all of it ended before the platform's SIGKILL.
    let elapsed = report_elapsed_ms(&report);
    assert!((440.0..500.0).contains(&elapsed), "{report}");
    // The function's last line comes after its report line: wait for it to arrive (the
    // report alone was a race with the rest of the output).
    assert!(
        s.wait_stdout("[hello] done: cleanup incomplete", Duration::from_secs(5)),
        "{}",
        s.stdout()
    );
    let out = s.stdout();
    assert!(
        out.contains("cleanup: closing the database"),
        "later hook ran: {out}"
    );
    assert!(!out.contains("[hello] metrics exported"), "{out}");
    let t = timeline(&s);
    let sigterm = first(&t, "sigterm").expect("sigterm");
    let exit = first(&t, "process_exit").expect("the process exited by itself");
    assert!(first(&t, "sigkill").is_none(), "{t:?}");
    let grace_ms = (exit - sigterm) / 1000;
    assert!(grace_ms < 500, "exited {grace_ms} ms after SIGTERM");

    // Negative control: a budget past the platform's 500 ms gets the SIGKILL first, and the
    // run never reports.
    let s = hello(
        &[],
        &["HELLO_SLOW_HOOK_MS=2000", "HELLO_SHUTDOWN_BUDGET_MS=3000"],
    );
    s.invoke("hello", "{}");
    s.spin_down(None);
    let t = timeline(&s);
    let (sigterm, sigkill) = (first(&t, "sigterm"), first(&t, "sigkill"));
    assert!(sigterm.is_some() && sigkill > sigterm, "{t:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!s.stdout().contains("[lambda-grace] shutdown"));
}

#[test]
fn sigterm_during_a_handler_gives_it_the_budget_then_runs_the_hooks() {
    // The function's timeout resets the environment through SIGTERM while the handler runs.
    let s = hello(&["--timeout", "1s"], &[]);
    let a = s.invoke("hello", r#"{"sleep_ms":1150}"#);
    assert_eq!(a.json()["errorType"], "Sandbox.Timedout");
    let report = report_line(&s).expect("the report line");
    assert!(
        report.starts_with("[lambda-grace] shutdown: SIGTERM during invocation ")
            && report.contains(", handler finished ")
            && report.contains("hooks: close-cache ok"),
        "{report}"
    );
    let t = wait_for_exit(&s);
    assert!(first(&t, "sigkill").is_none(), "{t:?}");

    // Negative control: a handler that would outlive the budget is abandoned at its end; the
    // process still exits before the SIGKILL.
    let s = hello(&["--timeout", "1s"], &[]);
    s.invoke("hello", r#"{"sleep_ms":60000}"#);
    let report = report_line(&s).expect("the report line");
    // Abandoned when the 450 ms budget ran out (not before; a loaded machine fires the timer a
    // little late), and the process still exits before the platform's SIGKILL at 500 ms.
    let abandoned: f64 = report
        .split(", handler abandoned ")
        .nth(1)
        .and_then(|rest| rest.split("ms").next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no `handler abandoned N ms`: {report}"));
    assert!((450.0..500.0).contains(&abandoned), "{report}");
    let t = wait_for_exit(&s);
    assert!(first(&t, "sigkill").is_none(), "{t:?}");
}

#[test]
fn flush_hooks_run_after_every_invoke_before_the_freeze() {
    let flushes = |s: &Serve| s.stdout().matches("[hello] flush:").count();
    let ticks = |s: &Serve| s.stdout().matches("[hello] tick").count();
    let freezes = |s: &Serve| timeline(s).iter().filter(|(k, _)| k == "freeze").count();
    let s = hello(&[], &["HELLO_TICK_MS=20"]);
    for n in 1..=3 {
        s.invoke("hello", "{}");
        // The environment is frozen right after; the line is there all the same, so the hook
        // ran before the freeze.
        assert!(poll_until(Duration::from_secs(2), || freezes(&s) == n));
        assert!(
            poll_until(Duration::from_secs(2), || flushes(&s) == n),
            "{}",
            s.stdout()
        );
        assert!(
            s.stdout()
                .contains(&format!("flush: log buffer written after invocation {n}"))
        );
    }
    // Negative control: a timer does not fire while the environment is frozen, which is why
    // flushing on a timer loses data and the flush hook exists.
    // (Let lines printed just before the freeze through grace's log pipe first.)
    std::thread::sleep(Duration::from_millis(100));
    let frozen = ticks(&s);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ticks(&s), frozen, "no tick while frozen");
    let s = hello(&["--no-freeze"], &["HELLO_TICK_MS=20"]);
    s.invoke("hello", "{}");
    let thawed = ticks(&s);
    assert!(poll_until(Duration::from_secs(2), || ticks(&s) >= thawed + 5));
}

#[test]
fn an_init_error_reaches_the_caller_as_the_init_error_payload() {
    let s = hello(&[], &["HELLO_FAIL_INIT=1"]);
    let a = s.invoke("hello", "{}");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-amz-function-error"), Some("Unhandled"));
    assert_eq!(
        a.json(),
        serde_json::json!({
            "errorType": "Hello.InitFailed",
            "errorMessage": "cannot open the database: HELLO_FAIL_INIT is set"
        })
    );
    let failed: Vec<serde_json::Value> = s
        .events()
        .into_iter()
        .filter(|e| e["type"] == "init_failed")
        .collect();
    assert_eq!(failed[0]["error_type"], "Hello.InitFailed", "{failed:?}");
    // Negative control: the same function initialises without the variable.
    let s = hello(&[], &[]);
    assert_eq!(s.invoke("hello", "{}").json()["message"], "Hello, world!");
}

#[test]
fn after_reporting_an_init_error_the_process_exits_with_a_failure_status() {
    // Under the emulator the environment is SIGKILLed as soon as init fails (no extension is
    // registered yet), so watch the process against a bare Runtime API stub instead.
    for (env, error_type, message) in [
        (
            ("HELLO_FAIL_INIT", "1"),
            "Hello.InitFailed",
            "cannot open the database: HELLO_FAIL_INIT is set",
        ),
        (
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "abc"),
            "Runtime.ConfigInvalid",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=\"abc\" is invalid: expected a positive number of megabytes",
        ),
    ] {
        let (addr, requests) = stub_runtime_api();
        let status = run_hello_against(&addr, &[env]);
        assert_eq!(status.code(), Some(1), "{env:?}");
        let request = requests
            .recv_timeout(Duration::from_secs(1))
            .expect("a request");
        assert!(
            request.starts_with("POST /2018-06-01/runtime/init/error HTTP/1.1\r\n"),
            "{request}"
        );
        let lower = request.to_ascii_lowercase();
        assert!(
            lower.contains(&format!(
                "lambda-runtime-function-error-type: {}",
                error_type.to_ascii_lowercase()
            )),
            "{request}"
        );
        let body = request.split("\r\n\r\n").nth(1).unwrap();
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(body).unwrap(),
            serde_json::json!({"errorType": error_type, "errorMessage": message})
        );
        assert!(requests.try_recv().is_err(), "nothing after the init error");
    }
}

/// Runs `hello` with a complete Lambda environment pointing at `addr`, plus `extra`; returns
/// its exit status.
fn run_hello_against(addr: &str, extra: &[(&str, &str)]) -> std::process::ExitStatus {
    let mut child = std::process::Command::new(workspace_bin("hello"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "hello")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .envs(extra.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn hello");
    let mut status = None;
    poll_until(Duration::from_secs(10), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            panic!("hello did not exit");
        }
    }
}

/// A Runtime API stub on a free port: answers every request `202 {"status":"OK"}` and closes
/// the connection; sends each request (head and body) to the receiver.
fn stub_runtime_api() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            let complete = |raw: &[u8]| {
                let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                    return false;
                };
                let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                raw.len() >= end + 4 + len
            };
            while !complete(&raw) {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                }
            }
            let _ = conn.write_all(
                b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{\"status\":\"OK\"}",
            );
            let _ = tx.send(String::from_utf8_lossy(&raw).into_owned());
        }
    });
    (addr, rx)
}

#[test]
fn log_lines_carry_the_request_id_and_the_trace_id_is_exported() {
    let s = hello(&[], &["AWS_LAMBDA_LOG_FORMAT=JSON"]);
    let a = s.invoke("hello", r#"{"name":"json"}"#);
    let id = a.header("x-amzn-requestid").expect("request id").to_owned();
    assert!(s.wait_stdout("greeting json", Duration::from_secs(2)));
    let line = s
        .stdout()
        .lines()
        .find(|l| l.contains("greeting json"))
        .unwrap()
        .to_owned();
    let log: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(log["level"], "INFO");
    assert_eq!(log["span"]["requestId"], id.as_str(), "{line}");

    // `_X_AMZN_TRACE_ID` is this invocation's trace header, a new one each time.
    let body = a.json();
    let trace = body["trace_id"].as_str().expect("a trace id");
    assert!(trace.starts_with("Root=1-"), "{trace}");
    assert_eq!(body["trace_id_env"], trace);
    let next = s.invoke("hello", "{}").json();
    assert_ne!(next["trace_id"], trace);
    assert_eq!(next["trace_id_env"], next["trace_id"]);

    // Negative control: the default is the text format, with the id in the span prefix.
    let s = hello(&[], &[]);
    let a = s.invoke("hello", r#"{"name":"text"}"#);
    let id = a.header("x-amzn-requestid").unwrap().to_owned();
    assert!(s.wait_stdout("greeting text", Duration::from_secs(2)));
    let out = s.stdout();
    let line = out.lines().find(|l| l.contains("greeting text")).unwrap();
    assert!(
        line.contains(&format!("invoke{{requestId={id}}}")),
        "{line}"
    );
    assert!(serde_json::from_str::<serde_json::Value>(line).is_err());
}

/// lambda-grace's streamed response, through `grace serve`, to the caller: the chunks arrive as
/// they are produced, and an error after them arrives in the HTTP trailers.
#[test]
fn a_streamed_response_reaches_the_caller_as_it_is_produced_with_error_trailers() {
    use std::io::{Read, Write};
    let bin = crate::util::workspace_bin("stream");
    let s = crate::util::Serve::start(&["--name", "stream", "--", bin.to_str().unwrap()]);
    let payload = r#"{"chunks":3,"pause_ms":300,"fail":"late failure"}"#;
    let mut conn = std::net::TcpStream::connect(&s.addr).unwrap();
    let started = std::time::Instant::now();
    write!(
        conn,
        "POST /2015-03-31/functions/stream/invocations HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{payload}",
        payload.len()
    )
    .unwrap();
    let (mut raw, mut buf, mut first) = (Vec::new(), [0u8; 4096], None);
    loop {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if first.is_none() && String::from_utf8_lossy(&raw).contains("chunk-1") {
            first = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let text = String::from_utf8_lossy(&raw).to_lowercase();
    assert!(
        first.expect("first chunk") + std::time::Duration::from_millis(400) < total,
        "streamed, not buffered"
    );
    assert!(text.contains("chunk-3"), "{text}");
    assert!(
        text.contains("lambda-runtime-function-error-type: stream.failed"),
        "{text}"
    );
    assert!(s.wait_stdout(
        "Error Type: Stream.Failed",
        std::time::Duration::from_secs(2)
    ));
    // Negative control: without `fail`, the stream ends cleanly.
    let a = s.invoke("stream", r#"{"chunks":2}"#);
    assert_eq!(a.text(), "chunk-1\nchunk-2\n");
    assert!(a.header("x-amz-function-error").is_none());
}
