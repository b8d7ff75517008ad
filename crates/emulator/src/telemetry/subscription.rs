//! Subscription requests (§3.1, §3.4): parsing and validation, with the documented limits.

use serde::Deserialize;

use super::Kind;

/// Which API a subscription came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    Telemetry,
    Logs,
}

/// A refused subscription: status, error type, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscribeError {
    pub(crate) status: u16,
    pub(crate) error_type: &'static str,
    pub(crate) message: String,
}

impl SubscribeError {
    fn validation(api: Api, message: impl Into<String>) -> Self {
        let error_type = match api {
            Api::Telemetry => "ValidationError",
            Api::Logs => "Logs.ValidationError",
        };
        Self {
            status: 400,
            error_type,
            message: message.into(),
        }
    }

    pub(crate) fn closed(api: Api) -> Self {
        let (error_type, what) = match api {
            Api::Telemetry => ("Telemetry.SubscriptionClosed", "Telemetry API"),
            Api::Logs => ("Logs.SubscriptionClosed", "Logs API"),
        };
        Self {
            status: 403,
            error_type,
            message: format!("{what} subscriptions are accepted only during the init phase"),
        }
    }

    pub(crate) fn other_api(api: Api) -> Self {
        let (error_type, used) = match api {
            Api::Telemetry => ("Telemetry.SubscriptionConflict", "Logs API"),
            Api::Logs => ("Logs.SubscriptionConflict", "Telemetry API"),
        };
        Self {
            status: 403,
            error_type,
            message: format!("already subscribed through the {used}"),
        }
    }
}

/// Where records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Destination {
    /// HTTP POST of a JSON array to 127.0.0.1:port/path.
    Http { port: u16, path: String },
    /// NDJSON over a TCP connection to 127.0.0.1:port.
    Tcp { port: u16 },
}

/// A valid subscription.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subscription {
    pub(crate) platform: bool,
    pub(crate) function: bool,
    pub(crate) extension: bool,
    pub(crate) max_items: usize,
    pub(crate) max_bytes: usize,
    pub(crate) timeout_ms: u64,
    pub(crate) destination: Destination,
}

impl Subscription {
    pub(crate) fn wants(&self, kind: Kind) -> bool {
        match kind {
            Kind::Platform => self.platform,
            Kind::Function => self.function,
            Kind::Extension => self.extension,
        }
    }
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "schemaVersion")]
    schema_version: Option<String>,
    types: Option<Vec<String>>,
    buffering: Option<Buffering>,
    destination: Option<DestinationBody>,
}

#[derive(Deserialize)]
struct Buffering {
    #[serde(rename = "maxItems")]
    max_items: Option<u64>,
    #[serde(rename = "maxBytes")]
    max_bytes: Option<u64>,
    #[serde(rename = "timeoutMs")]
    timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
struct DestinationBody {
    protocol: Option<String>,
    #[serde(rename = "URI")]
    uri: Option<String>,
    port: Option<u16>,
}

/// Parses and validates a subscription body.
pub(crate) fn parse(api: Api, body: &[u8]) -> Result<Subscription, SubscribeError> {
    let body: Body = serde_json::from_slice(body)
        .map_err(|e| SubscribeError::validation(api, format!("invalid request body: {e}")))?;
    let known: &[&str] = match api {
        Api::Telemetry => &["2022-07-01", "2022-12-13", "2025-01-29"],
        Api::Logs => &["2020-08-15", "2021-03-18"],
    };
    if let Some(v) = &body.schema_version
        && !known.contains(&v.as_str())
    {
        return Err(SubscribeError::validation(
            api,
            format!("unsupported schemaVersion {v}"),
        ));
    }
    let types = body.types.unwrap_or_default();
    if types.is_empty() {
        return Err(SubscribeError::validation(api, "types should not be empty"));
    }
    let (mut platform, mut function, mut extension) = (false, false, false);
    for t in &types {
        match t.as_str() {
            "platform" => platform = true,
            "function" => function = true,
            "extension" => extension = true,
            other => {
                return Err(SubscribeError::validation(
                    api,
                    format!("unknown type {other}"),
                ));
            }
        }
    }
    let b = body.buffering.unwrap_or(Buffering {
        max_items: None,
        max_bytes: None,
        timeout_ms: None,
    });
    let ranged = |v: Option<u64>, default: u64, min: u64, max: u64, name: &str| match v {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => Err(SubscribeError::validation(
            api,
            format!("buffering.{name} {v} is outside {min}..={max}"),
        )),
    };
    let max_items = ranged(b.max_items, 10_000, 1_000, 10_000, "maxItems")? as usize;
    let max_bytes = ranged(b.max_bytes, 262_144, 262_144, 1_048_576, "maxBytes")? as usize;
    let timeout_ms = ranged(b.timeout_ms, 1_000, 25, 30_000, "timeoutMs")?;
    let d = body
        .destination
        .ok_or_else(|| SubscribeError::validation(api, "destination is required"))?;
    let destination = match d.protocol.as_deref() {
        Some("HTTP") => {
            let uri = d.uri.ok_or_else(|| {
                SubscribeError::validation(api, "destination.URI is required for HTTP")
            })?;
            parse_http_uri(&uri).map_err(|m| SubscribeError::validation(api, m))?
        }
        Some("TCP") => {
            let port = match (d.port, d.uri.as_deref()) {
                (Some(p), _) => p,
                (None, Some(uri)) => match parse_http_uri(&uri.replacen("tcp://", "http://", 1)) {
                    Ok(Destination::Http { port, .. }) => port,
                    _ => return Err(SubscribeError::validation(api, "URI port is not provided")),
                },
                (None, None) => {
                    return Err(SubscribeError::validation(
                        api,
                        "destination.port is required for TCP",
                    ));
                }
            };
            Destination::Tcp { port }
        }
        other => {
            return Err(SubscribeError::validation(
                api,
                format!(
                    "destination.protocol must be HTTP or TCP, not {}",
                    other.unwrap_or("missing")
                ),
            ));
        }
    };
    if matches!(
        destination,
        Destination::Http { port: 9001, .. } | Destination::Tcp { port: 9001 }
    ) {
        return Err(SubscribeError::validation(api, "port 9001 is reserved"));
    }
    Ok(Subscription {
        platform,
        function,
        extension,
        max_items,
        max_bytes,
        timeout_ms,
        destination,
    })
}

/// `http://sandbox.localdomain:PORT/path` (or `sandbox`, `localhost`, `127.0.0.1`): the
/// listener is inside the environment, which here is this machine's loopback.
fn parse_http_uri(uri: &str) -> Result<Destination, String> {
    let rest = uri
        .strip_prefix("http://")
        .ok_or("destination.URI must be http:// (HTTPS is not supported)")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or("URI port is not provided")?;
    if !["sandbox.localdomain", "sandbox", "localhost", "127.0.0.1"].contains(&host) {
        return Err(format!(
            "destination host {host} is not inside the execution environment (use sandbox.localdomain)"
        ));
    }
    let port = port.parse().map_err(|_| format!("bad port {port}"))?;
    Ok(Destination::Http { port, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_example_with_defaults() {
        let s = parse(
            Api::Telemetry,
            br#"{"schemaVersion":"2022-07-01","types":["platform","function"],
                "destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:8080/logs"}}"#,
        )
        .unwrap();
        assert!(s.platform && s.function && !s.extension);
        assert_eq!(
            (s.max_items, s.max_bytes, s.timeout_ms),
            (10_000, 262_144, 1_000)
        );
        assert_eq!(
            s.destination,
            Destination::Http {
                port: 8080,
                path: "/logs".into()
            }
        );
    }

    #[test]
    fn refuses_what_lambda_refuses() {
        let bad: &[&[u8]] = &[
            br#"{"types":[],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:8080"}}"#,
            br#"{"types":["platform"],"destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain"}}"#,
            br#"{"types":["platform"],"destination":{"protocol":"HTTPS","URI":"https://x:1"}}"#,
            br#"{"types":["platform"],"buffering":{"timeoutMs":5},"destination":{"protocol":"TCP","port":4243}}"#,
            br#"{"types":["bogus"],"destination":{"protocol":"TCP","port":4243}}"#,
            br#"{"types":["platform"],"destination":{"protocol":"HTTP","URI":"http://example.com:80/"}}"#,
        ];
        for body in bad {
            let e = parse(Api::Telemetry, body).unwrap_err();
            assert_eq!(
                (e.status, e.error_type),
                (400, "ValidationError"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(
            parse(
                Api::Telemetry,
                br#"{"types":["extension"],"destination":{"protocol":"TCP","port":4243}}"#
            )
            .is_ok()
        );
    }
}
