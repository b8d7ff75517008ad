//! The individual actions a script can ask for (see [`crate::modes`] for when each runs).

use crate::response::Response;
use crate::say::say_err;
use serde_json::{Map, Value};
use std::process::Command;
use std::sync::Mutex;

/// Environment variables reported by `{"headers": true}` under `"env"`.
const REPORTED_ENV: [&str; 11] = [
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_REGION",
    "LAMBDA_TASK_ROOT",
    "_HANDLER",
    "TZ",
    "AWS_LAMBDA_RUNTIME_API",
];

/// Memory kept alive by `alloc_mb`, so the process's maximum RSS grows for good.
static HOARD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A string value as is; any other JSON value as its JSON text.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Exactly `n` bytes of JSON: `"aaa…"` for n ≥ 2, `0` for n = 1, nothing for n = 0.
pub(crate) fn json_string_of_len(n: usize) -> Vec<u8> {
    match n {
        0 => Vec::new(),
        1 => b"0".to_vec(),
        _ => {
            let mut body = Vec::with_capacity(n);
            body.push(b'"');
            body.resize(n - 1, b'a');
            body.push(b'"');
            body
        }
    }
}

/// The `{"headers": true}` answer: `Lambda-Runtime-*` headers, trace id, env, cwd, pid.
pub(crate) fn headers_report(next: &Response) -> Value {
    let mut report = Map::new();
    for (name, value) in next.headers() {
        let is_runtime = name
            .get(..15)
            .is_some_and(|p| p.eq_ignore_ascii_case("lambda-runtime-"));
        if is_runtime {
            report.insert(name.to_ascii_lowercase(), value.into());
        }
    }
    // What a runtime sets `_X_AMZN_TRACE_ID` to for this invoke (the fixture cannot change its
    // own environment without `unsafe`, so it reports the value instead).
    let trace = next
        .header("Lambda-Runtime-Trace-Id")
        .map_or(Value::Null, Value::from);
    report.insert("_X_AMZN_TRACE_ID".into(), trace);
    let env: Map<String, Value> = REPORTED_ENV
        .iter()
        .map(|k| {
            (
                (*k).to_owned(),
                std::env::var(k).map_or(Value::Null, Value::from),
            )
        })
        .collect();
    report.insert("env".into(), env.into());
    let cwd = std::env::current_dir().map_or(Value::Null, |d| d.display().to_string().into());
    report.insert("cwd".into(), cwd);
    report.insert("pid".into(), std::process::id().into());
    Value::Object(report)
}

/// Starts `sleep 1000` in our process group and leaves it running; `None` if it cannot start.
pub(crate) fn spawn_child() -> Option<u32> {
    match Command::new("sleep").arg("1000").spawn() {
        // Dropping a `Child` neither kills nor waits for it.
        Ok(child) => Some(child.id()),
        Err(e) => {
            say_err!("spawn_child failed: {e}");
            None
        }
    }
}

/// Runs `argv` (strings) to its end and returns its stdout (empty if it cannot start).
pub(crate) fn run_command(argv: &[Value]) -> String {
    let argv: Vec<String> = argv.iter().map(text).collect();
    let Some((program, args)) = argv.split_first() else {
        return String::new();
    };
    match Command::new(program).args(args).output() {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => {
            say_err!("run {program} failed: {e}");
            String::new()
        }
    }
}

/// Allocates `mb` MiB, writes every page, and keeps it for the life of the process.
pub(crate) fn alloc(mb: u64) {
    let Some(bytes) = usize::try_from(mb)
        .ok()
        .and_then(|m| m.checked_mul(1 << 20))
    else {
        say_err!("alloc_mb {mb} is too large");
        return;
    };
    // A non-zero fill is a real write to every page (a zeroed allocation may stay untouched).
    let block = vec![0xA5_u8; bytes];
    HOARD.lock().unwrap_or_else(|p| p.into_inner()).push(block);
}

/// Standard base64 with padding (the streaming error trailer's encoding).
pub(crate) fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for group in data.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod base64_tests {
    #[test]
    fn encodes_like_rfc_4648() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foobar"), "Zm9vYmFy");
    }
}
