//! The init phase: what happens between start and the first `/next`.
//!
//! Order: the internal extension is registered first (`TESTFN_EXTENSION`), so that the modes
//! that stop or stall init (`error`, `crash`, `hang`, `sleep:MS`) run with an extension already
//! registered, the case in which the platform sends SIGTERM. Then `TESTFN_INIT_FAIL_ONCE` and
//! `TESTFN_INIT` decide the outcome.

use crate::config::{Config, InitMode};
use crate::http::Conn;
use crate::response::Response;
use crate::say::{fatal, lost, say};
use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::thread;
use std::time::Duration;

const ERROR_TYPE: &str = "Runtime.TestInitError";
const ERROR_BODY: &[u8] =
    br#"{"errorType":"Runtime.TestInitError","errorMessage":"init failed on purpose"}"#;

/// Runs the init phase on the runtime's connection; returns when the loop may start.
pub(crate) fn run(cfg: &Config, api: &mut Conn, resp: &mut Response) {
    if let Some(name) = &cfg.extension {
        let id = register_extension(api, name, resp);
        say!("registered extension {name} id={id}");
        spawn_extension_loop(&cfg.runtime_api, id);
    }

    let mut mode = cfg.init;
    if let Some(marker) = &cfg.init_fail_once {
        // `create_new` makes "does it exist? then create it" one atomic step.
        match OpenOptions::new().write(true).create_new(true).open(marker) {
            Ok(_) => mode = cfg.init_fail_once_mode,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => fatal(2, format_args!("cannot create {}: {e}", marker.display())),
        }
    }

    match mode {
        InitMode::Ok => {}
        InitMode::Sleep(d) => thread::sleep(d),
        InitMode::Crash => fatal(3, format_args!("init crash on purpose (exit 3)")),
        InitMode::Hang => loop {
            thread::sleep(Duration::from_secs(3600));
        },
        InitMode::Error => {
            let sent = api.request(
                "POST",
                format_args!("/2018-06-01/runtime/init/error"),
                &[("Lambda-Runtime-Function-Error-Type", ERROR_TYPE)],
                ERROR_BODY,
                resp,
            );
            if let Err(e) = sent {
                lost(e);
            }
            say!(
                "init error posted status={} body={}",
                resp.status,
                resp.body_text()
            );
            std::process::exit(1);
        }
    }
}

/// `POST /extension/register` with no events; returns the `Lambda-Extension-Identifier`.
fn register_extension(api: &mut Conn, name: &str, resp: &mut Response) -> String {
    let sent = api.request(
        "POST",
        format_args!("/2020-01-01/extension/register"),
        &[("Lambda-Extension-Name", name)],
        br#"{"events":[]}"#,
        resp,
    );
    if let Err(e) = sent {
        lost(e);
    }
    if resp.status != 200 {
        fatal(
            1,
            format_args!(
                "extension register failed status={} body={}",
                resp.status,
                resp.body_text()
            ),
        );
    }
    match resp.header("Lambda-Extension-Identifier") {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => fatal(
            1,
            format_args!("extension register answer has no Lambda-Extension-Identifier"),
        ),
    }
}

/// Parks in `GET /extension/event/next` on a connection of its own, printing any event it gets.
///
/// A failed connection ends the thread quietly (the environment is going away); a non-200
/// answer is printed once and also ends it, rather than spinning on an error.
fn spawn_extension_loop(addr: &str, id: String) {
    let mut conn = Conn::new(addr);
    let spawned = thread::Builder::new()
        .name("extension".into())
        .spawn(move || {
            let mut resp = Response::default();
            loop {
                let sent = conn.request(
                    "GET",
                    format_args!("/2020-01-01/extension/event/next"),
                    &[("Lambda-Extension-Identifier", &id)],
                    b"",
                    &mut resp,
                );
                match sent {
                    Ok(()) if resp.status == 200 => say!("extension event: {}", resp.body_text()),
                    Ok(()) => {
                        say!(
                            "extension event/next failed status={} body={}",
                            resp.status,
                            resp.body_text()
                        );
                        return;
                    }
                    Err(_) => return,
                }
            }
        });
    if let Err(e) = spawned {
        fatal(1, format_args!("cannot start the extension thread: {e}"));
    }
}
