//! What starts the shutdown: SIGTERM (listened for from the moment the runtime is built, so an
//! early one is not missed), or a future the user supplies (tests, local development).

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::error::Error;
use crate::report::Trigger;
use crate::unwind::{call_catching, panic_message};

/// The shutdown triggers, polled side by side with `/next` and with the handler.
pub(crate) struct ShutdownSignal {
    sigterm: Option<Signal>,
    requested: Option<Pin<Box<dyn Future<Output = ()>>>>,
    /// The triggers are polled with this waker, so that they are polled again only once they
    /// woke it: polling a pending `Signal` costs about 400 instructions, and the loop polls
    /// the triggers several times per invocation.
    woken: Arc<Woken>,
    waker: Waker,
}

/// Notes that a trigger may be ready, and wakes the task that last polled the triggers.
struct Woken {
    ready: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Ordering::Release);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = task.as_ref() {
            task.wake_by_ref();
        }
    }
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
        // Ready at first: the triggers have never been polled.
        let woken = Arc::new(Woken {
            ready: AtomicBool::new(true),
            task: Mutex::new(None),
        });
        Ok(Self {
            sigterm: Some(sigterm),
            requested: None,
            waker: Waker::from(Arc::clone(&woken)),
            woken,
        })
    }

    /// Also shut down when `fut` completes.
    pub(crate) fn also_on(&mut self, fut: impl Future<Output = ()> + 'static) {
        self.requested = Some(Box::pin(fut));
        // The new trigger has never been polled.
        self.woken.ready.store(true, Ordering::Release);
    }

    /// Ready with the trigger once one has fired.
    pub(crate) fn poll_trigger(&mut self, cx: &mut Context<'_>) -> Poll<Trigger> {
        {
            let mut task = self.woken.task.lock().unwrap_or_else(|e| e.into_inner());
            if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
        // Cleared before polling: a wake during the poll makes the next poll look again.
        if !self.woken.ready.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let cx = &mut Context::from_waker(&self.waker);
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
