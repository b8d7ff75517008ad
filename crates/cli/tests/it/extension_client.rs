//! External extensions built on `lambda-grace-extension` (and one on the official
//! `lambda-extension` crate) under `grace serve --layer` (§2, §3, §4.4, §9.3).
//!
//! The binaries come from other packages; build them first:
//! `cargo build -p lambda-grace-extension --bins --examples -p example-telemetry-batcher
//! -p grace-peer-fixtures -p grace-testfn` (`cargo test --workspace` builds them too).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::util::{Serve, grace_bin, poll_until, temp_dir, workspace_bin, workspace_root};

/// An example of the extension crate (`target/debug/examples/NAME`).
fn example_bin(name: &str) -> PathBuf {
    let p = grace_bin().with_file_name("examples").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build -p lambda-grace-extension --examples` first",
        p.display()
    );
    p
}

/// A layer directory whose `extensions/` holds `bins` (symlinks, named after the file).
fn layer(tag: &str, bins: &[PathBuf]) -> PathBuf {
    let dir = temp_dir(tag);
    let extensions = dir.join("extensions");
    std::fs::create_dir_all(&extensions).unwrap();
    for bin in bins {
        std::os::unix::fs::symlink(bin, extensions.join(bin.file_name().unwrap())).unwrap();
    }
    dir
}

/// `--layer DIR` for each directory.
fn layer_args(layers: &[&Path]) -> Vec<String> {
    layers
        .iter()
        .flat_map(|l| ["--layer".to_owned(), l.display().to_string()])
        .collect()
}

/// Runs `grace-testfn` as `name` with extra flags and `--env` settings.
fn testfn(name: &str, flags: &[String], env: &[String]) -> Serve {
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let env: Vec<&str> = env.iter().map(String::as_str).collect();
    Serve::testfn(name, &flags, &env)
}

/// The lifecycle events of a finished shutdown (waits for `shutdown_done`).
fn events_after_shutdown(s: &Serve) -> Timeline {
    let done = poll_until(Duration::from_secs(5), || {
        s.events().iter().any(|e| e["type"] == "shutdown_done")
    });
    assert!(done, "no shutdown_done: {:?}", s.events());
    Timeline(s.events())
}

/// Lifecycle events, searchable by type, role and process name.
struct Timeline(Vec<Value>);

impl Timeline {
    fn find(&self, kind: &str, role: Option<&str>, name: Option<&str>) -> Option<&Value> {
        self.0.iter().find(|e| {
            e["type"] == kind
                && role.is_none_or(|r| e["role"] == r)
                && name.is_none_or(|n| e["name"] == n)
        })
    }

    /// `time_us` of the first matching event.
    fn at(&self, kind: &str, role: Option<&str>, name: Option<&str>) -> u64 {
        self.find(kind, role, name)
            .unwrap_or_else(|| panic!("no {kind} {role:?} {name:?} in {:#?}", self.0))["time_us"]
            .as_u64()
            .unwrap()
    }

    fn has(&self, kind: &str, role: Option<&str>, name: Option<&str>) -> bool {
        self.find(kind, role, name).is_some()
    }
}

fn ms(from_us: u64, to_us: u64) -> i64 {
    (to_us as i64 - from_us as i64) / 1000
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// The Python interpreter of the test venv, with `awslambdaric`.
fn python() -> PathBuf {
    let py = crate::util::venv_bin("python");
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", "import awslambdaric"])
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the Python test venv (.deps/venv with awslambdaric) is missing: run scripts/setup-test-deps.sh"
    );
    py
}

/// `grace serve` running `tests/python/sigterm_app.py` with `awslambdaric`, with these
/// layers; the app appends one line per invoke to `out`, buffered until its SIGTERM handler
/// closes the file.
fn serve_python(layers: &[&Path], out: &Path) -> Serve {
    let py = python();
    let dir = workspace_root().join("tests/python");
    let mut args = vec![
        "--name".to_owned(),
        "py".into(),
        "--dir".into(),
        dir.display().to_string(),
        "--execution-env".into(),
        "AWS_Lambda_python3.12".into(),
        "--env".into(),
        format!("SIGTERM_APP_FILE={}", out.display()),
    ];
    args.extend(layer_args(layers));
    args.extend([
        "--".into(),
        py.display().to_string(),
        "-m".into(),
        "awslambdaric".into(),
        "sigterm_app.handler".into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Serve::start(&args)
}

/// Peak resident memory (`VmHWM`) of a live process, in kB.
fn vm_hwm_kb(pid: u64) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn the_shutdown_enabler_layer_gives_a_python_function_sigterm_and_without_it_only_sigkill() {
    let enabler = layer("enabler", &[workspace_bin("shutdown-enabler")]);
    let out = temp_dir("py-out").join("with-layer.out");
    let s = serve_python(&[&enabler], &out);
    let a = s.invoke("py", "{}");
    assert_eq!(a.status, 200, "{}", a.text());
    let request_id = a.json()["request_id"].as_str().unwrap().to_owned();
    assert!(
        s.stdout()
            .contains("EXTENSION\tName: shutdown-enabler\tState: Ready\tEvents: [SHUTDOWN]"),
        "{}",
        s.stdout()
    );
    let env = s.environments().remove(0);
    let pid = env["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "shutdown-enabler")
        .and_then(|p| p["pid"].as_u64())
        .expect("the enabler runs");
    if let Some(kb) = vm_hwm_kb(pid) {
        eprintln!("shutdown-enabler VmHWM: {kb} kB");
    }
    assert_eq!(s.spin_down(None), 1);
    assert!(
        s.wait_stdout("[python] SIGTERM received", Duration::from_secs(2)),
        "{}",
        s.stdout()
    );
    let ev = events_after_shutdown(&s);
    assert!(s.stdout().contains("[python] cleanup done"));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("invoke {request_id}\n"),
        "the buffered line was flushed by the SIGTERM handler"
    );
    let sigterm = ev.at("sigterm", Some("runtime"), None);
    let exit = ev.at("process_exit", Some("runtime"), None);
    assert!(sigterm <= exit);
    if ev.has("sigkill", Some("runtime"), None) {
        assert!(
            exit < ev.at("sigkill", Some("runtime"), None),
            "the runtime exited on its own"
        );
    }
    assert_eq!(
        ev.find("process_exit", Some("runtime"), None).unwrap()["exit"],
        "exit status 0"
    );
    // The enabler gets SHUTDOWN only after the runtime is gone, and leaves at once.
    let shutdown = ev.at("shutdown_event", None, Some("shutdown-enabler"));
    let enabler_exit = ev.at("process_exit", Some("extension"), Some("shutdown-enabler"));
    assert!(exit <= shutdown && shutdown <= enabler_exit);
    assert!(ms(shutdown, enabler_exit) < 500, "exits at once");
    assert!(!ev.has("sigkill", Some("extension"), None));
    drop(s);

    // Control: the same function without the layer is SIGKILLed, with no SIGTERM at all,
    // and its buffered line is lost.
    let out = out.with_file_name("without-layer.out");
    let s = serve_python(&[], &out);
    assert_eq!(s.invoke("py", "{}").status, 200);
    assert_eq!(s.spin_down(None), 1);
    let ev = events_after_shutdown(&s);
    assert!(ev.has("sigkill", Some("runtime"), None));
    assert!(!ev.has("sigterm", Some("runtime"), None));
    assert!(!s.stdout().contains("[python] SIGTERM received"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "");
}

#[test]
fn the_telemetry_batcher_writes_every_record_of_every_invoke_and_loses_nothing_at_spin_down() {
    const N: usize = 3;
    let dir = temp_dir("batcher");
    let out = dir.join("batches.jsonl");
    let reference = dir.join("recorder.jsonl");
    let mine = layer("batcher-layer", &[workspace_bin("telemetry-batcher")]);
    // The Python recorder fixture is a second subscriber: what the platform delivered.
    let recorder = workspace_root().join("tests/fixtures/layers/recorder");
    let s = testfn(
        "batched",
        &layer_args(&[&recorder, &mine]),
        &[
            format!("BATCHER_OUT={}", out.display()),
            format!("RECORDER_OUT={}", reference.display()),
            "RECORDER_TYPES=platform,function".into(),
            "TESTFN_SIGTERM=handle".into(),
        ],
    );
    let mut ids = Vec::new();
    for i in 0..N {
        let a = s.invoke("batched", &format!(r#"{{"log":"batched line {i}"}}"#));
        assert_eq!(a.status, 200, "{}", a.text());
        ids.push(a.header("x-amzn-requestid").unwrap().to_owned());
    }
    let report_of = |records: &[Value], id: &str| {
        records
            .iter()
            .filter(|r| r["type"] == "platform.report" && r["record"]["requestId"] == id)
            .count()
    };
    // Control: before SHUTDOWN the last invoke's report is only in memory (the batcher writes
    // on INVOKE and SHUTDOWN, and no INVOKE came after it), so the SHUTDOWN flush is what
    // saves it below.
    assert_eq!(report_of(&read_jsonl(&out), &ids[N - 1]), 0);

    assert_eq!(s.spin_down(None), 1);
    let ev = events_after_shutdown(&s);
    let exit = ev.find("process_exit", Some("extension"), Some("telemetry-batcher"));
    assert_eq!(exit.expect("the batcher exits")["exit"], "exit status 0");
    assert!(!ev.has("sigkill", Some("extension"), Some("telemetry-batcher")));
    assert!(
        s.stdout()
            .contains("[telemetry-batcher] SHUTDOWN (spindown): work completed"),
        "{}",
        s.stdout()
    );

    let records = read_jsonl(&out);
    for id in &ids {
        for kind in ["platform.start", "platform.runtimeDone", "platform.report"] {
            let n = records
                .iter()
                .filter(|r| r["type"] == kind && r["record"]["requestId"] == id.as_str())
                .count();
            assert_eq!(n, 1, "{kind} of {id}: {records:#?}");
        }
    }
    let logs: Vec<&str> = records
        .iter()
        .filter(|r| r["type"] == "function")
        .filter_map(|r| r["record"].as_str())
        .collect();
    for i in 0..N {
        assert!(
            logs.contains(&format!("[testfn] log: batched line {i}").as_str()),
            "{logs:?}"
        );
    }
    assert!(
        logs.contains(&"[testfn] SIGTERM received"),
        "the shutdown's own lines too: {logs:?}"
    );
    // Nothing lost, nothing doubled: the same records as the reference subscriber got.
    let canonical = |records: Vec<Value>| {
        let mut v: Vec<String> = records.iter().map(Value::to_string).collect();
        v.sort();
        v
    };
    let delivered: Vec<Value> = read_jsonl(&reference)
        .into_iter()
        .filter_map(|l| l.get("telemetry").cloned())
        .collect();
    assert!(!delivered.is_empty());
    assert_eq!(canonical(records), canonical(delivered));
}

#[test]
fn shutdown_work_that_blocks_is_sigkilled_at_the_deadline_and_work_that_awaits_is_cut_off_in_time()
{
    let deadline_layer = layer("deadline", &[example_bin("shutdown-deadline")]);
    let run = |work: &str| {
        let s = testfn(
            "deadline",
            &layer_args(&[&deadline_layer]),
            &[
                format!("DEADLINE_WORK={work}"),
                "TESTFN_SIGTERM=handle".into(),
            ],
        );
        assert_eq!(s.invoke("deadline", "{}").status, 200);
        assert_eq!(s.spin_down(None), 1);
        let ev = events_after_shutdown(&s);
        assert!(
            s.stdout()
                .contains("[shutdown-deadline] SHUTDOWN reason=spindown"),
            "{}",
            s.stdout()
        );
        (s, ev)
    };
    let name = Some("shutdown-deadline");

    // Blocking work: no async timeout can stop it; grace SIGKILLs it at the 2,000 ms deadline.
    let (_s, ev) = run("block");
    let start = ev.at("shutdown_start", None, None);
    let kill = ev.at("sigkill", Some("extension"), name);
    assert!(
        (1800..2800).contains(&ms(start, kill)),
        "killed at the deadline: {} ms",
        ms(start, kill)
    );

    // Control: awaiting work is cut off by the library before the deadline; the process exits
    // by itself, and no SIGKILL is needed.
    let (s, ev) = run("await");
    let start = ev.at("shutdown_start", None, None);
    let exit = ev.at("process_exit", Some("extension"), name);
    let deadline_us = ev.find("shutdown_event", None, name).unwrap()["deadline_ms"]
        .as_u64()
        .unwrap()
        * 1000;
    assert!(exit < deadline_us, "exited before the deadline");
    assert!(
        ms(start, exit) > 1000,
        "it used its budget: {} ms",
        ms(start, exit)
    );
    assert!(!ev.has("sigkill", Some("extension"), name));
    assert_eq!(
        ev.find("process_exit", Some("extension"), name).unwrap()["exit"],
        "exit status 0"
    );
    assert!(
        s.stdout()
            .contains("[shutdown-deadline] SHUTDOWN (spindown): work cut off after"),
        "{}",
        s.stdout()
    );
}

#[test]
fn a_runtime_that_ignores_sigterm_is_killed_at_its_budget_and_the_extension_still_gets_shutdown() {
    let ext_layer = layer("async-enabler", &[example_bin("enabler-async")]);
    let run = |sigterm: &str| {
        let s = testfn(
            "stubborn",
            &layer_args(&[&ext_layer]),
            &[format!("TESTFN_SIGTERM={sigterm}")],
        );
        assert_eq!(s.invoke("stubborn", "{}").status, 200);
        assert_eq!(s.spin_down(None), 1);
        events_after_shutdown(&s)
    };
    let name = Some("enabler-async");

    let ev = run("ignore");
    let sigterm = ev.at("sigterm", Some("runtime"), None);
    let kill = ev.at("sigkill", Some("runtime"), None);
    assert!(
        (250..800).contains(&ms(sigterm, kill)),
        "the runtime is SIGKILLed at its 300 ms budget: {} ms",
        ms(sigterm, kill)
    );
    let shutdown = ev.at("shutdown_event", None, name);
    let exit = ev.at("process_exit", Some("extension"), name);
    assert!(kill <= shutdown, "SHUTDOWN only after the runtime is gone");
    assert!(
        shutdown <= exit && ms(shutdown, exit) < 500,
        "and it leaves at once"
    );
    assert!(!ev.has("sigkill", Some("extension"), None));

    // Control: a runtime that handles SIGTERM exits within its budget; no SIGKILL for it.
    let ev = run("handle");
    assert!(ev.has("process_exit", Some("runtime"), None));
    assert!(!ev.has("sigkill", Some("runtime"), None));
    assert!(ev.has("shutdown_event", None, name));
}

#[test]
fn ext_logger_on_the_official_lambda_extension_crate_runs_unmodified_under_grace() {
    let logger = layer("ext-logger", &[workspace_bin("ext-logger")]);
    let s = testfn(
        "logged",
        &layer_args(&[&logger]),
        &["TESTFN_SIGTERM=handle".into()],
    );
    let before_ms = now_ms();
    let a = s.invoke("logged", "{}");
    assert_eq!(a.status, 200, "{}", a.text());
    let request_id = a.header("x-amzn-requestid").unwrap().to_owned();
    assert!(s.wait_stdout("[ext-logger] INVOKE", Duration::from_secs(2)));
    let line = |prefix: &str| {
        s.stdout()
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no {prefix:?} line in {}", s.stdout()))
    };
    let field = |line: &str, key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key).and_then(|w| w.strip_prefix('=')))
            .unwrap_or_else(|| panic!("no {key} in {line:?}"))
            .to_owned()
    };
    let invoke = line("[ext-logger] INVOKE ");
    assert_eq!(field(&invoke, "request_id"), request_id);
    let deadline: u64 = field(&invoke, "deadline_ms").parse().unwrap();
    assert!(
        deadline > before_ms && deadline <= now_ms() + 3_000,
        "the 3 s function timeout from the invoke's start: {deadline}"
    );
    let arn = field(&invoke, "arn");
    assert!(
        arn.starts_with("arn:aws:lambda:") && arn.ends_with(":function:logged"),
        "{arn}"
    );

    assert_eq!(s.spin_down(None), 1);
    let ev = events_after_shutdown(&s);
    let shutdown_line = line("[ext-logger] SHUTDOWN ");
    assert_eq!(field(&shutdown_line, "reason"), "spindown");
    let event = ev.find("shutdown_event", None, Some("ext-logger")).unwrap();
    assert_eq!(
        field(&shutdown_line, "deadline_ms"),
        event["deadline_ms"].to_string()
    );
    // It exits by itself before the deadline (an extension that does not is SIGKILLed: see
    // the blocking case above, the control of this assertion).
    let exit = ev.at("process_exit", Some("extension"), Some("ext-logger"));
    assert!(exit < event["deadline_ms"].as_u64().unwrap() * 1000);
    assert!(!ev.has("sigkill", Some("extension"), None));
    assert_eq!(
        ev.find("process_exit", Some("extension"), Some("ext-logger"))
            .unwrap()["exit"],
        "exit status 0"
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
