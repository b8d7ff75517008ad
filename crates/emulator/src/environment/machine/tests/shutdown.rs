//! Resets and spin-downs: SIGTERM, budgets, SHUTDOWN, deadlines, crashes, init failures.

use super::*;

#[test]
fn a_timeout_answers_the_caller_and_resets_with_sigterm_inside_the_budget() {
    let mut s = Sim::new(cfg());
    s.ready(true);
    s.invoke("a");
    let fx = s.tick_to_deadline();
    let body = reply_body(&fx).expect("the caller is answered");
    assert!(
        body.contains("Sandbox.Timedout") && body.contains("Task timed out after 3.00 seconds")
    );
    assert!(records(&fx).iter().any(|k| matches!(
        k,
        EventKind::ShutdownStart {
            reason: "timeout",
            budget_ms: 500
        }
    )));
    assert_eq!(pool(&fx), vec![PoolNote::Retired]);
    // SIGTERM once the runtime has settled after its thaw.
    assert!(
        fx.list
            .iter()
            .any(|e| matches!(e, Effect::AwaitSettled { pid: RT, .. }))
    );
    let fx = s.on(Input::Settled);
    assert!(sigterm(&fx));
    // The runtime exits inside its 500 ms: no SIGKILL is recorded.
    s.advance(Duration::from_millis(120));
    let fx = s.exited(RT, Exit::Code(0));
    assert!(
        !records(&fx)
            .iter()
            .any(|k| matches!(k, EventKind::Sigkill { .. }))
    );
    assert!(finished(&fx));
    assert!(matches!(s.m.state(), State::Dead));
}

#[test]
fn a_runtime_that_ignores_sigterm_is_killed_when_its_budget_runs_out() {
    let mut s = Sim::new(cfg());
    s.ready(true);
    let start = s.now;
    s.on(Input::Shutdown(ShutdownReason::Spindown));
    s.on(Input::Settled);
    let fx = s.tick_to_deadline();
    assert_eq!(s.now - start, Duration::from_millis(500));
    assert!(
        records(&fx)
            .iter()
            .any(|k| matches!(k, EventKind::Sigkill { pid: RT, .. }))
    );
    assert_eq!(signals(&fx, RT), vec![Signal::SIGCONT, Signal::SIGKILL]);
    let fx = s.exited(RT, Exit::Signal(9));
    assert!(finished(&fx));
}

#[test]
fn without_any_extension_the_runtime_gets_no_sigterm_at_all() {
    let mut s = Sim::new(cfg());
    s.ready(false);
    let fx = s.on(Input::Shutdown(ShutdownReason::Spindown));
    assert!(!sigterm(&fx));
    assert!(
        !fx.list
            .iter()
            .any(|e| matches!(e, Effect::AwaitSettled { .. }))
    );
    assert_eq!(signals(&fx, RT), vec![Signal::SIGCONT, Signal::SIGKILL]);
    assert!(
        records(&fx)
            .iter()
            .any(|k| matches!(k, EventKind::ShutdownStart { budget_ms: 0, .. }))
    );
}

/// An environment with one external extension subscribed to SHUTDOWN.
fn with_external(s: &mut Sim) -> &'static str {
    let id = "00000000-0000-4000-8000-00000000000e";
    s.start(&["ext"]);
    s.launched(Role::Extension, "ext", EXT);
    s.register("ext", id, false, true);
    s.launched(Role::Runtime, "bootstrap", RT);
    s.on(Input::RuntimeNext);
    assert!(init_done(&s.ext_next(id)));
    id
}

#[test]
fn with_an_external_extension_the_runtime_gets_300ms_then_shutdown_goes_out_after_telemetry() {
    let mut s = Sim::new(cfg());
    with_external(&mut s);
    let start = s.now;
    let fx = s.on(Input::Shutdown(ShutdownReason::Spindown));
    assert!(records(&fx).iter().any(|k| matches!(
        k,
        EventKind::ShutdownStart {
            budget_ms: 2000,
            ..
        }
    )));
    s.on(Input::Settled);
    let fx = s.tick_to_deadline();
    assert_eq!(s.now - start, Duration::from_millis(300));
    assert!(
        records(&fx)
            .iter()
            .any(|k| matches!(k, EventKind::Sigkill { pid: RT, .. }))
    );
    // SHUTDOWN waits for the telemetry to be delivered (§3.2).
    assert!(
        fx.list
            .iter()
            .any(|e| matches!(e, Effect::FlushTelemetry { .. }))
    );
    assert!(
        !fx.list
            .iter()
            .any(|e| matches!(e, Effect::ToExtension { .. }))
    );
    s.exited(RT, Exit::Signal(9));
    let fx = s.on(Input::TelemetryFlushed);
    assert!(
        fx.list
            .iter()
            .any(|e| matches!(e, Effect::ToExtension { index: 0, .. }))
    );
    // The extension exits in time: the environment is dead without another SIGKILL.
    let fx = s.exited(EXT, Exit::Code(0));
    assert!(finished(&fx));
}

#[test]
fn an_extension_that_does_not_exit_is_killed_at_the_shutdown_deadline() {
    let mut s = Sim::new(cfg());
    with_external(&mut s);
    let start = s.now;
    s.on(Input::Shutdown(ShutdownReason::Spindown));
    s.on(Input::Settled);
    s.advance(Duration::from_millis(10));
    s.exited(RT, Exit::Code(0));
    s.on(Input::TelemetryFlushed);
    let fx = s.tick_to_deadline();
    assert_eq!(s.now - start, Duration::from_millis(2000));
    assert!(
        records(&fx)
            .iter()
            .any(|k| matches!(k, EventKind::Sigkill { pid: EXT, .. }))
    );
    let fx = s.exited(EXT, Exit::Signal(9));
    assert!(finished(&fx));
}

#[test]
fn an_extension_that_crashes_during_shutdown_ends_the_wait_for_it() {
    let mut s = Sim::new(cfg());
    with_external(&mut s);
    s.on(Input::Shutdown(ShutdownReason::Spindown));
    s.on(Input::Settled);
    s.exited(RT, Exit::Code(0));
    s.on(Input::TelemetryFlushed);
    let fx = s.exited(EXT, Exit::Signal(11));
    assert!(finished(&fx), "nothing left to wait for");
    assert!(
        !records(&fx)
            .iter()
            .any(|k| matches!(k, EventKind::Sigkill { .. }))
    );
}

#[test]
fn a_crash_mid_invoke_fails_the_invocation_and_resets_the_environment() {
    let mut s = Sim::new(cfg());
    s.ready(true);
    s.invoke("a");
    let fx = s.exited(RT, Exit::Code(2));
    let body = reply_body(&fx).expect("the caller is answered");
    assert!(body.contains("Runtime.ExitError") && body.contains("exit status 2"));
    assert!(records(&fx).iter().any(|k| matches!(
        k,
        EventKind::ShutdownStart {
            reason: "failure",
            ..
        }
    )));
    assert!(!sigterm(&fx), "a dead runtime gets no SIGTERM");
    assert!(finished(&fx), "no process is left");
}

#[test]
fn an_init_failure_answers_once_every_process_is_gone_and_a_suppressed_init_follows() {
    let mut s = Sim::new(cfg());
    s.start(&[]);
    s.launched(Role::Runtime, "bootstrap", RT);
    let fx = s.on(Input::InitError {
        error_type: Some("Runtime.Custom".to_owned()),
        body: Bytes::from_static(br#"{"errorType":"Runtime.Custom","errorMessage":"no"}"#),
    });
    assert!(fx.list.iter().any(|e| matches!(
        e,
        Effect::Platform(PlatformEvent::InitFailed { error_type, .. }) if error_type == "Runtime.Custom"
    )));
    assert!(
        !fx.list.iter().any(|e| matches!(e, Effect::InitDone(_))),
        "answered only once the processes are gone"
    );
    let fx = s.exited(RT, Exit::Signal(9));
    let failure = fx
        .list
        .iter()
        .find_map(|e| match e {
            Effect::InitDone(Err(f)) => Some(f.clone()),
            _ => None,
        })
        .expect("init failed");
    assert_eq!(failure.error_type, "Runtime.Custom");
    assert!(super::super::init::failure_body(&failure).contains("\"no\""));
    // The next environment runs a suppressed init inside the invoke, bounded by the timeout.
    let mut s = Sim::new(cfg());
    let fx = s.on(Input::Start {
        phase: InitPhase::Invoke,
        limit: Duration::from_secs(3),
        request_id: "req-1".to_owned(),
        extensions: Vec::new(),
    });
    assert!(fx.list.iter().any(|e| matches!(
        e,
        Effect::Platform(PlatformEvent::InitStart {
            phase: InitPhase::Invoke
        })
    )));
    s.launched(Role::Runtime, "bootstrap", RT);
    let fx = s.tick_to_deadline();
    assert!(fx.list.iter().any(|e| matches!(
        e,
        Effect::Platform(PlatformEvent::InitFailed { error_type, .. }) if error_type == "Sandbox.Timedout"
    )));
}

#[test]
fn an_extension_that_crashes_during_init_fails_it() {
    let mut s = Sim::new(cfg());
    s.start(&["ext"]);
    s.launched(Role::Extension, "ext", EXT);
    let fx = s.exited(EXT, Exit::Code(1));
    assert!(fx.list.iter().any(|e| matches!(
        e,
        Effect::Platform(PlatformEvent::InitFailed { error_type, .. }) if error_type == "Extension.Crash"
    )));
    assert!(!launches(&fx, Role::Runtime));
    assert!(finished(&fx));
}

#[test]
fn an_unsubscribed_external_extension_is_killed_at_once_and_an_unregistered_one_first() {
    let mut s = Sim::new(cfg());
    let id = "00000000-0000-4000-8000-00000000000e";
    s.start(&["ext"]);
    s.launched(Role::Extension, "ext", EXT);
    s.register("ext", id, true, false);
    s.launched(Role::Runtime, "bootstrap", RT);
    s.on(Input::RuntimeNext);
    s.ext_next(id);
    s.on(Input::Shutdown(ShutdownReason::Spindown));
    s.on(Input::Settled);
    s.exited(RT, Exit::Code(0));
    let fx = s.on(Input::TelemetryFlushed);
    assert!(
        !fx.list
            .iter()
            .any(|e| matches!(e, Effect::ToExtension { .. }))
    );
    assert_eq!(signals(&fx, EXT), vec![Signal::SIGCONT, Signal::SIGKILL]);
}

#[test]
fn an_out_of_memory_kill_answers_runtime_out_of_memory_and_resets() {
    let mut s = Sim::new(cfg());
    s.ready(false);
    s.invoke("a");
    let fx = s.on(Input::OutOfMemory);
    let body = reply_body(&fx).expect("the caller is answered");
    assert!(
        body.contains("Runtime.OutOfMemory")
            && body.contains("RequestId: a Error: Runtime exited with error: signal: killed"),
        "{body}"
    );
    assert!(records(&fx).iter().any(|k| matches!(
        k,
        EventKind::ShutdownStart {
            reason: "failure",
            ..
        }
    )));
    assert_eq!(
        pool(&fx),
        [PoolNote::Retired],
        "the next invoke gets a fresh one"
    );
    let fx = s.exited(RT, Exit::Signal(9));
    assert_eq!(reply_body(&fx), None, "answered once");
    assert!(finished(&fx));
    assert!(matches!(s.m.state(), State::Dead));
    assert_eq!(
        s.on(Input::OutOfMemory).list.len(),
        0,
        "nothing after death"
    );
}

#[test]
fn a_sigkill_without_an_out_of_memory_kill_stays_an_exit_error() {
    // Negative control of the test above: the same exit, with no out-of-memory input.
    let mut s = Sim::new(cfg());
    s.ready(false);
    s.invoke("a");
    let fx = s.exited(RT, Exit::Signal(9));
    let body = reply_body(&fx).expect("the caller is answered");
    assert!(body.contains("Runtime.ExitError") && !body.contains("OutOfMemory"));
}

#[test]
fn an_out_of_memory_kill_during_init_fails_the_init() {
    let mut s = Sim::new(cfg());
    s.start(&[]);
    s.launched(Role::Runtime, "bootstrap", RT);
    s.on(Input::OutOfMemory);
    let fx = s.exited(RT, Exit::Signal(9));
    let failure = fx.list.iter().find_map(|e| match e {
        Effect::InitDone(Err(f)) => Some(f.error_type.clone()),
        _ => None,
    });
    assert_eq!(failure.as_deref(), Some("Runtime.OutOfMemory"));
}
