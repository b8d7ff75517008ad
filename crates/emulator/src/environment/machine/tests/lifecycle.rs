//! Init, invocations, the registration window, freezing.

use super::*;

#[test]
fn a_cold_start_launches_the_runtime_and_is_ready_at_its_first_next() {
    let mut s = Sim::new(cfg());
    let fx = s.start(&[]);
    assert!(matches!(
        fx.list.first(),
        Some(Effect::Platform(PlatformEvent::InitStart {
            phase: InitPhase::Init
        }))
    ));
    assert!(launches(&fx, Role::Runtime));
    let fx = s.launched(Role::Runtime, "bootstrap", RT);
    assert!(!init_done(&fx), "not ready before the first /next");
    let fx = s.on(Input::RuntimeNext);
    assert!(init_done(&fx));
    assert!(matches!(s.m.state(), State::Idle(_)));
    // Negative control: a second /next while parked is refused.
    let fx = s.on(Input::RuntimeNext);
    assert_eq!(fx.answer.and_then(Result::err).map(|e| e.status), Some(403));
}

#[test]
fn external_extensions_register_before_the_runtime_starts_and_registration_closes_at_next() {
    let mut s = Sim::new(cfg());
    let fx = s.start(&["ext"]);
    assert!(launches(&fx, Role::Extension));
    assert!(!launches(&fx, Role::Runtime), "the runtime waits");
    let fx = s.launched(Role::Extension, "ext", EXT);
    assert!(!launches(&fx, Role::Runtime));
    let ext_id = "00000000-0000-4000-8000-00000000000e";
    let fx = s.register("ext", ext_id, false, true);
    assert_eq!(fx.answer, Some(Ok(Answer::Done)));
    assert!(
        launches(&fx, Role::Runtime),
        "all registered: the runtime starts"
    );
    s.launched(Role::Runtime, "bootstrap", RT);
    let fx = s.on(Input::RuntimeNext);
    assert!(
        !init_done(&fx),
        "init also waits for the extension's event/next"
    );
    let fx = s.register("late", "00000000-0000-4000-8000-00000000000f", false, false);
    let err = fx.answer.and_then(Result::err).expect("refused");
    assert_eq!(err.error_type, "Extension.RegistrationClosed");
    let fx = s.ext_next(ext_id);
    assert_eq!(fx.answer, Some(Ok(Answer::Extension(0))));
    assert!(init_done(&fx));
}

#[test]
fn an_internal_extension_may_not_subscribe_to_shutdown() {
    let mut s = Sim::new(cfg());
    s.start(&[]);
    s.launched(Role::Runtime, "bootstrap", RT);
    let fx = s.register(
        "internal",
        "00000000-0000-4000-8000-000000000001",
        false,
        true,
    );
    let err = fx.answer.and_then(Result::err).expect("refused");
    assert_eq!(err.error_type, "Extension.InvalidEventType");
    // Negative control: INVOKE alone is fine.
    let fx = s.register(
        "internal",
        "00000000-0000-4000-8000-000000000001",
        true,
        false,
    );
    assert_eq!(fx.answer, Some(Ok(Answer::Done)));
}

#[test]
fn an_invocation_answers_the_caller_at_once_and_completes_at_the_next_next() {
    let mut s = Sim::new(cfg());
    s.ready(false);
    let fx = s.invoke("a");
    assert!(fx.list.iter().any(|e| matches!(e, Effect::Next(_))));
    assert!(matches!(s.m.state(), State::Busy(_)));
    s.advance(Duration::from_millis(5));
    let fx = s.respond("a");
    assert_eq!(reply_body(&fx).as_deref(), Some("{}"));
    assert_eq!(pool(&fx), vec![PoolNote::Answered]);
    assert!(matches!(s.m.state(), State::Busy(_)), "busy until /next");
    let fx = s.on(Input::RuntimeNext);
    assert_eq!(pool(&fx), vec![PoolNote::Idle]);
    assert!(fx.list.iter().any(|e| matches!(
        e,
        Effect::Platform(PlatformEvent::End {
            init_duration: Some(_),
            status: None,
            ..
        })
    )));
    assert!(matches!(s.m.state(), State::Idle(_)));
    // The next invocation is not a cold start any more.
    s.invoke("b");
    s.respond("b");
    let fx = s.on(Input::RuntimeNext);
    assert!(fx.list.iter().any(|e| matches!(
        e,
        Effect::Platform(PlatformEvent::End {
            init_duration: None,
            ..
        })
    )));
}

#[test]
fn answers_are_checked_against_the_invocation_and_the_runtime_state() {
    let mut s = Sim::new(cfg());
    s.ready(false);
    s.invoke("a");
    let fx = s.respond("other");
    let err = fx.answer.and_then(Result::err).expect("refused");
    assert_eq!((err.status, err.error_type), (400, "InvalidRequestID"));
    let fx = s.respond("a");
    assert_eq!(fx.answer, Some(Ok(Answer::Done)));
    let fx = s.respond("a");
    let err = fx
        .answer
        .and_then(Result::err)
        .expect("a second answer is refused");
    assert_eq!(err.status, 403);
    assert!(
        err.message
            .contains("from RuntimeResponseSent to InvocationResponse")
    );
}

#[test]
fn an_invoke_subscribed_extension_holds_completion_until_its_event_next() {
    let mut s = Sim::new(cfg());
    let id = "00000000-0000-4000-8000-000000000001";
    s.ready(true);
    let fx = s.invoke("a");
    assert!(
        fx.list
            .iter()
            .any(|e| matches!(e, Effect::ToExtension { index: 0, .. }))
    );
    s.respond("a");
    let fx = s.on(Input::RuntimeNext);
    assert!(pool(&fx).is_empty(), "the extension is still busy");
    let fx = s.ext_next(id);
    assert_eq!(pool(&fx), vec![PoolNote::Idle]);
}

#[test]
fn freezing_stops_every_process_and_an_invoke_thaws_them_first() {
    let mut s = Sim::new(cfg());
    s.ready(false);
    let fx = s.on(Input::Freeze);
    assert_eq!(signals(&fx, RT), vec![Signal::SIGSTOP]);
    assert!(s.m.frozen());
    let fx = s.invoke("a");
    assert_eq!(signals(&fx, RT), vec![Signal::SIGCONT]);
    let thaw = fx
        .list
        .iter()
        .position(|e| matches!(e, Effect::Signal { .. }));
    let next = fx.list.iter().position(|e| matches!(e, Effect::Next(_)));
    assert!(thaw < next, "thawed before the event goes out");
    // Negative control: freezing is off with --no-freeze.
    let mut cfg = cfg();
    cfg.freeze = false;
    let mut s = Sim::new(cfg);
    s.ready(false);
    assert!(signals(&s.on(Input::Freeze), RT).is_empty());
}
