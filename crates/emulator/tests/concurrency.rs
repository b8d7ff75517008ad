//! Property tests of the pool under concurrent callers: batches of 1–10 simultaneous
//! synchronous invokes, each with a payload only it carries, against a function with
//! concurrency 4. Each caller must get its own payload back (never another's) or, only when the
//! batch is larger than the limit, 429 `TooManyRequestsException`; at least as many invokes as
//! the limit allows succeed; and once the batch is over the pool is whole again (a batch of
//! exactly the limit succeeds entirely).

#![allow(clippy::unwrap_used)]

mod support;

use proptest::prelude::*;
use support::{ANSWER_LIMIT, Harness, exchange, proptest_config, request};

#[test]
fn scripted_runtime() {
    support::scripted_runtime_if_asked();
}

const LIMIT: usize = 4;

/// Sends `n` invokes at once; each answer with the payload it was sent with.
fn batch(h: &Harness, n: usize, tag: u64) -> Vec<(Vec<u8>, support::Reply)> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let payload = format!(r#"{{"tag":{tag},"i":{i}}}"#).into_bytes();
            let raw = request("POST", "/2015-03-31/functions/f/invocations", &[], &payload);
            let addr = h.invoke_addr;
            let task =
                h.rt.spawn(async move { exchange(addr, &raw, ANSWER_LIMIT).await });
            (payload, task)
        })
        .collect();
    tasks
        .into_iter()
        .map(|(payload, task)| {
            let reply = h.block_on(task).unwrap();
            (
                payload,
                reply.unwrap_or_else(|f| panic!("no answer: {f:?}")),
            )
        })
        .collect()
}

#[test]
fn concurrent_callers_get_their_own_answers_or_429_beyond_the_limit() {
    let h = Harness::start(|cfg| cfg.concurrency = LIMIT);
    h.assert_normal_invoke(0);
    let started = std::time::Instant::now();
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, u32>::new());
    let mut runner = proptest::test_runner::TestRunner::new(proptest_config(64));
    let result = runner.run(&(1usize..=10, any::<u64>()), |(n, tag)| {
        let answers = batch(&h, n, tag);
        let mut ok = 0;
        for (payload, reply) in &answers {
            *seen
                .borrow_mut()
                .entry(format!("{}", reply.status))
                .or_default() += 1;
            match reply.status {
                200 => {
                    prop_assert_eq!(&reply.body, payload, "someone else's answer");
                    ok += 1;
                }
                429 => {
                    prop_assert!(
                        n > LIMIT,
                        "throttled below the limit: {} of {}",
                        reply.text(),
                        n
                    );
                    let code = reply.header("x-amzn-errortype");
                    prop_assert_eq!(code, Some("TooManyRequestsException"));
                }
                other => prop_assert!(false, "{other}: {}", reply.text()),
            }
        }
        prop_assert!(ok >= n.min(LIMIT), "only {ok} of {n} succeeded");
        // The pool is whole again: a full batch at the limit succeeds entirely.
        let again = batch(&h, LIMIT, tag.wrapping_add(1));
        for (payload, reply) in &again {
            prop_assert_eq!(
                reply.status,
                200,
                "after a batch of {}: {}",
                n,
                reply.text()
            );
            prop_assert_eq!(&reply.body, payload);
        }
        prop_assert!(h.environments().len() <= LIMIT);
        Ok(())
    });
    eprintln!(
        "concurrency: {} cases in {:?}: {:?}",
        runner.config().cases,
        started.elapsed(),
        seen.borrow()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    h.assert_normal_invoke(1);
}
