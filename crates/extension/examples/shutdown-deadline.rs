//! An external extension whose SHUTDOWN work takes longer than the platform allows, to show
//! what the deadline does (and to test it under `grace serve --layer`).
//!
//! - `DEADLINE_WORK=await` (default): the work awaits for 10 s. `run` cuts it off at the
//!   deadline minus the margin, returns the report (printed here), and `main` ends: the
//!   process exits before the platform's SIGKILL.
//! - `DEADLINE_WORK=block`: the work blocks its thread (`std::thread::sleep`), which no async
//!   timeout can interrupt: the platform SIGKILLs the process at the deadline. Do not block
//!   in callbacks.
//!
//! Each SHUTDOWN is announced as `[shutdown-deadline] SHUTDOWN reason=… deadline_ms=…`.

use std::process::ExitCode;
use std::time::Duration;

use lambda_grace_extension::{Extension, chain};

const NAME: &str = "shutdown-deadline";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let block = std::env::var("DEADLINE_WORK").is_ok_and(|w| w == "block");
    let extension = Extension::new().on_shutdown(move |event| async move {
        println!(
            "[{NAME}] SHUTDOWN reason={} deadline_ms={}",
            event.shutdown_reason, event.deadline_ms
        );
        if block {
            std::thread::sleep(Duration::from_secs(10));
        } else {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        Ok::<_, std::io::Error>(())
    });
    let result = async { extension.register().await?.run().await }.await;
    match result {
        Ok(report) => {
            println!("[{NAME}] {report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("[{NAME}] error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}
