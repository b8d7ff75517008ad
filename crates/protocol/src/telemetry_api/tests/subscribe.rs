//! Subscription bodies: the documented example, and what the platform's validation answers.

use serde_json::{Value, json};

use crate::telemetry_api::*;

#[test]
fn the_documented_subscription_body_reads_and_writes() {
    // "Example Subscribe API request" of `doc_source/telemetry-api-reference.md`
    // (awsdocs/aws-lambda-developer-guide @ 4ca3ba6, §3.1); its `"maxBytes": 256*1024` is not
    // JSON: written 262144.
    let sample = r#"{"schemaVersion":"2022-07-01","types":["platform","function","extension"],
        "buffering":{"maxItems":1000,"maxBytes":262144,"timeoutMs":100},
        "destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:8080"}}"#;
    let request: SubscribeRequest = serde_json::from_str(sample).expect("reads");
    assert_eq!(
        request,
        SubscribeRequest {
            schema_version: Some(SCHEMA_2022_07_01.into()),
            types: vec![
                TelemetryType::Platform,
                TelemetryType::Function,
                TelemetryType::Extension
            ],
            buffering: Some(Buffering {
                max_items: 1000,
                max_bytes: 262_144,
                timeout_ms: 100
            }),
            destination: Destination::http("http://sandbox.localdomain:8080"),
        }
    );
    let expected: Value = serde_json::from_str(sample).expect("JSON");
    assert_eq!(serde_json::to_value(&request).expect("writes"), expected);
    assert_eq!(
        SubscribeRequest::parse(Api::Telemetry, sample.as_bytes()),
        Ok(request)
    );

    // TCP with a port (LMI's shape), no buffering.
    let tcp = SubscribeRequest {
        schema_version: None,
        types: vec![TelemetryType::Platform],
        buffering: None,
        destination: Destination::tcp(4243),
    };
    assert_eq!(
        serde_json::to_value(&tcp).expect("writes"),
        json!({"types": ["platform"], "destination": {"protocol": "TCP", "port": 4243}})
    );
}

#[test]
fn parse_fills_defaults_and_names_the_first_fault() {
    let ok = SubscribeRequest::parse(
        Api::Logs,
        br#"{"types":["platform"],"buffering":{"timeoutMs":25},"destination":{"protocol":"TCP","port":1}}"#,
    )
    .expect("valid");
    assert_eq!(
        ok.buffering,
        Some(Buffering {
            timeout_ms: 25,
            ..Buffering::default()
        })
    );
    let refused = |api: Api, body: &str| {
        SubscribeRequest::parse(api, body.as_bytes())
            .expect_err(body)
            .into_message()
    };
    let http = r#""destination":{"protocol":"HTTP","URI":"http://sandbox.localdomain:1"}"#;
    assert_eq!(
        refused(
            Api::Logs,
            &format!(r#"{{"schemaVersion":"2022-07-01","types":["platform"],{http}}}"#)
        ),
        "unsupported schemaVersion 2022-07-01"
    );
    assert_eq!(
        refused(Api::Telemetry, &format!(r#"{{{http}}}"#)),
        "types should not be empty"
    );
    assert_eq!(
        refused(
            Api::Telemetry,
            &format!(r#"{{"types":["platform","bogus"],{http}}}"#)
        ),
        "unknown type bogus"
    );
    for (buffering, message) in [
        (
            r#"{"maxItems":999}"#,
            "buffering.maxItems 999 is outside 1000..=10000",
        ),
        (
            r#"{"maxBytes":1048577}"#,
            "buffering.maxBytes 1048577 is outside 262144..=1048576",
        ),
        (
            r#"{"timeoutMs":24}"#,
            "buffering.timeoutMs 24 is outside 25..=30000",
        ),
        (
            r#"{"timeoutMs":4294967296}"#,
            "buffering.timeoutMs 4294967296 is outside 25..=30000",
        ),
    ] {
        let body = format!(r#"{{"types":["platform"],"buffering":{buffering},{http}}}"#);
        assert_eq!(refused(Api::Telemetry, &body), message);
    }
    for (destination, message) in [
        ("", "destination is required"),
        (
            r#","destination":{"URI":"http://x:1"}"#,
            "destination.protocol must be HTTP or TCP, not missing",
        ),
        (
            r#","destination":{"protocol":"HTTPS","URI":"https://x:1"}"#,
            "destination.protocol must be HTTP or TCP, not HTTPS",
        ),
        (
            r#","destination":{"protocol":"HTTP","port":1}"#,
            "destination.URI is required for HTTP",
        ),
        (
            r#","destination":{"protocol":"TCP"}"#,
            "destination.port is required for TCP",
        ),
    ] {
        let body = format!(r#"{{"types":["platform"]{destination}}}"#);
        assert_eq!(refused(Api::Telemetry, &body), message);
    }
    assert!(refused(Api::Telemetry, "[").starts_with("invalid request body: "));
}

#[test]
fn each_api_has_its_path_and_error_types() {
    assert_eq!(Api::Telemetry.path(), "/2022-07-01/telemetry");
    assert_eq!(Api::Logs.path(), "/2020-08-15/logs");
    assert_eq!(Api::Telemetry.validation_error(), "ValidationError");
    assert_eq!(Api::Logs.validation_error(), "Logs.ValidationError");
    assert_eq!(Api::Logs.not_supported_error(), "Logs.NotSupported");
    assert!(Api::Logs.schema_versions().contains(&"2021-03-18"));
    assert!(!Api::Telemetry.schema_versions().contains(&"2021-03-18"));
}
