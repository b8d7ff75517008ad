//! [`Registered`]: a registered extension. It subscribes to telemetry and reports init errors
//! while the Init phase lasts, then runs the event loop (§2.2, §2.3, §3.1).

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use grace_protocol::ErrorBody;
use grace_protocol::extensions_api::{
    EVENT_NEXT_PATH, EXIT_ERROR_PATH, EventType, HDR_FUNCTION_ERROR_TYPE, HDR_IDENTIFIER,
    INIT_ERROR_PATH, RegisterResponse,
};
use hyper::{Method, StatusCode};

use crate::client::{Call, Client};
use crate::endpoint::Endpoint;
use crate::error::{BoxError, Error};
use crate::event::{self, NextEvent};
use crate::extension::Callbacks;
use crate::listener::{BatchFn, Listener};
use crate::shutdown::{self, ShutdownReport};
use crate::telemetry::{self, Telemetry, TelemetrySubscription};

/// A registered extension.
///
/// During the Init phase: [`subscribe_telemetry`](Self::subscribe_telemetry), or report a
/// failure with [`init_error`](Self::init_error). Then [`run`](Self::run) the event loop, or
/// drive it by hand with [`next_event`](Self::next_event).
pub struct Registered {
    client: Client,
    endpoint: Endpoint,
    name: String,
    identifier: String,
    info: RegisterResponse,
    events: Vec<EventType>,
    callbacks: Callbacks,
    /// Telemetry listeners: they serve until this value is dropped.
    listeners: Vec<Listener>,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("name", &self.name)
            .field("identifier", &self.identifier)
            .field("function_name", &self.info.function_name)
            .field("events", &self.events)
            .field("client", &self.client)
            .field("listeners", &self.listeners)
            .finish_non_exhaustive()
    }
}

impl Registered {
    pub(crate) fn new(
        client: Client,
        endpoint: Endpoint,
        name: String,
        identifier: String,
        info: RegisterResponse,
        events: Vec<EventType>,
        callbacks: Callbacks,
    ) -> Self {
        Self {
            client,
            endpoint,
            name,
            identifier,
            info,
            events,
            callbacks,
            listeners: Vec::new(),
        }
    }

    /// The name it registered under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `Lambda-Extension-Identifier`, given by the platform.
    pub fn identifier(&self) -> &str {
        &self.identifier
    }

    /// The events it subscribed to.
    pub fn events(&self) -> &[EventType] {
        &self.events
    }

    /// The function's name, from the registration answer.
    pub fn function_name(&self) -> &str {
        &self.info.function_name
    }

    /// The function's version, e.g. `$LATEST`.
    pub fn function_version(&self) -> &str {
        &self.info.function_version
    }

    /// The function's handler setting (`_HANDLER`, which extensions do not get in their
    /// environment).
    pub fn handler(&self) -> &str {
        &self.info.handler
    }

    /// The account id, when [`Extension::with_account_id`](crate::Extension::with_account_id)
    /// asked for it.
    pub fn account_id(&self) -> Option<&str> {
        self.info.account_id.as_deref()
    }

    /// Starts a listener and subscribes it to the Telemetry API; `on_batch` gets each batch
    /// of records (the platform's JSON objects, `{"time","type","record"}`), and the platform
    /// hears back when it returns (an error makes it retry). Only during the Init phase
    /// (afterwards the platform answers 403). The listener serves until this value is dropped,
    /// that is until [`run`](Self::run) returns.
    pub async fn subscribe_telemetry<F, Fut, E>(
        &mut self,
        telemetry: Telemetry,
        on_batch: F,
    ) -> Result<TelemetrySubscription, Error>
    where
        F: Fn(Vec<serde_json::Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError>,
    {
        let on_batch: BatchFn = Arc::new(move |records| {
            let fut = on_batch(records);
            Box::pin(async move { fut.await.map_err(Into::into) })
        });
        let (listener, subscription) = telemetry::subscribe(
            &mut self.client,
            &self.endpoint,
            &self.identifier,
            &telemetry,
            on_batch,
        )
        .await?;
        self.listeners.push(listener);
        Ok(subscription)
    }

    /// Waits for the next event (no timeout: the wait lasts as long as the environment is
    /// idle or frozen). Asking for it tells the platform that the extension is done with the
    /// previous one (§2.2).
    pub async fn next_event(&mut self) -> Result<NextEvent, Error> {
        const WHAT: &str = "GET /extension/event/next";
        let path = self.endpoint.path(EVENT_NEXT_PATH);
        let answer = self
            .client
            .send(Call {
                what: WHAT,
                method: Method::GET,
                path: &path,
                headers: &[(HDR_IDENTIFIER, &self.identifier)],
                json: None,
            })
            .await?
            .expect(WHAT, StatusCode::OK)?;
        event::parse(&answer.body)
    }

    /// Reports that the extension failed to initialise (`/extension/init/error`); the
    /// platform then fails the Init phase. `error_type` should read `Extension.<Reason>`.
    /// The extension should exit afterwards: no further API call succeeds (§2.3).
    pub async fn init_error(mut self, error_type: &str, message: &str) -> Result<(), Error> {
        self.report(
            INIT_ERROR_PATH,
            "POST /extension/init/error",
            error_type,
            message,
        )
        .await
    }

    /// Reports that the extension is exiting because of an error (`/extension/exit/error`);
    /// the platform resets the environment. The extension should exit afterwards (§2.3).
    pub async fn exit_error(mut self, error_type: &str, message: &str) -> Result<(), Error> {
        self.report(
            EXIT_ERROR_PATH,
            "POST /extension/exit/error",
            error_type,
            message,
        )
        .await
    }

    async fn report(
        &mut self,
        resource: &str,
        what: &'static str,
        error_type: &str,
        message: &str,
    ) -> Result<(), Error> {
        let path = self.endpoint.path(resource);
        let body = ErrorBody::new(error_type, message).to_json();
        self.client
            .send(Call {
                what,
                method: Method::POST,
                path: &path,
                headers: &[
                    (HDR_IDENTIFIER, &self.identifier),
                    (HDR_FUNCTION_ERROR_TYPE, error_type),
                ],
                json: Some(Bytes::from(body)),
            })
            .await?
            .expect(what, StatusCode::ACCEPTED)?;
        Ok(())
    }

    /// The event loop: runs the INVOKE callback for each INVOKE and asks for the next event
    /// when it returns; on SHUTDOWN runs the SHUTDOWN callback within the deadline (minus the
    /// margin) and returns what it did. Telemetry keeps flowing until then.
    ///
    /// An internal extension never gets SHUTDOWN: for it this returns only on error (spawn it,
    /// and let the process end with the runtime). An INVOKE callback's error is reported to
    /// `/extension/exit/error` (type `Extension.InvokeCallbackFailed`) and returned.
    pub async fn run(mut self) -> Result<ShutdownReport, Error> {
        loop {
            match self.next_event().await? {
                NextEvent::Invoke(invoke) => {
                    let Some(callback) = self.callbacks.on_invoke.as_mut() else {
                        continue;
                    };
                    let request_id = invoke.request_id.clone();
                    if let Err(e) = callback(invoke).await {
                        let message = crate::error::chain(e.as_ref());
                        tracing::error!(%request_id, error = %message, "INVOKE callback failed");
                        if let Err(report) = self
                            .report(
                                EXIT_ERROR_PATH,
                                "POST /extension/exit/error",
                                "Extension.InvokeCallbackFailed",
                                &message,
                            )
                            .await
                        {
                            tracing::warn!(error = %crate::error::chain(&report), "could not report the error");
                        }
                        return Err(Error::Callback(e));
                    }
                }
                NextEvent::Shutdown(event) => {
                    let callback = self.callbacks.on_shutdown.take();
                    return Ok(
                        shutdown::run(event, callback, self.callbacks.shutdown_margin).await,
                    );
                }
            }
        }
    }
}
