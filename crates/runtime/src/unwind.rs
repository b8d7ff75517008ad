//! Catching panics of user code (handlers, hooks) without a task per call: the future's `poll`
//! runs inside `catch_unwind`, so a panic becomes a value and the loop goes on.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

/// What a panic left behind.
pub(crate) type Panic = Box<dyn Any + Send>;

/// Polls `fut` once, turning a panic into `Err`. A future that panicked must not be polled
/// again (callers stop at the first `Ready`).
///
/// `AssertUnwindSafe`: after a panic the future is dropped, never polled again, so no broken
/// invariant of it can be observed; state it shares with other code (through `Arc`s, say) may
/// be left half-updated, the same risk as a panic in any `tokio::spawn`ed task.
pub(crate) fn poll_catching<F: Future + ?Sized>(
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, Panic>> {
    match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
        Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
        Ok(Poll::Pending) => Poll::Pending,
        Err(panic) => Poll::Ready(Err(panic)),
    }
}

/// Calls `f`, turning a panic into `Err` (for the synchronous part of a handler or hook).
pub(crate) fn call_catching<T>(f: impl FnOnce() -> T) -> Result<T, Panic> {
    catch_unwind(AssertUnwindSafe(f))
}

/// The text of a panic payload (`panic!` gives a `&str` or a `String`).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "(a non-string panic payload)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::pin::pin;

    #[test]
    fn panic_payloads_are_read_as_text() {
        let p = catch_unwind(|| panic!("static")).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "static");
        let n = 3;
        let p = catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "formatted 3");
        let p = catch_unwind(|| std::panic::panic_any(7_u8)).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "(a non-string panic payload)");
    }

    #[tokio::test]
    async fn a_panicking_future_becomes_an_error_after_it_yielded() {
        let mut fut = pin!(async {
            tokio::task::yield_now().await;
            if true {
                panic!("in the middle");
            }
            1
        });
        let out = poll_fn(|cx| poll_catching(fut.as_mut(), cx)).await;
        assert_eq!(panic_message(out.unwrap_err().as_ref()), "in the middle");
        // Negative control: a future that does not panic gives its value.
        let mut ok = pin!(async { 2 });
        assert_eq!(
            poll_fn(|cx| poll_catching(ok.as_mut(), cx)).await.unwrap(),
            2
        );
    }

    #[test]
    fn a_panicking_call_becomes_an_error() {
        assert!(call_catching(|| -> u8 { panic!("x") }).is_err());
        assert_eq!(call_catching(|| 5).unwrap(), 5);
    }
}
