//! `_X_AMZN_TRACE_ID`: the platform does not set it for custom runtimes; the runtime must export
//! each invocation's `Lambda-Runtime-Trace-Id` there (§1.2, §4.6), for X-Ray SDKs to find.

/// The variable X-Ray SDKs read.
pub(crate) const VAR: &str = "_X_AMZN_TRACE_ID";

/// Room for `_X_AMZN_TRACE_ID=<trace header>` (X-Ray headers are about 90 bytes).
const CAP: usize = 512;

/// The `_X_AMZN_TRACE_ID=…` entry the environment points at, and whether it is installed. It
/// lives as long as the process: `putenv` keeps the pointer, and the entry is rewritten in place
/// at each invocation, so nothing is allocated per invocation (glibc's `setenv` keeps every
/// value it was ever given, ~140 bytes per invocation, because another thread may still hold a
/// pointer `getenv` returned).
static ENTRY: std::sync::Mutex<Option<(&'static mut [u8; CAP], bool)>> =
    std::sync::Mutex::new(None);

/// Sets `_X_AMZN_TRACE_ID` to this invocation's trace header, or removes it when there is none
/// (so a previous invocation's id does not leak into this one).
#[allow(unsafe_code)]
pub(crate) fn export(trace_id: Option<&str>) {
    let mut entry = ENTRY.lock().unwrap_or_else(|e| e.into_inner());
    let Some(id) = trace_id else {
        if let Some((_, installed)) = entry.as_mut() {
            *installed = false;
        }
        // SAFETY: as below.
        unsafe { std::env::remove_var(VAR) };
        return;
    };
    let len = VAR.len() + 1 + id.len();
    if len >= CAP || id.as_bytes().contains(&0) {
        // SAFETY: as below. An oversized id (not an X-Ray header) takes glibc's way.
        unsafe { std::env::set_var(VAR, id) };
        if let Some((_, installed)) = entry.as_mut() {
            *installed = false;
        }
        return;
    }
    let (buf, installed) = entry.get_or_insert_with(|| (Box::leak(Box::new([0u8; CAP])), false));
    buf[..VAR.len()].copy_from_slice(VAR.as_bytes());
    buf[VAR.len()] = b'=';
    buf[VAR.len() + 1..len].copy_from_slice(id.as_bytes());
    buf[len] = 0;
    // Still the environment's entry, unless the function set or removed the variable itself.
    let in_place =
        *installed && std::env::var_os(VAR).is_some_and(|v| v.as_encoded_bytes() == id.as_bytes());
    if !in_place {
        // SAFETY: `putenv` (like `set_var`) is unsafe because another thread may read the
        // environment at the same time (C's `getenv` takes no lock); rewriting the installed
        // entry in place above has the same caveat. Every Lambda runtime exports this variable
        // (the platform documents it for custom runtimes; lambda_runtime and aws-lambda-go do
        // it). It is called only from the invoke loop, between invocations: after `/next`
        // answered and before this invocation's handler starts, while the runtime's own code
        // reads no variable. What remains is a thread of the user's own that reads the
        // environment at that moment; functions with such threads turn the export off with
        // `Runtime::export_trace_id(false)`. The buffer is NUL-terminated, `'static`, and never
        // freed or moved, as `putenv` requires.
        unsafe { libc::putenv(buf.as_mut_ptr().cast::<libc::c_char>()) };
        *installed = true;
    }
}

#[cfg(test)]
mod entry_tests {
    use super::*;

    #[test]
    fn the_entry_is_rewritten_in_place_and_follows_each_invocation() {
        export(Some("Root=1-aaaaaaaa-000000000000000000000001;Sampled=0"));
        assert_eq!(
            std::env::var(VAR).unwrap(),
            "Root=1-aaaaaaaa-000000000000000000000001;Sampled=0"
        );
        export(Some("Root=1-bbbbbbbb-2;Sampled=1"));
        assert_eq!(std::env::var(VAR).unwrap(), "Root=1-bbbbbbbb-2;Sampled=1");
        export(None);
        assert!(std::env::var(VAR).is_err());
        export(Some("Root=1-cccccccc-3"));
        assert_eq!(std::env::var(VAR).unwrap(), "Root=1-cccccccc-3");
        let long = "x".repeat(CAP);
        export(Some(&long));
        assert_eq!(std::env::var(VAR).unwrap(), long);
        export(Some("Root=1-dddddddd-4"));
        assert_eq!(std::env::var(VAR).unwrap(), "Root=1-dddddddd-4");
    }
}
