//! What starts the shutdown: SIGTERM (listened for from the moment the runtime is built, so an
//! early one is not missed), or a future the user supplies (tests, local development).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::error::Error;
use crate::report::Trigger;
use crate::unwind::{call_catching, panic_message};

/// The shutdown triggers, polled side by side with `/next` and with the handler.
pub(crate) struct ShutdownSignal {
    sigterm: Option<Signal>,
    requested: Option<Pin<Box<dyn Future<Output = ()>>>>,
}

impl std::fmt::Debug for ShutdownSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownSignal")
            .field("sigterm", &self.sigterm.is_some())
            .field("requested", &self.requested.is_some())
            .finish()
    }
}

impl ShutdownSignal {
    /// Starts listening for SIGTERM now. Needs a tokio runtime with its IO driver.
    pub(crate) fn listen() -> Result<Self, Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Signal {
                reason: "no tokio runtime is running (build the Runtime inside `#[tokio::main]`)"
                    .into(),
            });
        }
        // tokio panics instead of failing when the runtime was built without its IO driver.
        let sigterm = match call_catching(|| signal(SignalKind::terminate())) {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(Error::Signal {
                    reason: e.to_string(),
                });
            }
            Err(panic) => {
                return Err(Error::Signal {
                    reason: panic_message(panic.as_ref()).to_owned(),
                });
            }
        };
        Ok(Self {
            sigterm: Some(sigterm),
            requested: None,
        })
    }

    /// Also shut down when `fut` completes.
    pub(crate) fn also_on(&mut self, fut: impl Future<Output = ()> + 'static) {
        self.requested = Some(Box::pin(fut));
    }

    /// Ready with the trigger once one has fired.
    pub(crate) fn poll_trigger(&mut self, cx: &mut Context<'_>) -> Poll<Trigger> {
        if let Some(sigterm) = &mut self.sigterm {
            match sigterm.poll_recv(cx) {
                Poll::Ready(Some(())) => return Poll::Ready(Trigger::Sigterm),
                // The signal driver is gone (the tokio runtime is shutting down).
                Poll::Ready(None) => self.sigterm = None,
                Poll::Pending => {}
            }
        }
        if let Some(requested) = &mut self.requested
            && requested.as_mut().poll(cx).is_ready()
        {
            self.requested = None;
            return Poll::Ready(Trigger::Requested);
        }
        Poll::Pending
    }
}

/// Runs `fut` unless a shutdown trigger fires first (checked first on every poll).
///
/// `fut` is pinned by the caller, in the caller's own state: taking it by value would store it
/// twice (as this future's argument, then pinned), and every `.await` on the way to the
/// handler would copy it.
pub(crate) fn until_shutdown<'a, F: Future + ?Sized>(
    signal: &'a mut ShutdownSignal,
    mut fut: Pin<&'a mut F>,
) -> impl Future<Output = Result<F::Output, Trigger>> + 'a {
    poll_fn(move |cx| {
        if let Poll::Ready(trigger) = signal.poll_trigger(cx) {
            return Poll::Ready(Err(trigger));
        }
        fut.as_mut().poll(cx).map(Ok)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;
    use std::time::Duration;

    #[test]
    fn listening_outside_a_runtime_is_an_error_not_a_panic() {
        let err = ShutdownSignal::listen().unwrap_err();
        assert!(err.to_string().contains("no tokio runtime"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_requested_shutdown_interrupts_a_pending_future() {
        let mut signal = ShutdownSignal::listen().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        signal.also_on(async move {
            let _ = rx.await;
        });
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let _ = tx.send(());
        });
        let got = until_shutdown(&mut signal, pin!(std::future::pending::<()>())).await;
        assert_eq!(got, Err(Trigger::Requested));
        // Negative control: with no trigger, the future's value comes through.
        let got = until_shutdown(&mut signal, pin!(async { 7 })).await;
        assert_eq!(got, Ok(7));
    }
}
