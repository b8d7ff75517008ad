use std::sync::Arc;

use super::layout::{Axis, MIN_SPAN, Rows};
use super::model::{Kind, Model};
use super::*;
use crate::events::{EventKind, Role};
use crate::sys::Holdings;

const T0: u64 = 1_000_000;
const RT: u32 = 41;
const EXT: u32 = 42;

/// An event `us` microseconds after T0.
fn ev(seq: u64, us: u64, kind: EventKind) -> LifecycleEvent {
    LifecycleEvent {
        seq,
        time_us: T0 + us,
        function: Arc::from("f"),
        env: 1,
        kind,
    }
}

const REPORT: &str = "[lambda-grace] shutdown: SIGTERM; hooks: flush-metrics ok 11.2ms, \
                      close-database-pool ok 21.3ms; 32.5ms of 450ms budget";

/// A cold start, a 50 µs invoke, 300 ms frozen, a spin-down whose runtime runs two hooks;
/// `extra` events are appended.
fn lifecycle(extra: Vec<EventKind>) -> (Vec<LifecycleEvent>, Vec<OutputLine>) {
    let mut kinds = vec![
        (
            0,
            EventKind::InitStart {
                phase: "init",
                runtime_api: "x".into(),
            },
        ),
        (
            100,
            EventKind::ProcessStart {
                role: Role::Runtime,
                name: "bootstrap".into(),
                pid: RT,
            },
        ),
        (5_000, EventKind::InitDone { duration_ms: 5.0 }),
        (
            5_000,
            EventKind::InvokeStart {
                request_id: "r".into(),
            },
        ),
        (
            5_050,
            EventKind::InvokeEnd {
                request_id: "r".into(),
                duration_ms: 0.05,
                max_memory_mb: 3,
            },
        ),
        (5_100, EventKind::Freeze),
        (305_100, EventKind::Thaw),
        (
            305_100,
            EventKind::ShutdownStart {
                reason: "spindown",
                budget_ms: 500,
            },
        ),
        (
            306_000,
            EventKind::Sigterm {
                role: Role::Runtime,
                name: "bootstrap".into(),
                pid: RT,
            },
        ),
        (
            339_000,
            EventKind::ProcessExit {
                role: Role::Runtime,
                name: "bootstrap".into(),
                pid: RT,
                exit: "exit status 0".into(),
                during_shutdown: true,
            },
        ),
        (
            340_000,
            EventKind::ShutdownDone {
                reason: "spindown",
                duration_ms: 34.9,
            },
        ),
    ];
    kinds.extend(extra.into_iter().map(|k| (338_900, k)));
    kinds.sort_by_key(|(t, _)| *t);
    let events = kinds
        .into_iter()
        .enumerate()
        .map(|(n, (t, k))| ev(n as u64, t, k))
        .collect();
    let lines = vec![OutputLine {
        time_us: T0 + 338_800,
        env: 1,
        text: REPORT.into(),
    }];
    (events, lines)
}

fn items(model: &Model, lane: &str, kind: Kind) -> Vec<super::model::Item> {
    model
        .lanes
        .iter()
        .filter(|l| l.name == lane)
        .flat_map(|l| l.items.iter().filter(|i| i.kind == kind).cloned())
        .collect()
}

#[test]
fn draws_every_phase_with_lanes_and_hooks() {
    let (events, lines) = lifecycle(vec![]);
    let svg = svg(&events, &lines, "check <f>", Some(("PASS", true)));
    for class in [
        "init",
        "invoke",
        "frozen",
        "sigterm",
        "exit",
        "hook",
        "budget-window",
        "deadline",
        "verdict",
        "axis-break",
    ] {
        assert!(
            svg.contains(&format!("class=\"{class}\"")),
            "{class} missing"
        );
    }
    assert!(svg.contains("check &lt;f&gt;"));
    assert!(svg.contains(">runtime<") && svg.contains(">pid 41<") && svg.contains(">platform<"));
    assert!(svg.contains(">exit 0, 33.0 ms after SIGTERM<"), "{svg}");
    assert!(svg.contains(">close-database-pool 21.3 ms<"));
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
}

#[test]
fn a_tiny_invoke_and_a_long_freeze_are_both_visible_and_labelled() {
    let (events, lines) = lifecycle(vec![]);
    let model = Model::build(&events, &lines);
    let axis = Axis::new(&model, 0.0, 1000.0);
    let invoke = &items(&model, "platform", Kind::Invoke)[0];
    let frozen = &items(&model, "platform", Kind::Frozen)[0];
    let width = |i: &super::model::Item| axis.x(i.end) - axis.x(i.start);
    assert!(width(invoke) >= MIN_SPAN - 1e-6, "{}", width(invoke));
    assert!(width(frozen) >= MIN_SPAN, "{}", width(frozen));
    // The whole still fits the width asked for.
    assert!(axis.right() <= 1000.0 + 1e-6, "{}", axis.right());
    // Negative control: on a plain linear axis the invoke would be a sliver.
    let linear = invoke_us(invoke) as f64 / (model.t1 - model.t0) as f64 * 1000.0;
    assert!(linear < 1.0, "{linear}");
    let (_, placed) = svg::render(&model, "t", None);
    for text in ["invoke 0.05 ms", "frozen 300 ms", "init 5.0 ms", "SIGTERM"] {
        assert!(
            placed.iter().any(|p| p.text == text),
            "{text} not labelled: {placed:?}"
        );
    }
}

fn invoke_us(i: &super::model::Item) -> u64 {
    i.end - i.start
}

#[test]
fn labels_never_overlap() {
    // Many marks at one instant, on the runtime's lane: what it still held at its exit.
    let held = Holdings {
        tcp: (0..4)
            .map(|n| format!("127.0.0.1:{} -> 127.0.0.1:5432", 40000 + n))
            .collect(),
        files: vec!["/tmp/out.log".into()],
        children: vec![],
    };
    let (events, lines) = lifecycle(vec![EventKind::Leftovers {
        pid: RT,
        at: "exit",
        stale_ms: 0.1,
        holdings: held,
    }]);
    let model = Model::build(&events, &lines);
    assert_eq!(items(&model, "runtime", Kind::Leftover).len(), 5);
    let (_, placed) = svg::render(&model, "t", None);
    // Every one of them is labelled (marks go before spans).
    let open = placed.iter().filter(|p| p.text.ends_with("open at exit"));
    assert_eq!(open.count(), 5, "{placed:?}");
    for (n, a) in placed.iter().enumerate() {
        for b in &placed[n + 1..] {
            let same_row = (a.y - b.y).abs() < 11.0;
            let apart = a.x1 <= b.x0 || b.x1 <= a.x0;
            assert!(!same_row || apart, "{a:?} overlaps {b:?}");
        }
    }
    // Negative control: two labels at one spot go to two rows.
    let mut rows = Rows::default();
    assert_eq!(rows.place(10.0, 50.0, 500.0), Some((10.0, 0)));
    assert_eq!(rows.place(20.0, 50.0, 500.0), Some((20.0, 1)));
    assert_eq!(rows.place(200.0, 50.0, 500.0), Some((200.0, 0)));
    // Near the right edge a label ends at its item.
    assert_eq!(rows.place(480.0, 50.0, 500.0), Some((430.0, 0)));
    // Rows are bounded: the sixth label at one spot is left to the tooltip.
    for _ in 0..3 {
        assert!(rows.place(15.0, 50.0, 500.0).is_some());
    }
    assert_eq!(rows.place(15.0, 50.0, 500.0), None);
}

#[test]
fn hooks_from_the_report_line_are_spans_in_order() {
    let (events, lines) = lifecycle(vec![]);
    let model = Model::build(&events, &lines);
    let hooks = items(&model, "runtime", Kind::Hook);
    let names: Vec<&str> = hooks.iter().map(|h| h.label.as_str()).collect();
    assert_eq!(
        names,
        ["flush-metrics 11.2 ms", "close-database-pool 21.3 ms"]
    );
    // They run back to back and end when the report line arrived.
    assert_eq!(hooks[0].start, T0 + 338_800 - 32_500);
    assert_eq!(hooks[0].end, hooks[1].start);
    assert_eq!(hooks[1].end, T0 + 338_800);
    assert_eq!(hooks[1].end - hooks[1].start, 21_300);
    // Negative control: without the report line, no hooks.
    let bare = Model::build(&events, &[]);
    assert!(items(&bare, "runtime", Kind::Hook).is_empty());
    // A failed hook is drawn as one.
    let failed = OutputLine {
        text:
            "[lambda-grace] shutdown: SIGTERM; hooks: a timed out 400.0ms; 450.0ms of 450ms budget"
                .into(),
        ..lines[0].clone()
    };
    let model = Model::build(&events, &[failed]);
    assert_eq!(items(&model, "runtime", Kind::HookFailed).len(), 1);
    // Only a shutdown that SIGTERM did not start is marked with its trigger.
    assert!(items(&model, "runtime", Kind::Trigger).is_empty());
    let early = OutputLine {
        text: REPORT.replace("shutdown: SIGTERM;", "shutdown: Runtime API error;"),
        ..lines[0].clone()
    };
    let model = Model::build(&events, &[early]);
    let trigger = &items(&model, "runtime", Kind::Trigger)[0];
    assert_eq!(trigger.label, "shutdown: Runtime API error");
    assert_eq!(trigger.start, T0 + 338_800 - 32_500);
}

#[test]
fn each_external_extension_has_its_lane() {
    let (mut events, lines) = lifecycle(vec![]);
    let n = events.len() as u64;
    events.push(ev(
        n,
        200,
        EventKind::ProcessStart {
            role: Role::Extension,
            name: "telemetry".into(),
            pid: EXT,
        },
    ));
    events.push(ev(
        n + 1,
        340_000,
        EventKind::ShutdownEvent {
            name: "telemetry".into(),
            reason: "spindown",
            deadline_ms: 0,
        },
    ));
    events.push(ev(
        n + 2,
        341_000,
        EventKind::Sigkill {
            role: Role::Extension,
            name: "telemetry".into(),
            pid: EXT,
        },
    ));
    let model = Model::build(&events, &lines);
    let names: Vec<&str> = model.lanes.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["platform", "runtime", "extension telemetry"]);
    assert_eq!(
        items(&model, "extension telemetry", Kind::ShutdownEvent).len(),
        1
    );
    assert_eq!(items(&model, "extension telemetry", Kind::Sigkill).len(), 1);
    // Never exited: alive until the end of the record.
    assert_eq!(items(&model, "extension telemetry", Kind::Alive).len(), 1);
}

#[test]
fn the_trace_is_valid_trace_event_json() {
    let (mut events, lines) = lifecycle(vec![]);
    // A span whose end was recorded before its start (a clock step) still has dur >= 0.
    let n = events.len() as u64;
    events.push(ev(
        n,
        400_000,
        EventKind::InvokeStart {
            request_id: "late".into(),
        },
    ));
    events.push(ev(
        n + 1,
        399_000,
        EventKind::InvokeEnd {
            request_id: "late".into(),
            duration_ms: 1.0,
            max_memory_mb: 3,
        },
    ));
    let text = trace_json(&events, &lines, "t");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let count = trace::validate(&doc).unwrap();
    assert!(count > 10, "{count}");
    let all = doc["traceEvents"].as_array().unwrap();
    let named = |name: &str| all.iter().any(|e| e["name"] == name);
    assert!(named("thread_name") && named("process_name"));
    assert!(named("flush-metrics 11.2 ms") && named("SIGTERM"));
    let hook = all
        .iter()
        .find(|e| e["name"] == "close-database-pool 21.3 ms")
        .unwrap();
    assert_eq!(
        (hook["ph"].as_str(), hook["dur"].as_u64()),
        (Some("X"), Some(21_300))
    );
    // Negative controls: the validator rejects what would not load.
    let bad = serde_json::json!({"traceEvents": [
        {"name": "x", "ph": "X", "ts": 1, "pid": 1, "tid": 1, "dur": -5}
    ]});
    assert!(trace::validate(&bad).unwrap_err().contains("dur"));
    let bad = serde_json::json!({"traceEvents": [{"name": "x", "ph": "i", "ts": 1, "pid": 1}]});
    assert!(trace::validate(&bad).unwrap_err().contains("tid"));
    let bad = serde_json::json!({"traceEvents": [
        {"name": "a", "ph": "X", "ts": 0, "dur": 10, "pid": 1, "tid": 1},
        {"name": "b", "ph": "X", "ts": 5, "dur": 10, "pid": 1, "tid": 1}
    ]});
    assert!(trace::validate(&bad).unwrap_err().contains("in part"));
    // The budget overlaps the spin-down in part, so it went to a second platform track.
    let budget = all.iter().find(|e| e["cat"] == "budget-window").unwrap();
    let spin_down = all.iter().find(|e| e["cat"] == "shutdown").unwrap();
    assert_ne!(budget["tid"], spin_down["tid"]);
    assert!(all.iter().any(|e| e["args"]["name"] == "platform · 2"));
}

#[test]
fn a_long_session_is_drawn_with_every_invoke_visible() {
    // 500 invokes of 0.3 ms, each followed by 2 s frozen: a `grace serve` afternoon.
    let mut events = Vec::new();
    let mut t = 0;
    for n in 0..500u64 {
        let id = format!("r{n}");
        let kinds = [
            (
                0,
                EventKind::InvokeStart {
                    request_id: id.clone(),
                },
            ),
            (
                300,
                EventKind::InvokeEnd {
                    request_id: id,
                    duration_ms: 0.3,
                    max_memory_mb: 3,
                },
            ),
            (310, EventKind::Freeze),
            (2_000_000, EventKind::Thaw),
        ];
        for (dt, kind) in kinds {
            events.push(ev(events.len() as u64, t + dt, kind));
        }
        t += 2_000_100;
    }
    let started = std::time::Instant::now();
    let model = Model::build(&events, &[]);
    let axis = Axis::new(&model, 0.0, 1000.0);
    let invokes = items(&model, "platform", Kind::Invoke);
    assert_eq!(invokes.len(), 500);
    for i in &invokes {
        assert!(axis.x(i.end) - axis.x(i.start) >= MIN_SPAN - 1e-6);
    }
    let (svg, _) = svg::render(&model, "t", None);
    assert!(svg.len() < 2_000_000, "{}", svg.len());
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn nothing_recorded_yet_is_an_empty_picture_and_trace() {
    let svg = svg(&[], &[], "grace serve", None);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(!svg.contains("class=\"invoke\""));
    let doc: serde_json::Value = serde_json::from_str(&trace_json(&[], &[], "t")).unwrap();
    assert_eq!(trace::validate(&doc), Ok(0));
}

/// Random lifecycles, durations from microseconds to seconds: whatever the scale, every span
/// gets its minimum width, the axis never runs backwards, no two labels overlap, and the trace
/// is valid.
#[test]
fn any_scale_stays_legible() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rand = move |max: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Log-uniform: as many microsecond gaps as second-long ones.
        let exp = seed % 7;
        (seed >> 8) % (10u64.pow(exp as u32).min(max) + 1)
    };
    for _ in 0..200 {
        let mut kinds = Vec::new();
        let mut t = 0;
        let mut at = |dt: u64, kind: EventKind, kinds: &mut Vec<(u64, EventKind)>| {
            t += dt;
            kinds.push((t, kind));
        };
        at(
            0,
            EventKind::InitStart {
                phase: "init",
                runtime_api: "x".into(),
            },
            &mut kinds,
        );
        at(
            rand(50_000),
            EventKind::InitDone { duration_ms: 1.0 },
            &mut kinds,
        );
        for n in 0..rand(12) {
            let id = format!("r{n}");
            at(
                rand(1000),
                EventKind::InvokeStart {
                    request_id: id.clone(),
                },
                &mut kinds,
            );
            at(
                rand(3_000_000),
                EventKind::InvokeEnd {
                    request_id: id,
                    duration_ms: 1.0,
                    max_memory_mb: 1,
                },
                &mut kinds,
            );
            at(rand(100), EventKind::Freeze, &mut kinds);
            at(rand(9_000_000), EventKind::Thaw, &mut kinds);
        }
        at(
            rand(10),
            EventKind::ShutdownStart {
                reason: "spindown",
                budget_ms: 500,
            },
            &mut kinds,
        );
        at(
            rand(100_000),
            EventKind::Sigterm {
                role: Role::Runtime,
                name: "b".into(),
                pid: RT,
            },
            &mut kinds,
        );
        at(
            rand(600_000),
            EventKind::ProcessExit {
                role: Role::Runtime,
                name: "b".into(),
                pid: RT,
                exit: "exit status 0".into(),
                during_shutdown: true,
            },
            &mut kinds,
        );
        let events: Vec<LifecycleEvent> = kinds
            .into_iter()
            .enumerate()
            .map(|(n, (t, k))| ev(n as u64, t, k))
            .collect();
        let model = Model::build(&events, &[]);
        let axis = Axis::new(&model, 0.0, 1000.0);
        for pair in axis.segments.windows(2) {
            assert!(pair[0].x1 <= pair[1].x0 + 1e-9 && pair[1].x0 <= pair[1].x1);
        }
        for item in model.lanes.iter().flat_map(|l| &l.items) {
            if !item.kind.is_mark() && item.end > item.start {
                let w = axis.x(item.end) - axis.x(item.start);
                assert!(w >= MIN_SPAN - 1e-6, "{item:?}: {w} px");
            }
        }
        trace::validate(&trace::document(&model, "t")).unwrap();
        let (_, placed) = svg::render(&model, "t", None);
        for (n, a) in placed.iter().enumerate() {
            for b in &placed[n + 1..] {
                let same_row = (a.y - b.y).abs() < 11.0;
                assert!(
                    !same_row || a.x1 <= b.x0 || b.x1 <= a.x0,
                    "{a:?} overlaps {b:?}"
                );
            }
        }
    }
}

#[test]
fn an_invoke_that_timed_out_or_failed_is_drawn_as_failed() {
    let invoke = |n: u64, end: Option<EventKind>| {
        let id = format!("r{n}");
        let mut v = vec![EventKind::InvokeStart {
            request_id: id.clone(),
        }];
        v.extend(end);
        v.push(EventKind::InvokeEnd {
            request_id: id,
            duration_ms: 1.0,
            max_memory_mb: 1,
        });
        v
    };
    let kinds: Vec<EventKind> = [
        invoke(0, None),
        invoke(
            1,
            Some(EventKind::Timeout {
                request_id: "r1".into(),
                timeout_ms: 1,
            }),
        ),
        invoke(
            2,
            Some(EventKind::FunctionError {
                request_id: "r2".into(),
                error_type: "Unhandled".into(),
            }),
        ),
    ]
    .concat();
    let events: Vec<LifecycleEvent> = kinds
        .into_iter()
        .enumerate()
        .map(|(n, k)| ev(n as u64, n as u64 * 100, k))
        .collect();
    let model = Model::build(&events, &[]);
    assert_eq!(items(&model, "platform", Kind::Invoke).len(), 1);
    assert_eq!(items(&model, "platform", Kind::InvokeFailed).len(), 2);
}

#[test]
fn no_budget_is_drawn_when_nothing_was_signalled() {
    let (events, lines) = lifecycle(vec![]);
    let model = Model::build(&events, &lines);
    assert_eq!(items(&model, "platform", Kind::Budget).len(), 1);
    assert_eq!(items(&model, "platform", Kind::Deadline).len(), 1);
    // The same spin-down with the runtime already gone (a failed init): no SIGTERM, no budget.
    let gone: Vec<LifecycleEvent> = events
        .into_iter()
        .filter(|e| !matches!(e.kind, EventKind::Sigterm { .. }))
        .collect();
    let model = Model::build(&gone, &[]);
    assert!(items(&model, "platform", Kind::Budget).is_empty());
    assert!(items(&model, "platform", Kind::Deadline).is_empty());
}
