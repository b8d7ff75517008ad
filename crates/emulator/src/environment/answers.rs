//! The runtime's side of an invocation (§1.2–1.4): `/next` (which also ends the previous
//! invocation), and `/response` / `/error`, checked against the state machine.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use super::invoke::{NextEvent, Outcome};
use super::{ApiError, Environment, RuntimeState, State};
use crate::events::EventKind;

impl Environment {
    /// `GET /runtime/invocation/next`. Returns the receiver the event will come on.
    pub(crate) fn runtime_next(self: &Arc<Self>) -> Result<oneshot::Receiver<NextEvent>, ApiError> {
        let mut st = self.lock();
        let previous = std::mem::take(&mut st.runtime);
        let mut became_idle = false;
        match previous {
            RuntimeState::Starting => {
                // The first /next ends the runtime's init and closes registration (§2.1).
                st.registration_open = false;
                self.record(EventKind::RuntimeReady);
            }
            RuntimeState::Responded(id) => {
                let status = match st.invocation.as_ref().and_then(|i| i.error_type.as_ref()) {
                    Some(_) => "error",
                    None => "success",
                };
                self.record(EventKind::RuntimeDone {
                    request_id: id.to_string(),
                    status,
                });
                if let Some(inv) = st.invocation.as_mut() {
                    inv.runtime_done = true;
                    self.runtime_done_telemetry(inv, status, inv.error_type.as_deref());
                }
                became_idle = self.try_complete(&mut st);
            }
            other => {
                let from = other.name();
                st.runtime = other;
                return Err(ApiError::forbidden(
                    grace_protocol::runtime_api::error_type::INVALID_STATE_TRANSITION,
                    format!(
                        "State transition from {from} to Ready failed for runtime. Error: State transition is not allowed"
                    ),
                ));
            }
        }
        let (tx, rx) = oneshot::channel();
        st.runtime = RuntimeState::Parked(tx);
        drop(st);
        self.changed.notify_waiters();
        if became_idle {
            self.after_idle();
        }
        Ok(rx)
    }

    /// Checks that `id` is the invocation the runtime may answer now (§1.3's validator, then
    /// the state machine).
    fn check_answer(st: &State, id: &str, what: &str) -> Result<(), ApiError> {
        use grace_protocol::runtime_api::error_type as et;
        let current = st.invocation.as_ref().map(|i| &*i.request_id);
        if id.is_empty() || current != Some(id) {
            return Err(ApiError::new(
                400,
                et::INVALID_REQUEST_ID,
                "Invalid request ID",
            ));
        }
        match &st.runtime {
            RuntimeState::Running(running) if &**running == id => Ok(()),
            other => Err(ApiError::forbidden(
                et::INVALID_STATE_TRANSITION,
                format!(
                    "State transition from {} to {what} failed for runtime. Error: State transition is not allowed",
                    other.name()
                ),
            )),
        }
    }

    /// Validates a `/response` or `/error` before its body is read.
    pub(crate) fn check_can_answer(&self, id: &str, what: &str) -> Result<(), ApiError> {
        Self::check_answer(&self.lock(), id, what)
    }

    /// `POST /runtime/invocation/{id}/response` (or `/error`, with `error`): hands the answer
    /// to the caller at once.
    pub(crate) fn runtime_answer(
        &self,
        id: &str,
        outcome: Outcome,
        error: Option<String>,
    ) -> Result<(), ApiError> {
        let mut st = self.lock();
        let what = if error.is_some() {
            "InvocationErrorResponse"
        } else {
            "InvocationResponse"
        };
        Self::check_answer(&st, id, what)?;
        let id: Arc<str> = Arc::from(id);
        st.runtime = RuntimeState::Responded(Arc::clone(&id));
        let Some(inv) = st.invocation.as_mut() else {
            return Ok(());
        };
        let kind = match (&outcome, &error) {
            (Outcome::Response { body, .. }, _) => EventKind::Response {
                request_id: id.to_string(),
                bytes: body.len(),
            },
            (_, Some(error_type)) => EventKind::FunctionError {
                request_id: id.to_string(),
                error_type: error_type.clone(),
            },
            (_, None) => EventKind::FunctionError {
                request_id: id.to_string(),
                error_type: String::new(),
            },
        };
        inv.error_type = error;
        inv.responded = Some(Instant::now());
        if let Outcome::Response { body, .. } = &outcome {
            inv.produced_bytes = body.len();
        }
        if let Some(reply) = inv.reply.take() {
            let _ = reply.send(outcome);
        }
        drop(st);
        self.record(kind);
        Ok(())
    }

    /// A streamed response reported an error in its trailers: the invocation ends in error.
    pub(crate) fn set_invocation_error(&self, id: &str, error_type: String) {
        let mut st = self.lock();
        if let Some(inv) = st.invocation.as_mut().filter(|i| &*i.request_id == id) {
            inv.error_type = Some(error_type);
        }
    }
}
