//! The trace export, long sessions, any scale, failures.

use super::*;

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
