//! Subscription requests (§3.1, §3.4): the body is read and checked against the documented
//! limits by [`SubscribeRequest::parse`] (`grace_protocol::telemetry_api`, the definition the
//! extension client writes too); what is left here is the emulator's part: where "inside the
//! execution environment" is (this machine's loopback), the reserved port, the status codes.

use grace_protocol::telemetry_api::{Protocol, RESERVED_PORT, SubscribeRequest, TelemetryType};

use super::Kind;

/// Which API a subscription came through.
pub(crate) use grace_protocol::telemetry_api::Api;

/// A refused subscription: status, error type, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SubscribeError {
    pub(crate) status: u16,
    pub(crate) error_type: &'static str,
    pub(crate) message: String,
}

impl SubscribeError {
    fn validation(api: Api, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            error_type: api.validation_error(),
            message: message.into(),
        }
    }

    pub(crate) fn closed(api: Api) -> Self {
        let what = match api {
            Api::Telemetry => "Telemetry API",
            Api::Logs => "Logs API",
        };
        Self {
            status: 403,
            error_type: api.closed_error(),
            message: format!("{what} subscriptions are accepted only during the init phase"),
        }
    }

    pub(crate) fn other_api(api: Api) -> Self {
        let used = match api {
            Api::Telemetry => "Logs API",
            Api::Logs => "Telemetry API",
        };
        Self {
            status: 403,
            error_type: api.conflict_error(),
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

/// Parses and validates a subscription body.
pub(crate) fn parse(api: Api, body: &[u8]) -> Result<Subscription, SubscribeError> {
    let request = SubscribeRequest::parse(api, body)
        .map_err(|e| SubscribeError::validation(api, e.into_message()))?;
    let wants = |t: TelemetryType| request.types.contains(&t);
    let (platform, function, extension) = (
        wants(TelemetryType::Platform),
        wants(TelemetryType::Function),
        wants(TelemetryType::Extension),
    );
    let b = request.buffering.unwrap_or_default();
    let d = request.destination;
    // `parse` has checked that HTTP has a URI, and TCP a port or a URI.
    let destination = match (d.protocol, d.uri, d.port) {
        (Protocol::Http, Some(uri), _) => {
            parse_http_uri(&uri).map_err(|m| SubscribeError::validation(api, m))?
        }
        (Protocol::Tcp, _, Some(port)) => Destination::Tcp { port },
        (Protocol::Tcp, Some(uri), None) => {
            match parse_http_uri(&uri.replacen("tcp://", "http://", 1)) {
                Ok(Destination::Http { port, .. }) => Destination::Tcp { port },
                _ => return Err(SubscribeError::validation(api, "URI port is not provided")),
            }
        }
        (protocol, ..) => {
            return Err(SubscribeError::validation(
                api,
                format!("destination incomplete for {protocol:?}"),
            ));
        }
    };
    if matches!(
        destination,
        Destination::Http { port, .. } | Destination::Tcp { port } if port == RESERVED_PORT
    ) {
        return Err(SubscribeError::validation(api, "port 9001 is reserved"));
    }
    Ok(Subscription {
        platform,
        function,
        extension,
        max_items: b.max_items as usize,
        max_bytes: b.max_bytes as usize,
        timeout_ms: u64::from(b.timeout_ms),
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

    #[test]
    fn answers_name_the_fault() {
        let message = |api, body: &str| parse(api, body.as_bytes()).unwrap_err();
        let e = message(
            Api::Logs,
            r#"{"types":["platform"],"destination":{"protocol":"HTTP","URI":"http://sandbox:9001/"}}"#,
        );
        assert_eq!(
            (e.status, e.error_type, e.message.as_str()),
            (400, "Logs.ValidationError", "port 9001 is reserved")
        );
        let e = message(
            Api::Telemetry,
            r#"{"types":["platform"],"destination":{"protocol":"TCP","URI":"tcp://sandbox"}}"#,
        );
        assert_eq!(e.message, "URI port is not provided");
        let e = message(
            Api::Telemetry,
            r#"{"types":["platform"],"buffering":{"maxBytes":1},"destination":{"protocol":"TCP","port":1}}"#,
        );
        assert_eq!(
            e.message,
            "buffering.maxBytes 1 is outside 262144..=1048576"
        );
        // Negative control: the same bodies with a free port, a URI with a port, and a
        // buffering in range are accepted.
        let s = parse(
            Api::Telemetry,
            br#"{"types":["platform"],"destination":{"protocol":"TCP","URI":"tcp://sandbox:7"}}"#,
        )
        .unwrap();
        assert_eq!(s.destination, Destination::Tcp { port: 7 });
        assert!(
            parse(
                Api::Logs,
                br#"{"types":["platform"],"buffering":{"maxBytes":262144},"destination":{"protocol":"HTTP","URI":"http://sandbox:9002/"}}"#,
            )
            .is_ok()
        );
        assert_eq!(
            (
                SubscribeError::closed(Api::Logs).status,
                SubscribeError::closed(Api::Logs).error_type
            ),
            (403, "Logs.SubscriptionClosed")
        );
        assert_eq!(
            SubscribeError::other_api(Api::Telemetry).error_type,
            "Telemetry.SubscriptionConflict"
        );
    }
}
