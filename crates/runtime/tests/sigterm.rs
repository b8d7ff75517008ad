//! Real SIGTERM, sent to this test process (its own binary, so that no other test's runtime sees
//! it): at the `/next` long poll, and while a handler runs.

#![allow(unreachable_pub, clippy::unwrap_used)]

#[path = "support/mod.rs"]
mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use lambda_grace::report::{HandlerOutcome, HookOutcome, Trigger};
use lambda_grace::{Context, Diagnostic, Runtime};

use support::{Event, FakeApi, Quirks};

fn sigterm_self() {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// One test: both phases share the process-wide signal disposition.
#[tokio::test]
async fn sigterm_at_next_and_mid_handler_runs_the_hooks_and_run_returns() {
    // At the long poll: the platform's spin-down.
    let fake = FakeApi::start(vec![Event::new("r1", "{}")], Quirks::default()).await;
    let order = Rc::new(RefCell::new(Vec::<&str>::new()));
    let (a, b) = (Rc::clone(&order), Rc::clone(&order));
    let drained = fake.drained();
    let runtime = Runtime::from_lookup(fake.lookup())
        .unwrap()
        .on_shutdown("first", move || async move {
            a.borrow_mut().push("first");
            Ok(())
        })
        .on_shutdown("second", move || async move {
            b.borrow_mut().push("second");
            Ok(())
        });
    let token = runtime.shutdown_token();
    let run =
        runtime.run(|e: serde_json::Value, _ctx: Context| async move { Ok::<_, Diagnostic>(e) });
    let kill = async {
        drained.await;
        sigterm_self();
        std::future::pending::<()>().await;
    };
    let report = tokio::select! {
        r = run => r.unwrap(),
        _ = kill => unreachable!(),
    };
    assert_eq!(report.trigger, Trigger::Sigterm);
    assert!(report.interrupted.is_none());
    assert_eq!(*order.borrow(), ["second", "first"]);
    assert!(report.hooks.iter().all(|h| h.outcome == HookOutcome::Ok));
    assert!(token.is_cancelled());
    assert!(fake.seen().iter().any(|s| s.path.ends_with("r1/response")));

    // While a handler runs (a reset after a timeout): the handler gets the budget, and the one
    // that would outlive it is abandoned; the hooks run after.
    let fake = FakeApi::start(vec![Event::new("r2", "{}")], Quirks::default()).await;
    let ran = Rc::new(RefCell::new(false));
    let flag = Rc::clone(&ran);
    let started = tokio::time::Instant::now();
    let report = Runtime::from_lookup(fake.lookup())
        .unwrap()
        .shutdown_budget(Duration::from_millis(200))
        .on_shutdown("after", move || async move {
            *flag.borrow_mut() = true;
            Ok(())
        })
        .run(|_: serde_json::Value, _ctx: Context| async move {
            sigterm_self();
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, Diagnostic>("never")
        })
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let interrupted = report
        .interrupted
        .clone()
        .expect("an interrupted invocation");
    assert_eq!(interrupted.request_id, "r2");
    assert_eq!(interrupted.outcome, HandlerOutcome::Abandoned);
    assert!(
        *ran.borrow(),
        "the hook ran after the handler was abandoned"
    );
    assert!(
        elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    assert!(
        report
            .to_string()
            .contains("during invocation r2, handler abandoned 2"),
        "{report}"
    );
}
