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
    let connections = held
        .tcp
        .iter()
        .map(|text| crate::sys::ConnectionFate {
            local: text.split(" -> ").next().unwrap_or_default().to_owned(),
            peer: "127.0.0.1:5432".to_owned(),
            fate: crate::sys::Fate::OpenAtExit,
            sent_after_sigterm: 0,
            how: "exit".to_owned(),
            at_ms: None,
        })
        .collect();
    let (events, lines) = lifecycle(vec![EventKind::Leftovers {
        pid: RT,
        at: "exit",
        holdings: held,
        connections,
        unobserved: None,
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

mod trace_and_scale;
