//! The `grace` command line itself: the demo, one clear line per error, and `grace serve`'s
//! own diagnostics and signals.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{Serve, grace_bin, poll_until, signal, workspace_bin};

#[test]
fn demo_shows_the_whole_lifecycle_and_a_clean_verdict() {
    let out = Command::new(grace_bin())
        .args(["demo", "--invokes", "2", "--idle", "200ms"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pos = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("missing `{needle}` in:\n{text}"))
    };
    // Init, invokes, freeze, SIGTERM, hooks in reverse order, exit: in this order.
    let order = [
        "registered internal extension `lambda-grace`",
        "init done in",
        r#"{"name":"Ada"} → 200"#,
        r#"{"name":"Grace"} → 200"#,
        "idle: every process SIGSTOPped",
        "SIGTERM   → runtime",
        "[demo] cleanup: flushing buffered metrics",
        "[demo] cleanup: closing the database pool",
        "[lambda-grace] shutdown: SIGTERM; hooks: flush-metrics ok",
        "runtime exited (exit status 0)",
    ];
    for pair in order.windows(2) {
        assert!(
            pos(pair[0]) < pos(pair[1]),
            "`{}` should come before `{}`:\n{text}",
            pair[0],
            pair[1]
        );
    }
    assert!(text.contains("was in state `T` in /proc"), "{text}");
    assert!(text.contains("Verdict: clean shutdown."), "{text}");
    assert!(!text.contains("SIGKILL   →"), "{text}");
    // It also runs `grace check`'s checks and draws the timeline.
    assert!(
        text.contains("PASS  connections end with a goodbye"),
        "{text}"
    );
    let svg = text
        .split("Timeline picture: ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .unwrap();
    let picture = std::fs::read_to_string(svg).unwrap();
    assert!(picture.contains("class=\"invoke\""));
    assert!(picture.contains(">close-database-pool "), "{picture}");
    // And the same lifecycle as a trace, next to it.
    let trace = std::path::Path::new(svg).with_extension("trace.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(trace).unwrap()).unwrap();
    assert!(doc["traceEvents"].as_array().unwrap().len() > 10);
}

fn grace(args: &[&str]) -> (bool, String) {
    let out = Command::new(grace_bin()).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn errors_are_one_clear_line() {
    let (ok, err) = grace(&["serve", "/no/such/function"]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "grace: /no/such/function does not exist: No such file or directory (os error 2)"
    );
    let (ok, err) = grace(&[
        "serve",
        "--name",
        "x",
        "--dir",
        "/no/such/dir",
        "--",
        "true",
    ]);
    assert!(!ok);
    assert_eq!(err.trim(), "grace: --dir /no/such/dir is not a directory");
    let (ok, err) = grace(&["serve"]);
    assert!(!ok);
    assert!(err.starts_with("grace: no function given"), "{err}");
    let (ok, err) = grace(&["invoke", "echo", "--endpoint", "http://127.0.0.1:9"]);
    assert!(!ok);
    assert!(
        err.starts_with("grace: cannot connect to http://127.0.0.1:9 (is `grace serve` running?)"),
        "{err}"
    );
    let (ok, err) = grace(&["serve", "x", "--timeout", "soon"]);
    assert!(!ok);
    assert!(err.contains("`soon` is not a duration"), "{err}");
}

/// Whether `pid` has a handler for signal `sig` (bit `sig - 1` of `SigCgt` in /proc).
fn catches(pid: u32, sig: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("SigCgt:"))?;
            u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

#[test]
fn serve_takes_a_sigterm_sent_while_it_starts_and_stops_gracefully() {
    // `--env-file /dev/stdin` holds the start-up until the test writes the variables: the
    // SIGTERM comes before the function is even configured. Without listeners created first,
    // SIGTERM would have no handler yet (the poll below times out) and would end grace at once.
    let mut child = Command::new(grace_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--env-file",
            "/dev/stdin",
        ])
        .arg(workspace_bin("hello"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    if !poll_until(Duration::from_secs(10), || {
        catches(pid, 15) && catches(pid, 2)
    }) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("grace serve does not listen for SIGTERM and SIGINT while it starts");
    }
    signal(pid, "TERM");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"GREETING=hi\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(err.contains("grace serve: shutting down"), "{err}");
    assert!(err.contains("grace serve: stopped"), "{err}");
}

#[test]
fn serve_shows_the_emulators_warnings_on_stderr_unless_rust_log_says_otherwise() {
    // An asynchronous invoke that fails is retried twice; each failure is a warning.
    let warning = "asynchronous invoke failed";
    let run = |env: &[(&str, &str)]| {
        let hello = workspace_bin("hello");
        let s = Serve::start_with(
            &[
                "--name",
                "hello",
                "--async-retry-delay",
                "10ms",
                hello.to_str().unwrap(),
            ],
            env,
        );
        let a = s.invoke_with(
            "hello",
            r#"{"error":"no"}"#,
            &[("X-Amz-Invocation-Type", "Event")],
        );
        assert_eq!(a.status, 202, "{}", a.text());
        s
    };
    let s = run(&[]);
    assert!(
        poll_until(Duration::from_secs(30), || s.stderr().contains(warning)),
        "{}",
        s.stderr()
    );
    assert!(
        s.stderr().contains(" WARN grace_emulator"),
        "{}",
        s.stderr()
    );
    assert!(s.stop().success());
    // Negative control: RUST_LOG=off silences it (so the line above came from the subscriber).
    // The first attempt's warning comes before the second attempt starts: once the third has
    // ended, it would have been printed.
    let s = run(&[("RUST_LOG", "off")]);
    assert!(
        poll_until(Duration::from_secs(30), || s
            .stdout()
            .matches("REPORT RequestId")
            .count()
            >= 3),
        "three attempts: {}",
        s.stdout()
    );
    assert!(!s.stderr().contains(warning), "{}", s.stderr());
    assert!(s.stop().success());
}
