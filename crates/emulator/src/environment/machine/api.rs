//! The calls processes make on the environment's API: the runtime's `/next` (§1.2), and the
//! Extensions API's registration, `event/next` and error reports (§2), checked in RAPID's order.

use grace_protocol::extensions_api::{self as api, error_type};
use tokio::time::Instant;

use super::{Answer, Effects, Extension, Machine, State};
use crate::environment::types::ApiError;
use crate::events::EventKind;

impl Machine {
    /// `GET /runtime/invocation/next`.
    pub(super) fn runtime_next(&mut self, now: Instant, fx: &mut Effects) {
        let from = self.runtime_state_name();
        match &mut self.state {
            State::Init(init) if !init.runtime_ready && init.runtime_started => {
                // The first /next ends the runtime's init and closes registration (§2.1).
                init.runtime_ready = true;
                fx.record(EventKind::RuntimeReady);
                fx.answer(Ok(Answer::Done));
                self.check_init(now, fx);
            }
            State::Busy(inv) if inv.responded.is_some() && !inv.runtime_done && !inv.ended => {
                fx.answer(Ok(Answer::Done));
                self.runtime_back(now, fx);
            }
            State::ShuttingDown(sd) if sd.runtime_responded => {
                // It answered before the reset; its /next is never answered.
                sd.runtime_responded = false;
                fx.answer(Ok(Answer::Done));
            }
            _ => fx.answer(Err(ApiError::transition(from, "Ready"))),
        }
    }

    /// `POST /extension/register` (§2.1), validated in RAPID's order (the request's own shape
    /// was checked by the server).
    pub(super) fn register(
        &mut self,
        id: String,
        name: String,
        invoke: bool,
        shutdown: bool,
        now: Instant,
        fx: &mut Effects,
    ) {
        let open = matches!(&self.state, State::Init(init) if !init.runtime_ready);
        if !open {
            return fx.answer(Err(ApiError::forbidden(
                error_type::REGISTRATION_CLOSED,
                "Extension registration closed already",
            )));
        }
        if self.extensions.iter().any(|e| e.name == name) {
            return fx.answer(Err(ApiError::forbidden(
                error_type::INVALID_EXTENSION_STATE,
                "Extension with this name already registered",
            )));
        }
        let pid = self.proc(&name).map(|p| p.pid);
        if pid.is_none() && shutdown {
            return fx.answer(Err(ApiError::forbidden(
                error_type::INVALID_EVENT_TYPE,
                "Internal extensions are not permitted to register for the SHUTDOWN event",
            )));
        }
        if self.extensions.len() >= api::MAX_EXTENSIONS {
            return fx.answer(Err(ApiError::forbidden(
                error_type::TOO_MANY_EXTENSIONS,
                format!("Extension limit ({}) reached", api::MAX_EXTENSIONS),
            )));
        }
        let ext = Extension {
            id,
            name,
            pid,
            invoke,
            shutdown,
            ready: false,
            busy: false,
        };
        fx.record(EventKind::ExtensionRegistered {
            name: ext.name.clone(),
            external: ext.external(),
            events: ext.events().iter().map(|e| (*e).to_owned()).collect(),
        });
        self.extensions.push(ext);
        fx.answer(Ok(Answer::Done));
        // Registration may be what init's first stage waits for.
        self.check_init(now, fx);
    }

    /// Finds the extension an identifier header names (§2.2's validator).
    pub(super) fn extension_index(&self, id: Option<&str>) -> Result<usize, ApiError> {
        let Some(id) = id else {
            return Err(ApiError::forbidden(
                error_type::MISSING_IDENTIFIER,
                "Missing Lambda-Extension-Identifier header",
            ));
        };
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ApiError::forbidden(
                error_type::INVALID_IDENTIFIER,
                "Invalid Lambda-Extension-Identifier",
            ));
        }
        self.extensions
            .iter()
            .position(|e| e.id == id)
            .ok_or_else(|| {
                ApiError::forbidden(
                    error_type::UNKNOWN_IDENTIFIER,
                    "Unknown extension identifier",
                )
            })
    }

    /// `GET /extension/event/next`: the extension is done with its current phase.
    pub(super) fn extension_next(&mut self, id: Option<&str>, now: Instant, fx: &mut Effects) {
        let i = match self.extension_index(id) {
            Ok(i) => i,
            Err(e) => return fx.answer(Err(e)),
        };
        let ext = &mut self.extensions[i];
        ext.ready = true;
        let finished_invoke = std::mem::take(&mut ext.busy);
        fx.answer(Ok(Answer::Extension(i)));
        match &self.state {
            State::Init(_) => self.check_init(now, fx),
            State::Busy(_) if finished_invoke => self.try_complete(now, fx),
            _ => {}
        }
    }

    /// `POST /extension/init/error` and `/extension/exit/error` (§2.3): the environment fails.
    pub(super) fn extension_error(
        &mut self,
        id: Option<&str>,
        reported: Option<&str>,
        fatal: &'static str,
        now: Instant,
        fx: &mut Effects,
    ) {
        let i = match self.extension_index(id) {
            Ok(i) => i,
            Err(e) => return fx.answer(Err(e)),
        };
        let Some(reported) = reported else {
            return fx.answer(Err(ApiError::forbidden(
                error_type::MISSING_HEADER,
                "Missing Lambda-Extension-Function-Error-Type header",
            )));
        };
        let message = format!("Extension {} reported {reported}", self.extensions[i].name);
        fx.answer(Ok(Answer::Done));
        match &mut self.state {
            State::Init(init) => {
                init.fatal.get_or_insert((fatal.to_owned(), message));
                self.check_init(now, fx);
            }
            State::Idle(_) | State::Busy(_) => {
                self.fail_invocation(fatal, &message, now, fx);
                self.begin_shutdown(
                    grace_protocol::extensions_api::ShutdownReason::Failure,
                    None,
                    now,
                    fx,
                );
            }
            State::ShuttingDown(_) | State::Dead => {}
        }
    }
}
