//! Per-invoke behaviour: the event payload is the script.
//!
//! A payload that is not a JSON object, or that has none of [`KEYS`], is echoed back unchanged.
//! That path is the benchmarks' path, so it is kept lean: a byte scan decides whether the payload
//! could be a script at all ([`looks_scripted`]) and only then is it parsed; nothing is printed
//! and no buffer is allocated once the connection's buffers have grown to size.
//!
//! A script runs its steps in a fixed order (see the crate docs): side effects first (`log`,
//! `stderr`, `alloc_mb`, `spawn_child`, `run`, `sleep_ms`), then the ends without a response (`crash`,
//! `abort`), then `bad_id`, then one completion (`error`, or a response whose body the first of
//! `response_bytes`, `headers`, `run`, `spawn_child`, `sleep_ms`, `respond_twice` decides, else
//! `{"ok":true}`), then the second response of `respond_twice`.

use crate::actions::{alloc, headers_report, json_string_of_len, run_command, spawn_child, text};
use crate::http::Conn;
use crate::response::Response;
use crate::say::{say, say_err};
use serde_json::{Map, Value, json};
use std::io;
use std::thread;
use std::time::Duration;

/// Every key that turns a payload into a script.
const KEYS: [&str; 15] = [
    "fault",
    "stream",
    "log",
    "stderr",
    "sleep_ms",
    "error",
    "crash",
    "abort",
    "respond_twice",
    "bad_id",
    "response_bytes",
    "headers",
    "spawn_child",
    "alloc_mb",
    "run",
];

/// Acts on the event in `next` (request `id`) and completes the invoke; `Err` = connection lost.
pub(crate) fn handle(
    api: &mut Conn,
    next: &Response,
    id: &str,
    reply: &mut Response,
) -> io::Result<()> {
    if looks_scripted(&next.body)
        && let Ok(Value::Object(script)) = serde_json::from_slice::<Value>(&next.body)
        && KEYS.iter().any(|k| script.contains_key(*k))
    {
        return run(api, next, id, &script, reply);
    }
    respond(api, id, &next.body, reply)
}

/// Cheap pre-check: could `payload` be a JSON object holding one of [`KEYS`]?
///
/// True when it starts with `{` and contains a quoted key name, or any backslash (a key could
/// be spelled with escapes). False means "echo" for sure; true still needs the real parse.
fn looks_scripted(payload: &[u8]) -> bool {
    if payload.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return false;
    }
    let mut rest = payload;
    while let Some(i) = rest.iter().position(|&b| b == b'"' || b == b'\\') {
        if rest[i] == b'\\' {
            return true;
        }
        rest = &rest[i + 1..];
        let quoted = |k: &&str| rest.starts_with(k.as_bytes()) && rest.get(k.len()) == Some(&b'"');
        if KEYS.iter().any(quoted) {
            return true;
        }
    }
    false
}

fn run(
    api: &mut Conn,
    next: &Response,
    id: &str,
    s: &Map<String, Value>,
    reply: &mut Response,
) -> io::Result<()> {
    let flag = |key: &str| s.get(key) == Some(&Value::Bool(true));
    if s.contains_key("fault") {
        let body = crate::faults::invoke(s);
        return respond(api, id, &body, reply);
    }

    if let Some(v) = s.get("log") {
        say!("log: {}", text(v));
    }
    if let Some(v) = s.get("stderr") {
        say_err!("stderr: {}", text(v));
    }
    if let Some(mb) = s.get("alloc_mb").and_then(Value::as_u64) {
        alloc(mb);
    }
    let child_pid = flag("spawn_child").then(spawn_child);
    let ran = s
        .get("run")
        .and_then(Value::as_array)
        .map(|argv| run_command(argv));
    let slept = s.get("sleep_ms").and_then(Value::as_u64);
    if let Some(ms) = slept {
        thread::sleep(Duration::from_millis(ms));
    }
    if let Some(code) = s.get("crash") {
        let code = code
            .as_i64()
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(1);
        std::process::exit(code);
    }
    if flag("abort") {
        std::process::abort();
    }
    if flag("bad_id") {
        post(
            api,
            "not-the-current-id",
            "response",
            &[],
            br#"{"ok":true}"#,
            reply,
        )?;
        say!("bad id status={} body={}", reply.status, reply.body_text());
    }

    if let Some(Value::Array(parts)) = s.get("stream") {
        // Response streaming: each part is one chunk, `stream_pause_ms` apart; a
        // `stream_error` is reported in real trailers, its body base64 (§1.6).
        let chunks: Vec<Vec<u8>> = parts.iter().map(|p| text(p).into_bytes()).collect();
        let pause = Duration::from_millis(
            s.get("stream_pause_ms")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        );
        let error_body;
        let mut trailers = Vec::new();
        if let Some(msg) = s.get("stream_error") {
            let body =
                json!({"errorType": "Function.StreamError", "errorMessage": text(msg)}).to_string();
            error_body = crate::actions::base64(body.as_bytes());
            trailers.push(("Lambda-Runtime-Function-Error-Type", "Function.StreamError"));
            trailers.push(("Lambda-Runtime-Function-Error-Body", error_body.as_str()));
        }
        api.request_chunked(
            format_args!("/2018-06-01/runtime/invocation/{id}/response"),
            &[
                ("Lambda-Runtime-Function-Response-Mode", "streaming"),
                ("Content-Type", "text/plain"),
            ],
            &chunks,
            pause,
            &trailers,
            reply,
        )?;
        if reply.status != 202 {
            say!(
                "response status={} body={}",
                reply.status,
                reply.body_text()
            );
        }
    } else if let Some(msg) = s.get("error") {
        let body =
            json!({"errorType": "Function.TestError", "errorMessage": text(msg)}).to_string();
        post(
            api,
            id,
            "error",
            &[("Lambda-Runtime-Function-Error-Type", "Function.TestError")],
            body.as_bytes(),
            reply,
        )?;
        if reply.status != 202 {
            say!("error status={} body={}", reply.status, reply.body_text());
        }
    } else {
        let body = if let Some(n) = s.get("response_bytes").and_then(Value::as_u64) {
            json_string_of_len(usize::try_from(n).unwrap_or(usize::MAX))
        } else if flag("headers") {
            headers_report(next).to_string().into_bytes()
        } else if let Some(stdout) = &ran {
            json!({ "stdout": stdout }).to_string().into_bytes()
        } else if let Some(pid) = child_pid {
            json!({ "child_pid": pid }).to_string().into_bytes()
        } else if let Some(ms) = slept {
            format!(r#"{{"slept_ms":{ms}}}"#).into_bytes()
        } else if flag("respond_twice") {
            br#"{"first":true}"#.to_vec()
        } else {
            br#"{"ok":true}"#.to_vec()
        };
        respond(api, id, &body, reply)?;
    }

    if flag("respond_twice") {
        post(api, id, "response", &[], br#"{"second":true}"#, reply)?;
        say!(
            "second response status={} body={}",
            reply.status,
            reply.body_text()
        );
    }
    Ok(())
}

/// POSTs a response for `id`; prints the answer when it is not 202.
fn respond(api: &mut Conn, id: &str, body: &[u8], reply: &mut Response) -> io::Result<()> {
    post(api, id, "response", &[], body, reply)?;
    if reply.status != 202 {
        say!(
            "response status={} body={}",
            reply.status,
            reply.body_text()
        );
    }
    Ok(())
}

/// `POST /2018-06-01/runtime/invocation/{id}/{what}`.
fn post(
    api: &mut Conn,
    id: &str,
    what: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    reply: &mut Response,
) -> io::Result<()> {
    api.request(
        "POST",
        format_args!("/2018-06-01/runtime/invocation/{id}/{what}"),
        headers,
        body,
        reply,
    )
}

#[cfg(test)]
mod tests {
    use super::looks_scripted;
    use crate::actions::json_string_of_len;

    #[test]
    fn echo_payloads_are_not_scripts() {
        for p in [
            &b"\"just a string\""[..],
            b"[1,2]",
            b"42",
            b"",
            b"{}",
            b"{\"hello\":\"world\"}",
            b"{\"logs\":1}",
        ] {
            assert!(!looks_scripted(p), "{}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn scripts_and_near_misses_reach_the_parser() {
        for p in [
            &b"{\"log\":\"x\"}"[..],
            b"  {\"a\":1, \"sleep_ms\": 5}",
            b"{\"\\u006cog\":1}",
            b"{\"k\":\"crash\"}",
        ] {
            assert!(looks_scripted(p), "{}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn response_bytes_has_the_exact_length() {
        for n in [0, 1, 2, 3, 1000] {
            assert_eq!(json_string_of_len(n).len(), n);
        }
        assert_eq!(json_string_of_len(5), b"\"aaa\"");
    }
}
