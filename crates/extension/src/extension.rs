//! [`Extension`]: what to register as (§2.1), and the callbacks the event loop runs.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use grace_protocol::extensions_api::{
    EventType, HDR_ACCEPT_FEATURE, HDR_IDENTIFIER, HDR_NAME, REGISTER_PATH, RegisterRequest,
    RegisterResponse,
};
use hyper::{Method, StatusCode};

use crate::client::{Call, Client};
use crate::endpoint::{Endpoint, RUNTIME_API_VAR, executable_name};
use crate::error::{BoxError, Error};
use crate::event::{InvokeEvent, ShutdownEvent};
use crate::registered::Registered;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
pub(crate) type InvokeFn = Box<dyn FnMut(InvokeEvent) -> BoxFuture<Result<(), BoxError>> + Send>;
pub(crate) type ShutdownFn =
    Box<dyn FnOnce(ShutdownEvent) -> BoxFuture<Result<(), BoxError>> + Send>;

/// What is kept between SHUTDOWN work and the deadline by default: time to exit.
pub const DEFAULT_SHUTDOWN_MARGIN: Duration = Duration::from_millis(50);

/// An extension to register: external (a process started from `/opt/extensions`, the
/// default) or internal (a part of the runtime process), with its callbacks.
///
/// The events it subscribes to follow from the callbacks: INVOKE with
/// [`on_invoke`](Self::on_invoke), SHUTDOWN with [`on_shutdown`](Self::on_shutdown) (external
/// only); [`with_events`](Self::with_events) overrides that.
pub struct Extension {
    name: Option<String>,
    internal: bool,
    events: Option<Vec<EventType>>,
    account_id: bool,
    runtime_api: Option<String>,
    callbacks: Callbacks,
}

/// What the event loop runs.
pub(crate) struct Callbacks {
    pub(crate) on_invoke: Option<InvokeFn>,
    pub(crate) on_shutdown: Option<ShutdownFn>,
    pub(crate) shutdown_margin: Duration,
}

impl std::fmt::Debug for Extension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extension")
            .field("name", &self.name)
            .field("internal", &self.internal)
            .field("events", &self.events())
            .field("account_id", &self.account_id)
            .field("runtime_api", &self.runtime_api)
            .field("shutdown_margin", &self.callbacks.shutdown_margin)
            .finish_non_exhaustive()
    }
}

impl Default for Extension {
    fn default() -> Self {
        Self::new()
    }
}

impl Extension {
    /// An external extension, named after the executable's file name (Lambda requires it).
    pub fn new() -> Self {
        Self {
            name: None,
            internal: false,
            events: None,
            account_id: false,
            runtime_api: None,
            callbacks: Callbacks {
                on_invoke: None,
                on_shutdown: None,
                shutdown_margin: DEFAULT_SHUTDOWN_MARGIN,
            },
        }
    }

    /// An internal extension (a thread or task of the runtime process) named `name`, which
    /// must not be the name of a file in `/opt/extensions`. It cannot receive SHUTDOWN (§2.5).
    pub fn internal(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            internal: true,
            ..Self::new()
        }
    }

    /// Registers under `name` instead of the executable's file name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Subscribes to exactly these events, whatever the callbacks (an empty list registers
    /// an extension that only enables SIGTERM for the runtime).
    pub fn with_events(mut self, events: &[EventType]) -> Self {
        self.events = Some(events.to_vec());
        self
    }

    /// Asks for the `accountId` feature: the registration answer then carries the account id.
    pub fn with_account_id(mut self) -> Self {
        self.account_id = true;
        self
    }

    /// The Extensions API's address (`host:port`), instead of `AWS_LAMBDA_RUNTIME_API`.
    pub fn with_runtime_api(mut self, address: impl Into<String>) -> Self {
        self.runtime_api = Some(address.into());
        self
    }

    /// How long before the SHUTDOWN deadline the SHUTDOWN callback is cut off, so that the
    /// process can still exit before the platform's SIGKILL (default 50 ms).
    pub fn with_shutdown_margin(mut self, margin: Duration) -> Self {
        self.callbacks.shutdown_margin = margin;
        self
    }

    /// Runs `callback` for every INVOKE event. The next event is asked for when it returns:
    /// that tells the platform the extension is done with this invocation (§2.2), and the
    /// environment may then be frozen. An error ends [`Registered::run`] (see
    /// [`Error::Callback`]).
    pub fn on_invoke<F, Fut, E>(mut self, mut callback: F) -> Self
    where
        F: FnMut(InvokeEvent) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.callbacks.on_invoke = Some(Box::new(move |event| {
            let fut = callback(event);
            Box::pin(async move { fut.await.map_err(Into::into) })
        }));
        self
    }

    /// Runs `callback` once, on SHUTDOWN, bounded by the event's deadline minus the margin;
    /// then [`Registered::run`] returns, and the process should exit.
    pub fn on_shutdown<F, Fut, E>(mut self, callback: F) -> Self
    where
        F: FnOnce(ShutdownEvent) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        self.callbacks.on_shutdown = Some(Box::new(move |event| {
            let fut = callback(event);
            Box::pin(async move { fut.await.map_err(Into::into) })
        }));
        self
    }

    /// The events to subscribe to.
    fn events(&self) -> Vec<EventType> {
        self.events.clone().unwrap_or_else(|| {
            let mut events = Vec::new();
            if self.callbacks.on_invoke.is_some() {
                events.push(EventType::Invoke);
            }
            if self.callbacks.on_shutdown.is_some() {
                events.push(EventType::Shutdown);
            }
            events
        })
    }

    /// Registers with `POST /extension/register`. External extensions must do it before the
    /// runtime starts, internal ones before the runtime's first `/next` (§2.1).
    pub async fn register(self) -> Result<Registered, Error> {
        let events = self.events();
        if self.internal && events.contains(&EventType::Shutdown) {
            return Err(Error::Config {
                reason: "internal extensions cannot subscribe to SHUTDOWN (§2.5)".into(),
            });
        }
        let name = match self.name.clone() {
            Some(name) if !name.is_empty() => name,
            Some(_) => {
                return Err(Error::Config {
                    reason: "the extension's name is empty".into(),
                });
            }
            None => executable_name(std::env::args_os().next()).ok_or_else(|| Error::Config {
                reason: "the executable's file name is unknown: give the extension a name".into(),
            })?,
        };
        let address = match self.runtime_api.clone() {
            Some(address) => address,
            None => std::env::var(RUNTIME_API_VAR).map_err(|_| Error::MissingRuntimeApi)?,
        };
        let endpoint = Endpoint::parse(&address)?;
        let mut client = Client::new(endpoint.authority.clone());

        let body = RegisterRequest {
            events: events.iter().map(|e| event_name(*e).to_owned()).collect(),
            configuration_keys: None,
        };
        let body = serde_json::to_vec(&body).map_err(|e| Error::transport(WHAT, e))?;
        let mut headers = vec![(HDR_NAME, name.as_str())];
        if self.account_id {
            headers.push((HDR_ACCEPT_FEATURE, "accountId"));
        }
        let path = endpoint.path(REGISTER_PATH);
        let answer = client
            .send(Call {
                what: WHAT,
                method: Method::POST,
                path: &path,
                headers: &headers,
                json: Some(Bytes::from(body)),
            })
            .await?
            .expect(WHAT, StatusCode::OK)?;
        let identifier = answer
            .headers
            .get(HDR_IDENTIFIER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| Error::Api {
                request: WHAT,
                status: answer.status.as_u16(),
                body: format!("no {HDR_IDENTIFIER} header in the answer"),
            })?
            .to_owned();
        let info: RegisterResponse = serde_json::from_slice(&answer.body).map_err(|e| {
            Error::transport(
                WHAT,
                format!("invalid registration answer: {e}: {}", answer.text()),
            )
        })?;
        tracing::debug!(%name, %identifier, ?events, internal = self.internal, "extension registered");
        Ok(Registered::new(
            client,
            endpoint,
            name,
            identifier,
            info,
            events,
            self.callbacks,
        ))
    }
}

const WHAT: &str = "POST /extension/register";

fn event_name(event: EventType) -> &'static str {
    match event {
        EventType::Invoke => "INVOKE",
        EventType::Shutdown => "SHUTDOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_follow_the_callbacks_unless_given() {
        let ext = Extension::new();
        assert!(ext.events().is_empty());
        let ext = Extension::new().on_shutdown(|_| async { Ok::<_, BoxError>(()) });
        assert_eq!(ext.events(), [EventType::Shutdown]);
        let ext = ext.on_invoke(|_| async { Ok::<_, BoxError>(()) });
        assert_eq!(ext.events(), [EventType::Invoke, EventType::Shutdown]);
        let ext = ext.with_events(&[]);
        assert!(ext.events().is_empty());
    }

    #[tokio::test]
    async fn internal_extensions_cannot_ask_for_shutdown() {
        let err = Extension::internal("x")
            .on_shutdown(|_| async { Ok::<_, BoxError>(()) })
            .with_runtime_api("127.0.0.1:1")
            .register()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
    }

    #[test]
    fn event_names_are_the_wire_names() {
        assert_eq!(event_name(EventType::Invoke), "INVOKE");
        assert_eq!(event_name(EventType::Shutdown), "SHUTDOWN");
    }
}
