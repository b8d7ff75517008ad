//! The shutdown that ends a run (on a trigger other than SIGTERM: see `tests/sigterm.rs`).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use lambda_grace::report::{HookOutcome, Trigger};
use lambda_grace::{Context, Diagnostic, Error, Runtime};

use crate::support::{Event, FakeApi, Quirks};

#[tokio::test]
async fn the_token_is_cancelled_before_the_hooks_which_run_in_reverse_order() {
    let fake = FakeApi::start(vec![Event::new("r1", "{}")], Quirks::default()).await;
    let order = Rc::new(RefCell::new(Vec::<String>::new()));
    let runtime = Runtime::from_lookup(fake.lookup()).unwrap();
    let token = runtime.shutdown_token();
    let (o1, o2, o3) = (Rc::clone(&order), Rc::clone(&order), Rc::clone(&order));
    let report = runtime
        .shutdown_on(fake.drained())
        .on_shutdown("opened-first", move || async move {
            o1.borrow_mut().push("opened-first".into());
            Ok(())
        })
        .on_shutdown("opened-last", move || async move {
            o2.borrow_mut().push(format!(
                "opened-last (token cancelled: {})",
                token.is_cancelled()
            ));
            Ok(())
        })
        .run(move |e: serde_json::Value, _ctx: Context| {
            o3.borrow_mut().push("handler".into());
            async move { Ok::<_, Diagnostic>(e) }
        })
        .await
        .unwrap();
    assert_eq!(
        *order.borrow(),
        [
            "handler",
            "opened-last (token cancelled: true)",
            "opened-first"
        ]
    );
    let names: Vec<_> = report
        .hooks
        .iter()
        .map(|h| (h.name.as_ref(), h.outcome.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("opened-last", HookOutcome::Ok),
            ("opened-first", HookOutcome::Ok)
        ]
    );
    assert!(report.is_clean());
    assert!(
        report
            .to_string()
            .starts_with("shutdown: requested; hooks: opened-last ok ")
    );
}

#[tokio::test]
async fn a_500_on_next_ends_the_run_with_the_error_after_the_hooks_ran() {
    let fake = FakeApi::start(
        vec![Event::new("r1", "{}")],
        Quirks {
            fail_next_when_empty: true,
            ..Quirks::default()
        },
    )
    .await;
    let ran = Rc::new(RefCell::new(false));
    let flag = Rc::clone(&ran);
    let err = Runtime::from_lookup(fake.lookup())
        .unwrap()
        .register_extension(false)
        .shutdown_budget(Duration::from_millis(100))
        .on_shutdown("close", move || async move {
            *flag.borrow_mut() = true;
            Ok(())
        })
        .run(|e: serde_json::Value, _ctx: Context| async move { Ok::<_, Diagnostic>(e) })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Api { status: 500, .. }), "{err:?}");
    assert!(*ran.borrow(), "hooks still ran");
    // Negative control: the event before it was answered normally.
    assert!(fake.seen().iter().any(|s| s.path.ends_with("r1/response")));
}

#[tokio::test]
async fn a_trigger_during_a_handler_lets_it_finish_within_the_budget() {
    let fake = FakeApi::start(
        vec![Event::new("r1", "{}"), Event::new("r2", "{}")],
        Quirks::default(),
    )
    .await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut tx = Some(tx);
    let report = Runtime::from_lookup(fake.lookup())
        .unwrap()
        .register_extension(false)
        .shutdown_budget(Duration::from_millis(300))
        .shutdown_on(async move {
            let _ = rx.await;
        })
        .run(move |_: serde_json::Value, ctx: Context| {
            // The first handler pulls the trigger, then needs 50 ms more.
            let trigger = tx.take();
            async move {
                if let Some(t) = trigger {
                    let _ = t.send(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok::<_, Diagnostic>(ctx.request_id().to_owned())
            }
        })
        .await
        .unwrap();
    let interrupted = report.interrupted.expect("interrupted");
    assert_eq!(interrupted.request_id, "r1");
    assert_eq!(
        interrupted.outcome,
        lambda_grace::report::HandlerOutcome::Finished
    );
    assert!(
        interrupted.elapsed >= Duration::from_millis(40),
        "{interrupted:?}"
    );
    assert_eq!(report.trigger, Trigger::Requested);
    // Its answer is not posted (the platform is resetting), and no further event is taken.
    assert!(
        fake.seen().iter().all(|s| s.method != "POST"),
        "{:?}",
        fake.script()
    );
}

#[tokio::test]
async fn a_trigger_during_a_flush_lets_it_finish_and_counts_the_budget_from_the_trigger() {
    let fake = FakeApi::start(
        vec![Event::new("r1", "{}"), Event::new("r2", "{}")],
        Quirks::default(),
    )
    .await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut tx = Some(tx);
    let flushed = std::rc::Rc::new(std::cell::Cell::new(false));
    let done = std::rc::Rc::clone(&flushed);
    let report = Runtime::from_lookup(fake.lookup())
        .unwrap()
        .register_extension(false)
        .shutdown_budget(Duration::from_millis(300))
        .shutdown_on(async move {
            let _ = rx.await;
        })
        .on_flush("slow-flush", move || {
            // The trigger comes while the flush runs; the flush needs 80 ms more.
            let trigger = tx.take();
            let done = std::rc::Rc::clone(&done);
            async move {
                if let Some(t) = trigger {
                    let _ = t.send(());
                }
                tokio::time::sleep(Duration::from_millis(80)).await;
                done.set(true);
                Ok(())
            }
        })
        .run(|_: serde_json::Value, ctx: Context| async move {
            Ok::<_, Diagnostic>(ctx.request_id().to_owned())
        })
        .await
        .unwrap();
    assert!(flushed.get(), "the flush finished");
    assert_eq!(report.trigger, Trigger::Requested);
    // The budget runs from the trigger: the flush's 80 ms count against it.
    assert!(report.elapsed >= Duration::from_millis(75), "{report:?}");
    // No second event was taken.
    let posts = fake
        .seen()
        .iter()
        .filter(|s| s.method == "POST" && s.path.contains("/response"))
        .count();
    assert_eq!(posts, 1, "{:?}", fake.script());
}
