//! Extensions API state of one environment (§2): registrations, the internal/external
//! distinction, and delivering INVOKE and SHUTDOWN events to parked `event/next` calls.

use std::sync::Arc;

use bytes::Bytes;
use grace_protocol::extensions_api::{self as api, RegisterResponse, error_type};
use tokio::sync::oneshot;

use super::{ApiError, Environment, Proc, State};
use crate::events::EventKind;

/// An event for one extension, already serialised.
pub(crate) type ExtEvent = Bytes;

/// A registered extension.
#[derive(Debug)]
pub(crate) struct Extension {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) external: bool,
    pub(crate) invoke: bool,
    pub(crate) shutdown: bool,
    /// Its `event/next` call, parked until an event comes.
    pub(crate) parked: Option<oneshot::Sender<ExtEvent>>,
    /// An event that came while it was not parked.
    pub(crate) pending: Option<ExtEvent>,
    /// Has called `event/next` at least once (init waits for every extension to).
    pub(crate) ready: bool,
    /// Has an INVOKE it has not finished (the invocation waits for it).
    pub(crate) busy: bool,
    /// The process, for external extensions.
    pub(crate) proc: Option<Arc<Proc>>,
}

impl Extension {
    /// The events it registered for, as the platform names them.
    pub(crate) fn events(&self) -> Vec<&'static str> {
        let mut events = Vec::new();
        if self.invoke {
            events.push("INVOKE");
        }
        if self.shutdown {
            events.push("SHUTDOWN");
        }
        events
    }

    /// Hands `event` to the extension now if it is parked, otherwise at its next call.
    pub(crate) fn deliver(&mut self, event: ExtEvent) {
        let undelivered = match self.parked.take() {
            Some(tx) => tx.send(event).err(),
            None => Some(event),
        };
        if undelivered.is_some() {
            self.pending = undelivered;
        }
    }
}

/// What `event/next` gets: an event now, or a wait.
#[derive(Debug)]
pub(crate) enum NextWait {
    Now(ExtEvent),
    Later(oneshot::Receiver<ExtEvent>),
}

impl Environment {
    /// `POST /extension/register` (§2.1), validated in RAPID's order.
    pub(crate) fn register_extension(
        &self,
        name: &str,
        accept_feature: Option<&str>,
        body: &[u8],
    ) -> Result<(String, Bytes), ApiError> {
        if name.is_empty() {
            return Err(ApiError::forbidden(
                error_type::INVALID_EXTENSION_NAME,
                "Empty extension name",
            ));
        }
        let request: api::RegisterRequest = if body.iter().all(u8::is_ascii_whitespace) {
            api::RegisterRequest::default()
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::forbidden(
                    error_type::INVALID_REQUEST_FORMAT,
                    format!("Invalid request format: {e}"),
                )
            })?
        };
        if request.configuration_keys.is_some() {
            return Err(ApiError::forbidden(
                error_type::INVALID_REQUEST_FORMAT,
                "configurationKeys are deprecated; use environment variables instead",
            ));
        }
        let (mut invoke, mut shutdown) = (false, false);
        for event in &request.events {
            match event.as_str() {
                "INVOKE" => invoke = true,
                "SHUTDOWN" => shutdown = true,
                other => {
                    return Err(ApiError::forbidden(
                        error_type::INVALID_EVENT_TYPE,
                        format!("Invalid event type: {other}"),
                    ));
                }
            }
        }
        let mut st = self.lock();
        if !st.registration_open {
            return Err(ApiError::forbidden(
                error_type::REGISTRATION_CLOSED,
                "Extension registration closed already",
            ));
        }
        if st.extensions.iter().any(|e| e.name == name) {
            return Err(ApiError::forbidden(
                error_type::INVALID_EXTENSION_STATE,
                "Extension with this name already registered",
            ));
        }
        let proc = st.launched.iter().find(|p| p.name == name).cloned();
        let external = proc.is_some();
        if !external && shutdown {
            return Err(ApiError::forbidden(
                error_type::INVALID_EVENT_TYPE,
                "Internal extensions are not permitted to register for the SHUTDOWN event",
            ));
        }
        if st.extensions.len() >= api::MAX_EXTENSIONS {
            return Err(ApiError::forbidden(
                error_type::TOO_MANY_EXTENSIONS,
                format!("Extension limit ({}) reached", api::MAX_EXTENSIONS),
            ));
        }
        let id = crate::ids::uuid().to_string();
        st.extensions.push(Extension {
            id: id.clone(),
            name: name.to_owned(),
            external,
            invoke,
            shutdown,
            parked: None,
            pending: None,
            ready: false,
            busy: false,
            proc,
        });
        drop(st);
        self.record(EventKind::ExtensionRegistered {
            name: name.to_owned(),
            external,
            events: request.events.clone(),
        });
        self.changed.notify_waiters();
        let wants_account =
            accept_feature.is_some_and(|f| f.split(',').any(|f| f.trim() == "accountId"));
        let response = RegisterResponse {
            function_name: self.cfg.name.clone(),
            function_version: self.cfg.version().to_owned(),
            handler: self.cfg.handler.clone(),
            account_id: wants_account.then(|| self.cfg.account_id.clone()),
        };
        let body = serde_json::to_vec(&response).unwrap_or_default();
        Ok((id, Bytes::from(body)))
    }

    /// Finds the extension an identifier header names (§2.2's validator).
    fn extension_index(st: &State, id: Option<&str>) -> Result<usize, ApiError> {
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
        st.extensions
            .iter()
            .position(|e| e.id == id)
            .ok_or_else(|| {
                ApiError::forbidden(
                    error_type::UNKNOWN_IDENTIFIER,
                    "Unknown extension identifier",
                )
            })
    }

    /// The name of the extension an identifier header names.
    pub(crate) fn extension_name(&self, id: Option<&str>) -> Result<String, ApiError> {
        let st = self.lock();
        let i = Self::extension_index(&st, id)?;
        Ok(st.extensions[i].name.clone())
    }

    /// `GET /extension/event/next`: the extension is done with its current phase.
    pub(crate) fn extension_next(self: &Arc<Self>, id: Option<&str>) -> Result<NextWait, ApiError> {
        let mut st = self.lock();
        let i = Self::extension_index(&st, id)?;
        let ext = &mut st.extensions[i];
        ext.ready = true;
        let finished_invoke = std::mem::take(&mut ext.busy);
        let wait = match ext.pending.take() {
            Some(event) => NextWait::Now(event),
            None => {
                let (tx, rx) = oneshot::channel();
                ext.parked = Some(tx);
                NextWait::Later(rx)
            }
        };
        let became_idle = finished_invoke && self.try_complete(&mut st);
        drop(st);
        self.changed.notify_waiters();
        if became_idle {
            self.after_idle();
        }
        Ok(wait)
    }

    /// `POST /extension/init/error` and `/extension/exit/error` (§2.3): the environment fails.
    pub(crate) fn extension_error(
        self: &Arc<Self>,
        id: Option<&str>,
        error_type_header: Option<&str>,
        fatal_type: &'static str,
    ) -> Result<(), ApiError> {
        let mut st = self.lock();
        let i = Self::extension_index(&st, id)?;
        let Some(reported) = error_type_header else {
            return Err(ApiError::forbidden(
                error_type::MISSING_HEADER,
                "Missing Lambda-Extension-Function-Error-Type header",
            ));
        };
        let name = st.extensions[i].name.clone();
        st.fatal.get_or_insert((
            fatal_type.to_owned(),
            format!("Extension {name} reported {reported}"),
        ));
        let phase = st.phase;
        drop(st);
        self.changed.notify_waiters();
        if phase != super::Phase::Init {
            self.fail(fatal_type);
        }
        Ok(())
    }

    /// Delivers INVOKE to every INVOKE-subscribed extension; returns how many there are.
    pub(crate) fn deliver_invoke(&self, st: &mut State, event: &Bytes) -> usize {
        let mut n = 0;
        for ext in st.extensions.iter_mut().filter(|e| e.invoke) {
            ext.busy = true;
            ext.deliver(event.clone());
            n += 1;
        }
        n
    }
}
