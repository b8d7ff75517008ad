//! Test support: start `grace serve` on a free port, talk HTTP to it, read its output, poll.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `grace` binary under test.
pub fn grace_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_grace"))
}

/// The scriptable fake runtime (tests/testfn), built next to `grace` by scripts/test.sh.
pub fn testfn_bin() -> PathBuf {
    let p = grace_bin().with_file_name("grace-testfn");
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        p.display()
    );
    p
}

/// Another binary of the workspace, built next to `grace`.
pub fn workspace_bin(name: &str) -> PathBuf {
    let p = grace_bin().with_file_name(name);
    assert!(
        p.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        p.display()
    );
    p
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// A fresh, empty directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Polls `f` every 20 ms until it is true or `timeout` passes.
pub fn poll_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One HTTP/1.1 request with `Connection: close`.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write request");
    // The server may answer (and close) before the whole body is written; read its answer.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end in answer");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(pos) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..pos]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[pos + 2..pos + 2 + size]);
        data = &data[pos + 2 + size + 2..];
    }
    out
}

/// A running `grace serve`.
pub struct Serve {
    pub child: Child,
    pub addr: String,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// `grace serve ARGS… --listen 127.0.0.1:0`, waiting until it listens. Without Lambda's
    /// resource model (`--no-resource-model` is added): the tests of everything else keep a whole
    /// core and no memory limit, and `resources.rs` opts in with [`Serve::start_modelled`].
    pub fn start(args: &[&str]) -> Serve {
        Self::start_with(args, &[])
    }

    /// Like [`Serve::start`], with extra environment variables for `grace` itself.
    pub fn start_with(args: &[&str], env: &[(&str, &str)]) -> Serve {
        Self::spawn(args, env, false)
    }

    /// `grace serve ARGS…` with the resource model as `grace serve` has it by default (on where
    /// a cgroup is writable).
    pub fn start_modelled(args: &[&str]) -> Serve {
        Self::spawn(args, &[], true)
    }

    fn spawn(args: &[&str], env: &[(&str, &str)], model: bool) -> Serve {
        let mut cmd = Command::new(grace_bin());
        cmd.arg("serve").args(["--listen", "127.0.0.1:0"]);
        if !model && !args.contains(&"--no-resource-model") {
            cmd.arg("--no-resource-model");
        }
        // Flags must come before a trailing `-- CMD`.
        let (flags, trailing) = match args.iter().position(|a| *a == "--") {
            Some(i) => (&args[..i], &args[i..]),
            None => (args, &[][..]),
        };
        cmd.args(flags).args(trailing);
        cmd.envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn grace serve");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        let mut addr = None;
        let ok = poll_until(Duration::from_secs(20), || {
            let err = stderr.lock().unwrap();
            if let Some(i) = err.find("listening on http://") {
                let rest = &err[i + "listening on http://".len()..];
                addr = rest.split_whitespace().next().map(str::to_owned);
                return true;
            }
            false
        });
        if !ok {
            let _ = child.kill();
            panic!("grace serve did not start: {}", stderr.lock().unwrap());
        }
        Serve {
            child,
            addr: addr.expect("address"),
            stdout,
            stderr,
        }
    }

    /// Runs `grace-testfn` as function `name` with `--env` settings and extra flags.
    pub fn testfn(name: &str, flags: &[&str], env: &[&str]) -> Serve {
        let args = Self::testfn_args(name, flags, env);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self::start(&args)
    }

    /// [`Serve::testfn`] under the resource model ([`Serve::start_modelled`]).
    pub fn testfn_modelled(name: &str, flags: &[&str], env: &[&str]) -> Serve {
        let args = Self::testfn_args(name, flags, env);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self::start_modelled(&args)
    }

    fn testfn_args(name: &str, flags: &[&str], env: &[&str]) -> Vec<String> {
        let bin = testfn_bin();
        let mut args: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        for e in env {
            args.push("--env".into());
            args.push(e.to_string());
        }
        args.extend([
            "--name".into(),
            name.into(),
            "--".into(),
            bin.to_string_lossy().into_owned(),
        ]);
        args
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        http(&self.addr, method, path, headers, body)
    }

    /// A synchronous invoke.
    pub fn invoke(&self, function: &str, payload: &str) -> Answer {
        self.invoke_with(function, payload, &[])
    }

    pub fn invoke_with(&self, function: &str, payload: &str, headers: &[(&str, &str)]) -> Answer {
        let path = format!("/2015-03-31/functions/{function}/invocations");
        self.request("POST", &path, headers, payload.as_bytes())
    }

    /// Everything printed on stdout so far (function and platform log lines).
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until stdout contains `needle`.
    pub fn wait_stdout(&self, needle: &str, timeout: Duration) -> bool {
        poll_until(timeout, || self.stdout().contains(needle))
    }

    /// The lifecycle events recorded so far.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let a = self.request("GET", "/grace/v1/events", &[], b"");
        assert_eq!(a.status, 200);
        a.json().as_array().cloned().unwrap_or_default()
    }

    /// Event types in order, for one environment when `env` is given.
    pub fn event_types(&self, env: Option<u64>) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| env.is_none_or(|id| e["env"].as_u64() == Some(id)))
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The live environments.
    pub fn environments(&self) -> Vec<serde_json::Value> {
        let a = self.request("GET", "/grace/v1/environments", &[], b"");
        assert_eq!(a.status, 200);
        a.json().as_array().cloned().unwrap_or_default()
    }

    /// Runtime pids of live environments.
    pub fn runtime_pids(&self) -> Vec<u32> {
        self.environments()
            .iter()
            .flat_map(|e| e["processes"].as_array().cloned().unwrap_or_default())
            .filter(|p| p["role"] == "runtime")
            .filter_map(|p| p["pid"].as_u64().map(|p| p as u32))
            .collect()
    }

    /// `grace shutdown` through the control endpoint; returns how many were spun down.
    pub fn spin_down(&self, function: Option<&str>) -> u64 {
        let path = match function {
            Some(f) => format!("/grace/v1/shutdown?function={f}"),
            None => "/grace/v1/shutdown".to_owned(),
        };
        let a = self.request("POST", &path, &[], b"");
        assert_eq!(a.status, 200, "{}", a.text());
        a.json()["environments"].as_u64().unwrap_or(0)
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        signal(self.child.id(), "TERM");
        self.child.wait().expect("wait grace")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal(self.child.id(), "TERM");
            if !poll_until(Duration::from_secs(10), || {
                matches!(self.child.try_wait(), Ok(Some(_)))
            }) {
                let _ = self.child.kill();
            }
            let _ = self.child.wait();
        }
    }
}

/// `kill -SIG PID`.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    grace_emulator::proc_state(pid).is_some_and(|s| s != 'Z' && s != 'X')
}

fn collect<R: Read + Send + 'static>(r: R) -> Arc<Mutex<String>> {
    let buf = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&buf);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(r);
        let mut line = String::new();
        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
            sink.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
    buf
}

impl Serve {
    /// The live stdout buffer, readable after [`Serve::stop`] consumed the handle.
    pub fn stdout_handle(&self) -> Arc<Mutex<String>> {
        Arc::clone(&self.stdout)
    }
}

/// A program of the test venv (`.deps/venv`, made by scripts/setup-test-deps.sh).
pub fn venv_bin(name: &str) -> PathBuf {
    let p = workspace_root().join(".deps/venv/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup-test-deps.sh (scripts/test.sh does)",
        p.display()
    );
    p
}

/// lambda-grace's `[lambda-grace] shutdown: …` report line in `s`'s output, once printed.
pub fn report_line(s: &Serve) -> Option<String> {
    let mut line = None;
    poll_until(Duration::from_secs(3), || {
        line = s
            .stdout()
            .lines()
            .find(|l| l.starts_with("[lambda-grace] shutdown:"))
            .map(str::to_owned);
        line.is_some()
    });
    line
}

/// Like [`http`], but `None` instead of a panic when the connection breaks or no answer comes
/// within `timeout` (a killed server, a closed connection).
pub fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Option<Answer> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(timeout)).ok();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    raw.windows(4)
        .any(|w| w == b"\r\n\r\n")
        .then(|| parse_answer(&raw))
}

/// Parses a raw HTTP/1.1 answer (head and body) read off a socket.
pub fn parse_raw_answer(raw: &[u8]) -> Option<Answer> {
    raw.windows(4)
        .any(|w| w == b"\r\n\r\n")
        .then(|| parse_answer(raw))
}

/// Every pid a lifecycle event names as started (`process_start`), with its environment id.
pub fn started_pids(events: &[serde_json::Value]) -> Vec<(u64, u32)> {
    events
        .iter()
        .filter(|e| e["type"] == "process_start")
        .filter_map(|e| Some((e["env"].as_u64()?, u32::try_from(e["pid"].as_u64()?).ok()?)))
        .collect()
}

/// Which of `pids` are still alive after waiting up to `timeout` for them all to go.
pub fn survivors(pids: &[u32], timeout: Duration) -> Vec<u32> {
    poll_until(timeout, || pids.iter().all(|&p| !alive(p)));
    pids.iter().copied().filter(|&p| alive(p)).collect()
}

/// Pids the fixture printed as `orphan pid=N` / `setsid pid=N`.
pub fn printed_pids(stdout: &str) -> Vec<u32> {
    stdout
        .lines()
        .filter_map(|l| {
            let rest = l
                .split_once("orphan pid=")
                .or_else(|| l.split_once("setsid pid="))?
                .1;
            rest.trim().parse().ok()
        })
        .collect()
}

/// A marker file path in a fresh directory (for the fixture's once-only modes).
pub fn once(tag: &str) -> String {
    temp_dir(tag).join("once").display().to_string()
}

/// A layer whose `extensions/NAME` runs the fixture as an external extension in `mode`, once.
pub fn extension_layer(tag: &str, name: &str, mode: &str) -> String {
    let dir = temp_dir(tag);
    let ext = dir.join("extensions");
    std::fs::create_dir_all(&ext).expect("mkdir");
    let script = format!(
        "#!/bin/sh\nTESTFN_ROLE=extension TESTFN_EXT_NAME={name} TESTFN_EXT_MODE={mode} \
         TESTFN_EXT_ONCE={} exec {}\n",
        dir.join("once").display(),
        testfn_bin().display()
    );
    write_executable(&ext.join(name), &script);
    dir.display().to_string()
}

pub fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
