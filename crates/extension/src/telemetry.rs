//! Telemetry API subscriptions (`PUT /2022-07-01/telemetry`, §3.1): what to receive, how the
//! platform should buffer it, and where the extension's own listener is.

use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use grace_protocol::extensions_api::HDR_IDENTIFIER;
use hyper::{Method, StatusCode};
use serde_json::json;

use crate::client::{Call, Client};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::listener::{BatchFn, Listener};

/// The subscription endpoint.
pub const SUBSCRIBE_PATH: &str = "/2022-07-01/telemetry";

/// The schema version asked for by default: the current one of the Telemetry API.
pub const DEFAULT_SCHEMA_VERSION: &str = "2022-12-13";

/// A stream of telemetry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TelemetryType {
    /// `platform.*` records: init, start, runtimeDone, report, extension, …
    Platform,
    /// The function's log lines.
    Function,
    /// The extensions' log lines. An extension that logs while it receives these feeds its
    /// own stream (§3.2).
    Extension,
}

impl TelemetryType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Function => "function",
            Self::Extension => "extension",
        }
    }
}

/// How the platform buffers records before it delivers a batch (§3.1): the first limit
/// reached sends the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buffering {
    /// Records per batch, 1,000 to 10,000.
    pub max_items: u32,
    /// Bytes per batch, 262,144 to 1,048,576.
    pub max_bytes: u32,
    /// Longest wait for a batch to fill, 25 to 30,000 ms.
    pub timeout_ms: u32,
}

impl Default for Buffering {
    /// The documented defaults: 10,000 items, 256 KiB, 1,000 ms.
    fn default() -> Self {
        Self {
            max_items: 10_000,
            max_bytes: 262_144,
            timeout_ms: 1_000,
        }
    }
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
    fn body(&self, port: u16) -> serde_json::Value {
        let mut body = json!({
            "schemaVersion": self.schema_version,
            "types": self.types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "destination": {"protocol": "HTTP", "URI": self.destination(port)},
        });
        if let Some(b) = self.buffering {
            body["buffering"] = json!({
                "maxItems": b.max_items,
                "maxBytes": b.max_bytes,
                "timeoutMs": b.timeout_ms,
            });
        }
        body
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
            t.body(4243),
            json!({
                "schemaVersion": "2022-12-13",
                "types": ["platform", "function"],
                "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
                "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/logs"},
            })
        );
        let t = Telemetry::new([TelemetryType::Extension]).with_schema_version("2022-07-01");
        let body = t.body(1);
        assert!(body.get("buffering").is_none(), "platform default");
        assert_eq!(body["schemaVersion"], "2022-07-01");
        assert_eq!(
            body["destination"]["URI"],
            "http://sandbox.localdomain:1/telemetry"
        );
    }
}
