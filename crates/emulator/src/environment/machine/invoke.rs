//! One invocation (§4.2): the event handed to the runtime's parked `/next`, the answer handed
//! to the caller the moment the runtime posts it, and the completion (the runtime back in
//! `/next` and every INVOKE-subscribed extension back in `event/next`) that makes the
//! environment idle again; also the function timeout (§9.4) and failures mid-invocation.

use std::sync::Arc;

use bytes::Bytes;
use grace_protocol::extensions_api::{Event, ShutdownReason, Tracing};
use grace_protocol::runtime_api::error_type;
use tokio::time::Instant;

use super::{Answer, Effect, Effects, Idle, Invocation, Machine, PoolNote, State};
use crate::environment::platform::{PlatformEvent, RuntimeDoneInfo};
use crate::environment::types::{ApiError, InvokeRequest, NextEvent, Outcome, platform_error};
use crate::events::{EventKind, now_ms};

impl Machine {
    /// Hands the event to the runtime parked in `/next`.
    pub(super) fn invoke(&mut self, req: InvokeRequest, now: Instant, fx: &mut Effects) {
        let State::Idle(_) = &self.state else {
            let body = platform_error(
                &req.request_id,
                error_type::RUNTIME_EXIT_ERROR,
                "Runtime is not ready",
            );
            fx.push(Effect::Reply(Outcome::PlatformError { body }));
            return;
        };
        self.thaw(fx);
        let cold_start = match &mut self.state {
            State::Idle(idle) => idle.cold_start.take(),
            _ => None,
        };
        self.invocations += 1;
        let id = Arc::clone(&req.request_id);
        let deadline = req.deadline.unwrap_or(now + self.cfg.timeout);
        let trace_id = req.trace_id.unwrap_or_default();
        fx.platform(PlatformEvent::Start {
            request_id: Arc::clone(&id),
            trace_id: trace_id.clone(),
            tail: req.tail,
        });
        let deadline_ms = now_ms() + deadline.saturating_duration_since(now).as_millis() as u64;
        if self.extensions.iter().any(|e| e.invoke) {
            let event = Event::Invoke {
                deadline_ms,
                request_id: id.to_string(),
                invoked_function_arn: self.arn.to_string(),
                tracing: Some(Tracing {
                    kind: "X-Amzn-Trace-Id".to_owned(),
                    value: trace_id.clone(),
                }),
            };
            let event = Bytes::from(serde_json::to_vec(&event).unwrap_or_default());
            for (index, ext) in self.extensions.iter_mut().enumerate() {
                if ext.invoke {
                    ext.busy = true;
                    fx.push(Effect::ToExtension {
                        index,
                        event: event.clone(),
                    });
                }
            }
        }
        fx.push(Effect::Next(NextEvent {
            request_id: Arc::clone(&id),
            deadline_ms,
            arn: Arc::clone(&self.arn),
            trace_id,
            client_context: req.client_context,
            cognito_identity: req.cognito_identity,
            tenant_id: req.tenant_id,
            payload: req.payload,
            content_type: req.content_type,
        }));
        self.enter(State::Busy(Invocation {
            request_id: id,
            started: now,
            deadline,
            answered: false,
            responded: None,
            runtime_done: false,
            ended: false,
            produced_bytes: 0,
            error_type: None,
            init_duration: cold_start,
        }));
    }

    /// Checks that `id` is the invocation the runtime may answer now (§1.3's validator, then
    /// the state machine).
    pub(super) fn check_answer(&self, id: &str, what: &str) -> Result<(), ApiError> {
        use grace_protocol::runtime_api::error_type as et;
        match &self.state {
            State::Busy(inv) if !id.is_empty() && *inv.request_id == *id && !inv.ended => {
                if inv.responded.is_none() {
                    Ok(())
                } else {
                    Err(ApiError::transition(self.runtime_state_name(), what))
                }
            }
            _ => Err(ApiError::new(
                400,
                et::INVALID_REQUEST_ID,
                "Invalid request ID",
            )),
        }
    }

    /// `/response` or `/error`: the caller gets the answer at once.
    pub(super) fn runtime_answer(
        &mut self,
        id: &str,
        outcome: Outcome,
        error: Option<String>,
        now: Instant,
        fx: &mut Effects,
    ) {
        let what = if error.is_some() {
            "InvocationErrorResponse"
        } else {
            "InvocationResponse"
        };
        if let Err(e) = self.check_answer(id, what) {
            fx.answer(Err(e));
            return;
        }
        let State::Busy(inv) = &mut self.state else {
            return;
        };
        let kind = match (outcome.response_bytes(), &error) {
            (Some(bytes), _) => EventKind::Response {
                request_id: id.to_owned(),
                bytes,
            },
            (None, error_type) => EventKind::FunctionError {
                request_id: id.to_owned(),
                error_type: error_type.clone().unwrap_or_default(),
            },
        };
        inv.produced_bytes = outcome.response_bytes().unwrap_or(0);
        inv.error_type = error;
        inv.responded = Some(now);
        inv.answered = true;
        fx.push(Effect::Reply(outcome));
        fx.record(kind);
        fx.push(Effect::Pool(PoolNote::Answered));
        fx.answer(Ok(Answer::Done));
    }

    /// The runtime came back to `/next` after answering: `platform.runtimeDone`, and the
    /// invocation completes once the extensions are done too.
    pub(super) fn runtime_back(&mut self, now: Instant, fx: &mut Effects) {
        let State::Busy(inv) = &mut self.state else {
            return;
        };
        inv.runtime_done = true;
        let status = if inv.error_type.is_some() {
            "error"
        } else {
            "success"
        };
        fx.platform(PlatformEvent::RuntimeDone(runtime_done_info(
            inv,
            status,
            inv.error_type.clone(),
            now,
        )));
        self.try_complete(now, fx);
    }

    /// Ends the invocation if the runtime and every INVOKE-subscribed extension are done.
    pub(super) fn try_complete(&mut self, now: Instant, fx: &mut Effects) {
        let State::Busy(inv) = &self.state else {
            return;
        };
        if !inv.runtime_done || self.extensions.iter().any(|e| e.busy) {
            return;
        }
        let error_type = inv.error_type.clone();
        let status = error_type.as_ref().map(|_| "error");
        finish(inv, status, error_type, now, fx);
        self.enter(State::Idle(Idle {
            frozen: false,
            cold_start: None,
        }));
        fx.push(Effect::Pool(PoolNote::Idle));
    }

    /// The function timeout: the caller gets `Task timed out` (if it has no answer yet), and
    /// the environment is reset with reason `timeout` (§9.4).
    pub(super) fn time_out(&mut self, now: Instant, fx: &mut Effects) {
        let timeout_ms = self.cfg.timeout.as_millis() as u64;
        let State::Busy(inv) = &mut self.state else {
            return;
        };
        let elapsed = now.saturating_duration_since(inv.started);
        let message = format!("Task timed out after {:.2} seconds", elapsed.as_secs_f64());
        if !inv.answered {
            inv.answered = true;
            let body = platform_error(&inv.request_id, error_type::SANDBOX_TIMEDOUT, &message);
            fx.push(Effect::Reply(Outcome::PlatformError { body }));
        }
        fx.platform(PlatformEvent::Timeout {
            request_id: Arc::clone(&inv.request_id),
            timeout_ms,
            message,
            runtime_done: runtime_done_info(
                inv,
                "timeout",
                Some(error_type::SANDBOX_TIMEDOUT.to_owned()),
                now,
            ),
        });
        finish(
            inv,
            Some("timeout"),
            Some(error_type::SANDBOX_TIMEDOUT.to_owned()),
            now,
            fx,
        );
        inv.ended = true;
        self.begin_shutdown(ShutdownReason::Timeout, None, now, fx);
    }

    /// Fails the invocation in flight, if any, with a platform error (crash, extension
    /// failure, reset), writing its END/REPORT lines.
    pub(super) fn fail_invocation(
        &mut self,
        error_type: &str,
        message: &str,
        now: Instant,
        fx: &mut Effects,
    ) {
        let State::Busy(inv) = &mut self.state else {
            return;
        };
        if inv.ended {
            return;
        }
        if !inv.answered {
            inv.answered = true;
            let body = platform_error(&inv.request_id, error_type, message);
            fx.push(Effect::Reply(Outcome::PlatformError { body }));
        }
        let runtime_done = (!inv.runtime_done).then(|| {
            let status = if error_type.starts_with("Sandbox.") {
                "failure"
            } else {
                "error"
            };
            runtime_done_info(inv, status, Some(error_type.to_owned()), now)
        });
        fx.platform(PlatformEvent::Fault {
            request_id: Arc::clone(&inv.request_id),
            message: message.to_owned(),
            runtime_done,
        });
        finish(inv, Some("error"), Some(error_type.to_owned()), now, fx);
        inv.ended = true;
    }
}

/// END and REPORT for the invocation.
fn finish(
    inv: &Invocation,
    status: Option<&'static str>,
    error_type: Option<String>,
    now: Instant,
    fx: &mut Effects,
) {
    fx.platform(PlatformEvent::End {
        request_id: Arc::clone(&inv.request_id),
        duration: now.saturating_duration_since(inv.started),
        init_duration: inv.init_duration,
        status,
        error_type,
    });
}

fn runtime_done_info(
    inv: &Invocation,
    status: &'static str,
    error_type: Option<String>,
    now: Instant,
) -> RuntimeDoneInfo {
    RuntimeDoneInfo {
        request_id: Arc::clone(&inv.request_id),
        status,
        error_type,
        duration: now.saturating_duration_since(inv.started),
        produced_bytes: inv.produced_bytes,
        response_latency: inv
            .responded
            .map(|r| r.saturating_duration_since(inv.started)),
    }
}
