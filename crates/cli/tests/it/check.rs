//! `grace check`: it passes functions that shut down well, and fails, each with the right
//! reason, those that do not (no extension, SIGTERM ignored, a TCP connection left open, output
//! that only arrives at shutdown). The timeline it draws renders in Chromium; the trace it writes
//! is trace-event JSON.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use crate::util::{grace_bin, temp_dir, testfn_bin, workspace_bin};

/// `grace check --json ARGS…`: (exit success, the JSON result).
fn check(args: &[&str]) -> (bool, serde_json::Value) {
    let (flags, tail) = match args.iter().position(|a| *a == "--") {
        Some(i) => (&args[..i], &args[i..]),
        None => (args, &[][..]),
    };
    let out = Command::new(grace_bin())
        .arg("check")
        .arg("--json")
        .args(flags)
        .args(tail)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), json)
}

fn status<'a>(result: &'a serde_json::Value, id: &str) -> &'a str {
    result["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .and_then(|c| c["status"].as_str())
        .unwrap_or_else(|| panic!("no check {id} in {result:#}"))
}

fn testfn(env: &[&str]) -> Vec<String> {
    let mut args = Vec::new();
    for e in env {
        args.push("--env".to_owned());
        args.push((*e).to_owned());
    }
    args.extend([
        "--name".to_owned(),
        "f".to_owned(),
        "--".to_owned(),
        testfn_bin().to_string_lossy().into_owned(),
    ]);
    args
}

fn run_testfn_check(env: &[&str], extra: &[&str]) -> (bool, serde_json::Value) {
    let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    args.extend(testfn(env));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    check(&args)
}

#[test]
fn the_hello_example_passes_every_check_including_a_reset() {
    let hello = workspace_bin("hello");
    let (ok, r) = check(&["--reset", "--name", "hello", "--", hello.to_str().unwrap()]);
    assert!(ok, "{r:#}");
    assert_eq!(r["pass"], true);
    for c in r["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "pass", "{c}");
    }
    assert!(
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "reset-exit")
    );
}

#[test]
fn a_function_without_an_extension_fails_with_the_advice_to_add_one() {
    let (ok, r) = run_testfn_check(&["TESTFN_SIGTERM=handle"], &[]);
    assert!(!ok);
    assert_eq!(status(&r, "sigterm"), "fail");
    let advice = r["checks"][1]["advice"].as_str().unwrap();
    assert!(advice.contains("shutdown-enabler"), "{advice}");
    // Negative control: the same runtime with an internal extension passes.
    let (ok, r) = run_testfn_check(&["TESTFN_SIGTERM=handle", "TESTFN_EXTENSION=enabler"], &[]);
    assert!(ok, "{r:#}");
    assert_eq!(status(&r, "sigterm"), "pass");
}

#[test]
fn a_function_that_ignores_sigterm_fails_the_exit_check() {
    let (ok, r) = run_testfn_check(&["TESTFN_SIGTERM=ignore", "TESTFN_EXTENSION=enabler"], &[]);
    assert!(!ok);
    assert_eq!(status(&r, "sigterm"), "pass");
    assert_eq!(status(&r, "exit"), "fail");
    let detail = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "exit")
        .unwrap()["detail"]
        .clone();
    assert!(detail.as_str().unwrap().contains("SIGKILLed"), "{detail}");
}

#[test]
fn a_tcp_connection_left_open_is_reported() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let accept = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(1).flatten().collect();
        std::thread::sleep(std::time::Duration::from_secs(5));
        drop(conns);
    });
    let hold = format!("TESTFN_HOLD_TCP={addr}");
    let (ok, r) = run_testfn_check(
        &["TESTFN_SIGTERM=handle", "TESTFN_EXTENSION=enabler", &hold],
        &[],
    );
    let detail = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "tcp")
        .unwrap()["detail"]
        .clone();
    let detail = detail.as_str().unwrap();
    assert!(
        detail.contains(&format!("{addr} (open at exit)")),
        "the peer and its fate: {detail}"
    );
    assert_eq!(status(&r, "tcp"), "fail", "{r:#}");
    assert_eq!(r["verdict"], "fail", "{r:#}");
    assert!(!ok, "{r:#}");
    assert_eq!(r["pass"], false);
    assert_eq!(
        status(&r, "exit"),
        "pass",
        "it did exit; it just left the connection open"
    );
    drop(accept);
}

fn words<'a>(result: &'a serde_json::Value, id: &str) -> (&'a str, &'a str) {
    let c = result["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {result:#}"));
    (
        c["detail"].as_str().unwrap_or_default(),
        c["advice"].as_str().unwrap_or_default(),
    )
}

/// A directory holding `extensions/shutdown-enabler`: an external extension, as a layer.
fn enabler_layer() -> std::path::PathBuf {
    let layer = temp_dir("enabler-layer");
    std::fs::create_dir_all(layer.join("extensions")).unwrap();
    std::fs::copy(
        workspace_bin("shutdown-enabler"),
        layer.join("extensions/shutdown-enabler"),
    )
    .unwrap();
    layer
}

#[test]
fn a_sigkill_names_the_budget_the_runtime_had_with_the_extensions_present() {
    // An external extension: the runtime gets 300 ms (the 2,000 ms are the extensions').
    let layer = enabler_layer();
    let (ok, r) = run_testfn_check(
        &["TESTFN_SIGTERM=ignore"],
        &["--layer", layer.to_str().unwrap(), "--memory", "256"],
    );
    assert!(!ok);
    let (detail, advice) = words(&r, "exit");
    assert!(
        detail.contains("SIGKILLed")
            && detail.contains("the 300 ms the runtime gets with external extensions, at 256 MB"),
        "{detail}"
    );
    assert!(advice.contains("well inside the 300 ms"), "{advice}");
    assert!(
        !detail.contains("2000") && !advice.contains("2000"),
        "{r:#}"
    );
    // Negative control: an internal extension only, 500 ms.
    let (_, r) = run_testfn_check(&["TESTFN_SIGTERM=ignore", "TESTFN_EXTENSION=enabler"], &[]);
    let (detail, advice) = words(&r, "exit");
    assert!(
        detail.contains("the 500 ms the runtime gets with internal extensions only, at 128 MB"),
        "{detail}"
    );
    assert!(advice.contains("well inside the 500 ms"), "{advice}");
}

#[test]
fn a_clean_exit_is_a_share_of_the_runtimes_budget() {
    let layer = enabler_layer();
    let (ok, r) = run_testfn_check(
        &["TESTFN_SIGTERM=handle"],
        &["--layer", layer.to_str().unwrap()],
    );
    assert!(ok, "{r:#}");
    let (detail, _) = words(&r, "exit");
    assert!(
        detail.contains("ms after SIGTERM: ")
            && detail
                .contains("% of the 300 ms the runtime gets with external extensions, at 128 MB"),
        "{detail}"
    );
    let (detail, _) = words(&r, "sigterm");
    assert!(detail.contains("the runtime gets 300 ms"), "{detail}");
}

#[test]
fn a_warning_is_not_a_pass() {
    // Cleanup that takes 85 % of the runtime's budget (1.7 of 2 s, so that a loaded machine does
    // not push it past the SIGKILL): the exit verdict warns, and the check does not pass.
    let (ok, r) = run_testfn_check(
        &[
            "TESTFN_SIGTERM=handle",
            "TESTFN_EXTENSION=enabler",
            "TESTFN_CLEANUP_MS=1700",
        ],
        &["--runtime-budget", "2s"],
    );
    assert_eq!(status(&r, "exit"), "warn", "{r:#}");
    assert!(!ok, "{r:#}");
    assert_eq!(r["pass"], false);
    assert_eq!(r["verdict"], "warn");
    let (_, advice) = words(&r, "exit");
    assert!(advice.contains("the 2000 ms the runtime gets"), "{advice}");
    // Negative control: a short cleanup passes.
    let (ok, r) = run_testfn_check(
        &["TESTFN_SIGTERM=handle", "TESTFN_EXTENSION=enabler"],
        &["--runtime-budget", "2s"],
    );
    assert!(ok, "{r:#}");
    assert_eq!(r["verdict"], "pass");
}

/// `grace check` on tests/oracle/shutdown_talk_app.py under awslambdaric, with the enabler layer.
fn check_shutdown_talk(buffered: bool) -> (bool, serde_json::Value) {
    let layer = enabler_layer();
    let python = crate::util::venv_bin("python");
    let dir = crate::util::workspace_root().join("tests/oracle");
    let env = format!("SHUTDOWN_TALK_BUFFERED={}", u8::from(buffered));
    let trace = temp_dir("talk-trace").join("trace.json");
    let (ok, mut r) = check(&[
        "--trace",
        trace.to_str().unwrap(),
        "--env",
        &env,
        "--layer",
        layer.to_str().unwrap(),
        "--name",
        "talk",
        "--dir",
        dir.to_str().unwrap(),
        "--execution-env",
        "AWS_Lambda_python3.12",
        "--handler",
        "shutdown_talk_app.handler",
        "--",
        python.to_str().unwrap(),
        "-m",
        "awslambdaric",
        "shutdown_talk_app.handler",
    ]);
    // The lifecycle goes into the report, so that a failed assertion shows what happened.
    r["trace"] = std::fs::read_to_string(&trace)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    (ok, r)
}

#[test]
fn a_python_function_that_only_talks_in_its_sigterm_handler_is_not_buffered() {
    // Nothing printed during the invokes, six flushed lines at SIGTERM: nothing was held back.
    let (ok, r) = check_shutdown_talk(false);
    assert!(ok, "{r:#}");
    assert_eq!(status(&r, "output"), "pass", "{r:#}");
    let (detail, _) = words(&r, "output");
    assert!(
        detail.contains("nothing written during the 4 invocations; 6 lines at shutdown"),
        "{detail}"
    );
    // Negative control: the same function writing a line per invoke into a buffer that only
    // its exit flushes.
    let (ok, r) = check_shutdown_talk(true);
    assert!(!ok, "{r:#}");
    assert_eq!(status(&r, "output"), "fail", "{r:#}");
    let (detail, _) = words(&r, "output");
    assert!(
        detail.starts_with("4 lines written during the 4 invocations arrived only at shutdown"),
        "{detail}"
    );
}

#[test]
fn output_that_only_arrives_at_shutdown_is_reported() {
    let payload = ["--payload", r#"{"log":"handled"}"#];
    let (ok, r) = run_testfn_check(
        &[
            "TESTFN_SIGTERM=handle",
            "TESTFN_EXTENSION=e",
            "TESTFN_BUFFERED_STDOUT=1",
        ],
        &payload,
    );
    assert!(!ok, "{r:#}");
    assert_eq!(status(&r, "output"), "fail");
    // Negative control: the same function writing its lines as it goes.
    let (ok, r) = run_testfn_check(&["TESTFN_SIGTERM=handle", "TESTFN_EXTENSION=e"], &payload);
    assert!(ok, "{r:#}");
    assert_eq!(status(&r, "output"), "pass");
}

fn chromium() -> &'static str {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(c).exists() {
            return c;
        }
    }
    panic!("Chromium is missing: run scripts/setup-test-deps.sh (it installs Debian's chromium)");
}

#[test]
fn the_timeline_and_the_trace_are_written_and_the_timeline_renders_in_chromium() {
    let dir = temp_dir("timeline");
    let svg = dir.join("timeline.svg");
    let trace = dir.join("trace.json");
    let hello = workspace_bin("hello");
    let out = Command::new(grace_bin())
        .args([
            "check",
            "--timeline",
            svg.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
            "--name",
            "hello",
            "--",
            hello.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The trace: Chrome trace-event JSON, every event loadable, hello's hooks as spans.
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    for e in events {
        assert!(matches!(e["ph"].as_str(), Some("X" | "i" | "M")), "{e}");
        for key in ["ts", "pid", "tid"] {
            assert!(e[key].is_u64(), "{key} in {e}");
        }
        if e["ph"] == "X" {
            assert!(e["dur"].is_u64(), "{e}");
        }
    }
    let hooks: Vec<&str> = events
        .iter()
        .filter(|e| e["cat"] == "hook")
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert!(
        hooks.iter().any(|h| h.starts_with("close-database ")),
        "{hooks:?}"
    );
    assert!(events.iter().any(|e| e["cat"] == "sigterm"));
    // The picture names the same hooks.
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.contains(">close-database "), "{picture}");
    let png = dir.join("shot.png");
    let shot = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1400,400")
        .arg(format!("file://{}", svg.display()))
        .output()
        .unwrap();
    assert!(
        png.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).collect();
    let count = |rgb: [u8; 3]| {
        pixels
            .iter()
            .filter(|p| p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2])
            .count()
    };
    // The drawing, not a blank page: the init bar, invoke bars, hooks, the SIGTERM marker.
    assert!(count([0x81, 0x8c, 0xf8]) > 50, "init bar (#818cf8) missing");
    assert!(
        count([0x22, 0xc5, 0x5e]) > 10,
        "invoke bars (#22c55e) missing"
    );
    assert!(
        count([0xa8, 0x55, 0xf7]) > 50,
        "hook bars (#a855f7) missing"
    );
    assert!(
        count([0xea, 0x58, 0x0c]) > 10,
        "SIGTERM marker (#ea580c) missing"
    );
    assert!(count([0x15, 0x80, 0x3d]) > 10, "green PASS verdict missing");
}

#[test]
fn the_postgres_example_passes() {
    // Its pool is opened at init and closed by a shutdown hook: every connection says goodbye.
    // (The negative control, the same function without its hook, is
    // `oracle::the_postgres_example_without_its_hook_…`, judged by the server's log.)
    let pg = crate::pg::Postgres::start();
    let url = format!("DATABASE_URL={}", pg.url());
    let bin = workspace_bin("postgres");
    let (ok, r) = check(&[
        "--env",
        &url,
        "--name",
        "postgres",
        "--",
        bin.to_str().unwrap(),
    ]);
    assert_eq!(status(&r, "sigterm"), "pass");
    assert_eq!(status(&r, "exit"), "pass");
    assert_eq!(status(&r, "tcp"), "pass", "{r:#}");
    assert!(ok, "{r:#}");
}

#[test]
fn a_python_function_from_a_sam_template_passes_with_the_enabler_layer_and_fails_without() {
    let dir = temp_dir("sam-check");
    let layer = dir.join("layer");
    std::fs::create_dir_all(layer.join("extensions")).unwrap();
    std::fs::copy(
        workspace_bin("shutdown-enabler"),
        layer.join("extensions/shutdown-enabler"),
    )
    .unwrap();
    let template = crate::util::workspace_root().join("tests/fixtures/sam/python-sigterm.yaml");
    let python = crate::util::venv_bin("python");
    let run = |only: &str| {
        check(&[
            "--template",
            template.to_str().unwrap(),
            "--parameter",
            &format!("LayerDir={}", layer.display()),
            "--parameter",
            &format!("OutDir={}", dir.display()),
            "--python",
            python.to_str().unwrap(),
            "--only",
            only,
        ])
    };
    let (ok, r) = run("Graceful");
    assert!(ok, "{r:#}");
    assert_eq!(status(&r, "sigterm"), "pass");
    assert_eq!(status(&r, "exit"), "pass");
    let (ok, r) = run("Abrupt");
    assert!(!ok, "{r:#}");
    assert_eq!(status(&r, "sigterm"), "fail");
    let sigterm = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "sigterm")
        .unwrap()
        .clone();
    assert!(
        sigterm["advice"]
            .as_str()
            .unwrap()
            .contains("add the shutdown-enabler layer"),
        "{sigterm}"
    );
}

/// Runs the test runtime holding a connection to a local server that records what it receives,
/// under `grace check` with `env`: the `tcp` verdict and what the server got.
fn tcp_fate(env: &[&str]) -> (String, String, Vec<u8>) {
    use std::io::Read;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let mut got = Vec::new();
        if let Some(Ok(mut conn)) = listener.incoming().next() {
            // Until the peer's end of the connection: a FIN, a reset, or its exit.
            let _ = conn.read_to_end(&mut got);
        }
        got
    });
    let hold = format!("TESTFN_HOLD_TCP={addr}");
    let mut all = vec![hold.as_str()];
    all.extend_from_slice(env);
    let (_, r) = run_testfn_check(&all, &[]);
    let tcp = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "tcp")
        .unwrap_or_else(|| panic!("no tcp verdict: {r:#}"))
        .clone();
    let got = server.join().unwrap();
    let detail = tcp["detail"].as_str().unwrap().to_owned();
    assert!(detail.starts_with(&addr), "names the peer first: {detail}");
    (tcp["status"].as_str().unwrap().to_owned(), detail, got)
}

#[test]
fn a_goodbye_then_close_passes() {
    let (status, detail, got) = tcp_fate(&[
        "TESTFN_SIGTERM=handle",
        "TESTFN_EXTENSION=enabler",
        "TESTFN_TCP_AT_SIGTERM=goodbye",
    ]);
    assert_eq!(got, b"bye\n");
    assert_eq!(status, "pass", "{detail}");
    assert!(
        detail.contains("(goodbye): 4 bytes sent after SIGTERM, then close"),
        "{detail}"
    );
}

#[test]
fn a_close_with_nothing_sent_is_abrupt() {
    // The negative control of the goodbye: the same close, without the bytes.
    let (status, detail, got) = tcp_fate(&[
        "TESTFN_SIGTERM=handle",
        "TESTFN_EXTENSION=enabler",
        "TESTFN_TCP_AT_SIGTERM=close",
    ]);
    assert!(got.is_empty());
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("(closed abruptly): close"), "{detail}");
}

#[test]
fn a_goodbye_then_shutdown_passes_though_the_socket_stays_open() {
    let (status, detail, got) = tcp_fate(&[
        "TESTFN_SIGTERM=handle",
        "TESTFN_EXTENSION=enabler",
        "TESTFN_TCP_AT_SIGTERM=shutdown",
    ]);
    assert_eq!(got, b"bye\n");
    assert_eq!(status, "pass", "{detail}");
    assert!(detail.contains("then shutdown"), "{detail}");
}

#[test]
fn a_connection_open_at_the_sigkill_is_cut() {
    let (status, detail, _) = tcp_fate(&["TESTFN_SIGTERM=ignore", "TESTFN_EXTENSION=enabler"]);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("(cut by SIGKILL)"), "{detail}");
}

#[test]
fn a_connection_with_no_sigterm_at_all_is_never_told() {
    let (status, detail, _) = tcp_fate(&["TESTFN_SIGTERM=handle"]);
    assert_eq!(status, "fail", "{detail}");
    assert!(detail.contains("(never told)"), "{detail}");
}
