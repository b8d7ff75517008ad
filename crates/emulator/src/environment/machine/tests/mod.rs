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

mod lifecycle;
mod shutdown;
