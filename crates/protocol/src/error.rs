//! The error body shared by the Runtime and Extensions APIs (§8.2: "All error bodies are
//! `{"errorType": "...", "errorMessage": "..."}`"), also the shape of function error payloads.

use serde::{Deserialize, Serialize};

/// `{"errorType": "...", "errorMessage": "..."}`, with the optional `stackTrace` that runtimes
/// send on `/error` (§1.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "errorType")]
    pub error_type: String,
    #[serde(rename = "errorMessage")]
    pub error_message: String,
    #[serde(
        rename = "stackTrace",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stack_trace: Option<Vec<String>>,
}

impl ErrorBody {
    /// An error body without a stack trace.
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        Self {
            error_type: error_type.into(),
            error_message: error_message.into(),
            stack_trace: None,
        }
    }

    /// The body as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising a struct of strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The `{"status":"OK"}` body of a 202 Accepted (§1.3; some clients parse it).
pub const STATUS_OK_BODY: &str = r#"{"status":"OK"}"#;
