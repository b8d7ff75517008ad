//! Cold start (§4.1, RAPID's order): the external extensions from the layers (each must
//! register), then the runtime, then wait for the runtime's first `/next` and every registered
//! extension's first `event/next`, within the init limit.

use std::time::Duration;

use bytes::Bytes;
use grace_protocol::ErrorBody;
use grace_protocol::extensions_api::ShutdownReason;
use grace_protocol::runtime_api::error_type;
use tokio::time::Instant;

use super::{Effect, Effects, Idle, Init, Machine, Proc, State};
use crate::environment::platform::{ExtensionSummary, PlatformEvent};
use crate::environment::types::{
    InitFailure, InitPhase, exit_message, init_error_body, platform_error,
};
use crate::events::{EventKind, Role};
use crate::sys::Pid;

impl Machine {
    pub(super) fn start(
        &mut self,
        phase: InitPhase,
        limit: Duration,
        request_id: String,
        extensions: Vec<String>,
        now: Instant,
        fx: &mut Effects,
    ) {
        self.enter(State::Init(Init {
            phase,
            started: now,
            deadline: now + limit,
            limit,
            request_id,
            runtime_started: false,
            runtime_ready: false,
            init_error: None,
            fatal: None,
        }));
        fx.platform(PlatformEvent::InitStart { phase });
        self.to_launch = extensions;
        for name in &self.to_launch {
            fx.push(Effect::Launch {
                role: Role::Extension,
                name: name.clone(),
            });
        }
        if self.to_launch.is_empty() {
            self.check_init(now, fx);
        }
    }

    pub(super) fn launched(
        &mut self,
        role: Role,
        name: String,
        pid: Pid,
        now: Instant,
        fx: &mut Effects,
    ) {
        fx.record(EventKind::ProcessStart {
            role,
            name: name.clone(),
            pid,
        });
        self.procs.push(Proc {
            pid,
            role,
            name,
            exit: None,
        });
        if matches!(self.state, State::Init(_)) {
            self.check_init(now, fx);
        }
    }

    pub(super) fn launch_failed(
        &mut self,
        role: Role,
        name: &str,
        error: &str,
        now: Instant,
        fx: &mut Effects,
    ) {
        let (error_type, message) = match role {
            Role::Extension => (
                "Extension.LaunchError",
                format!("cannot start extension {name}: {error}"),
            ),
            Role::Runtime => ("Runtime.InvalidEntrypoint", error.to_owned()),
        };
        self.fail_init(error_type, &message, now, fx);
    }

    /// `POST /runtime/init/error` (§1.5): recorded, and init fails with it.
    pub(super) fn init_error(
        &mut self,
        header_type: Option<String>,
        body: Bytes,
        now: Instant,
        fx: &mut Effects,
    ) {
        let runtime_state = self.runtime_state_name();
        let State::Init(init) = &mut self.state else {
            fx.answer(Err(crate::environment::types::ApiError::transition(
                runtime_state,
                "InitError",
            )));
            return;
        };
        if init.runtime_ready {
            fx.answer(Err(crate::environment::types::ApiError::transition(
                runtime_state,
                "InitError",
            )));
            return;
        }
        let from_body = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error_type);
        let error_type = header_type
            .or(from_body)
            .unwrap_or_else(|| error_type::RUNTIME_UNKNOWN.to_owned());
        init.init_error = Some((error_type, body));
        fx.answer(Ok(super::Answer::Done));
        self.check_init(now, fx);
    }

    /// Moves init on, or ends it, after anything it waits for changed.
    pub(super) fn check_init(&mut self, now: Instant, fx: &mut Effects) {
        let State::Init(init) = &self.state else {
            return;
        };
        let crashed = self
            .procs
            .iter()
            .find(|p| p.role == Role::Extension && p.exit.is_some())
            .map(|p| format!("Extension {} exited during init", p.name));
        if !init.runtime_started {
            // 1. Every external extension registers before the runtime starts.
            if let Some(message) = crashed {
                return self.fail_init(error_type::EXTENSION_CRASH, &message, now, fx);
            }
            let all_registered = self.to_launch.iter().all(|name| {
                self.proc(name).is_some() && self.extensions.iter().any(|e| e.name == *name)
            });
            if all_registered {
                if let State::Init(init) = &mut self.state {
                    init.runtime_started = true;
                }
                fx.push(Effect::Launch {
                    role: Role::Runtime,
                    name: "bootstrap".to_owned(),
                });
            }
            return;
        }
        // 2. The runtime's first /next, and every registered extension's first event/next.
        if let Some((t, body)) = &init.init_error {
            let message = String::from_utf8_lossy(body).into_owned();
            let t = t.clone();
            return self.fail_init(&t, &message, now, fx);
        }
        if let Some((t, m)) = init.fatal.clone() {
            return self.fail_init(&t, &m, now, fx);
        }
        if let Some(exit) = self.runtime().and_then(|p| p.exit) {
            return self.fail_init(error_type::RUNTIME_EXIT_ERROR, &exit_message(exit), now, fx);
        }
        if let Some(message) = crashed {
            return self.fail_init(error_type::EXTENSION_CRASH, &message, now, fx);
        }
        let ready = init.runtime_ready && self.extensions.iter().all(|e| e.ready);
        if ready {
            self.succeed_init(now, fx);
        }
    }

    fn succeed_init(&mut self, now: Instant, fx: &mut Effects) {
        let State::Init(init) = &self.state else {
            return;
        };
        let took = now.saturating_duration_since(init.started);
        let extensions = self
            .extensions
            .iter()
            .map(|e| ExtensionSummary {
                name: e.name.clone(),
                external: e.external(),
                events: e.events(),
            })
            .collect();
        fx.platform(PlatformEvent::InitDone {
            phase: init.phase,
            duration: took,
            extensions,
        });
        self.enter(State::Idle(Idle {
            frozen: false,
            cold_start: Some(took),
        }));
        fx.push(Effect::InitDone(Ok(())));
    }

    /// Init failed: report it, shut the environment down, and answer the waiting invoke once
    /// every process is gone. A runtime that posted `/runtime/init/error` gets its own answer.
    pub(super) fn fail_init(
        &mut self,
        error_type: &str,
        message: &str,
        now: Instant,
        fx: &mut Effects,
    ) {
        let State::Init(init) = &self.state else {
            return;
        };
        let failure = match &init.init_error {
            Some((posted_type, body)) => InitFailure {
                error_type: posted_type.clone(),
                body: init_error_body(body, message),
            },
            None => InitFailure {
                error_type: error_type.to_owned(),
                body: platform_error(&init.request_id, error_type, message),
            },
        };
        fx.platform(PlatformEvent::InitFailed {
            phase: init.phase,
            duration: now.saturating_duration_since(init.started),
            error_type: failure.error_type.clone(),
            message: String::from_utf8_lossy(&failure.body).into_owned(),
        });
        self.begin_shutdown(ShutdownReason::Failure, Some(failure), now, fx);
    }

    /// The runtime's side of the Runtime API (RIE's names, §1.8), for error messages.
    pub(super) fn runtime_state_name(&self) -> &'static str {
        if self.runtime().is_some_and(|p| p.exit.is_some()) {
            return "Exited";
        }
        match &self.state {
            State::Init(init) if !init.runtime_ready => "Started",
            State::Init(_) | State::Idle(_) => "Ready",
            State::Busy(inv) if inv.runtime_done => "Ready",
            State::Busy(inv) if inv.responded.is_some() => "RuntimeResponseSent",
            State::Busy(_) => "Running",
            State::ShuttingDown(_) | State::Dead => "Ready",
        }
    }
}

/// The body of an init failure, for tests.
#[cfg(test)]
pub(super) fn failure_body(failure: &InitFailure) -> String {
    String::from_utf8_lossy(&failure.body).into_owned()
}
