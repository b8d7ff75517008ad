//! The no-op internal extension that makes the platform send SIGTERM (§2.1, §2.5, §4.4).
//!
//! Lambda sends SIGTERM to the runtime only when at least one extension is registered; without
//! one the runtime is SIGKILLed with no warning. Registering an internal extension that
//! subscribes to no events is enough (aws-lambda-go's `WithEnableSIGTERM` does the same). It must
//! register before the runtime's first `/next` (which closes registration), and every registered
//! extension must call `/event/next` once for init to complete, so its `/event/next` is parked on
//! a second connection in a background task, where it waits forever.

use hyper::header::HeaderValue;
use tokio::task::JoinHandle;

use crate::client::Client;

/// The extension's name (internal: not the name of a file in `/opt/extensions`).
pub(crate) const NAME: &str = "lambda-grace";

/// The parked `/event/next`; stops when dropped (when `run` returns).
#[derive(Debug)]
pub(crate) struct Parked(JoinHandle<()>);

impl Drop for Parked {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Registers the extension and parks its `/event/next`. A failure is logged, not fatal: the
/// function still works, it just gets no SIGTERM.
pub(crate) async fn start(client: &mut Client) -> Option<Parked> {
    match client.register_extension(NAME).await {
        Ok(identifier) => {
            let parked = Client::new(client.endpoint());
            // Boxed: the future (a client with its connection, and a pending request: a few
            // kB) is otherwise moved from frame to frame on its way into the task, and those
            // copies made the invoke loop's stack frame 14 kB deeper.
            Some(Parked(tokio::spawn(Box::pin(park(parked, identifier)))))
        }
        Err(e) => {
            tracing::warn!(
                error = %crate::error::chain(&e),
                "could not register the internal extension: the platform will not send SIGTERM, \
                 and shutdown hooks will not run"
            );
            None
        }
    }
}

/// Waits on `/event/next` for as long as the process lives. An internal extension subscribed to
/// no events never gets one; if the platform sends one anyway, wait again.
async fn park(mut client: Client, identifier: HeaderValue) {
    loop {
        match client.next_extension_event(&identifier).await {
            Ok(answer) if answer.status.is_success() => {
                tracing::debug!(event = %answer.text(), "internal extension event (ignored)");
            }
            Ok(answer) => {
                tracing::debug!(status = answer.status.as_u16(), body = %answer.text(), "internal extension: /event/next refused");
                return;
            }
            Err(e) => {
                tracing::debug!(error = %crate::error::chain(&e), "internal extension: /event/next failed");
                return;
            }
        }
    }
}
