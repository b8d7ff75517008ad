//! `buffered-writer`: appends one record per invocation (a JSON line with the request id and
//! the payload) to a file through an in-memory buffer, and flushes the buffer in a flush hook —
//! after every answer, before the environment can be frozen — and in a shutdown hook at
//! SIGTERM. Nothing is lost, and what was answered is on disk while the environment sleeps.
//!
//! The buffer is a plain `Vec<u8>` written to the file only by [`Writer::flush`], like the batch
//! of a log or metrics exporter: whatever is still in it when the process ends is gone (as
//! with a `BufWriter` under SIGKILL, or one in a `static`, which is never dropped).
//!
//! Events: any JSON value is recorded; `{"sleep_ms":N}` waits N ms before recording (past the
//! function's timeout, the platform resets the environment mid-handler: the handler finishes
//! inside the shutdown budget and the shutdown hook writes its record).
//!
//! Environment:
//! - `WRITER_PATH` (required): the file to append to (created if missing);
//! - `WRITER_NO_FLUSH=1`: register neither hook (negative control: the records die with the
//!   process);
//! - `WRITER_SHUTDOWN_ONLY=1`: register only the shutdown hook (nothing reaches the file while
//!   the environment is frozen; all of it at SIGTERM);
//! - `LAMBDA_GRACE_NO_EXTENSION=1`: do not register the internal extension (no SIGTERM: the
//!   platform SIGKILLs the function and no shutdown hook runs).

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use lambda_grace::{Context, Diagnostic, Runtime};
use serde::Serialize;

/// An append-only file with an in-memory buffer in front of it.
#[derive(Debug)]
struct Writer {
    file: File,
    buffer: Vec<u8>,
    /// Records in the buffer.
    pending: usize,
}

impl Writer {
    fn open(path: &str) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self {
            file,
            buffer: Vec::with_capacity(64 * 1024),
            pending: 0,
        })
    }

    /// Adds one record (one JSON line) to the buffer.
    fn append(&mut self, record: &impl Serialize) -> Result<(), serde_json::Error> {
        serde_json::to_writer(&mut self.buffer, record)?;
        self.buffer.push(b'\n');
        self.pending += 1;
        Ok(())
    }

    /// Writes the buffer to the file (one `write` for the whole batch, as the file is opened
    /// in append mode) and empties it; returns how many records were written.
    fn flush(&mut self) -> std::io::Result<usize> {
        if self.buffer.is_empty() {
            return Ok(0);
        }
        self.file.write_all(&self.buffer)?;
        self.buffer.clear();
        Ok(std::mem::take(&mut self.pending))
    }
}

#[derive(Debug, Serialize)]
struct Record<'a> {
    request_id: &'a str,
    payload: &'a serde_json::Value,
}

#[derive(Debug, Serialize)]
struct Reply {
    request_id: String,
    /// Records waiting in the buffer after this one was added.
    buffered: usize,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

async fn open_writer() -> Result<Writer, Diagnostic> {
    let path = env("WRITER_PATH")
        .ok_or_else(|| Diagnostic::new("Writer.ConfigMissing", "WRITER_PATH is not set"))?;
    Writer::open(&path)
        .map_err(|e| Diagnostic::new("Writer.OpenFailed", format!("cannot open {path}: {e}")))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_grace::Error> {
    lambda_grace::logging::init();
    let mut runtime =
        Runtime::from_env()?.register_extension(env("LAMBDA_GRACE_NO_EXTENSION").is_none());
    let writer = Rc::new(RefCell::new(runtime.init(open_writer()).await?));

    let no_flush = env("WRITER_NO_FLUSH").is_some();
    if !no_flush {
        let writer = Rc::clone(&writer);
        runtime = runtime.on_shutdown("flush-writer", move || async move {
            let written = writer.borrow_mut().flush()?;
            println!("[buffered-writer] SIGTERM received → cleanup: records written: {written}");
            Ok(())
        });
    }
    if !no_flush && env("WRITER_SHUTDOWN_ONLY").is_none() {
        let writer = Rc::clone(&writer);
        runtime = runtime.on_flush("flush-writer", move || {
            let written = writer.borrow_mut().flush();
            async move {
                let written = written?;
                tracing::debug!(records = written, "buffer flushed before the freeze");
                Ok(())
            }
        });
    }

    let handler_writer = Rc::clone(&writer);
    runtime
        .run(move |payload: serde_json::Value, ctx: Context| {
            let writer = Rc::clone(&handler_writer);
            async move {
                if let Some(ms) = payload.get("sleep_ms").and_then(serde_json::Value::as_u64) {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                let mut writer = writer.borrow_mut();
                writer.append(&Record {
                    request_id: ctx.request_id(),
                    payload: &payload,
                })?;
                Ok::<_, Diagnostic>(Reply {
                    request_id: ctx.request_id().to_owned(),
                    buffered: writer.pending,
                })
            }
        })
        .await?;
    let left = writer.borrow().pending;
    if left > 0 {
        println!("[buffered-writer] done: records never written: {left}");
    }
    Ok(())
}
