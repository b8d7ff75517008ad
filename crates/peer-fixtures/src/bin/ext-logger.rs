//! External extension on the official `lambda-extension` crate: subscribes to INVOKE and
//! SHUTDOWN, prints one line per event to stdout, and exits 0 after SHUTDOWN.
//!
//! ```text
//! [ext-logger] INVOKE request_id=<id> deadline_ms=<ms> arn=<arn>
//! [ext-logger] SHUTDOWN reason=<reason> deadline_ms=<ms>
//! ```
//!
//! Lambda starts external extensions from `/opt/extensions/<name>`; the executable's file
//! name must equal the registered name, `ext-logger`.

use lambda_extension::{Error, Extension, LambdaEvent, NextEvent, service_fn};
use tokio::sync::watch;

const NAME: &str = "ext-logger";

#[tokio::main]
async fn main() -> Result<(), Error> {
    // The crate's run loop asks for the next event forever; after SHUTDOWN the processor
    // flips this flag and parks, and `main` returns (exit status 0) instead of waiting
    // to be killed.
    let (shut_tx, mut shut_rx) = watch::channel(false);

    let processor = service_fn(move |event: LambdaEvent| {
        let shut_tx = shut_tx.clone();
        async move {
            match event.next {
                NextEvent::Invoke(e) => println!(
                    "[{NAME}] INVOKE request_id={} deadline_ms={} arn={}",
                    e.request_id, e.deadline_ms, e.invoked_function_arn
                ),
                NextEvent::Shutdown(e) => {
                    println!(
                        "[{NAME}] SHUTDOWN reason={} deadline_ms={}",
                        e.shutdown_reason, e.deadline_ms
                    );
                    let _ = shut_tx.send(true);
                    // Never resolve: the crate's loop would otherwise ask for another event
                    // (a /next after SHUTDOWN) before `main` gets to return.
                    std::future::pending::<()>().await;
                }
            }
            Ok::<(), Error>(())
        }
    });

    let extension = Extension::new()
        .with_extension_name(NAME)
        .with_events(&["INVOKE", "SHUTDOWN"])
        .with_events_processor(processor)
        .run();

    tokio::select! {
        biased;
        _ = shut_rx.wait_for(|shut| *shut) => Ok(()),
        res = extension => res,
    }
}
