//! Telemetry API subscriptions (`PUT /2022-07-01/telemetry`, §3.1): what to receive, how the
//! platform should buffer it, and where the extension's own listener is.

use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use grace_protocol::extensions_api::HDR_IDENTIFIER;
use grace_protocol::telemetry_api::{Destination, Envelope, SubscribeRequest};
use hyper::{Method, StatusCode};

use crate::client::{Call, Client};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::listener::{BatchFn, Listener};

/// The types are `grace_protocol::telemetry_api`'s, the definition the emulator reads too;
/// re-exported here under the names this crate always had.
pub use grace_protocol::telemetry_api::{
    Buffering, DEFAULT_SCHEMA_VERSION, TELEMETRY_PATH as SUBSCRIBE_PATH, TelemetryType,
};

/// Types a batch handed to the `subscribe_telemetry` callback: the records read as
/// [`Envelope`]s, in order, and apart, as delivered, those that do not read (a type newer
/// than this crate, such as SnapStart's `platform.restoreStart`, or a malformed record).
///
/// ```
/// use lambda_grace_extension::{decode_batch, telemetry_api::Record};
/// let batch = serde_json::json!([
///     {"time": "2022-10-12T00:03:50.000Z", "type": "function", "record": "hello"},
///     {"time": "2022-10-12T00:03:50.000Z", "type": "platform.future", "record": {}},
/// ]);
/// let serde_json::Value::Array(records) = batch else { unreachable!() };
/// let (typed, other) = decode_batch(records);
/// assert_eq!(typed[0].record, Record::Function("hello".into()));
/// assert_eq!(other[0]["type"], "platform.future");
/// ```
pub fn decode_batch(records: Vec<serde_json::Value>) -> (Vec<Envelope>, Vec<serde_json::Value>) {
    let mut typed = Vec::with_capacity(records.len());
    let mut other = Vec::new();
    for record in records {
        match Envelope::from_value(&record) {
            Ok(envelope) => typed.push(envelope),
            Err(_) => other.push(record),
        }
    }
    (typed, other)
}

/// A Telemetry API subscription to make, and the listener that receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telemetry {
    types: Vec<TelemetryType>,
    buffering: Option<Buffering>,
    listen: SocketAddr,
    path: String,
    schema_version: String,
}

impl Telemetry {
    /// Subscribes to `types`, with the platform's default buffering, and a listener on a port
    /// the system picks, at the address `sandbox.localdomain` resolves to (where the platform
    /// delivers inside a Lambda sandbox), or 127.0.0.1 where that name does not resolve (on a
    /// developer's machine, under `grace serve`).
    pub fn new(types: impl IntoIterator<Item = TelemetryType>) -> Self {
        Self {
            types: types.into_iter().collect(),
            buffering: None,
            listen: SocketAddr::new(sandbox_address(), 0),
            path: "/telemetry".into(),
            schema_version: DEFAULT_SCHEMA_VERSION.into(),
        }
    }

    /// Asks for this buffering instead of the platform's default.
    pub fn with_buffering(mut self, buffering: Buffering) -> Self {
        self.buffering = Some(buffering);
        self
    }

    /// Listens on `address` (port 0: any free port). The platform delivers to
    /// `sandbox.localdomain:PORT`; the AWS samples listen on the address that name resolves
    /// to inside the sandbox, the official Rust crate on `0.0.0.0`.
    pub fn listen_on(mut self, address: SocketAddr) -> Self {
        self.listen = address;
        self
    }

    /// The path in the destination URI (default `/telemetry`).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.path = if path.starts_with('/') {
            path
        } else {
            format!("/{path}")
        };
        self
    }

    /// The schema version to ask for (default [`DEFAULT_SCHEMA_VERSION`]).
    pub fn with_schema_version(mut self, version: impl Into<String>) -> Self {
        self.schema_version = version.into();
        self
    }

    /// The destination URI for a listener on `port`.
    fn destination(&self, port: u16) -> String {
        format!("http://sandbox.localdomain:{port}{}", self.path)
    }

    /// The body of the subscription request.
    fn body(&self, port: u16) -> SubscribeRequest {
        SubscribeRequest {
            schema_version: Some(self.schema_version.clone()),
            types: self.types.clone(),
            buffering: self.buffering,
            destination: Destination::http(self.destination(port)),
        }
    }
}

/// A subscription made: where its listener is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TelemetrySubscription {
    /// The listener's local address.
    pub local_addr: SocketAddr,
    /// The destination URI the platform was given.
    pub destination: String,
}

/// Starts the listener, then subscribes; the listener stops if the subscription fails.
pub(crate) async fn subscribe(
    client: &mut Client,
    endpoint: &Endpoint,
    identifier: &str,
    telemetry: &Telemetry,
    on_batch: BatchFn,
) -> Result<(Listener, TelemetrySubscription), Error> {
    const WHAT: &str = "PUT /2022-07-01/telemetry";
    let listener = Listener::start(telemetry.listen, on_batch).await?;
    let port = listener.local_addr().port();
    let body = serde_json::to_vec(&telemetry.body(port)).map_err(|e| Error::transport(WHAT, e))?;
    let path = endpoint.path(SUBSCRIBE_PATH);
    client
        .send(Call {
            what: WHAT,
            method: Method::PUT,
            path: &path,
            headers: &[(HDR_IDENTIFIER, identifier)],
            json: Some(Bytes::from(body)),
        })
        .await?
        .expect(WHAT, StatusCode::OK)?;
    let subscription = TelemetrySubscription {
        local_addr: listener.local_addr(),
        destination: telemetry.destination(port),
    };
    tracing::debug!(destination = %subscription.destination, types = ?telemetry.types, "subscribed to the Telemetry API");
    Ok((listener, subscription))
}

/// The address of `sandbox.localdomain`, or 127.0.0.1 when it does not resolve within 500 ms
/// (a machine with an unreachable DNS server must not stall the extension's init).
fn sandbox_address() -> std::net::IpAddr {
    use std::net::ToSocketAddrs;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let found = ("sandbox.localdomain", 0)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.find(|a| a.is_ipv4()))
            .map(|a| a.ip());
        let _ = tx.send(found);
    });
    rx.recv_timeout(std::time::Duration::from_millis(500))
        .ok()
        .flatten()
        .unwrap_or(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST))
}

#[cfg(test)]
mod tests {
    use grace_protocol::telemetry_api::Record;
    use serde_json::json;

    use super::*;

    #[test]
    fn the_body_is_the_documented_shape() {
        let t = Telemetry::new([TelemetryType::Platform, TelemetryType::Function])
            .with_path("logs")
            .with_buffering(Buffering {
                max_items: 1_000,
                max_bytes: 262_144,
                timeout_ms: 25,
            });
        assert_eq!(
            serde_json::to_value(t.body(4243)).unwrap(),
            json!({
                "schemaVersion": "2022-12-13",
                "types": ["platform", "function"],
                "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
                "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/logs"},
            })
        );
        let t = Telemetry::new([TelemetryType::Extension]).with_schema_version("2022-07-01");
        let body = serde_json::to_value(t.body(1)).unwrap();
        assert!(body.get("buffering").is_none(), "platform default");
        assert_eq!(body["schemaVersion"], "2022-07-01");
        assert_eq!(
            body["destination"]["URI"],
            "http://sandbox.localdomain:1/telemetry"
        );
    }

    #[test]
    fn a_batch_decodes_into_envelopes_and_keeps_the_rest() {
        // A batch as the emulator delivers it, with a record type this crate does not know
        // and a malformed record between known ones.
        let batch: Vec<serde_json::Value> = serde_json::from_str(
            r#"[
            {"time":"2026-01-01T00:00:00.000Z","type":"platform.start","record":{"requestId":"r1","version":"$LATEST"}},
            {"time":"2026-01-01T00:00:00.001Z","type":"function","record":"hello\n"},
            {"time":"2026-01-01T00:00:00.002Z","type":"platform.restoreStart","record":{}},
            {"time":"2026-01-01T00:00:00.003Z","type":"platform.report","record":{"requestId":"r1"}},
            {"time":"2026-01-01T00:00:00.004Z","type":"platform.report","record":{"requestId":"r1","status":"success",
              "metrics":{"durationMs":1.5,"billedDurationMs":2,"memorySizeMB":128,"maxMemoryUsedMB":20}}}
            ]"#,
        )
        .unwrap();
        let (typed, other) = decode_batch(batch.clone());
        let kinds: Vec<_> = typed.iter().map(|e| e.record.type_name()).collect();
        assert_eq!(kinds, ["platform.start", "function", "platform.report"]);
        assert!(matches!(&typed[2].record, Record::Report(r) if r.metrics.memory_size_mb == 128));
        assert_eq!(
            other,
            [batch[2].clone(), batch[3].clone()],
            "kept as delivered"
        );
        // Negative control: a batch of known, well-formed records leaves nothing aside.
        let (typed, other) = decode_batch(vec![batch[0].clone(), batch[4].clone()]);
        assert_eq!((typed.len(), other.len()), (2, 0));
    }
}
