//! The Telemetry API (2022-07-01) and Logs API (2020-08-15) of one environment (§3).
//!
//! Extensions subscribe during init; from then on every platform event, function log line and
//! extension log line is turned into a record `{"time","type","record"}` and buffered per
//! subscriber, then delivered in batches (a JSON array over HTTP, or NDJSON over TCP) when the
//! buffer reaches `maxItems`/`maxBytes` or `timeoutMs` passes. Records from the start of init
//! are kept until init ends, so a subscriber sees `platform.initStart` although it subscribed
//! later. Buffers are flushed before extensions get SHUTDOWN, so nothing is lost at shutdown.
//!
//! Modules: [`subscription`] (request validation), [`delivery`] (buffers and senders).

mod delivery;
mod subscription;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use grace_protocol::telemetry_api;
use serde_json::json;

pub(crate) use subscription::{Api, SubscribeError};

use delivery::Subscriber;

/// What a record is, for the `types` filter of a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Platform,
    Function,
    Extension,
}

/// One serialised record, with its kind.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    kind: Kind,
    json: Bytes,
    /// A record only one of the two APIs has (`None`: both).
    only: Option<Api>,
}

/// The telemetry of one environment.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    /// Cheap check on the hot path: is anyone listening (or may anyone still subscribe)?
    active: AtomicBool,
    state: Mutex<HubState>,
}

#[derive(Debug, Default)]
struct HubState {
    /// Records since init started; `None` once subscriptions are closed.
    backlog: Option<Vec<Record>>,
    subscribers: Vec<Arc<Subscriber>>,
    /// The API used first; the other one is refused (§3.1).
    api: Option<Api>,
}

impl Hub {
    /// A hub open for subscriptions (during init).
    pub(crate) fn new() -> Self {
        Self {
            active: AtomicBool::new(true),
            state: Mutex::new(HubState {
                backlog: Some(Vec::new()),
                subscribers: Vec::new(),
                api: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `PUT /2022-07-01/telemetry` or `PUT /2020-08-15/logs` from extension `name`.
    pub(crate) fn subscribe(
        &self,
        api: Api,
        name: &str,
        body: &[u8],
    ) -> Result<(), SubscribeError> {
        let sub = subscription::parse(api, body)?;
        let mut st = self.lock();
        if st.backlog.is_none() {
            return Err(SubscribeError::closed(api));
        }
        if st.api.is_some_and(|used| used != api) {
            return Err(SubscribeError::other_api(api));
        }
        // Subscribing again replaces the earlier subscription (the Logs API is idempotent).
        st.subscribers.retain(|s| s.name != name);
        let subscriber = Subscriber::start(name.to_owned(), api, sub);
        for record in st.backlog.iter().flatten() {
            subscriber.push(record);
        }
        st.api = Some(api);
        let types = subscriber.types_json();
        st.subscribers.push(Arc::clone(&subscriber));
        drop(st);
        self.record(|| {
            let sub = telemetry_api::Subscription {
                name: name.to_owned(),
                state: "Subscribed".to_owned(),
                types: types.iter().map(|t| (*t).to_owned()).collect(),
            };
            match api {
                Api::Telemetry => telemetry_api::Record::TelemetrySubscription(sub),
                Api::Logs => telemetry_api::Record::LogsSubscription(sub),
            }
        });
        Ok(())
    }

    /// Ends the subscription window (end of init): the backlog is dropped, and with no
    /// subscriber the hub goes quiet.
    pub(crate) fn close_subscriptions(&self) {
        let mut st = self.lock();
        st.backlog = None;
        self.active
            .store(!st.subscribers.is_empty(), Ordering::Release);
    }

    /// Records a platform record (typed as the Telemetry API defines it); `make` is only
    /// called when someone listens. Records only one API has (init records for the Telemetry
    /// API, `platform.end` and `platform.fault` for the Logs API) go to that API's subscribers.
    pub(crate) fn record(&self, make: impl FnOnce() -> telemetry_api::Record) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        let record = make();
        let only = record.only_in();
        let envelope = telemetry_api::Envelope {
            time: now(),
            record,
        };
        self.push(Record {
            kind: Kind::Platform,
            json: Bytes::from(serde_json::to_vec(&envelope).unwrap_or_default()),
            only,
        });
    }

    /// Records a log line of the function (`extension` = `None`) or of an extension.
    pub(crate) fn log_line(&self, extension: Option<&str>, line: &str) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        let (kind, name) = match extension {
            Some(_) => (Kind::Extension, "extension"),
            None => (Kind::Function, "function"),
        };
        let json = json!({ "time": now(), "type": name, "record": line });
        self.push(Record {
            kind,
            json: Bytes::from(json.to_string()),
            only: None,
        });
    }

    fn push(&self, record: Record) {
        let mut st = self.lock();
        for s in &st.subscribers {
            s.push(&record);
        }
        if let Some(backlog) = st.backlog.as_mut() {
            backlog.push(record);
        }
    }

    /// Delivers everything buffered, waiting at most until `deadline`.
    pub(crate) async fn flush(&self, deadline: Instant) {
        let subscribers = self.lock().subscribers.clone();
        for s in subscribers {
            s.flush(deadline).await;
        }
    }

    /// Stops the delivery tasks (the environment is gone).
    pub(crate) fn stop(&self) {
        self.active.store(false, Ordering::Release);
        for s in self.lock().subscribers.drain(..) {
            s.stop();
        }
    }
}

fn now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}
