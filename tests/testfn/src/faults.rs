//! Fault modes for the emulator's fault suite: a stdout flood, children that outlive the
//! runtime, and an external-extension role that misbehaves.
//!
//! An invoke payload `{"fault": …}` selects one ([`invoke`]); `TESTFN_ROLE=extension` turns the
//! whole process into an external extension ([`extension`]). Neither touches the echo path.

use crate::http::Conn;
use crate::response::Response;
use crate::say::{fatal, say};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::process::Command;
use std::thread;
use std::time::Duration;

/// Runs the fault named by the payload's `fault` key; the response body to send.
///
/// - `"flood"`: writes `mb` MiB (default 20) to stdout, raw: lines of every length up to
///   1 MiB without a newline, with invalid UTF-8 (`0xff 0xfe`, a lone continuation byte, a cut
///   multi-byte sequence) in every line; response `{"flooded_mb":N}`.
/// - `"orphans"`: starts `sleep 1000` in our process group and `setsid sleep 1000` in a session
///   of its own, prints `orphan pid=<pid>` and `setsid pid=<pid>`, and does not wait for them;
///   response `{"child_pid":A,"setsid_pid":B}`.
pub(crate) fn invoke(s: &Map<String, Value>) -> Vec<u8> {
    match s.get("fault").and_then(Value::as_str) {
        Some("flood") => {
            let mb = s.get("mb").and_then(Value::as_u64).unwrap_or(20);
            flood(mb);
            json!({ "flooded_mb": mb }).to_string().into_bytes()
        }
        Some("orphans") => {
            let child = spawn("sleep", &["1000"]);
            let setsid = spawn("setsid", &["sleep", "1000"]);
            say!("orphan pid={child}");
            say!("setsid pid={setsid}");
            json!({ "child_pid": child, "setsid_pid": setsid })
                .to_string()
                .into_bytes()
        }
        other => json!({ "unknown_fault": other }).to_string().into_bytes(),
    }
}

fn spawn(program: &str, args: &[&str]) -> u32 {
    // Dropping a `Child` neither kills nor waits for it. `setsid` does not fork when its caller
    // is not a group leader (we are; our child is not), so the pid is the `sleep`'s.
    match Command::new(program).args(args).spawn() {
        Ok(child) => child.id(),
        Err(e) => fatal(1, format_args!("cannot start {program}: {e}")),
    }
}

fn flood(mb: u64) {
    let total = usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    let mut out = std::io::stdout().lock();
    let mut written = 0usize;
    let mut len = 1usize;
    let mut line = Vec::with_capacity(1 << 20);
    while written < total {
        line.clear();
        line.extend_from_slice(b"flood \xff\xfe \x80 \xe2\x82 ");
        line.resize(len.min(total - written).max(line.len()), b'x');
        line.push(b'\n');
        if out.write_all(&line).is_err() {
            return;
        }
        written += line.len();
        // Lengths cycle 1 B … 1 MiB: short lines, long lines and lines longer than any buffer.
        len = if len >= 1 << 20 { 1 } else { len * 4 };
    }
    let _ = out.flush();
}

/// The external-extension role (`TESTFN_ROLE=extension`), for a layer's `extensions/` script.
///
/// `TESTFN_EXT_NAME` is the name it registers with (the script's file name);
/// `TESTFN_EXT_MODE` what it does:
///
/// | mode | effect |
/// |---|---|
/// | `exit_at_start` | exits 1 before registering |
/// | `crash_after_register` | registers for INVOKE and SHUTDOWN, then aborts |
/// | `no_next` | registers, prints `extension never calls next`, sleeps forever |
/// | `ok` (default) | registers, then loops on `event/next`, exits 0 after SHUTDOWN |
///
/// With `TESTFN_EXT_ONCE=<file>` the mode applies only while the file does not exist (the
/// first start creates it); later starts behave as `ok`.
pub(crate) fn extension() -> ! {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut mode = get("TESTFN_EXT_MODE").unwrap_or_else(|| "ok".to_owned());
    if let Some(marker) = get("TESTFN_EXT_ONCE") {
        let first = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(marker)
            .is_ok();
        if !first {
            mode = "ok".to_owned();
        }
    }
    let name = get("TESTFN_EXT_NAME").unwrap_or_else(|| "testfn-ext".to_owned());
    say!(
        "extension {name} start pid={} mode={mode}",
        std::process::id()
    );
    if mode == "exit_at_start" {
        fatal(1, format_args!("extension {name} exits before registering"));
    }
    let Some(api) = get("AWS_LAMBDA_RUNTIME_API") else {
        fatal(2, format_args!("AWS_LAMBDA_RUNTIME_API is not set"));
    };
    let mut conn = Conn::new(api.trim_start_matches("http://"));
    let mut resp = Response::default();
    let sent = conn.request(
        "POST",
        format_args!("/2020-01-01/extension/register"),
        &[("Lambda-Extension-Name", &name)],
        br#"{"events":["INVOKE","SHUTDOWN"]}"#,
        &mut resp,
    );
    if let Err(e) = sent {
        fatal(1, format_args!("extension register failed: {e}"));
    }
    let id = resp
        .header("Lambda-Extension-Identifier")
        .unwrap_or_default()
        .to_owned();
    say!("extension {name} registered status={}", resp.status);
    match mode.as_str() {
        "crash_after_register" => {
            say!("extension {name} crashing");
            std::process::abort();
        }
        "no_next" => {
            say!("extension never calls next");
            loop {
                thread::sleep(Duration::from_secs(3600));
            }
        }
        _ => loop {
            let sent = conn.request(
                "GET",
                format_args!("/2020-01-01/extension/event/next"),
                &[("Lambda-Extension-Identifier", &id)],
                b"",
                &mut resp,
            );
            match sent {
                Ok(()) if resp.status == 200 => {
                    let body = resp.body_text().into_owned();
                    if body.contains("SHUTDOWN") {
                        say!("extension {name} shutdown");
                        std::process::exit(0);
                    }
                }
                _ => fatal(1, format_args!("extension {name} event/next failed")),
            }
        },
    }
}
