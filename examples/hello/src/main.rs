//! `hello`: the classic demo. It greets on each invocation (logging with the request id), flushes
//! its "log buffer" before every freeze, and on SIGTERM closes what it opened, in reverse order,
//! inside the budget; the log then reads SIGTERM → cleanup, in order → done.
//!
//! Events: `{"name":"Ada"}` greets; `{"error":"text"}` fails the invocation; `{"panic":"text"}`
//! panics in the handler (reported, and the next invocation still works); `{"sleep_ms":N}`
//! takes N ms (past the function's timeout, the platform resets the environment mid-handler).
//!
//! Environment knobs (for demos and the integration tests):
//! - `HELLO_FAIL_INIT=1`: the init step fails, and the error is what the first invoke gets;
//! - `HELLO_SLOW_HOOK_MS=N`: an extra shutdown hook that takes N ms (past the budget, it is
//!   abandoned and the hooks after it still run);
//! - `HELLO_SHUTDOWN_BUDGET_MS=N`: the shutdown budget (default 450 ms; more than the
//!   platform's 500 ms means the SIGKILL comes first);
//! - `HELLO_TICK_MS=N`: a background task prints `[hello] tick` every N ms until shutdown (it
//!   stops while the environment is frozen, which is why flushing on a timer does not work);
//! - `LAMBDA_GRACE_NO_EXTENSION=1`: do not register the internal extension (no SIGTERM: the
//!   platform SIGKILLs the function and no hook runs).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use lambda_grace::{Context, Diagnostic, Runtime};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
struct Request {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    panic: Option<String>,
    #[serde(default)]
    sleep_ms: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Reply {
    message: String,
    pid: u32,
    invocations: u64,
    /// This invocation's X-Ray header, and what `_X_AMZN_TRACE_ID` says (the same).
    trace_id: Option<String>,
    trace_id_env: Option<String>,
}

/// Stands for a connection pool opened at init.
#[derive(Debug)]
struct Database;

impl Database {
    /// Closes the connections (a real pool would tell the server goodbye here).
    fn close(self) {}
}

async fn open_database(fail: bool) -> Result<Database, Diagnostic> {
    if fail {
        return Err(Diagnostic::new(
            "Hello.InitFailed",
            "cannot open the database: HELLO_FAIL_INIT is set",
        ));
    }
    Ok(Database)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn env_ms(name: &str) -> Option<Duration> {
    env(name)?.parse().ok().map(Duration::from_millis)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_grace::Error> {
    lambda_grace::logging::init();
    let mut runtime =
        Runtime::from_env()?.register_extension(env("LAMBDA_GRACE_NO_EXTENSION").is_none());
    if let Some(budget) = env_ms("HELLO_SHUTDOWN_BUDGET_MS") {
        runtime = runtime.shutdown_budget(budget);
    }
    let database = runtime
        .init(open_database(env("HELLO_FAIL_INIT").is_some()))
        .await?;
    tracing::info!("database open");

    if let Some(every) = env_ms("HELLO_TICK_MS") {
        let stop = runtime.shutdown_token();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticks.tick() => println!("[hello] tick"),
                }
            }
        });
    }

    let invocations = Rc::new(Cell::new(0_u64));
    let flushed = Rc::clone(&invocations);
    let mut runtime = runtime.on_shutdown("close-database", move || async move {
        println!("[hello] SIGTERM received → cleanup: closing the database");
        database.close();
        Ok(())
    });
    if let Some(slow) = env_ms("HELLO_SLOW_HOOK_MS") {
        runtime = runtime.on_shutdown("export-metrics", move || async move {
            println!("[hello] SIGTERM received → cleanup: exporting metrics (takes {slow:?})");
            tokio::time::sleep(slow).await;
            println!("[hello] metrics exported");
            Ok(())
        });
    }
    let report = runtime
        .on_shutdown("close-cache", || async {
            println!("[hello] SIGTERM received → cleanup: closing the cache");
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(())
        })
        .on_flush("flush-log-buffer", move || {
            let n = flushed.get();
            async move {
                println!("[hello] flush: log buffer written after invocation {n}");
                Ok(())
            }
        })
        .run(move |req: Request, ctx: Context| {
            let n = invocations.get() + 1;
            invocations.set(n);
            async move {
                let name = req.name.as_deref().unwrap_or("world");
                tracing::info!(
                    invocation = n,
                    remaining_ms = ctx.remaining_time().as_millis() as u64,
                    "greeting {name}"
                );
                if let Some(ms) = req.sleep_ms {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                if let Some(text) = req.panic {
                    panic!("{text}");
                }
                if let Some(text) = req.error {
                    return Err(Diagnostic::new("Hello.Failed", text));
                }
                Ok(Reply {
                    message: format!("Hello, {name}!"),
                    pid: std::process::id(),
                    invocations: n,
                    trace_id: ctx.xray_trace_id().map(str::to_owned),
                    trace_id_env: std::env::var("_X_AMZN_TRACE_ID").ok(),
                })
            }
        })
        .await?;
    println!(
        "[hello] done: cleanup {}",
        if report.is_clean() {
            "complete"
        } else {
            "incomplete"
        }
    );
    Ok(())
}
