//! [`Context`]: what the platform says about one invocation, from the headers of `/next` (§1.2),
//! plus the function's configuration.
//!
//! The header map of `/next` is kept as it came off the wire, so reading a field costs a
//! lookup and no allocation; only the deadline and the (rare) Mobile SDK JSON headers are parsed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grace_protocol::runtime_api as api;
use hyper::HeaderMap;
use hyper::header::{HeaderName, HeaderValue};
use serde::Deserialize;

use crate::config::Config;
use crate::error::Diagnostic;

// The headers of `/next`, as names rather than strings: looking a name up by a string parses
// it (and checks its case) each time.
static INVOKED_FUNCTION_ARN: HeaderName = HeaderName::from_static(api::HDR_INVOKED_FUNCTION_ARN);
static TENANT_ID: HeaderName = HeaderName::from_static(api::HDR_TENANT_ID);

/// One invocation's context: request id, deadline, ARN, tracing, Mobile SDK data, tenant, and
/// the function's configuration.
#[derive(Debug, Clone)]
pub struct Context {
    /// Kept beside `headers` (sharing their bytes): read at every invocation.
    request_id: HeaderValue,
    trace_id: Option<HeaderValue>,
    headers: HeaderMap,
    deadline_ms: u64,
    client_context: Option<Box<ClientContext>>,
    identity: Option<Box<CognitoIdentity>>,
    config: Arc<Config>,
}

/// Mobile SDK client context (`Lambda-Runtime-Client-Context`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct ClientContext {
    /// The client application.
    #[serde(default)]
    pub client: ClientApplication,
    /// Custom values set by the application.
    #[serde(default)]
    pub custom: serde_json::Map<String, serde_json::Value>,
    /// Environment values set by the SDK (platform, make, model, locale, ...).
    #[serde(default)]
    pub env: serde_json::Map<String, serde_json::Value>,
}

/// The application that invoked the function through a Mobile SDK.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ClientApplication {
    #[serde(default, alias = "installationId")]
    pub installation_id: String,
    #[serde(default, alias = "appTitle")]
    pub app_title: String,
    #[serde(default, alias = "appVersionName")]
    pub app_version_name: String,
    #[serde(default, alias = "appVersionCode")]
    pub app_version_code: String,
    #[serde(default, alias = "appPackageName")]
    pub app_package_name: String,
}

/// Amazon Cognito identity (`Lambda-Runtime-Cognito-Identity`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct CognitoIdentity {
    #[serde(default, rename = "cognitoIdentityId")]
    pub identity_id: String,
    #[serde(default, rename = "cognitoIdentityPoolId")]
    pub identity_pool_id: String,
}

/// Why a `/next` answer cannot be turned into a [`Context`].
#[derive(Debug)]
pub(crate) enum ContextError {
    /// No usable request id: the invocation cannot even be answered.
    NoRequestId,
    /// The invocation (this request id) can be answered with this error.
    Invalid(HeaderValue, Diagnostic),
}

impl Context {
    /// Parses the headers of a `/next` answer, in one pass over them (a lookup by name hashes
    /// the name and costs about as much as this whole pass over the handful `/next` carries).
    pub(crate) fn from_headers(
        headers: HeaderMap,
        config: Arc<Config>,
    ) -> Result<Self, ContextError> {
        let mut found: [Option<&HeaderValue>; 5] = [None; 5];
        for (name, value) in &headers {
            let slot = match name.as_str() {
                api::HDR_REQUEST_ID => 0,
                api::HDR_DEADLINE_MS => 1,
                api::HDR_TRACE_ID => 2,
                api::HDR_CLIENT_CONTEXT => 3,
                api::HDR_COGNITO_IDENTITY => 4,
                _ => continue,
            };
            // The first value of a repeated header, as `HeaderMap::get` gives.
            found[slot].get_or_insert(value);
        }
        let [request_id, deadline, trace_id, client_context, identity] = found;
        let request_id = match request_id {
            Some(v) if v.to_str().is_ok_and(is_path_safe) => v.clone(),
            _ => return Err(ContextError::NoRequestId),
        };
        let invalid = |what: &str, detail: String| {
            ContextError::Invalid(
                request_id.clone(),
                Diagnostic::new("Runtime.InvalidContext", format!("{what}: {detail}")),
            )
        };
        let deadline_ms = match deadline.map(HeaderValue::to_str) {
            Some(Ok(v)) => v
                .trim()
                .parse::<u64>()
                .map_err(|e| invalid("Lambda-Runtime-Deadline-Ms", format!("{v:?} ({e})")))?,
            _ => {
                return Err(invalid("Lambda-Runtime-Deadline-Ms", "missing".into()));
            }
        };
        let client_context = parse_json::<ClientContext>(client_context)
            .map_err(|e| invalid("Lambda-Runtime-Client-Context", e))?;
        let identity = parse_json::<CognitoIdentity>(identity)
            .map_err(|e| invalid("Lambda-Runtime-Cognito-Identity", e))?;
        let trace_id = trace_id.filter(|v| v.to_str().is_ok()).cloned();
        Ok(Self {
            request_id,
            trace_id,
            headers,
            deadline_ms,
            client_context,
            identity,
            config,
        })
    }

    /// The request id, e.g. `8476a536-e9f4-11e8-9739-2dfe598c3fcd`.
    pub fn request_id(&self) -> &str {
        // Checked to be visible ASCII in `from_headers`.
        self.request_id.to_str().unwrap_or_default()
    }

    /// The deadline, in milliseconds since the Unix epoch.
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// The deadline as a wall-clock time.
    pub fn deadline(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.deadline_ms)
    }

    /// Time left until the deadline (zero once it has passed).
    pub fn remaining_time(&self) -> Duration {
        self.deadline()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }

    /// The ARN the function was invoked with (function, version or alias); empty if the
    /// platform did not send one.
    pub fn invoked_function_arn(&self) -> &str {
        self.text(&INVOKED_FUNCTION_ARN).unwrap_or_default()
    }

    /// The X-Ray tracing header, e.g. `Root=1-5bef4de7-...;Parent=...;Sampled=1`.
    pub fn xray_trace_id(&self) -> Option<&str> {
        // Checked to be visible ASCII in `from_headers`.
        self.trace_id.as_ref().and_then(|v| v.to_str().ok())
    }

    /// The Mobile SDK client context, when the caller sent one.
    pub fn client_context(&self) -> Option<&ClientContext> {
        self.client_context.as_deref()
    }

    /// The Cognito identity, when the caller has one.
    pub fn identity(&self) -> Option<&CognitoIdentity> {
        self.identity.as_deref()
    }

    /// The tenant id (tenant isolation mode).
    pub fn tenant_id(&self) -> Option<&str> {
        self.text(&TENANT_ID)
    }

    /// The function's configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every header of the `/next` answer, for what this type has no accessor for.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    fn text(&self, name: &HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Request ids go into URL paths (`/invocation/{id}/response`): only unreserved characters
/// (the platform sends UUIDs).
fn is_path_safe(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

fn parse_json<T: serde::de::DeserializeOwned>(
    value: Option<&HeaderValue>,
) -> Result<Option<Box<T>>, String> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => serde_json::from_slice(v.as_bytes())
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Endpoint;

    fn config() -> Arc<Config> {
        Arc::new(Config {
            runtime_api: Endpoint::parse("127.0.0.1:9001").unwrap(),
            function_name: "f".into(),
            function_version: "$LATEST".into(),
            memory_size_mb: 128,
            log_group_name: String::new(),
            log_stream_name: String::new(),
        })
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn every_header_is_read() {
        let far = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 60_000;
        let ctx = Context::from_headers(
            headers(&[
                ("lambda-runtime-aws-request-id", "req-1"),
                ("lambda-runtime-deadline-ms", &far.to_string()),
                ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:1:function:f"),
                ("lambda-runtime-trace-id", "Root=1-2-3;Sampled=1"),
                (
                    "lambda-runtime-client-context",
                    r#"{"client":{"installation_id":"i","app_title":"t"},"custom":{"k":"v"},"env":{"platform":"p"}}"#,
                ),
                (
                    "lambda-runtime-cognito-identity",
                    r#"{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}"#,
                ),
                ("lambda-runtime-aws-tenant-id", "tenant-7"),
            ]),
            config(),
        )
        .unwrap();
        assert_eq!(ctx.request_id(), "req-1");
        assert_eq!(ctx.deadline_ms(), far);
        let left = ctx.remaining_time();
        assert!(
            left > Duration::from_secs(55) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        assert_eq!(
            ctx.invoked_function_arn(),
            "arn:aws:lambda:us-east-1:1:function:f"
        );
        assert_eq!(ctx.xray_trace_id(), Some("Root=1-2-3;Sampled=1"));
        let cc = ctx.client_context().unwrap();
        assert_eq!(cc.client.installation_id, "i");
        assert_eq!(cc.client.app_title, "t");
        assert_eq!(cc.custom["k"], "v");
        assert_eq!(cc.env["platform"], "p");
        let id = ctx.identity().unwrap();
        assert_eq!(
            (id.identity_id.as_str(), id.identity_pool_id.as_str()),
            ("id", "pool")
        );
        assert_eq!(ctx.tenant_id(), Some("tenant-7"));
        assert_eq!(ctx.config().function_name, "f");
    }

    #[test]
    fn optional_headers_may_be_absent() {
        let ctx = Context::from_headers(
            headers(&[
                ("lambda-runtime-aws-request-id", "req-2"),
                ("lambda-runtime-deadline-ms", "1000"),
            ]),
            config(),
        )
        .unwrap();
        assert_eq!(ctx.invoked_function_arn(), "");
        assert_eq!(ctx.xray_trace_id(), None);
        assert!(ctx.client_context().is_none() && ctx.identity().is_none());
        assert_eq!(ctx.tenant_id(), None);
        assert_eq!(
            ctx.remaining_time(),
            Duration::ZERO,
            "a past deadline leaves nothing"
        );
    }

    #[test]
    fn a_missing_request_id_cannot_be_answered() {
        for h in [
            headers(&[("lambda-runtime-deadline-ms", "1")]),
            headers(&[
                ("lambda-runtime-aws-request-id", ""),
                ("lambda-runtime-deadline-ms", "1"),
            ]),
            headers(&[
                ("lambda-runtime-aws-request-id", "a/b"),
                ("lambda-runtime-deadline-ms", "1"),
            ]),
        ] {
            assert!(matches!(
                Context::from_headers(h, config()),
                Err(ContextError::NoRequestId)
            ));
        }
    }

    #[test]
    fn malformed_headers_are_answerable_errors() {
        for h in [
            headers(&[("lambda-runtime-aws-request-id", "r")]),
            headers(&[
                ("lambda-runtime-aws-request-id", "r"),
                ("lambda-runtime-deadline-ms", "soon"),
            ]),
            headers(&[
                ("lambda-runtime-aws-request-id", "r"),
                ("lambda-runtime-deadline-ms", "1"),
                ("lambda-runtime-cognito-identity", "{not json"),
            ]),
        ] {
            match Context::from_headers(h, config()) {
                Err(ContextError::Invalid(_, d)) => {
                    assert_eq!(d.error_type, "Runtime.InvalidContext")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
