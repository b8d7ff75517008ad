//! Records against AWS's published samples, and records as the emulator builds them.
//!
//! Samples marked [DG-TEL] are from `doc_source/telemetry-schema-reference.md`, those
//! marked [DG-LOGS] from `doc_source/runtimes-logs-api.md`, both in
//! github.com/awsdocs/aws-lambda-developer-guide (commits a83f69b and 119ccaa). Where a
//! sample is not valid JSON or contradicts its own schema (§3.3 lists these), the fix is
//! noted beside it.

use serde_json::{Value, json};

use crate::telemetry_api::*;

/// `sample` reads as an [`Envelope`] and writes back as the same JSON value.
fn round_trip(sample: &str) -> Envelope {
    let expected: Value = serde_json::from_str(sample).expect("the sample is JSON");
    let envelope: Envelope = serde_json::from_str(sample).expect("the sample reads");
    let written = serde_json::to_value(&envelope).expect("an envelope writes");
    assert_eq!(written, expected, "round trip of {sample}");
    envelope
}

#[test]
fn telemetry_api_samples_round_trip() {
    // [DG-TEL] platform.initStart.
    let e = round_trip(
        r#"{"time": "2022-10-12T00:00:15.064Z", "type": "platform.initStart",
            "record": {"initializationType": "on-demand", "phase": "init",
                       "runtimeVersion": "nodejs-14.v3", "runtimeVersionArn": "arn"}}"#,
    );
    let Record::InitStart(r) = &e.record else {
        panic!("{e:?}")
    };
    assert_eq!((r.phase.as_str(), r.function_name.as_str()), ("init", ""));

    // [DG-TEL] platform.initRuntimeDone; the sample lacks a comma after
    // "initializationType" and the required `phase`: both added.
    round_trip(
        r#"{"time": "2022-10-12T00:01:15.000Z", "type": "platform.initRuntimeDone",
            "record": {"initializationType": "on-demand", "phase": "init", "status": "success",
                       "spans": [{"name": "someTimeSpan", "start": "2022-06-02T12:02:33.913Z",
                                  "durationMs": 70.5}]}}"#,
    );

    // [DG-TEL] platform.initReport.
    let e = round_trip(
        r#"{"time": "2022-10-12T00:01:15.000Z", "type": "platform.initReport",
            "record": {"initializationType": "on-demand", "phase": "init",
                       "metrics": {"durationMs": 125.33},
                       "spans": [{"name": "someTimeSpan", "start": "2022-06-02T12:02:33.913Z",
                                  "durationMs": 90.1}]}}"#,
    );
    let Record::InitReport(r) = &e.record else {
        panic!("{e:?}")
    };
    assert_eq!(r.metrics.duration_ms, 125.33);

    // [DG-TEL] platform.start; the sample says "type": "platform.initStart": fixed.
    let e = round_trip(
        r#"{"time": "2022-10-12T00:00:15.064Z", "type": "platform.start",
            "record": {"requestId": "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa", "version": "$LATEST",
                       "tracing": {"spanId": "54565fb41ac79632", "type": "X-Amzn-Trace-Id",
                                   "value": "Root=1-62e900b2-710d76f009d6e7785905449a;Parent=0efbd19962d95b05;Sampled=1"}}}"#,
    );
    let Record::Start(r) = &e.record else {
        panic!("{e:?}")
    };
    let tracing = r.tracing.as_ref().expect("tracing");
    assert_eq!(
        (tracing.kind.as_str(), tracing.span_id.as_deref()),
        ("X-Amzn-Trace-Id", Some("54565fb41ac79632"))
    );

    // [DG-TEL] platform.runtimeDone.
    let e = round_trip(
        r#"{"time": "2022-10-12T00:01:15.000Z", "type": "platform.runtimeDone",
            "record": {"requestId": "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa", "status": "success",
                       "tracing": {"spanId": "54565fb41ac79632", "type": "X-Amzn-Trace-Id",
                                   "value": "Root=1-62e900b2-710d76f009d6e7785905449a;Parent=0efbd19962d95b05;Sampled=1"},
                       "spans": [{"name": "someTimeSpan", "start": "2022-08-02T12:01:23:521Z",
                                  "durationMs": 80.0}],
                       "metrics": {"durationMs": 140.0, "producedBytes": 16}}}"#,
    );
    let Record::RuntimeDone(r) = &e.record else {
        panic!("{e:?}")
    };
    assert_eq!(r.metrics.as_ref().and_then(|m| m.produced_bytes), Some(16));

    // [DG-TEL] platform.report; the sample has a trailing comma: removed. It has no `status`
    // either, which the schema lists: kept as published (read as empty, not written).
    let e = round_trip(
        r#"{"time": "2022-10-12T00:01:15.000Z", "type": "platform.report",
            "record": {"metrics": {"billedDurationMs": 694, "durationMs": 693.92,
                                   "initDurationMs": 397.68, "maxMemoryUsedMB": 84,
                                   "memorySizeMB": 128},
                       "requestId": "6d68ca91-49c9-448d-89b8-7ca3e6dc66aa"}}"#,
    );
    let Record::Report(r) = &e.record else {
        panic!("{e:?}")
    };
    assert_eq!(
        (r.metrics.memory_size_mb, r.metrics.max_memory_used_mb),
        (128, 84)
    );
    assert_eq!(r.metrics.init_duration_ms, Some(397.68));

    // [DG-TEL] platform.extension.
    round_trip(
        r#"{"time": "2022-10-12T00:02:15.000Z", "type": "platform.extension",
            "record": {"events": ["INVOKE", "SHUTDOWN"], "name": "my-telemetry-extension",
                       "state": "Ready"}}"#,
    );

    // [DG-TEL] platform.telemetrySubscription.
    round_trip(
        r#"{"time": "2022-10-12T00:02:35.000Z", "type": "platform.telemetrySubscription",
            "record": {"name": "my-telemetry-extension", "state": "Subscribed",
                       "types": ["platform", "function"]}}"#,
    );

    // [DG-TEL] platform.logsDropped.
    round_trip(
        r#"{"time": "2022-10-12T00:02:35.000Z", "type": "platform.logsDropped",
            "record": {"droppedBytes": 12345, "droppedRecords": 123,
                       "reason": "Consumer seems to have fallen behind as it has not acknowledged receipt of logs."}}"#,
    );

    // [DG-TEL] function and extension.
    let e = round_trip(
        r#"{"time": "2022-10-12T00:03:50.000Z", "type": "function",
            "record": "[INFO] Hello world, I am a function!"}"#,
    );
    assert_eq!(e.record.stream(), TelemetryType::Function);
    let e = round_trip(
        r#"{"time": "2022-10-12T00:03:50.000Z", "type": "extension",
            "record": "[INFO] Hello world, I am an extension!"}"#,
    );
    assert_eq!(e.record.stream(), TelemetryType::Extension);
}

#[test]
fn logs_api_samples_round_trip() {
    // [DG-LOGS] platform.start and platform.end.
    round_trip(
        r#"{"time": "2020-08-20T12:31:32.123Z", "type": "platform.start",
            "record": {"requestId": "6f7f0961f83442118a7af6fe80b88d56"}}"#,
    );
    let e = round_trip(
        r#"{"time": "2020-08-20T12:31:32.123Z", "type": "platform.end",
            "record": {"requestId": "6f7f0961f83442118a7af6fe80b88d56"}}"#,
    );
    assert_eq!(e.record.only_in(), Some(Api::Logs));

    // [DG-LOGS] platform.report (no `status` in this API).
    round_trip(
        r#"{"time": "2020-08-20T12:31:32.123Z", "type": "platform.report",
            "record": {"requestId": "6f7f0961f83442118a7af6fe80b88d56",
                       "metrics": {"durationMs": 101.51, "billedDurationMs": 300,
                                   "memorySizeMB": 512, "maxMemoryUsedMB": 33,
                                   "initDurationMs": 116.67}}}"#,
    );

    // [DG-LOGS] platform.fault: the record is a string.
    let e = round_trip(
        r#"{"time": "2020-08-20T12:31:32.123Z", "type": "platform.fault",
            "record": "RequestId: d783b35e-a91d-4251-af17-035953428a2c Process exited before completing request"}"#,
    );
    assert!(matches!(&e.record, Record::Fault(s) if s.starts_with("RequestId: d783b35e")));

    // [DG-LOGS] platform.extension.
    round_trip(
        r#"{"time": "2020-08-20T12:31:32.123Z", "type": "platform.extension",
            "record": {"name": "Foo.bar", "state": "Ready", "events": ["INVOKE", "SHUTDOWN"]}}"#,
    );

    // [DG-LOGS] platform.logsSubscription; the sample has a trailing comma: removed.
    let e = round_trip(
        r#"{"time": "2020-08-20T12:31:32.123Z", "type": "platform.logsSubscription",
            "record": {"name": "Foo.bar", "state": "Subscribed", "types": ["function", "platform"]}}"#,
    );
    assert_eq!(e.record.only_in(), Some(Api::Logs));

    // [DG-LOGS] platform.logsDropped; the sample lacks the colon after "droppedBytes": added.
    round_trip(
        r#"{"time": "2020-08-20T12:31:32.123Z", "type": "platform.logsDropped",
            "record": {"reason": "Consumer seems to have fallen behind as it has not acknowledged receipt of logs.",
                       "droppedRecords": 123, "droppedBytes": 12345}}"#,
    );

    // [DG-LOGS] platform.runtimeDone (schema 2021-03-18), status `timeout`.
    round_trip(
        r#"{"time": "2021-02-04T20:00:05.123Z", "type": "platform.runtimeDone",
            "record": {"requestId": "6f7f0961f83442118a7af6fe80b88", "status": "timeout"}}"#,
    );

    // [DG-LOGS] function, with an escaped multi-line record.
    round_trip(
        r#"{"time": "2020-08-20T12:31:32.123Z", "type": "function",
            "record": "ERROR encountered. Stack trace:\n\\my-function (line 10)\n"}"#,
    );
}

#[test]
fn a_json_log_line_is_an_object() {
    let e = round_trip(
        r#"{"time": "2023-11-01T00:00:00.000Z", "type": "function",
            "record": {"timestamp": "2023-11-01T00:00:00.000Z", "level": "INFO",
                       "requestId": "79b4f56e-95b1-4643-9700-2807f4e68189", "message": "hi"}}"#,
    );
    assert!(matches!(&e.record, Record::Function(Value::Object(_))));
}

#[test]
fn unknown_or_malformed_records_are_errors() {
    // No catch-all variant: a type this crate does not know is an error (decode records one
    // by one to skip them).
    let unknown =
        r#"{"time":"2022-10-12T00:00:15.064Z","type":"platform.restoreStart","record":{}}"#;
    assert!(serde_json::from_str::<Envelope>(unknown).is_err());
    // Negative control for the above: the same envelope with a known type reads.
    let known =
        r#"{"time":"2022-10-12T00:00:15.064Z","type":"platform.end","record":{"requestId":"r"}}"#;
    assert!(serde_json::from_str::<Envelope>(known).is_ok());
    // A known type whose record lacks a required field.
    let no_id = r#"{"time":"2022-10-12T00:00:15.064Z","type":"platform.end","record":{}}"#;
    assert!(serde_json::from_str::<Envelope>(no_id).is_err());
    // No time.
    let no_time = r#"{"type":"platform.end","record":{"requestId":"r"}}"#;
    assert!(serde_json::from_str::<Envelope>(no_time).is_err());
    // Unknown fields are ignored (RAPID adds `functionArn`, `tracing` to initStart).
    let extra = r#"{"time":"t","type":"platform.initStart","record":{"initializationType":"on-demand","phase":"init","functionArn":"arn:x","tracing":{"type":"X-Amzn-Trace-Id","value":"v"}}}"#;
    assert!(serde_json::from_str::<Envelope>(extra).is_ok());
}

/// The records the emulator builds today (`environment/init.rs`, `environment/invoke.rs`,
/// `telemetry/mod.rs`) written with the typed records: the same members, no more.
#[test]
fn the_emulator_s_records_have_the_same_members() {
    let same = |record: Record, expected: Value| {
        let envelope = Envelope {
            time: "2026-01-01T00:00:00.000Z".into(),
            record,
        };
        let written = serde_json::to_value(&envelope).expect("writes");
        assert_eq!(
            written["record"],
            expected,
            "{}",
            envelope.record.type_name()
        );
        assert_eq!(written["type"], envelope.record.type_name());
    };
    same(
        Record::InitStart(InitStart {
            initialization_type: "on-demand".into(),
            phase: "init".into(),
            runtime_version: Some("grace-emulator:0.1.0".into()),
            runtime_version_arn: None,
            function_name: "f".into(),
            function_version: "$LATEST".into(),
            instance_id: None,
            instance_max_memory: Some(128),
        }),
        json!({"initializationType": "on-demand", "phase": "init",
               "runtimeVersion": "grace-emulator:0.1.0", "functionName": "f",
               "functionVersion": "$LATEST", "instanceMaxMemory": 128}),
    );
    same(
        Record::InitRuntimeDone(InitRuntimeDone {
            initialization_type: "on-demand".into(),
            phase: "init".into(),
            status: "error".into(),
            error_type: Some("Runtime.ExitError".into()),
            spans: vec![],
        }),
        json!({"initializationType": "on-demand", "phase": "init", "status": "error",
               "errorType": "Runtime.ExitError"}),
    );
    same(
        Record::InitReport(InitReport {
            initialization_type: "on-demand".into(),
            phase: "init".into(),
            status: "success".into(),
            error_type: None,
            metrics: InitReportMetrics { duration_ms: 12.5 },
            spans: vec![],
        }),
        json!({"initializationType": "on-demand", "phase": "init", "status": "success",
               "metrics": {"durationMs": 12.5}}),
    );
    same(
        Record::Extension(ExtensionRecord {
            name: "ext".into(),
            state: "Ready".into(),
            events: vec!["INVOKE".into(), "SHUTDOWN".into()],
            error_type: None,
        }),
        json!({"name": "ext", "state": "Ready", "events": ["INVOKE", "SHUTDOWN"]}),
    );
    same(
        Record::Start(Start {
            request_id: "r".into(),
            version: Some("$LATEST".into()),
            tracing: Some(TraceContext {
                kind: "X-Amzn-Trace-Id".into(),
                value: "Root=1-1-1".into(),
                span_id: None,
            }),
        }),
        json!({"requestId": "r", "version": "$LATEST",
               "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-1-1"}}),
    );
    same(
        Record::RuntimeDone(RuntimeDone {
            request_id: "r".into(),
            status: "success".into(),
            error_type: None,
            metrics: Some(RuntimeDoneMetrics {
                duration_ms: 3.25,
                produced_bytes: Some(2),
            }),
            spans: vec![Span {
                name: "responseLatency".into(),
                start: "2026-01-01T00:00:00.000Z".into(),
                duration_ms: 1.5,
            }],
            tracing: None,
        }),
        json!({"requestId": "r", "status": "success",
               "metrics": {"durationMs": 3.25, "producedBytes": 2},
               "spans": [{"name": "responseLatency", "start": "2026-01-01T00:00:00.000Z",
                          "durationMs": 1.5}]}),
    );
    same(
        Record::Report(Report {
            request_id: "r".into(),
            status: "error".into(),
            error_type: Some("Runtime.ExitError".into()),
            metrics: ReportMetrics {
                duration_ms: 3.25,
                billed_duration_ms: 4,
                memory_size_mb: 128,
                max_memory_used_mb: 20,
                init_duration_ms: Some(50.0),
                restore_duration_ms: None,
            },
            spans: vec![],
            tracing: None,
        }),
        json!({"requestId": "r", "status": "error", "errorType": "Runtime.ExitError",
               "metrics": {"durationMs": 3.25, "billedDurationMs": 4, "memorySizeMB": 128,
                           "maxMemoryUsedMB": 20, "initDurationMs": 50.0}}),
    );
    same(
        Record::End(End {
            request_id: "r".into(),
        }),
        json!({"requestId": "r"}),
    );
    same(
        Record::Fault("RequestId: r Error: boom".into()),
        json!("RequestId: r Error: boom"),
    );
    same(
        Record::TelemetrySubscription(Subscription {
            name: "ext".into(),
            state: "Subscribed".into(),
            types: vec!["platform".into()],
        }),
        json!({"name": "ext", "state": "Subscribed", "types": ["platform"]}),
    );
    same(Record::Function(json!("a line")), json!("a line"));
    same(Record::ExtensionLog(json!("a line")), json!("a line"));
}

#[test]
fn which_api_delivers_what() {
    assert_eq!(only_in_type("platform.initStart"), Some(Api::Telemetry));
    assert_eq!(only_in_type("platform.initReport"), Some(Api::Telemetry));
    assert_eq!(
        only_in_type("platform.telemetrySubscription"),
        Some(Api::Telemetry)
    );
    assert_eq!(only_in_type("platform.logsSubscription"), Some(Api::Logs));
    assert_eq!(only_in_type("platform.fault"), Some(Api::Logs));
    assert_eq!(only_in_type("platform.report"), None);
    assert_eq!(only_in_type("function"), None);
    let end = Record::End(End {
        request_id: "r".into(),
    });
    assert_eq!(only_in(&end), Some(Api::Logs));
}
