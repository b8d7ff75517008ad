//! The examples as real functions under `grace serve`, checked from the outside: a real
//! PostgreSQL server's log for `examples/postgres` (every session ends with a Terminate, none
//! with an unexpected EOF), the file on disk for `examples/buffered-writer` (every record is
//! there, and already there while the environment is frozen). Each has its negative control: the
//! same run without the hook shows the loss.
//!
//! Build the examples first (`cargo build -p example-postgres -p example-buffered-writer`);
//! `cargo test --workspace` builds them.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use crate::pg::Postgres;
use crate::util::{Serve, poll_until, report_line, temp_dir, workspace_bin};

const APP: &str = "lambda-grace-example";

fn function(bin: &str, flags: &[&str], env: &[String]) -> Serve {
    let path = workspace_bin(bin);
    let path = path.to_string_lossy();
    let mut args: Vec<&str> = flags.to_vec();
    for e in env {
        args.extend(["--env", e]);
    }
    args.extend(["--name", bin, "--", &path]);
    Serve::start(&args)
}

fn count(s: &Serve, kind: &str) -> usize {
    s.events().iter().filter(|e| e["type"] == kind).count()
}

/// Waits until the environment has been frozen `n` times: the previous invoke is over, its
/// flush hooks have run, and the next invoke goes to the same environment.
fn wait_frozen(s: &Serve, n: usize) {
    assert!(
        poll_until(Duration::from_secs(5), || count(s, "freeze") >= n),
        "{:?}",
        s.events()
    );
}

/// Spins the function down and waits until its runtime process has exited (by itself, or
/// SIGKILLed).
fn spin_down(s: &Serve) {
    assert_eq!(s.spin_down(None), 1);
    assert!(
        poll_until(Duration::from_secs(5), || count(s, "process_exit") >= 1),
        "{:?}",
        s.events()
    );
}

// --- examples/postgres -------------------------------------------------------------------

/// What the server log says about the sessions of one run of the example.
#[derive(Debug)]
struct Sessions {
    /// Backend pids of the example's sessions that this run opened.
    pids: BTreeSet<u64>,
    /// Those whose end was logged (`disconnection: session time`).
    ended: BTreeSet<u64>,
    /// Those that ended without a Terminate (`unexpected EOF`, or a reset connection).
    unclean: BTreeSet<u64>,
}

/// `2026-… UTC [1234] app message` → the backend pid.
fn backend_pid(line: &str) -> Option<u64> {
    let start = line.find(" [")? + 2;
    let end = start + line[start..].find(']')?;
    line[start..end].parse().ok()
}

/// The sessions in `log` authorized for the example, skipping the ones in `before`.
fn sessions(log: &str, before: &BTreeSet<u64>) -> Sessions {
    let pids: BTreeSet<u64> = log
        .lines()
        .filter(|l| {
            l.contains("connection authorized") && l.contains(&format!("application_name={APP}"))
        })
        .filter_map(backend_pid)
        .filter(|p| !before.contains(p))
        .collect();
    let of = |needles: &[&str]| -> BTreeSet<u64> {
        log.lines()
            .filter(|l| needles.iter().any(|n| l.contains(n)))
            .filter_map(backend_pid)
            .filter(|p| pids.contains(p))
            .collect()
    };
    Sessions {
        ended: of(&["disconnection: session time"]),
        unclean: of(&[
            "unexpected EOF on client connection",
            "connection reset",
            "Connection reset by peer",
            "could not receive data from client",
        ]),
        pids,
    }
}

/// Runs the example against `pg` with `extra` settings: four invokes (so every connection of
/// the pool of three serves one), a spin-down, then waits until the server has seen the
/// sessions end. Returns the sessions, and what the function printed.
fn postgres_run(pg: &Postgres, extra: &[&str], before: &BTreeSet<u64>) -> (Sessions, String) {
    let mut env = vec![format!("DATABASE_URL={}", pg.url())];
    env.extend(extra.iter().map(|e| e.to_string()));
    let s = function("postgres", &[], &env);
    let mut served = BTreeSet::new();
    for n in 0..4 {
        wait_frozen(&s, n);
        let a = s.invoke("postgres", r#"{"sql_sleep_ms":0}"#);
        assert!(a.header("x-amz-function-error").is_none(), "{}", a.text());
        let reply = a.json();
        assert_eq!(
            reply["invocations"],
            n + 1,
            "one environment served them all"
        );
        served.insert(reply["backend_pid"].as_u64().expect("backend pid"));
    }
    let active = format!("select count(*) from pg_stat_activity where application_name = '{APP}'");
    assert_eq!(pg.query(&active), "3", "the pool is open between invokes");
    spin_down(&s);
    // The server notices a closed session within milliseconds; a SIGKILLed or exited client
    // is no slower.
    assert!(
        poll_until(Duration::from_secs(5), || pg.query(&active) == "0"),
        "sessions left open: {}",
        pg.query(&format!(
            "select pid, state from pg_stat_activity where application_name = '{APP}'"
        ))
    );
    let mut found = sessions(&pg.log(), before);
    poll_until(Duration::from_secs(3), || {
        found = sessions(&pg.log(), before);
        found.ended.len() == 3
    });
    assert_eq!(
        found.pids, served,
        "the sessions that answered are the pool's three: {found:?}"
    );
    // The function's last line may still be on its way through `grace serve`'s output.
    assert!(
        s.wait_stdout("[postgres] done: ", Duration::from_secs(5)),
        "{}",
        s.stdout()
    );
    (found, s.stdout())
}

#[test]
fn postgres_pool_closed_by_the_shutdown_hook_ends_every_session_cleanly() {
    let pg = Postgres::start();
    let (clean, out) = postgres_run(&pg, &[], &BTreeSet::new());
    assert_eq!(clean.pids.len(), 3, "{clean:?}");
    assert_eq!(clean.ended, clean.pids, "every session's end is logged");
    assert!(
        clean.unclean.is_empty(),
        "no unexpected EOF: {clean:?}\n{}",
        pg.log()
    );
    assert!(
        out.contains("[postgres] SIGTERM received → cleanup: 3 connections closed"),
        "{out}"
    );
    let report = out
        .lines()
        .find(|l| l.starts_with("[lambda-grace] shutdown: SIGTERM; hooks: close-pool ok "))
        .unwrap_or_else(|| panic!("the report line: {out}"));
    assert!(
        out.contains("[postgres] done: cleanup complete"),
        "{report}"
    );

    // Negative control: the same run without the hook. The process still ends by itself after
    // SIGTERM, but its connections die with it, and the server logs each as an unclean EOF.
    let (cut, out) = postgres_run(&pg, &["POSTGRES_NO_HOOK=1"], &clean.pids);
    assert_eq!(cut.pids.len(), 3, "{cut:?}");
    assert_eq!(cut.unclean, cut.pids, "{cut:?}\n{}", pg.log());
    assert!(
        out.contains("[lambda-grace] shutdown: SIGTERM; hooks: none;")
            && out.contains("[postgres] done: 3 connections still open at exit"),
        "{out}"
    );
}

// --- examples/buffered-writer ------------------------------------------------------------

/// The records in the writer's file: `(request_id, payload)` per line.
fn records(path: &Path) -> Vec<(String, serde_json::Value)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("a torn record ({e}): {l}"));
            (
                v["request_id"].as_str().expect("request id").to_owned(),
                v["payload"].clone(),
            )
        })
        .collect()
}

fn writer(flags: &[&str], path: &Path, extra: &[&str]) -> Serve {
    let mut env = vec![format!("WRITER_PATH={}", path.display())];
    env.extend(extra.iter().map(|e| e.to_string()));
    function("buffered-writer", flags, &env)
}

/// `n` invokes, one at a time on one environment; returns the request ids.
fn write_records(s: &Serve, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            wait_frozen(s, i);
            let a = s.invoke("buffered-writer", &format!(r#"{{"n":{i}}}"#));
            assert!(a.header("x-amz-function-error").is_none(), "{}", a.text());
            a.json()["request_id"]
                .as_str()
                .expect("request id")
                .to_owned()
        })
        .collect()
}

/// Every request id once, in order, each with its own payload.
fn assert_all_there(path: &Path, ids: &[String]) {
    let got = records(path);
    let want: Vec<(String, serde_json::Value)> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.clone(), serde_json::json!({ "n": i })))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn buffered_writer_loses_no_record_through_freezes_and_spin_down() {
    const N: usize = 20;
    let dir = temp_dir("writer");
    let path = dir.join("records.jsonl");
    let s = writer(&[], &path, &[]);
    let ids = write_records(&s, N);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), N);
    spin_down(&s);
    assert_all_there(&path, &ids);
    let report = report_line(&s).expect("the report line");
    assert!(
        report.starts_with("[lambda-grace] shutdown: SIGTERM; hooks: flush-writer ok "),
        "{report}"
    );

    // Negative control: without the hooks, the buffer dies with the process (which still
    // ends by itself after SIGTERM): not one record reaches the file.
    let path = dir.join("no-flush.jsonl");
    let s = writer(&[], &path, &["WRITER_NO_FLUSH=1"]);
    write_records(&s, N);
    spin_down(&s);
    assert!(
        s.wait_stdout(
            &format!("[buffered-writer] done: records never written: {N}"),
            Duration::from_secs(3)
        ),
        "{}",
        s.stdout()
    );
    assert_eq!(records(&path), vec![]);
}

#[test]
fn buffered_writer_records_are_on_disk_while_the_environment_is_frozen() {
    const M: usize = 5;
    let dir = temp_dir("writer-frozen");
    let frozen = |s: &Serve| {
        let pids = s.runtime_pids();
        assert_eq!(pids.len(), 1, "one environment");
        // `T`: stopped (SIGSTOP), which is how the emulator freezes an idle environment.
        poll_until(Duration::from_secs(2), || {
            grace_emulator::proc_state(pids[0]) == Some('T')
        })
    };
    let path = dir.join("records.jsonl");
    let s = writer(&[], &path, &[]);
    let ids = write_records(&s, M);
    wait_frozen(&s, M);
    assert!(frozen(&s), "the environment is frozen");
    // The flush hook ran after each answer, before the freeze: all M are on disk, with no
    // spin-down (which in Lambda may come hours later, or never before a SIGKILL).
    assert_all_there(&path, &ids);
    assert_eq!(count(&s, "sigterm"), 0);

    // Negative control: with only the shutdown hook, nothing is on disk while frozen; the
    // records exist only in the memory of a stopped process until SIGTERM.
    let path = dir.join("shutdown-only.jsonl");
    let s = writer(&[], &path, &["WRITER_SHUTDOWN_ONLY=1"]);
    let ids = write_records(&s, M);
    wait_frozen(&s, M);
    assert!(frozen(&s), "the environment is frozen");
    assert_eq!(records(&path), vec![]);
    // …and the shutdown hook alone still saves them at spin-down.
    spin_down(&s);
    assert_all_there(&path, &ids);
}

#[test]
fn buffered_writer_saves_the_record_of_a_handler_cut_by_a_timeout() {
    // The function's 1 s timeout resets the environment through SIGTERM while the handler
    // sleeps; it finishes inside the shutdown budget, and its record (never followed by a
    // flush hook: the answer is not posted) is written by the shutdown hook.
    let dir = temp_dir("writer-reset");
    let path = dir.join("records.jsonl");
    let s = writer(&["--timeout", "1s"], &path, &[]);
    let a = s.invoke("buffered-writer", r#"{"sleep_ms":1150}"#);
    assert_eq!(a.json()["errorType"], "Sandbox.Timedout");
    let report = report_line(&s).expect("the report line");
    assert!(
        report.contains(", handler finished ") && report.contains("hooks: flush-writer ok "),
        "{report}"
    );
    assert!(
        s.stdout()
            .contains("[buffered-writer] SIGTERM received → cleanup: records written: 1"),
        "{}",
        s.stdout()
    );
    let got = records(&path);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].1, serde_json::json!({"sleep_ms": 1150}));

    // Negative control: without the hooks, the interrupted handler's record is lost.
    let path = dir.join("no-flush.jsonl");
    let s = writer(&["--timeout", "1s"], &path, &["WRITER_NO_FLUSH=1"]);
    let a = s.invoke("buffered-writer", r#"{"sleep_ms":1150}"#);
    assert_eq!(a.json()["errorType"], "Sandbox.Timedout");
    let report = report_line(&s).expect("the report line");
    assert!(report.contains(", handler finished "), "{report}");
    assert!(
        s.wait_stdout(
            "[buffered-writer] done: records never written: 1",
            Duration::from_secs(3)
        ),
        "{}",
        s.stdout()
    );
    assert_eq!(records(&path), vec![]);
}
