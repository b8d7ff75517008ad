//! The `grace` command line itself: the demo, and one clear line per error.

use std::process::Command;

use crate::util::grace_bin;

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
    assert!(text.contains("PASS  no TCP connection left open"), "{text}");
    let svg = text
        .split("Timeline picture: ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .unwrap();
    assert!(
        std::fs::read_to_string(svg)
            .unwrap()
            .contains("class=\"invoke\"")
    );
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
