//! Unit tests of the state machine: no processes, no sockets, a virtual clock. Each test drives
//! one documented path of spec §4 and §9 and checks the effects the driver would carry out.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use grace_protocol::extensions_api::ShutdownReason;
use nix::sys::signal::Signal;
use tokio::time::Instant;

use super::{Answer, Effect, Effects, Input, Machine, PoolNote, State};
use crate::config::FunctionConfig;
use crate::environment::platform::PlatformEvent;
use crate::environment::types::{InitPhase, InvokeRequest, Outcome};
use crate::events::{EventKind, Role};
use crate::sys::Exit;

const RT: u32 = 100;
const EXT: u32 = 200;

/// A machine and a clock that only moves when told.
struct Sim {
    m: Machine,
    now: Instant,
}

impl Sim {
    fn new(cfg: FunctionConfig) -> Self {
        let now = Instant::now();
        Self {
            m: Machine::new(Arc::new(cfg), now),
            now,
        }
    }

    fn on(&mut self, input: Input) -> Effects {
        self.m.on(input, self.now)
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// Moves the clock to the machine's next deadline and ticks.
    fn tick_to_deadline(&mut self) -> Effects {
        let due = self.m.deadline().expect("a deadline is set");
        assert!(due >= self.now);
        self.now = due;
        self.on(Input::Tick)
    }

    fn start(&mut self, extensions: &[&str]) -> Effects {
        self.on(Input::Start {
            phase: InitPhase::Init,
            limit: Duration::from_secs(10),
            request_id: "req-0".to_owned(),
            extensions: extensions.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    fn launched(&mut self, role: Role, name: &str, pid: u32) -> Effects {
        self.on(Input::Launched {
            role,
            name: name.to_owned(),
            pid,
        })
    }

    /// A cold start with an internal extension (as lambda-grace registers) or none.
    fn ready(&mut self, internal_extension: bool) {
        let fx = self.start(&[]);
        assert!(launches(&fx, Role::Runtime));
        self.launched(Role::Runtime, "bootstrap", RT);
        if internal_extension {
            let fx = self.register(
                "internal",
                "00000000-0000-4000-8000-000000000001",
                true,
                false,
            );
            assert_eq!(fx.answer, Some(Ok(Answer::Done)));
        }
        let fx = self.on(Input::RuntimeNext);
        assert_eq!(fx.answer, Some(Ok(Answer::Done)));
        if internal_extension {
            assert!(!init_done(&fx), "init waits for the extension's event/next");
            let fx = self.ext_next("00000000-0000-4000-8000-000000000001");
            assert!(init_done(&fx));
        } else {
            assert!(init_done(&fx));
        }
        assert!(matches!(self.m.state(), State::Idle(_)));
    }

    fn register(&mut self, name: &str, id: &str, invoke: bool, shutdown: bool) -> Effects {
        self.on(Input::Register {
            id: id.to_owned(),
            name: name.to_owned(),
            invoke,
            shutdown,
        })
    }

    fn ext_next(&mut self, id: &str) -> Effects {
        self.on(Input::ExtensionNext {
            id: Some(id.to_owned()),
        })
    }

    fn invoke(&mut self, id: &str) -> Effects {
        self.on(Input::Invoke(request(id)))
    }

    fn respond(&mut self, id: &str) -> Effects {
        self.on(Input::RuntimeAnswer {
            id: id.to_owned(),
            outcome: Outcome::Response {
                body: Bytes::from_static(b"{}"),
                content_type: None,
            },
            error_type: None,
        })
    }

    fn exited(&mut self, pid: u32, exit: Exit) -> Effects {
        self.on(Input::Exited { pid, exit })
    }
}

fn cfg() -> FunctionConfig {
    FunctionConfig::new("f", vec!["./bootstrap".into()], ".".into())
}

fn request(id: &str) -> InvokeRequest {
    InvokeRequest {
        request_id: Arc::from(id),
        payload: Bytes::from_static(b"{}"),
        content_type: None,
        trace_id: Some("Root=1-0-0".to_owned()),
        client_context: None,
        cognito_identity: None,
        tenant_id: None,
        tail: false,
        deadline: None,
    }
}

fn launches(fx: &Effects, role: Role) -> bool {
    fx.list
        .iter()
        .any(|e| matches!(e, Effect::Launch { role: r, .. } if *r == role))
}

fn init_done(fx: &Effects) -> bool {
    fx.list
        .iter()
        .any(|e| matches!(e, Effect::InitDone(Ok(()))))
}

fn signals(fx: &Effects, pid: u32) -> Vec<Signal> {
    fx.list
        .iter()
        .filter_map(|e| match e {
            Effect::Signal { pid: p, signal } if *p == pid => Some(*signal),
            _ => None,
        })
        .collect()
}

fn sigterm(fx: &Effects) -> bool {
    fx.list.iter().any(|e| matches!(e, Effect::Sigterm { .. }))
}

fn records(fx: &Effects) -> Vec<&EventKind> {
    fx.list
        .iter()
        .filter_map(|e| match e {
            Effect::Record(k) => Some(k),
            _ => None,
        })
        .collect()
}

fn reply_body(fx: &Effects) -> Option<String> {
    fx.list.iter().find_map(|e| match e {
        Effect::Reply(Outcome::PlatformError { body }) => {
            Some(String::from_utf8_lossy(body).into_owned())
        }
        Effect::Reply(Outcome::Response { body, .. }) => {
            Some(String::from_utf8_lossy(body).into_owned())
        }
        _ => None,
    })
}

fn pool(fx: &Effects) -> Vec<PoolNote> {
    fx.list
        .iter()
        .filter_map(|e| match e {
            Effect::Pool(n) => Some(*n),
            _ => None,
        })
        .collect()
}

fn finished(fx: &Effects) -> bool {
    fx.list.iter().any(|e| matches!(e, Effect::Finished))
}

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
            .any(|e| matches!(e, Effect::AwaitSettled { pid: RT }))
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
    assert!(super::init::failure_body(&failure).contains("\"no\""));
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
