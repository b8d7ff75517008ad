//! The events `GET /extension/event/next` answers (§2.2): INVOKE and SHUTDOWN.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grace_protocol::extensions_api::{Event, ShutdownReason, Tracing};

use crate::error::Error;

/// An event from the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NextEvent {
    /// The function is being invoked.
    Invoke(InvokeEvent),
    /// The environment is shutting down (external extensions subscribed to SHUTDOWN only).
    Shutdown(ShutdownEvent),
}

/// An INVOKE event. It does not carry the function's payload (§2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvokeEvent {
    /// The invocation's request id (the runtime's `Lambda-Runtime-Aws-Request-Id`).
    pub request_id: String,
    /// When the invocation times out, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// The ARN the function was invoked with.
    pub invoked_function_arn: String,
    /// The X-Ray trace header (`type` is `X-Amzn-Trace-Id`), when the invocation has one.
    pub tracing: Option<Tracing>,
}

/// A SHUTDOWN event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownEvent {
    /// The reason as sent (`spindown`, `timeout`, `failure`; the docs write them in upper
    /// case, and emulators add their own): see [`ShutdownEvent::reason`].
    pub shutdown_reason: String,
    /// When the platform SIGKILLs the extension, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
}

impl ShutdownEvent {
    /// The reason, parsed case-insensitively; `None` for values the docs do not list.
    pub fn reason(&self) -> Option<ShutdownReason> {
        ShutdownReason::parse(&self.shutdown_reason)
    }

    /// How long until the deadline, from the system clock (zero if it has passed).
    pub fn remaining(&self) -> Duration {
        remaining_until(self.deadline_ms, now_ms())
    }
}

/// Milliseconds since the Unix epoch, from the system clock (the platform's deadlines are
/// wall-clock times).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Time from `now_ms` to `deadline_ms`, zero if it has passed.
pub(crate) fn remaining_until(deadline_ms: u64, now_ms: u64) -> Duration {
    Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// Parses the body of an `/event/next` answer.
///
/// The documentation's SHUTDOWN example shows `deadlineMs` as a string while the platform
/// sends a number (§8.3): both are accepted.
pub(crate) fn parse(body: &[u8]) -> Result<NextEvent, Error> {
    let invalid = |source| Error::InvalidEvent {
        body: String::from_utf8_lossy(body).into_owned(),
        source,
    };
    let mut value: serde_json::Value = serde_json::from_slice(body).map_err(invalid)?;
    if let Some(deadline) = value.get_mut("deadlineMs")
        && let Some(ms) = deadline.as_str().and_then(|s| s.trim().parse::<u64>().ok())
    {
        *deadline = ms.into();
    }
    let event: Event = serde_json::from_value(value).map_err(invalid)?;
    Ok(match event {
        Event::Invoke {
            deadline_ms,
            request_id,
            invoked_function_arn,
            tracing,
        } => NextEvent::Invoke(InvokeEvent {
            request_id,
            deadline_ms,
            invoked_function_arn,
            tracing,
        }),
        Event::Shutdown {
            shutdown_reason,
            deadline_ms,
        } => NextEvent::Shutdown(ShutdownEvent {
            shutdown_reason,
            deadline_ms,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoke_events_parse_with_and_without_tracing() {
        let body = br#"{"eventType":"INVOKE","deadlineMs":1690000000000,
            "requestId":"3da1f2dc-3222-475e-9205-e2e6c6318895",
            "invokedFunctionArn":"arn:aws:lambda:us-east-1:123456789012:function:ExtensionTest",
            "tracing":{"type":"X-Amzn-Trace-Id","value":"Root=1-5f35ae12-0c0fec141ab77a00bc047aa2"}}"#;
        let NextEvent::Invoke(e) = parse(body).unwrap() else {
            panic!("not an INVOKE");
        };
        assert_eq!(e.request_id, "3da1f2dc-3222-475e-9205-e2e6c6318895");
        assert_eq!(e.deadline_ms, 1_690_000_000_000);
        assert!(e.invoked_function_arn.ends_with(":function:ExtensionTest"));
        assert_eq!(e.tracing.unwrap().kind, "X-Amzn-Trace-Id");
        let body =
            br#"{"eventType":"INVOKE","deadlineMs":1,"requestId":"r","invokedFunctionArn":"a"}"#;
        assert!(matches!(parse(body).unwrap(), NextEvent::Invoke(e) if e.tracing.is_none()));
    }

    #[test]
    fn shutdown_deadlines_may_be_numbers_or_strings_and_reasons_any_case() {
        for body in [
            &br#"{"eventType":"SHUTDOWN","shutdownReason":"spindown","deadlineMs":1700000002000}"#
                [..],
            br#"{"eventType":"SHUTDOWN","shutdownReason":"SPINDOWN","deadlineMs":"1700000002000"}"#,
        ] {
            let NextEvent::Shutdown(e) = parse(body).unwrap() else {
                panic!("not a SHUTDOWN");
            };
            assert_eq!(e.deadline_ms, 1_700_000_002_000);
            assert_eq!(e.reason(), Some(ShutdownReason::Spindown));
        }
        let body =
            br#"{"eventType":"SHUTDOWN","shutdownReason":"SandboxTerminated","deadlineMs":5}"#;
        let NextEvent::Shutdown(e) = parse(body).unwrap() else {
            panic!("not a SHUTDOWN");
        };
        assert_eq!(
            (e.reason(), e.shutdown_reason.as_str()),
            (None, "SandboxTerminated")
        );
    }

    #[test]
    fn anything_else_is_an_invalid_event() {
        for body in [&b"not json"[..], br#"{"eventType":"RESTORE"}"#, b"[]"] {
            assert!(matches!(parse(body), Err(Error::InvalidEvent { .. })));
        }
    }

    #[test]
    fn remaining_time_saturates_at_zero() {
        assert_eq!(remaining_until(2_000, 500), Duration::from_millis(1_500));
        assert_eq!(remaining_until(500, 2_000), Duration::ZERO);
    }
}
