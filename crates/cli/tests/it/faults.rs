//! The fault suite: `grace serve` under crashes, hangs, floods, escaping children, broken
//! extensions and misbehaving callers. Each fault checks three things: the caller gets the
//! answer Lambda gives, the next invoke succeeds, and no process of the environment is left
//! running (by pid). Each prints one `FAULT |` row; `scripts/fault-table.sh` collects them
//! into the table of docs/HARDENING.md.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::{
    Answer, Serve, alive, extension_layer, once, poll_until, printed_pids, signal, started_pids,
    survivors, try_http,
};

const INVOKE: &str = "/2015-03-31/functions/f/invocations";

/// What one fault did, as the table shows it.
struct Row {
    status: Option<u16>,
    body: serde_json::Value,
    function_error: Option<String>,
    error_type: Option<String>,
    next_ok: bool,
    leftovers: Vec<u32>,
}

/// Runs `fault` against `s` (function `f`), then a normal invoke, then checks for leftovers:
/// the processes of every environment the emulator no longer lists must be gone, and after a
/// graceful stop every process it ever started and every child the fixture printed. The orphan
/// test below shows the check sees a survivor (the setsid child).
fn run(name: &str, s: Serve, fault: impl FnOnce(&Serve) -> Option<Answer>) -> Row {
    let answer = fault(&s);
    let next = s.invoke("f", r#"{"next":1}"#);
    let next_ok = next.status == 200
        && next.header("x-amz-function-error").is_none()
        && next.text() == r#"{"next":1}"#;
    if !next_ok {
        eprintln!(
            "{name}: next invoke answered {} {}",
            next.status,
            next.text()
        );
    }
    let started = started_pids(&s.events());
    let live_envs: Vec<u64> = s
        .environments()
        .iter()
        .filter_map(|e| e["id"].as_u64())
        .collect();
    let gone: Vec<u32> = started
        .iter()
        .filter(|(env, _)| !live_envs.contains(env))
        .map(|&(_, pid)| pid)
        .collect();
    let mut leftovers = survivors(&gone, Duration::from_secs(5));
    let mut all: Vec<u32> = started.iter().map(|&(_, pid)| pid).collect();
    all.extend(printed_pids(&s.stdout()));
    let stdout = s.stdout_handle();
    let status = s.stop();
    assert!(status.success(), "{name}: grace serve exited with {status}");
    all.extend(printed_pids(&stdout.lock().unwrap()));
    for p in survivors(&all, Duration::from_secs(5)) {
        if !leftovers.contains(&p) {
            leftovers.push(p);
        }
    }
    for &p in &leftovers {
        signal(p, "KILL"); // leave nothing behind for the other tests
    }
    let body = answer
        .as_ref()
        .and_then(|a| serde_json::from_slice::<serde_json::Value>(&a.body).ok());
    let row = Row {
        status: answer.as_ref().map(|a| a.status),
        body: body.clone().unwrap_or_default(),
        function_error: answer
            .as_ref()
            .and_then(|a| a.header("x-amz-function-error").map(str::to_owned)),
        error_type: body.and_then(|b| b["errorType"].as_str().map(str::to_owned)),
        next_ok,
        leftovers,
    };
    let show = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".to_owned());
    eprintln!(
        "FAULT | {name} | {} | {} | {} | {} | {:?} |",
        row.status.map_or("no answer".to_owned(), |s| s.to_string()),
        show(&row.function_error),
        show(&row.error_type),
        if row.next_ok { "yes" } else { "NO" },
        row.leftovers
    );
    row
}

fn invoke(payload: &str) -> impl FnOnce(&Serve) -> Option<Answer> + '_ {
    move |s| Some(s.invoke("f", payload))
}

fn assert_unhandled(row: &Row, error_type: &str) {
    assert_eq!(row.status, Some(200));
    assert_eq!(row.function_error.as_deref(), Some("Unhandled"));
    assert_eq!(row.error_type.as_deref(), Some(error_type));
    assert_clean(row);
}

fn assert_clean(row: &Row) {
    assert!(row.next_ok, "the next invoke failed");
    assert!(
        row.leftovers.is_empty(),
        "left running: {:?}",
        row.leftovers
    );
}

#[test]
fn sigkill_with_invokes_in_flight_leaves_no_runtime() {
    let s = Serve::testfn("f", &["--concurrency", "8", "--timeout", "60s"], &[]);
    let addr = s.addr.clone();
    let callers: Vec<_> = (0..8)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let body = br#"{"sleep_ms":30000}"#;
                try_http(&addr, "POST", INVOKE, &[], body, Duration::from_secs(60))
            })
        })
        .collect();
    let mut pids = Vec::new();
    let all_busy = poll_until(Duration::from_secs(20), || {
        let busy = s
            .events()
            .iter()
            .filter(|e| e["type"] == "invoke_start")
            .count();
        pids = s.runtime_pids();
        busy == 8 && pids.len() == 8
    });
    assert!(all_busy, "8 invokes did not start: {pids:?}");
    assert!(pids.iter().all(|&p| alive(p)));
    let killed = Instant::now();
    signal(s.child.id(), "KILL");
    let left = survivors(&pids, Duration::from_secs(5));
    for &p in &left {
        signal(p, "KILL");
    }
    assert!(
        left.is_empty(),
        "runtimes outlived a SIGKILLed grace serve: {left:?}"
    );
    eprintln!(
        "FAULT | SIGKILL of grace serve, 8 invokes in flight | no answer | - | - | n/a | [] (8 runtimes gone {:?} after the kill) |",
        killed.elapsed()
    );
    for c in callers {
        let answer = c.join().expect("caller thread");
        assert!(
            answer.is_none(),
            "an answer from a killed emulator: {answer:?}"
        );
    }
}

#[test]
fn crash_at_init() {
    let env = format!("TESTFN_INIT_FAIL_ONCE={}", once("init-crash"));
    let s = Serve::testfn("f", &[], &[&env, "TESTFN_INIT_FAIL_ONCE_MODE=crash"]);
    assert_unhandled(
        &run("crash at init (exit 3)", s, invoke("{}")),
        "Runtime.ExitError",
    );
}

#[test]
fn hang_at_init() {
    let env = format!("TESTFN_INIT_FAIL_ONCE={}", once("init-hang"));
    let s = Serve::testfn(
        "f",
        &["--init-timeout", "1s"],
        &[&env, "TESTFN_INIT_FAIL_ONCE_MODE=hang"],
    );
    assert_unhandled(
        &run("init hangs (init timeout 1 s)", s, invoke("{}")),
        "Sandbox.Timedout",
    );
}

#[test]
fn crash_at_invoke() {
    let s = Serve::testfn("f", &[], &[]);
    assert_unhandled(
        &run("crash at invoke (exit 3)", s, invoke(r#"{"crash":3}"#)),
        "Runtime.ExitError",
    );
}

#[test]
fn abort_at_invoke() {
    let s = Serve::testfn("f", &[], &[]);
    let row = run("abort at invoke (SIGABRT)", s, invoke(r#"{"abort":true}"#));
    assert_unhandled(&row, "Runtime.ExitError");
}

#[test]
fn hang_at_invoke() {
    let s = Serve::testfn("f", &["--timeout", "1s"], &[]);
    let row = run(
        "invoke hangs (timeout 1 s)",
        s,
        invoke(r#"{"sleep_ms":600000}"#),
    );
    assert_unhandled(&row, "Sandbox.Timedout");
}

/// A spin-down: the answer is the control endpoint's, the fault is in the shutdown sequence.
fn spin_down(s: &Serve) -> Option<Answer> {
    let warm = s.invoke("f", "{}");
    assert_eq!(warm.status, 200);
    Some(s.request("POST", "/grace/v1/shutdown?function=f", &[], b""))
}

#[test]
fn crash_at_shutdown() {
    let s = Serve::testfn("f", &[], &["TESTFN_SIGTERM=crash", "TESTFN_EXTENSION=ext"]);
    let row = run(
        "crash at shutdown (abort on SIGTERM; answer: the spin-down)",
        s,
        spin_down,
    );
    assert_eq!(row.status, Some(200));
    assert_clean(&row);
}

#[test]
fn ignores_sigterm() {
    let s = Serve::testfn("f", &[], &["TESTFN_SIGTERM=ignore", "TESTFN_EXTENSION=ext"]);
    let row = run("ignores SIGTERM (answer: the spin-down)", s, spin_down);
    assert_eq!(row.status, Some(200));
    assert_clean(&row);
}

#[test]
fn floods_stdout_with_invalid_utf8() {
    let s = Serve::testfn("f", &["--timeout", "60s"], &[]);
    let row = run(
        "floods stdout (40 MiB, invalid UTF-8, 1 MiB lines)",
        s,
        |s| {
            let answer = s.invoke("f", r#"{"fault":"flood","mb":40}"#);
            // grace's own stdout stays UTF-8 (the collector reads it as text and would stop at
            // the first invalid byte): the flood arrives, invalid bytes replaced, and so does
            // the platform's REPORT line after it.
            let flooded = |s: &Serve| {
                let out = s.stdout();
                out.len() >= 40 << 20
                    && out.contains("flood \u{fffd}")
                    && out.contains("REPORT RequestId")
            };
            assert!(poll_until(Duration::from_secs(30), || flooded(s)));
            Some(answer)
        },
    );
    assert_eq!(row.status, Some(200));
    assert_eq!(row.function_error, None);
    assert_clean(&row);
}

/// With Lambda's resource model each environment has a cgroup, and everything in it dies with
/// the environment, however it detached (without the model a `setsid` child survives:
/// `resources::a_setsid_grandchild…` is the negative control).
#[test]
fn children_outlive_the_runtime() {
    let s = Serve::testfn_modelled("f", &[], &[]);
    let row = run(
        "forks children (one setsid) that outlive it",
        s,
        invoke(r#"{"fault":"orphans"}"#),
    );
    assert_eq!(row.status, Some(200));
    let pid = |key: &str| row.body[key].as_u64().and_then(|p| u32::try_from(p).ok());
    let (child, setsid) = (pid("child_pid").unwrap(), pid("setsid_pid").unwrap());
    assert!(
        !row.leftovers.contains(&child),
        "the child in the runtime's group survived"
    );
    assert!(
        !row.leftovers.contains(&setsid),
        "the setsid child {setsid} survived"
    );
    assert_clean(&row);
}

#[test]
fn extension_crashes_at_registration() {
    let layer = extension_layer("ext-crash", "crasher", "crash_after_register");
    let s = Serve::testfn("f", &["--layer", &layer], &[]);
    let row = run("extension crashes after registering", s, invoke("{}"));
    assert_unhandled(&row, "Extension.Crash");
}

#[test]
fn extension_exits_before_registering() {
    let layer = extension_layer("ext-exit", "quitter", "exit_at_start");
    let s = Serve::testfn("f", &["--layer", &layer], &[]);
    let row = run("extension exits before registering", s, invoke("{}"));
    assert_unhandled(&row, "Extension.Crash");
}

#[test]
fn extension_never_calls_next() {
    let layer = extension_layer("ext-stall", "staller", "no_next");
    let s = Serve::testfn("f", &["--layer", &layer, "--init-timeout", "1s"], &[]);
    let row = run("extension never calls event/next", s, invoke("{}"));
    assert_unhandled(&row, "Sandbox.Timedout");
}

#[test]
fn slow_caller() {
    let s = Serve::testfn("f", &[], &[]);
    let row = run("caller sends the body in 10 pieces, 200 ms apart", s, |s| {
        let body = br#"{"slowly":"0123456789abcdefghij"}"#;
        let mut c = TcpStream::connect(&s.addr).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let head = format!(
            "POST {INVOKE} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        c.write_all(head.as_bytes()).expect("head");
        for piece in body.chunks(body.len().div_ceil(10)) {
            std::thread::sleep(Duration::from_millis(200));
            c.write_all(piece).expect("piece");
        }
        let mut raw = Vec::new();
        let _ = c.read_to_end(&mut raw);
        let a = crate::util::parse_raw_answer(&raw);
        assert_eq!(a.as_ref().map(|a| a.body.as_slice()), Some(&body[..]));
        a
    });
    assert_eq!(row.status, Some(200));
    assert_clean(&row);
}

#[test]
fn vanishing_caller() {
    let s = Serve::testfn("f", &["--concurrency", "1"], &[]);
    let row = run("caller disconnects mid-invoke", s, |s| {
        let body = br#"{"sleep_ms":500}"#;
        let mut c = TcpStream::connect(&s.addr).expect("connect");
        let head = format!(
            "POST {INVOKE} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        c.write_all(head.as_bytes()).expect("head");
        c.write_all(body).expect("body");
        // Gone once the invoke has started.
        assert!(poll_until(Duration::from_secs(10), || {
            s.events().iter().any(|e| e["type"] == "invoke_start")
        }));
        drop(c);
        // Lambda runs an invoke to its end whoever is listening (at concurrency 1 an invoke
        // meanwhile is throttled, as on Lambda); the environment must then be free again.
        let ended = poll_until(Duration::from_secs(10), || {
            s.events().iter().any(|e| e["type"] == "invoke_end")
        });
        assert!(ended, "the abandoned invoke never ended");
        None
    });
    assert_eq!(row.status, None);
    assert_clean(&row);
}

#[test]
fn caller_that_never_sends_headers_is_cut_off() {
    let s = Serve::testfn("f", &[], &[]);
    let row = run(
        "caller sends half a request line, then nothing (closed after 30 s)",
        s,
        |s| {
            let mut c = TcpStream::connect(&s.addr).expect("connect");
            c.write_all(b"POST /2015-03-31/functions/f/invoc")
                .expect("write");
            c.set_read_timeout(Some(Duration::from_secs(60))).ok();
            let start = Instant::now();
            let mut raw = Vec::new();
            let closed = c.read_to_end(&mut raw).is_ok();
            let took = start.elapsed();
            eprintln!(
                "silent caller: closed={closed} after {took:?}, {} bytes",
                raw.len()
            );
            assert!(closed, "the silent connection was still open after 60 s");
            assert!(
                took >= Duration::from_secs(25),
                "closed too early: {took:?}"
            );
            None
        },
    );
    assert_clean(&row);
}
