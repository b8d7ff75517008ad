//! The ground truth for `grace check`'s connection verdict: a real PostgreSQL server's log.
//! Each test runs one variant of `scripts/pg-oracle.sh` once (the script runs each N times,
//! default 50, and prints the table docs/guide.md quotes) and asserts that the check's `tcp`
//! verdict agrees with the server: a clean end is a `disconnection` line without an
//! `unexpected EOF` / `could not receive data` for the session.
//!
//! The check observes the runtime from SIGTERM until it is gone (`sys::observe`: every close of
//! a connection and the bytes written before it, seen as it happens), so no variant is left
//! out: a close at teardown without the protocol's goodbye is a close with nothing sent.

use std::process::Command;

use crate::pg::Postgres;
use crate::util::{grace_bin, workspace_root};

/// One run of `variant` under `scripts/pg-oracle.sh` against `pg`: its JSON row.
fn oracle(pg: &Postgres, variant: &str) -> serde_json::Value {
    let out = Command::new(workspace_root().join("scripts/pg-oracle.sh"))
        .args(["--json", "-n", "1", "--variant", variant, "--port"])
        .arg(pg.port.to_string())
        .arg("--log")
        .arg(pg.log_path())
        .env("GRACE", grace_bin())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pg-oracle failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let row = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(row).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// `variant` ends its session as `server` says (`clean` or `abrupt`), and the check agrees.
fn agrees(variant: &str, server: &str) {
    let pg = Postgres::start();
    let r = oracle(&pg, variant);
    assert_eq!(r["server"], server, "{r:#}\n{}", pg.log());
    assert_eq!(
        r["check"], server,
        "grace check disagrees with the server: {r:#}"
    );
    assert_eq!(r["agree"], true, "{r:#}");
}

#[test]
fn the_server_tells_a_clean_end_from_an_abrupt_one() {
    // The judge itself, on variants whose server verdict never varied in 50 runs: a Terminate
    // before the exit is clean; os._exit without a close is an unexpected EOF.
    let pg = Postgres::start();
    let r = oracle(&pg, "py-close");
    assert_eq!(r["server"], "clean", "{r:#}\n{}", pg.log());
    let r = oracle(&pg, "py-os-exit");
    assert_eq!(r["server"], "abrupt", "{r:#}\n{}", pg.log());
}

#[test]
fn ignoring_sigterm_until_sigkill_is_abrupt_and_the_check_says_so() {
    // Read before the SIGKILL, the connection is open: the kernel then closes it.
    agrees("py-ignore", "abrupt");
}

#[test]
fn no_sigterm_at_all_is_abrupt_and_the_check_says_so() {
    // No extension: SIGKILL with 0 ms of grace; the connection is read before it.
    agrees("py-no-layer", "abrupt");
}

#[test]
fn closing_in_the_sigterm_handler_is_clean_and_the_check_says_so() {
    agrees("py-close", "clean");
}

#[test]
fn the_postgres_examples_hook_ends_every_session_cleanly_and_the_check_says_so() {
    agrees("rust-hook", "clean");
}

#[test]
fn the_postgres_example_without_its_hook_is_abrupt_and_the_check_says_so() {
    // The runtime's teardown closes the sockets without PostgreSQL's Terminate: closes with
    // nothing sent after SIGTERM.
    agrees("rust-no-hook", "abrupt");
}

#[test]
fn sys_exit_without_a_close_and_the_check_agree() {
    // Interpreter teardown sometimes finalises the connection (psycopg2 sends the Terminate)
    // and sometimes not (or hangs until SIGKILL): whichever happens, the check must agree.
    let pg = Postgres::start();
    let r = oracle(&pg, "py-sys-exit");
    assert_eq!(r["agree"], true, "{r:#}\n{}", pg.log());
}

#[test]
fn os_exit_without_a_close_is_abrupt_and_the_check_says_so() {
    agrees("py-os-exit", "abrupt");
}

#[test]
fn sigterms_default_action_is_abrupt_and_the_check_says_so() {
    agrees("py-default-action", "abrupt");
}
