//! `grace-testfn`: a scriptable fake Lambda runtime (the `bootstrap` process) for the
//! emulator's integration tests.
//!
//! It depends on no crate of ours (std, `serde_json`, `signal-hook` only), so a misreading of the
//! protocol in the emulator cannot hide behind the same misreading on the runtime side. It talks
//! to the Runtime API over one keep-alive HTTP/1.1 connection of its own making ([`http`]).
//!
//! Every line it prints starts with `[testfn] ` and is flushed at once; fatal problems go to
//! stderr, everything else to stdout unless noted.
//!
//! # Start and init (environment variables; an empty value counts as unset)
//!
//! | variable | values | effect |
//! |---|---|---|
//! | `AWS_LAMBDA_RUNTIME_API` | `host:port` | required (a leading `http://` is tolerated) |
//! | `TESTFN_SIGTERM` | `default` (default) | no handler: SIGTERM kills the process |
//! | | `handle` | prints `SIGTERM received`, sleeps `TESTFN_CLEANUP_MS`, prints `cleanup done`, exits 0 |
//! | | `ignore` | prints `SIGTERM received (ignored)` and keeps running |
//! | | `crash` | prints `SIGTERM received (crashing)` and aborts |
//! | `TESTFN_CLEANUP_MS` | ms, default 0 | cleanup time of `handle` |
//! | `TESTFN_CLEANUP_CPU_MS` | ms, default 0 | CPU time `handle` burns after its sleep (measured on the thread's own CPU clock, so a CPU quota stretches it), before `cleanup done` |
//! | `TESTFN_HOLD_TCP` | `host:port` | opens a connection at init and holds it |
//! | `TESTFN_TCP_AT_SIGTERM` | `keep` (default), `goodbye`, `close`, `shutdown` | what `handle` does with that connection first (see `signals::release_held`) |
//! | `TESTFN_EXTENSION` | name | registers an internal extension (`{"events":[]}`), prints `registered extension <name> id=<id>`, then a thread parks in `/extension/event/next` on its own connection and prints each event as `extension event: <body>` |
//! | `TESTFN_INIT` | `ok` (default) | init succeeds |
//! | | `error` | POSTs `/runtime/init/error` (`Runtime.TestInitError`, message `init failed on purpose`), prints `init error posted status=<code> body=<body>`, exits 1 |
//! | | `crash` | exits 3 |
//! | | `hang` | sleeps forever |
//! | | `sleep:MS` | sleeps MS, then succeeds |
//! | `TESTFN_INIT_FAIL_ONCE` | file path | file absent: creates it and behaves as `TESTFN_INIT_FAIL_ONCE_MODE`; present: `TESTFN_INIT` applies |
//! | `TESTFN_INIT_FAIL_ONCE_MODE` | `error` (default), `crash`, `hang` | how that one init fails |
//!
//! Order: print `start pid=<pid>`, read the configuration (bad value: exit 2), install the SIGTERM
//! behaviour, register the extension, apply the init mode, print `init done`, enter the loop.
//!
//! # The loop
//!
//! `GET /2018-06-01/runtime/invocation/next`; a non-200 answer prints `next failed status=<code>`
//! and exits 1; a lost connection prints `runtime api connection lost: <error>` and exits 1.
//! The event payload then decides what happens ([`modes`]):
//!
//! | payload key | effect |
//! |---|---|
//! | (not an object, or none of these keys) | echo: the payload is the response, byte for byte |
//! | `"log": "text"` | prints `log: text` on stdout |
//! | `"stderr": "text"` | prints `stderr: text` on stderr |
//! | `"alloc_mb": N` | allocates and writes N MiB, kept until exit |
//! | `"run": ["prog", "arg"…]` | runs the command to its end; response `{"stdout":"…"}` |
//! | `"spawn_child": true` | starts `sleep 1000` in our process group, not waited for; response `{"child_pid":PID}` |
//! | `"sleep_ms": N` | sleeps N ms; response `{"slept_ms":N}` |
//! | `"crash": CODE` | exits with CODE (1 if not an i32), no response |
//! | `"abort": true` | `std::process::abort()` |
//! | `"bad_id": true` | first POSTs a response for id `not-the-current-id`, prints `bad id status=<code> body=<body>` |
//! | `"error": "msg"` | POSTs `/error` (`Function.TestError`, `{"errorType":"Function.TestError","errorMessage":"msg"}`) |
//! | `"response_bytes": N` | response of exactly N bytes: `"aaa…"` (N ≥ 2), `0` (N = 1), empty (N = 0) |
//! | `"headers": true` | response: every `Lambda-Runtime-*` header of `/next` (lower-case), `_X_AMZN_TRACE_ID` (this invoke's trace id or null), `env` (the platform variables, null when unset), `cwd`, `pid` |
//! | `"fault": "flood"` / `"orphans"` | see [`faults::invoke`]: a stdout flood with invalid UTF-8, or children that outlive us (one in its own session); nothing else in the payload applies |
//! | `"respond_twice": true` | response `{"first":true}`, then a second response `{"second":true}` for the same id, printing `second response status=<code> body=<body>` |
//!
//! Keys combine, in this order: `log`, `stderr`, `alloc_mb`, `spawn_child`, `sleep_ms`, `crash`,
//! `abort`, `bad_id`; then `error` *or* a response whose body is chosen by the first present of
//! `response_bytes`, `headers`, `spawn_child`, `sleep_ms`, `respond_twice` (else `{"ok":true}`);
//! then the second response of `respond_twice` (also after an `error`). Any answer other than 202
//! to the completion prints `response status=<code> body=<body>` (`error status=…` for `/error`).
//!
//! With `TESTFN_ROLE=extension` the process is an external extension instead
//! ([`faults::extension`]).
//!
//! # Modules
//!
//! - [`config`]: the knobs, read through a lookup function.
//! - [`signals`]: SIGTERM behaviour.
//! - [`init`]: extension registration and the init modes.
//! - [`modes`]: per-invoke behaviour: echo or script; [`actions`]: the script's actions.
//! - [`faults`]: the fault suite's modes, and the external-extension role.
//! - [`http`], [`response`]: the HTTP/1.1 client and its response parser.
//! - [`mod@say`]: the `[testfn]` output lines.

mod actions;
mod config;
mod faults;
mod http;
mod init;
mod modes;
mod response;
mod say;
mod signals;

use crate::config::Config;
use crate::http::Conn;
use crate::response::Response;
use crate::say::{fatal, lost, say};

fn main() {
    if std::env::var("TESTFN_ROLE").is_ok_and(|r| r == "extension") {
        faults::extension();
    }
    say!("start pid={}", std::process::id());
    let cfg = Config::from_lookup(|k| std::env::var(k).ok())
        .unwrap_or_else(|e| fatal(2, format_args!("bad configuration: {e}")));
    // Before anything else talks to the platform, so that an early SIGTERM is not missed.
    if let Err(e) = signals::install(cfg.sigterm, cfg.cleanup, cfg.cleanup_cpu) {
        fatal(2, format_args!("cannot install the SIGTERM handler: {e}"));
    }

    if std::env::var("TESTFN_BUFFERED_STDOUT").is_ok_and(|v| v == "1") {
        say::buffer_stdout();
    }
    // TESTFN_HOLD_TCP=host:port: a connection opened at init and never closed (`grace check`
    // must report it as left open).
    if let Ok(addr) = std::env::var("TESTFN_HOLD_TCP") {
        match std::net::TcpStream::connect(&addr) {
            Ok(stream) => {
                say!("holding a tcp connection to {addr}");
                signals::hold(stream);
            }
            Err(e) => fatal(2, format_args!("cannot connect to {addr}: {e}")),
        }
    }
    let mut api = Conn::new(&cfg.runtime_api);
    let mut next = Response::default();
    let mut reply = Response::default();
    init::run(&cfg, &mut api, &mut reply);
    say!("init done");

    loop {
        let got = api.request(
            "GET",
            format_args!("/2018-06-01/runtime/invocation/next"),
            &[],
            b"",
            &mut next,
        );
        if let Err(e) = got {
            lost(e);
        }
        if next.status != 200 {
            fatal(1, format_args!("next failed status={}", next.status));
        }
        let Some(id) = next.header("Lambda-Runtime-Aws-Request-Id") else {
            fatal(
                1,
                format_args!("next answer has no Lambda-Runtime-Aws-Request-Id"),
            );
        };
        if let Err(e) = modes::handle(&mut api, &next, id, &mut reply) {
            lost(e);
        }
    }
}
