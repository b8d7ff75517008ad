//! `_X_AMZN_TRACE_ID`: the platform does not set it for custom runtimes; the runtime must export
//! each invocation's `Lambda-Runtime-Trace-Id` there (§1.2, §4.6), for X-Ray SDKs to find.

/// The variable X-Ray SDKs read.
pub(crate) const VAR: &str = "_X_AMZN_TRACE_ID";

/// Sets `_X_AMZN_TRACE_ID` to this invocation's trace header, or removes it when there is none
/// (so a previous invocation's id does not leak into this one). glibc's `setenv` never frees a
/// value it was given (another thread may still hold the pointer `getenv` returned), so each
/// distinct trace id stays in memory: see `Runtime::export_trace_id`.
#[allow(unsafe_code)]
pub(crate) fn export(trace_id: Option<&str>) {
    // SAFETY: `set_var`/`remove_var` are unsafe because another thread may read or write the
    // environment at the same time (C's `getenv` takes no lock). Every Lambda runtime exports
    // this variable the same way (the platform documents it for custom runtimes; lambda_runtime
    // and aws-lambda-go do it). It is called only from the invoke loop, between invocations:
    // after `/next` answered and before this invocation's handler starts, while the runtime's
    // own code reads no variable. What remains is a thread of the user's own that reads the
    // environment at that moment; functions with such threads turn the export off with
    // `Runtime::export_trace_id(false)`.
    unsafe {
        match trace_id {
            Some(id) => std::env::set_var(VAR, id),
            None => std::env::remove_var(VAR),
        }
    }
}
