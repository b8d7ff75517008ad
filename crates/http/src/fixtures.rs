//! The event samples in `fixtures/`, written after the examples in AWS's documentation.

use crate::EventKind;

pub(crate) const REST_DEFAULT_DOMAIN: &str = include_str!("../fixtures/rest-default-domain.json");
pub(crate) const REST_CUSTOM_DOMAIN: &str = include_str!("../fixtures/rest-custom-domain.json");
pub(crate) const HTTP_API_STAGE: &str = include_str!("../fixtures/http-api-stage.json");
pub(crate) const HTTP_API_DEFAULT: &str = include_str!("../fixtures/http-api-default.json");
pub(crate) const ALB: &str = include_str!("../fixtures/alb.json");
pub(crate) const ALB_MULTI: &str = include_str!("../fixtures/alb-multi.json");
pub(crate) const FUNCTION_URL: &str = include_str!("../fixtures/function-url.json");

pub(crate) const ALL: &[(&str, &str, EventKind)] = &[
    (
        "rest-default-domain",
        REST_DEFAULT_DOMAIN,
        EventKind::ApiGatewayRest,
    ),
    (
        "rest-custom-domain",
        REST_CUSTOM_DOMAIN,
        EventKind::ApiGatewayRest,
    ),
    ("http-api-stage", HTTP_API_STAGE, EventKind::ApiGatewayHttp),
    (
        "http-api-default",
        HTTP_API_DEFAULT,
        EventKind::ApiGatewayHttp,
    ),
    ("alb", ALB, EventKind::Alb),
    ("alb-multi", ALB_MULTI, EventKind::Alb),
    ("function-url", FUNCTION_URL, EventKind::FunctionUrl),
];
