//! The function `grace demo` runs: this very binary in function mode (`grace __function`),
//! built on `lambda-grace` like any user function. It greets, flushes a log buffer before every
//! freeze, and at SIGTERM closes what it opened, in reverse order, inside the budget.

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use lambda_grace::{Context, Diagnostic, Runtime};
use serde_json::{Value, json};

pub(crate) fn run() -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut runtime = Runtime::from_env()?;
        // Init: what a real function opens once and keeps across invocations.
        runtime.init(async { Ok::<_, Diagnostic>(()) }).await?;
        println!("[demo] init: database pool and metrics client opened");
        let invocations = Rc::new(Cell::new(0u64));
        let flushed = Rc::clone(&invocations);
        let report = runtime
            .on_shutdown("close-database-pool", || async {
                println!("[demo] cleanup: closing the database pool (3 connections, goodbye sent)");
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(())
            })
            .on_shutdown("flush-metrics", || async {
                println!("[demo] cleanup: flushing buffered metrics");
                tokio::time::sleep(Duration::from_millis(10)).await;
                Ok(())
            })
            .on_flush("flush-log-buffer", move || {
                let n = flushed.get();
                async move {
                    println!("[demo] flush before freeze: log buffer written (invocation {n})");
                    Ok(())
                }
            })
            .run(move |event: Value, ctx: Context| {
                let n = invocations.get() + 1;
                invocations.set(n);
                async move {
                    let name = event
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("world")
                        .to_owned();
                    println!(
                        "[demo] handling invocation {n} ({}): hello, {name}",
                        ctx.request_id()
                    );
                    Ok::<_, Diagnostic>(
                        json!({ "message": format!("Hello, {name}!"), "invocation": n }),
                    )
                }
            })
            .await?;
        Ok(if report.is_clean() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}
