//! `telemetry-batcher`: an external extension that subscribes to the function's platform and
//! function telemetry, holds the records in memory, appends what it holds to a file on every
//! INVOKE, and flushes the rest on SHUTDOWN before it exits, so that nothing is lost.
//!
//! Why on INVOKE and SHUTDOWN rather than on a timer: timers do not run while the environment
//! is frozen, and the platform gives extensions CPU only during invocations and during the
//! shutdown phase ("use the Invoke and Shutdown lifecycle events to dispatch each batch",
//! §3.2). The platform delivers every buffered record before it sends SHUTDOWN, and the
//! listener answers a delivery only once the records are held, so the SHUTDOWN flush sees
//! them all.
//!
//! Configuration: `BATCHER_OUT`, the file to append to (default
//! `/tmp/telemetry-batcher.jsonl`), one record per line.
//!
//! Try it: `grace serve --layer DIR -- ./bootstrap`, with this binary at
//! `DIR/extensions/telemetry-batcher`.

mod batch;

use std::path::PathBuf;
use std::process::ExitCode;

use batch::{Pending, Sink};
use lambda_grace_extension::{Buffering, Error, Extension, Telemetry, TelemetryType, chain};

const NAME: &str = "telemetry-batcher";
const DEFAULT_OUT: &str = "/tmp/telemetry-batcher.jsonl";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let out =
        std::env::var_os("BATCHER_OUT").map_or_else(|| PathBuf::from(DEFAULT_OUT), PathBuf::from);
    match run(Sink::new(out)).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("[{NAME}] error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Runs until SHUTDOWN; `Ok(false)` when the final flush did not complete.
async fn run(sink: Sink) -> Result<bool, Error> {
    let pending = Pending::default();
    let (invoke_sink, invoke_pending) = (sink.clone(), pending.clone());
    let (shutdown_sink, shutdown_pending) = (sink.clone(), pending.clone());
    let mut extension = Extension::new()
        .on_invoke(move |_event| {
            // A failed write keeps the records pending for the next try; it is no reason to
            // reset the environment.
            if let Err(e) = invoke_sink.flush(&invoke_pending) {
                eprintln!(
                    "[{NAME}] cannot write {}: {e} (kept for later)",
                    invoke_sink.path().display()
                );
            }
            async { Ok::<_, Error>(()) }
        })
        .on_shutdown(move |_event| async move {
            let written = shutdown_sink.flush(&shutdown_pending)?;
            println!("[{NAME}] flushed {written} records at SHUTDOWN");
            Ok::<_, std::io::Error>(())
        })
        .register()
        .await?;

    let telemetry = Telemetry::new([TelemetryType::Platform, TelemetryType::Function])
        // Small batches: records reach memory soon after they happen.
        .with_buffering(Buffering {
            max_items: 1_000,
            max_bytes: 262_144,
            timeout_ms: 100,
        });
    let receiver = pending.clone();
    let subscribed = extension
        .subscribe_telemetry(telemetry, move |records| {
            receiver.extend(records);
            async { Ok::<_, Error>(()) }
        })
        .await;
    if let Err(e) = subscribed {
        let message = chain(&e);
        // Tell the platform: the Init phase fails, visibly, instead of an extension that
        // silently collects nothing.
        extension
            .init_error("Extension.TelemetrySubscriptionFailed", &message)
            .await?;
        return Err(e);
    }

    let report = extension.run().await?;
    println!("[{NAME}] {report}");
    Ok(report.is_clean())
}
