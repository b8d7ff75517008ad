//! The shutdown enabler written on this library (tokio and hyper), for comparison with the
//! std-only `shutdown-enabler` binary: the same behaviour (register for SHUTDOWN only, park on
//! `/event/next`, exit 0 on SHUTDOWN) in a few lines, at the cost of a larger binary and more
//! memory (figures in the crate's README).

use std::process::ExitCode;

use lambda_grace_extension::{Extension, chain};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let extension = Extension::new().on_shutdown(|_| async { Ok::<_, std::io::Error>(()) });
    match async { extension.register().await?.run().await }.await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("[enabler-async] error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}
