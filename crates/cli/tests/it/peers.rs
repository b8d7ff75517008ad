//! `lambda-grace` under the other emulators: AWS's Runtime Interface Emulator (RIE) and
//! `cargo lambda watch --only-lambda-apis` answer the same invokes of `examples/hello` and
//! `examples/echo` with the same bodies as `grace serve`; and when RIE spins the function down
//! (RIE itself gets SIGTERM), hello's shutdown hooks run in reverse order within the budget and the
//! runtime prints its one report line. Negative control: without the internal extension RIE
//! SIGKILLs the runtime, and no hook runs.
//!
//! The peers come from `.deps/peers` (scripts/setup-test-deps.sh); the examples must be built
//! (`cargo build -p example-hello -p example-echo`; `cargo test --workspace` builds them).

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{Answer, Serve, http, poll_until, signal, workspace_bin, workspace_root};

/// A peer emulator's binary from `.deps/peers`; fails (never skips) when it is missing.
fn peer_bin(name: &str) -> PathBuf {
    let p = workspace_root().join(".deps/peers").join(name);
    assert!(
        p.exists(),
        "{} is missing (or a dangling link): run scripts/setup-test-deps.sh (scripts/test.sh does)",
        p.display()
    );
    p
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Waits until `addr` accepts connections. (Only a connect: `cargo lambda watch` never answers
/// a `GET /`.)
fn wait_listening(addr: &str, what: &Proc) {
    let ok = poll_until(Duration::from_secs(10), || TcpStream::connect(addr).is_ok());
    assert!(ok, "{addr} never accepted connections:\n{}", what.output());
}

/// Lines of one stream, each with the moment it was read.
type Lines = Arc<Mutex<Vec<(Instant, String)>>>;

fn collect<R: Read + Send + 'static>(r: R) -> Lines {
    let buf: Lines = Arc::default();
    let sink = Arc::clone(&buf);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(r);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            sink.lock()
                .unwrap()
                .push((Instant::now(), line.trim_end().to_owned()));
            line.clear();
        }
    });
    buf
}

/// The pids of `pid`'s descendants (from /proc), children first.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(p) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok());
        if let Some(ppid) = ppid {
            parents.push((p, ppid));
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(p, pp) in &parents {
            if pp == parent && !out.contains(&p) {
                out.push(p);
                frontier.push(p);
            }
        }
    }
    out
}

/// A process this test started, in its own process group, with its output collected. Dropping
/// it (also when the test panics) SIGKILLs its group and every descendant (RIE may put the
/// runtime in a group of its own).
struct Proc {
    child: Child,
    name: String,
    stdout: Lines,
    stderr: Lines,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command) -> Proc {
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        Proc {
            child,
            name: name.to_owned(),
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stdout_lines(&self) -> Vec<(Instant, String)> {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr_lines(&self) -> Vec<(Instant, String)> {
        self.stderr.lock().unwrap().clone()
    }

    /// Both streams, for failure messages.
    fn output(&self) -> String {
        let join = |lines: Vec<(Instant, String)>| {
            lines
                .into_iter()
                .map(|(_, l)| l)
                .collect::<Vec<_>>()
                .join("\n")
        };
        format!(
            "--- {} stdout\n{}\n--- {} stderr\n{}",
            self.name,
            join(self.stdout_lines()),
            self.name,
            join(self.stderr_lines())
        )
    }

    /// The first line (of either stream) containing `needle`, with when it was read.
    fn find(&self, needle: &str) -> Option<(Instant, String)> {
        self.stdout_lines()
            .into_iter()
            .chain(self.stderr_lines())
            .find(|(_, l)| l.contains(needle))
    }

    /// Waits for the exit; `None` when it is still running after `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.pid();
        for p in descendants(pid) {
            signal(p, "KILL");
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pid}")])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// RIE running `bootstrap`, with `env` for it (and so for the runtime).
struct Rie {
    proc: Proc,
    addr: String,
}

impl Rie {
    fn start(bootstrap: &Path, env: &[(&str, &str)]) -> Rie {
        let addr = format!("127.0.0.1:{}", free_port());
        let api = format!("127.0.0.1:{}", free_port());
        let mut cmd = Command::new(peer_bin("aws-lambda-rie"));
        cmd.args(["--runtime-interface-emulator-address", &addr])
            .args(["--runtime-api-address", &api])
            .arg(bootstrap)
            .env("AWS_LAMBDA_FUNCTION_TIMEOUT", "3")
            .env("AWS_LAMBDA_FUNCTION_NAME", "fn")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .envs(env.iter().copied());
        let proc = Proc::spawn("aws-lambda-rie", cmd);
        wait_listening(&addr, &proc);
        Rie { proc, addr }
    }

    fn invoke(&self, payload: &str) -> Answer {
        http(
            &self.addr,
            "POST",
            "/2015-03-31/functions/function/invocations",
            &[],
            payload.as_bytes(),
        )
    }
}

/// `cargo lambda watch --only-lambda-apis` (run from crates/peer-fixtures, a Cargo project with
/// bin targets, as it requires) and the runtime `bin` started against its Runtime API.
struct CargoLambda {
    _function: Proc,
    watch: Proc,
    addr: String,
}

impl CargoLambda {
    fn start(bin: &Path) -> CargoLambda {
        let port = free_port().to_string();
        let addr = format!("127.0.0.1:{port}");
        let mut cmd = Command::new(peer_bin("cargo-lambda"));
        cmd.args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1"])
            .args(["-P", &port])
            .current_dir(workspace_root().join("crates/peer-fixtures"));
        let watch = Proc::spawn("cargo-lambda", cmd);
        wait_listening(&addr, &watch);
        let mut cmd = Command::new(bin);
        cmd.env("AWS_LAMBDA_RUNTIME_API", format!("http://{addr}/.rt"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128");
        let function = Proc::spawn("function", cmd);
        CargoLambda {
            _function: function,
            watch,
            addr,
        }
    }

    fn invoke(&self, payload: &str) -> Answer {
        http(
            &self.addr,
            "POST",
            "/2015-03-31/functions/_/invocations",
            &[],
            payload.as_bytes(),
        )
    }
}

fn bin_str(bin: &Path) -> &str {
    bin.to_str().expect("UTF-8 path")
}

/// Payloads for echo: an object, an array of mixed values, a string with escapes and non-ASCII.
const ECHO_PAYLOADS: [&str; 3] = [
    r#"{"a":1,"nested":{"b":[true,null,2.5]}}"#,
    r#"[1,"two",{"three":3},[]]"#,
    r#""line\nbreak, quote \" and é""#,
];

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

/// What `grace serve` answers to each payload, to compare the peers with.
fn grace_answers(bin: &Path, name: &str, payloads: &[&str]) -> Vec<Answer> {
    let s = Serve::start(&["--name", name, "--", bin_str(bin)]);
    payloads
        .iter()
        .map(|p| {
            let a = s.invoke(name, p);
            assert_eq!(a.status, 200, "grace serve: {}\n{}", a.text(), s.stdout());
            a
        })
        .collect()
}

#[test]
fn hello_under_rie_answers_and_on_sigterm_runs_its_hooks_in_reverse_order_within_the_budget() {
    let hello = workspace_bin("hello");
    let payloads = [r#"{"name":"Ada"}"#, r#"{"name":"Grace"}"#];
    let reference = grace_answers(&hello, "hello", &payloads);

    let mut rie = Rie::start(&hello, &[]);
    for (i, (payload, want)) in payloads.iter().zip(&reference).enumerate() {
        let a = rie.invoke(payload);
        assert_eq!(a.status, 200, "{}\n{}", a.text(), rie.proc.output());
        let got = a.json();
        let want = want.json();
        assert_eq!(got["message"], want["message"], "{}", a.text());
        assert_eq!(got["invocations"], want["invocations"], "{}", a.text());
        assert_eq!(got["invocations"], (i + 1) as u64, "one warm environment");
    }
    assert_eq!(
        rie.invoke(payloads[0]).json()["message"],
        json(r#""Hello, Ada!""#)
    );

    let sent = Instant::now();
    signal(rie.proc.pid(), "TERM");
    assert!(
        rie.proc.wait_exit(Duration::from_secs(5)).is_some(),
        "RIE did not exit after SIGTERM:\n{}",
        rie.proc.output()
    );
    // The pipes close once RIE and the runtime are gone; the last lines may still be in flight.
    poll_until(Duration::from_secs(2), || {
        rie.proc.find("[hello] done: cleanup").is_some()
    });
    let out = rie.proc.output();

    // Both cleanup lines come from one println! stream, so their order is the hooks' order.
    let stdout: Vec<String> = rie
        .proc
        .stdout_lines()
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    let pos = |needle: &str| {
        stdout
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no {needle:?} in RIE's output:\n{out}"))
    };
    let cache = pos("[hello] SIGTERM received → cleanup: closing the cache");
    let database = pos("[hello] SIGTERM received → cleanup: closing the database");
    assert!(
        cache < database,
        "close-cache (registered last) must run first:\n{out}"
    );

    let (at, report) = rie
        .proc
        .find("[lambda-grace] shutdown:")
        .unwrap_or_else(|| panic!("no report line:\n{out}"));
    assert!(
        report.contains("[lambda-grace] shutdown: SIGTERM; hooks: close-cache ok "),
        "{report}"
    );
    assert!(report.contains(", close-database ok "), "{report}");
    let used: f64 = report
        .rsplit_once("; ")
        .and_then(|(_, tail)| tail.strip_suffix("ms of 450ms budget"))
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no `…ms of 450ms budget` at the end: {report}"));
    assert!(used < 450.0, "{report}");
    // Within the budget as seen from outside too: RIE SIGKILLs ~600 ms after its SIGTERM.
    assert!(
        at.duration_since(sent) < Duration::from_millis(600),
        "report line {:?} after SIGTERM:\n{out}",
        at.duration_since(sent)
    );
    assert_eq!(
        stdout
            .iter()
            .chain(rie.proc.stderr_lines().iter().map(|(_, l)| l))
            .filter(|l| l.contains("[lambda-grace] shutdown:"))
            .count(),
        1,
        "one report line:\n{out}"
    );
    assert!(
        out.contains("[hello] done: cleanup complete"),
        "the runtime returned before the SIGKILL:\n{out}"
    );
}

#[test]
fn hello_under_rie_without_the_extension_is_sigkilled_and_no_hook_runs() {
    let hello = workspace_bin("hello");
    let mut rie = Rie::start(&hello, &[("LAMBDA_GRACE_NO_EXTENSION", "1")]);
    let a = rie.invoke(r#"{"name":"Ada"}"#);
    assert_eq!(a.status, 200, "{}\n{}", a.text(), rie.proc.output());
    assert_eq!(a.json()["message"], "Hello, Ada!");

    signal(rie.proc.pid(), "TERM");
    assert!(
        rie.proc.wait_exit(Duration::from_secs(5)).is_some(),
        "RIE did not exit after SIGTERM:\n{}",
        rie.proc.output()
    );
    // Give any late line the time it would need to arrive.
    std::thread::sleep(Duration::from_millis(300));
    let out = rie.proc.output();
    // It did run (so the absence below means something), and RIE did go through its reset.
    assert!(out.contains("greeting Ada"), "{out}");
    assert!(out.contains("Received signal"), "{out}");
    for absent in [
        "[lambda-grace] shutdown:",
        "[hello] SIGTERM received",
        "[hello] done:",
    ] {
        assert!(
            !out.contains(absent),
            "{absent:?} without the extension:\n{out}"
        );
    }
}

#[test]
fn echo_under_cargo_lambda_watch_returns_payloads_unchanged_and_hello_errors_come_back() {
    let echo = workspace_bin("echo");
    let reference = grace_answers(&echo, "echo", &ECHO_PAYLOADS);
    let cl = CargoLambda::start(&echo);
    for (payload, want) in ECHO_PAYLOADS.iter().zip(&reference) {
        let a = cl.invoke(payload);
        assert_eq!(a.status, 200, "{}\n{}", a.text(), cl.watch.output());
        assert_eq!(a.json(), json(payload), "{payload}");
        assert_eq!(a.json(), want.json(), "same as grace serve: {payload}");
    }
    drop(cl);

    // hello's `{"error":"x"}` fails the invocation with Diagnostic("Hello.Failed", "x").
    let hello = workspace_bin("hello");
    let s = Serve::start(&["--name", "hello", "--", bin_str(&hello)]);
    let reference = s.invoke("hello", r#"{"error":"x"}"#);
    assert_eq!(reference.header("x-amz-function-error"), Some("Unhandled"));
    drop(s);
    let cl = CargoLambda::start(&hello);
    let a = cl.invoke(r#"{"error":"x"}"#);
    let want = json(r#"{"errorType":"Hello.Failed","errorMessage":"x"}"#);
    assert_eq!(a.json(), want, "{}", cl.watch.output());
    assert_eq!(a.json(), reference.json(), "same body as grace serve");
    // cargo lambda marks the error with a 500 (grace, like Lambda, with 200 + the header).
    assert_eq!(a.status, 500, "{}", a.text());
    // The environment survives the error.
    let a = cl.invoke(r#"{"name":"Ada"}"#);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["message"], "Hello, Ada!");
    assert_eq!(a.json()["invocations"], 2);
}

#[test]
fn echo_under_rie_returns_payloads_unchanged() {
    let echo = workspace_bin("echo");
    let reference = grace_answers(&echo, "echo", &ECHO_PAYLOADS);
    let rie = Rie::start(&echo, &[]);
    for (payload, want) in ECHO_PAYLOADS.iter().zip(&reference) {
        let a = rie.invoke(payload);
        assert_eq!(a.status, 200, "{}\n{}", a.text(), rie.proc.output());
        assert_eq!(a.json(), json(payload), "{payload}");
        assert_eq!(a.json(), want.json(), "same as grace serve: {payload}");
    }
}
