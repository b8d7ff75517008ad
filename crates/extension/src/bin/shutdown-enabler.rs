//! `shutdown-enabler`: the smallest useful external extension.
//!
//! Lambda sends SIGTERM to a function's runtime at shutdown only when an extension is
//! registered; otherwise the runtime is SIGKILLed with no warning (§4.4, §6.1). Put this
//! binary in a layer as `extensions/shutdown-enabler` and every runtime, in any language, gets
//! SIGTERM and its grace period (300 ms with an external extension) before SIGKILL.
//!
//! It registers for SHUTDOWN only (so it costs nothing per invoke: the platform does not
//! wait for it after an INVOKE, §2.5), parks on `/event/next`, and exits 0 as soon as
//! SHUTDOWN arrives, leaving the rest of the 2,000 ms to other extensions.
//!
//! Blocking `std::net` and nothing else, on purpose: it runs in every environment next to the
//! function, so it should weigh little in the package (under 1 MB) and in memory (under 2 MB
//! RSS). Each request uses its own `Connection: close` exchange, which makes a response end
//! where the stream ends; there are two requests in the life of an environment.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;

use grace_protocol::extensions_api::{EVENT_NEXT_PATH, HDR_IDENTIFIER, HDR_NAME, REGISTER_PATH};

/// Logged as, and registered under when the file name is unknown.
const NAME: &str = "shutdown-enabler";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[{NAME}] error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(|_| {
        "AWS_LAMBDA_RUNTIME_API is not set: run me as a Lambda extension".to_owned()
    })?;
    let api = api.strip_prefix("http://").unwrap_or(&api);
    let (authority, base) = api.split_at(api.find('/').unwrap_or(api.len()));
    let base = base.trim_end_matches('/');
    // Lambda requires an external extension's name to be its file name in /opt/extensions.
    let name = std::env::args_os()
        .next()
        .and_then(|a| {
            let path = std::path::PathBuf::from(a);
            path.file_name()?.to_str().map(str::to_owned)
        })
        .unwrap_or_else(|| NAME.to_owned());

    let path = format!("{base}{REGISTER_PATH}");
    let register = request(
        authority,
        "POST",
        &path,
        &[(HDR_NAME, &name)],
        br#"{"events":["SHUTDOWN"]}"#,
    )?;
    if register.status != 200 {
        return Err(format!("register: {} {}", register.status, register.body));
    }
    let identifier = register
        .header(HDR_IDENTIFIER)
        .ok_or("register: no extension identifier in the answer")?
        .to_owned();

    let path = format!("{base}{EVENT_NEXT_PATH}");
    loop {
        let event = request(
            authority,
            "GET",
            &path,
            &[(HDR_IDENTIFIER, &identifier)],
            b"",
        )?;
        if event.status != 200 {
            return Err(format!("event/next: {} {}", event.status, event.body));
        }
        // Subscribed to SHUTDOWN only; anything else is not ours to act on.
        if event.body.contains("SHUTDOWN") {
            return Ok(());
        }
    }
}

/// An HTTP answer.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// One HTTP/1.1 exchange on a fresh connection, read to its end (no timeout: `/event/next`
/// waits for as long as the environment lives, frozen periods included).
fn request(
    authority: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Answer, String> {
    let fail = |e: std::io::Error| format!("{method} {path}: {e}");
    let mut stream = TcpStream::connect(authority).map_err(fail)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(fail)?;
    stream.write_all(body).map_err(fail)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(fail)?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{method} {path}: malformed answer {head:?}"))?;
    Ok(Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    })
}
