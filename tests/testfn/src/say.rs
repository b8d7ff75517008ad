//! Output lines: every line starts with `[testfn] ` and is flushed on its own.
//!
//! Each line is formatted first and then written with one `write_all`, so that lines from the
//! signal thread, the extension thread and the main loop never interleave inside a line, and a
//! test that reads the pipe sees each line as soon as it is printed. Write errors (a closed pipe)
//! are ignored: the fixture must keep behaving even when nobody reads its output.

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// `TESTFN_BUFFERED_STDOUT=1`: stdout lines are kept in memory and written only at a clean
/// exit, like a program whose stdout is block-buffered on a pipe (`grace check` must notice).
static BUFFERED: AtomicBool = AtomicBool::new(false);
static BUFFER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Turns stdout buffering on.
pub(crate) fn buffer_stdout() {
    BUFFERED.store(true, Ordering::SeqCst);
}

/// Writes what the buffer holds (at a clean exit).
pub(crate) fn flush_buffered() {
    let mut buf = BUFFER.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = io::stdout().lock();
    let _ = out.write_all(&buf);
    let _ = out.flush();
    buf.clear();
}

/// Prints `[testfn] <args>` on stdout.
macro_rules! say {
    ($($arg:tt)*) => { $crate::say::line(false, format_args!($($arg)*)) };
}

/// Prints `[testfn] <args>` on stderr.
macro_rules! say_err {
    ($($arg:tt)*) => { $crate::say::line(true, format_args!($($arg)*)) };
}

pub(crate) use {say, say_err};

/// Writes one prefixed line to stdout or stderr and flushes it.
pub(crate) fn line(to_stderr: bool, args: fmt::Arguments<'_>) {
    let mut text = String::with_capacity(64);
    text.push_str("[testfn] ");
    let _ = text.write_fmt(args);
    text.push('\n');
    if to_stderr {
        let mut err = io::stderr().lock();
        let _ = err.write_all(text.as_bytes());
        let _ = err.flush();
    } else if BUFFERED.load(Ordering::SeqCst) {
        BUFFER
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(text.as_bytes());
    } else {
        let mut out = io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// Prints `[testfn] <args>` on stderr and exits with `code`.
pub(crate) fn fatal(code: i32, args: fmt::Arguments<'_>) -> ! {
    line(true, args);
    std::process::exit(code)
}

/// Reports a broken Runtime API connection and exits 1.
pub(crate) fn lost(e: io::Error) -> ! {
    fatal(1, format_args!("runtime api connection lost: {e}"))
}
