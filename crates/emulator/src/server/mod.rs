//! The emulator's HTTP servers: one Runtime API listener per environment ([`runtime_api`],
//! which also serves the Extensions API), and the AWS-compatible Invoke API with the control
//! endpoints ([`invoke_api`]), and the HTTP front: function URLs and API Gateway routes
//! ([`http_front`]). [`http`] holds what they share.

pub(crate) mod http;
pub(crate) mod http_front;
pub(crate) mod invoke_api;
pub(crate) mod runtime_api;
