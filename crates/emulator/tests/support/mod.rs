//! Support for the black-box tests of `grace-emulator`: a scripted runtime (this very test
//! binary, re-executed), an emulator serving the Invoke API on 127.0.0.1:0, a raw HTTP/1.1
//! client that can send anything and bounds every exchange with a timeout, and the proptest
//! configuration.
//!
//! Every test binary that uses [`Harness`] declares
//!
//! ```ignore
//! #[test]
//! fn scripted_runtime() {
//!     support::scripted_runtime_if_asked();
//! }
//! ```
//!
//! The emulator starts the function as `<this test binary> scripted_runtime --exact`, with
//! [`RUNTIME_ENV`] set; the harness then runs only that test, which becomes the runtime: a
//! blocking std::net loop that echoes each event's payload as its response. Run on its own
//! (no variable) the test does nothing.
//!
//! Modules: [`http`], the raw client.

#![allow(dead_code, unreachable_pub)]

mod http;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use grace_emulator::{Emulator, FunctionConfig, Options};
#[allow(unused_imports)]
pub use http::{
    Failure, KeepAlive, Reply, chunked_request, exchange, exchange_then_eof, keep_alive_request,
    request,
};
use proptest::test_runner::Config as ProptestConfig;
use tokio_util::sync::CancellationToken;

/// Set in the runtime's environment: "be the runtime".
pub const RUNTIME_ENV: &str = "GRACE_SCRIPTED_RUNTIME";

/// Every exchange must be answered within this, or it counts as a hang.
pub const ANSWER_LIMIT: Duration = Duration::from_secs(20);

/// The proptest configuration: `cases` per property unless `PROPTEST_CASES` says otherwise;
/// no failure-persistence files (a failure prints its minimal input).
pub fn proptest_config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Becomes the scripted runtime when the emulator started this process as one.
pub fn scripted_runtime_if_asked() {
    if std::env::var_os(RUNTIME_ENV).is_none() {
        return;
    }
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API");
    if let Some(dir) = std::env::var_os(HOLD_ENV) {
        hold_init(&api, std::path::Path::new(&dir));
    }
    loop {
        let Ok(next) = blocking_exchange(&api, "GET", "/2018-06-01/runtime/invocation/next", b"")
        else {
            // The environment is going away.
            std::process::exit(0);
        };
        if next.status != 200 {
            // Someone else holds `/next` (a test's stranger request): fail loudly, not spin.
            std::process::exit(1);
        }
        let id = next
            .header("lambda-runtime-aws-request-id")
            .unwrap_or_default()
            .to_owned();
        if let Some(dir) = std::env::var_os(HOLD_INVOKES_ENV)
            && next.body.starts_with(b"{\"held\"")
        {
            hand_over(&api, &id, std::path::Path::new(&dir));
            continue;
        }
        let path = format!("/2018-06-01/runtime/invocation/{id}/response");
        if blocking_exchange(&api, "POST", &path, &next.body).is_err() {
            std::process::exit(0);
        }
    }
}

/// Set to a directory: the runtime hands invocations whose payload starts with `{"held"` over
/// to the test (see [`hand_over`]).
pub const HOLD_INVOKES_ENV: &str = "GRACE_SCRIPTED_HOLD_INVOKES_DIR";

/// Writes `dir/held` (`ADDR ID`: the Runtime API and the request id) for the test, which then
/// answers the invocation itself, and waits until the test removes the file; then back to
/// `/next` without answering.
fn hand_over(api: &str, id: &str, dir: &std::path::Path) {
    let file = dir.join("held");
    std::fs::write(dir.join("held.tmp"), format!("{api} {id}")).expect("write held");
    std::fs::rename(dir.join("held.tmp"), &file).expect("rename held");
    while file.exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Set to a directory: the runtime holds its init open (see [`hold_init`]).
pub const HOLD_ENV: &str = "GRACE_SCRIPTED_HOLD_DIR";

/// Registers an internal extension `held`, writes the Runtime API address to `dir/api` and the
/// extension's identifier to `dir/ext-id` (each complete when it appears), parks that
/// extension in `event/next` on a thread, and holds the init until `dir/go` exists: the init
/// phase stays open for a test to talk to the Extensions and Telemetry APIs.
fn hold_init(api: &str, dir: &std::path::Path) {
    let mut s = TcpStream::connect(api).expect("connect");
    let body = br#"{"events":[]}"#;
    let head = format!(
        "POST /2020-01-01/extension/register HTTP/1.1\r\nhost: {api}\r\nconnection: close\r\nlambda-extension-name: held\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("register");
    s.write_all(body).expect("register");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("register answer");
    let reply = Reply::parse(&raw).expect("register answer");
    let id = reply
        .header("lambda-extension-identifier")
        .expect("an extension id")
        .to_owned();
    std::fs::write(dir.join("api.tmp"), api).expect("write api");
    std::fs::rename(dir.join("api.tmp"), dir.join("api")).expect("rename api");
    let tmp = dir.join("ext-id.tmp");
    std::fs::write(&tmp, &id).expect("write id");
    std::fs::rename(&tmp, dir.join("ext-id")).expect("rename id");
    let api_owned = api.to_owned();
    std::thread::spawn(move || {
        loop {
            let Ok(mut s) = TcpStream::connect(&api_owned) else {
                return;
            };
            let head = format!(
                "GET /2020-01-01/extension/event/next HTTP/1.1\r\nhost: x\r\nconnection: close\r\nlambda-extension-identifier: {id}\r\n\r\n"
            );
            let mut raw = Vec::new();
            if s.write_all(head.as_bytes()).is_err() || s.read_to_end(&mut raw).is_err() {
                return;
            }
            if Reply::parse(&raw).is_none_or(|r| r.status != 200) {
                return;
            }
        }
    });
    while !dir.join("go").exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One blocking request with `Connection: close` (the runtime's side).
fn blocking_exchange(addr: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(addr)?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    Reply::parse(&raw).ok_or_else(|| std::io::Error::other("no HTTP answer"))
}

/// An emulator with one function `f` (the scripted runtime), its Invoke API on 127.0.0.1:0,
/// and the tokio runtime it lives on.
pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub emulator: Emulator,
    pub invoke_addr: SocketAddr,
    token: CancellationToken,
    served: Option<tokio::task::JoinHandle<grace_emulator::CloseReport>>,
}

impl Harness {
    /// Starts the emulator; `tweak` adjusts the function's configuration.
    pub fn start(tweak: impl FnOnce(&mut FunctionConfig)) -> Self {
        // One thread, as `grace serve` runs it; the emulator's tasks run inside `block_on`.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let exe = std::env::current_exe().expect("current_exe");
        let command = vec![exe.into(), "scripted_runtime".into(), "--exact".into()];
        let mut cfg = FunctionConfig::new("f", command, std::env::temp_dir());
        cfg.env.push((RUNTIME_ENV.to_owned(), "1".to_owned()));
        cfg.timeout = Duration::from_secs(30);
        cfg.concurrency = 4;
        tweak(&mut cfg);
        let token = CancellationToken::new();
        let (emulator, invoke_addr, served) = rt.block_on(async {
            let emulator = Emulator::new(vec![cfg], Options::default()).expect("emulator");
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let e = emulator.clone();
            let t = token.clone();
            let served = tokio::spawn(async move { e.serve(listener, t).await });
            (emulator, addr, served)
        });
        Harness {
            rt,
            emulator,
            invoke_addr,
            token,
            served: Some(served),
        }
    }

    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// Every live environment.
    pub fn environments(&self) -> Vec<grace_emulator::EnvironmentInfo> {
        self.block_on(self.emulator.environments())
    }

    /// Sends `raw` to the Invoke API and reads the answer.
    pub fn invoke_api(&self, raw: &[u8]) -> Result<Reply, Failure> {
        self.block_on(exchange(self.invoke_addr, raw, ANSWER_LIMIT))
    }

    /// A normal synchronous invoke through the Invoke API; panics unless it echoes.
    pub fn assert_normal_invoke(&self, n: u64) {
        let body = format!(r#"{{"normal":{n}}}"#);
        let raw = request(
            "POST",
            "/2015-03-31/functions/f/invocations",
            &[],
            body.as_bytes(),
        );
        let reply = self.invoke_api(&raw).expect("normal invoke answered");
        assert_eq!(reply.status, 200, "normal invoke: {}", reply.text());
        assert_eq!(reply.header("x-amz-function-error"), None);
        assert_eq!(reply.body, body.as_bytes());
    }

    /// Waits (bounded) until every environment is idle: its runtime parked in `/next` again.
    /// A caller has its answer before the runtime's next `/next` arrives; a stranger's `/next`
    /// sent in between would be taken as the runtime's (as on Lambda) and park.
    pub fn wait_idle(&self) {
        let idle = self.block_on(async {
            for _ in 0..5000 {
                let envs = self.emulator.environments().await;
                if !envs.is_empty() && envs.iter().all(|e| e.phase == "idle") {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            false
        });
        assert!(idle, "not idle: {:?}", self.environments());
    }

    /// Waits (bounded) for the scripted runtime to hand an invocation over (see
    /// [`HOLD_INVOKES_ENV`]): the Runtime API address and the request id.
    pub fn handed_over(&self, dir: &std::path::Path) -> (SocketAddr, String) {
        let file = dir.join("held");
        self.block_on(async {
            for _ in 0..6000 {
                if let Ok(text) = std::fs::read_to_string(&file) {
                    let (addr, id) = text.split_once(' ').expect("ADDR ID");
                    return (addr.parse().expect("address"), id.to_owned());
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            panic!("no invocation was handed over");
        })
    }

    /// The Runtime API address of the (first) live environment.
    pub fn runtime_api(&self) -> SocketAddr {
        let envs = self.environments();
        let env = envs.first().expect("a live environment");
        env.runtime_api
            .trim_start_matches("http://")
            .parse()
            .expect("runtime_api address")
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.token.cancel();
        if let Some(served) = self.served.take() {
            let closed = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(30), async {
                    let _ = served.await;
                    let _ = self.emulator.close().await;
                })
                .await
            });
            if closed.is_err() && !std::thread::panicking() {
                panic!("the emulator did not close within 30 s");
            }
        }
    }
}
