//! `grace serve --watch`: a saved change reloads the function through a real shutdown.
//!
//! The Rust function is a small crate written into a temporary directory (built on the
//! workspace's `lambda-grace` by path, with a shutdown hook that logs which version it is). It
//! builds with `CARGO_TARGET_DIR` set to the workspace's own target directory, so its
//! dependencies are built once (not once per test or per run), offline, at the versions of the
//! workspace's lockfile; the first run builds them (tens of seconds on two cores), later runs
//! only the crate. Every wait is on an event (`reload`, `reload_failed`, a shutdown
//! event) or on output, polled: nothing sleeps to synchronise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::util::{Serve, poll_until, temp_dir, venv_bin, workspace_bin, workspace_root};

/// A build under load (two cores shared) can take a while; the first one builds dependencies.
const BUILD: Duration = Duration::from_secs(240);
const SHORT: Duration = Duration::from_secs(20);

/// Where the test crates build: the workspace's target directory (`cargo test` does not hold
/// it locked while the tests run), so their dependencies build once.
fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .to_path_buf()
}

/// The environment `cargo` (the test's and `grace serve --watch`'s) builds the crates with.
fn cargo_env() -> Vec<(&'static str, String)> {
    vec![
        (
            "CARGO_TARGET_DIR",
            shared_target_dir().display().to_string(),
        ),
        ("CARGO_NET_OFFLINE", "true".to_owned()),
    ]
}

const MAIN_RS: &str = r#"use std::time::Duration;

use lambda_grace::{Context, Diagnostic, Runtime};

const VERSION: &str = "v1";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_grace::Error> {
    Runtime::from_env()?
        .on_shutdown("goodbye", || async {
            println!("[watch-fn] shutdown hook ran in {VERSION}");
            Ok(())
        })
        .run(|event: serde_json::Value, _ctx: Context| async move {
            // {"wait_for": PATH}: answers once PATH exists (an invoke kept in flight).
            if let Some(gate) = event["wait_for"].as_str() {
                while !std::path::Path::new(gate).exists() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Ok::<_, Diagnostic>(serde_json::json!({ "version": VERSION }))
        })
        .await?;
    Ok(())
}
"#;

/// Writes the function crate `package` into `dir`.
fn write_crate(dir: &Path, package: &str) {
    let runtime = workspace_root().join("crates/runtime");
    let manifest = format!(
        r#"[package]
name = "{package}"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
lambda-grace = {{ path = "{}", default-features = false }}
serde_json = "1"
tokio = {{ version = "1", default-features = false, features = ["rt", "macros", "time"] }}

# Not a member of the workspace this directory happens to lie under.
[workspace]
"#,
        runtime.display()
    );
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    // The workspace's versions, already downloaded: the build needs no network.
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(dir.join("src/main.rs"), MAIN_RS).unwrap();
}

/// `cargo build` of the crate in `dir` (so that `grace serve`'s own first build finds it done).
fn cargo_build(dir: &Path) {
    let out = Command::new("cargo")
        .arg("build")
        .current_dir(dir)
        .envs(cargo_env())
        .output()
        .expect("run cargo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Replaces `from` with `to` in `file` (one write, as an editor's save).
fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", file.display());
    std::fs::write(file, text.replace(from, to)).unwrap();
}

fn version(s: &Serve, function: &str, payload: &str) -> String {
    let a = s.invoke(function, payload);
    assert_eq!(a.status, 200, "{}\n{}", a.text(), s.stderr());
    assert_eq!(a.header("X-Amz-Function-Error"), None, "{}", a.text());
    a.json()["version"].as_str().unwrap_or_default().to_owned()
}

/// The first recorded event that `pred` accepts, waiting up to `timeout` for it.
fn wait_event(s: &Serve, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
    let mut found = None;
    poll_until(timeout, || {
        found = s.events().into_iter().find(|e| pred(e));
        found.is_some()
    });
    found
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// The environment an invoke ran in, by its `invoke_start` events: the last one's.
fn last_invoked_env(s: &Serve) -> u64 {
    let events = s.events();
    let starts = of_type(&events, "invoke_start");
    starts.last().expect("an invoke_start")["env"]
        .as_u64()
        .unwrap()
}

/// The event types of environment `env`, in order.
fn types_of(s: &Serve, env: u64) -> Vec<String> {
    s.event_types(Some(env))
}

#[test]
fn a_saved_rust_function_is_rebuilt_and_its_old_environments_run_their_shutdown_hooks() {
    let dir = temp_dir("watch-rs");
    write_crate(&dir, "watch-fn");
    cargo_build(&dir);
    // The negative control: the same crate, served without --watch, edited the same way.
    let plain_dir = temp_dir("watch-rs-plain");
    write_crate(&plain_dir, "watch-fn-plain");
    cargo_build(&plain_dir);
    let plain_exe = shared_target_dir().join("debug/watch-fn-plain");

    let env = cargo_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let s = Serve::start_with(
        &["--watch", dir.to_str().unwrap(), "--timeout", "60s"],
        &env,
    );
    let plain = Serve::start_with(
        &[
            "--name",
            "plain",
            plain_exe.to_str().unwrap(),
            "--timeout",
            "60s",
        ],
        &env,
    );
    assert!(
        s.stderr().contains("watching ") && s.stderr().contains("cargo build"),
        "{}",
        s.stderr()
    );
    assert_eq!(version(&plain, "plain", "{}"), "v1");

    // Environment A: an invoke kept in flight across the reload.
    let gate = dir.join("gate");
    let in_flight = {
        let addr = s.addr.clone();
        let payload = format!(r#"{{"wait_for":"{}"}}"#, gate.display());
        std::thread::spawn(move || {
            crate::util::http(
                &addr,
                "POST",
                "/2015-03-31/functions/watch-fn/invocations",
                &[],
                payload.as_bytes(),
            )
        })
    };
    assert!(wait_event(&s, SHORT, |e| e["type"] == "invoke_start").is_some());
    let busy = last_invoked_env(&s);
    // Environment B: idle at the reload.
    assert_eq!(version(&s, "watch-fn", "{}"), "v1");
    let idle = last_invoked_env(&s);
    assert_ne!(busy, idle);

    edit(&dir.join("src/main.rs"), r#""v1""#, r#""v2""#);
    edit(&plain_dir.join("src/main.rs"), r#""v1""#, r#""v2""#);
    let reload = wait_event(&s, BUILD, |e| e["type"] == "reload");
    let reload = reload.unwrap_or_else(|| panic!("no reload event: {}", s.stderr()));
    assert_eq!(reload["env"], 0, "{reload}");
    assert_eq!(reload["generation"], 2, "{reload}");
    assert_eq!(reload["retiring"], 2, "{reload}");

    // The idle environment is spun down at once, the real way: SIGTERM, its hook, its exit.
    assert!(
        wait_event(&s, SHORT, |e| e["type"] == "shutdown_done"
            && e["env"] == idle)
        .is_some(),
        "{:?}",
        types_of(&s, idle)
    );
    let idle_types = types_of(&s, idle);
    let at = |t: &str| idle_types.iter().position(|x| x == t);
    assert!(
        at("retired") < at("shutdown_start") && at("shutdown_start") < at("sigterm"),
        "{idle_types:?}"
    );
    assert!(at("sigkill").is_none(), "{idle_types:?}");
    let retired = s
        .events()
        .into_iter()
        .find(|e| e["type"] == "retired" && e["env"] == idle)
        .unwrap();
    assert_eq!(retired["reason"], "reload");
    assert!(s.wait_stdout("[watch-fn] shutdown hook ran in v1", SHORT));

    // New invokes get the new code, in a new environment, while A is still in flight.
    assert_eq!(version(&s, "watch-fn", "{}"), "v2");
    let fresh = last_invoked_env(&s);
    assert!(fresh != busy && fresh != idle);
    let busy_types = types_of(&s, busy);
    assert!(
        busy_types.contains(&"retired".to_owned())
            && !busy_types.contains(&"shutdown_start".to_owned()),
        "an environment in flight is retired only once its invoke ends: {busy_types:?}"
    );
    std::fs::write(&gate, "").unwrap();
    let answer = in_flight.join().unwrap();
    assert_eq!(answer.json()["version"], "v1", "{}", answer.text());
    assert!(
        wait_event(&s, SHORT, |e| e["type"] == "shutdown_done"
            && e["env"] == busy)
        .is_some(),
        "{:?}",
        types_of(&s, busy)
    );
    assert!(types_of(&s, busy).contains(&"sigterm".to_owned()));
    assert!(poll_until(SHORT, || {
        s.stdout()
            .matches("[watch-fn] shutdown hook ran in v1")
            .count()
            == 2
    }));

    // A broken edit: the compiler's error is shown, recorded, and v2 keeps serving.
    edit(
        &dir.join("src/main.rs"),
        r#"const VERSION: &str = "v2";"#,
        r#"const VERSION: &str = "v3"  // a missing semicolon"#,
    );
    let failed = wait_event(&s, BUILD, |e| e["type"] == "reload_failed");
    let failed = failed.unwrap_or_else(|| panic!("no reload_failed event: {}", s.stderr()));
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("error"), "{error}");
    assert!(
        s.stderr()
            .contains("the build failed; the running version keeps serving"),
        "{}",
        s.stderr()
    );
    assert!(s.stderr().contains("expected `;`"), "{}", s.stderr());
    assert_eq!(version(&s, "watch-fn", "{}"), "v2");
    assert_eq!(of_type(&s.events(), "reload").len(), 1);
    assert!(!types_of(&s, fresh).contains(&"shutdown_start".to_owned()));

    // Negative control: without --watch the edit changed nothing, even in a new environment.
    assert_eq!(plain.spin_down(Some("plain")), 1);
    assert_eq!(version(&plain, "plain", "{}"), "v1");
    let plain_events = plain.events();
    assert!(of_type(&plain_events, "reload").is_empty());
    assert!(of_type(&plain_events, "retired").is_empty());
    assert!(!plain.stderr().contains("watching"));
}

const APP_PY: &str = r#"import signal
import sys

VERSION = "v1"


def _on_sigterm(signum, frame):
    print(f"[app] SIGTERM received in {VERSION}", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, _on_sigterm)


def handler(event, context):
    return {"version": VERSION}
"#;

#[test]
fn a_changed_python_handler_is_picked_up_and_the_old_environment_gets_sigterm_and_shutdown() {
    let dir = temp_dir("watch-py");
    std::fs::write(dir.join("app.py"), APP_PY).unwrap();
    // The shutdown-enabler external extension: with it the runtime gets SIGTERM, and the
    // extension SHUTDOWN.
    let layer = temp_dir("watch-py-layer");
    std::fs::create_dir_all(layer.join("extensions")).unwrap();
    std::fs::copy(
        workspace_bin("shutdown-enabler"),
        layer.join("extensions/shutdown-enabler"),
    )
    .unwrap();
    let python = venv_bin("python");
    // Not frozen: see template.rs (a SIGTERM right after the thaw can miss Python's handler).
    let s = Serve::start(&[
        "--watch",
        "--no-freeze",
        "--name",
        "py",
        "--dir",
        dir.to_str().unwrap(),
        "--layer",
        layer.to_str().unwrap(),
        "--execution-env",
        "AWS_Lambda_python3.12",
        "--timeout",
        "10s",
        "--",
        python.to_str().unwrap(),
        "-m",
        "awslambdaric",
        "app.handler",
    ]);
    assert_eq!(version(&s, "py", "{}"), "v1");
    let old = last_invoked_env(&s);

    edit(&dir.join("app.py"), r#""v1""#, r#""v2""#);
    let reload = wait_event(&s, SHORT, |e| e["type"] == "reload");
    assert!(reload.is_some(), "no reload event: {}", s.stderr());
    assert!(
        wait_event(&s, SHORT, |e| e["type"] == "shutdown_done"
            && e["env"] == old)
        .is_some(),
        "{:?}",
        types_of(&s, old)
    );
    let types = types_of(&s, old);
    for t in ["retired", "sigterm", "shutdown_event"] {
        assert!(types.contains(&t.to_owned()), "{t} missing: {types:?}");
    }
    assert!(
        s.wait_stdout("[app] SIGTERM received in v1", SHORT),
        "{}",
        s.stdout()
    );
    assert_eq!(
        version(&s, "py", "{}"),
        "v2",
        "{}\n{:?}",
        s.stderr(),
        s.events()
    );
    assert_ne!(last_invoked_env(&s), old);
}
