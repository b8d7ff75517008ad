//! The lifecycle timeline as an SVG picture: one lane per environment on one time axis, with
//! init, invokes, frozen periods, SIGTERM and its budget, SHUTDOWN, SIGKILL and exits, and an
//! optional verdict. `grace check --timeline` writes it; `grace serve` serves it at
//! `/grace/v1/timeline.svg`.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::events::{EnvId, EventKind, LifecycleEvent, Role};

const WIDTH: f64 = 1100.0;
const LEFT: f64 = 150.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 70.0;
const LANE: f64 = 90.0;

/// Renders `events` (any order) as an SVG document. `verdict` is a line of text and whether it
/// is a pass.
pub fn svg(events: &[LifecycleEvent], title: &str, verdict: Option<(&str, bool)>) -> String {
    let mut by_env: BTreeMap<EnvId, Vec<&LifecycleEvent>> = BTreeMap::new();
    for e in events {
        by_env.entry(e.env).or_default().push(e);
    }
    for lane in by_env.values_mut() {
        lane.sort_by_key(|e| e.seq);
    }
    let t0 = events.iter().map(|e| e.time_us).min().unwrap_or(0);
    // The axis also covers each runtime budget window that starts at a SIGTERM.
    let budget_end = by_env
        .values()
        .filter_map(|lane| {
            let term = lane.iter().find(|e| {
                matches!(
                    e.kind,
                    EventKind::Sigterm {
                        role: Role::Runtime,
                        ..
                    }
                )
            })?;
            Some(term.time_us + budget_of(lane)? * 1000)
        })
        .max()
        .unwrap_or(0);
    let t1 = events
        .iter()
        .map(|e| e.time_us)
        .max()
        .unwrap_or(0)
        .max(budget_end)
        .max(t0 + 1000);
    let span = (t1 - t0) as f64;
    let x = |t: u64| LEFT + (t.saturating_sub(t0)) as f64 / span * (WIDTH - LEFT - RIGHT);
    let height = TOP + LANE * by_env.len().max(1) as f64 + 60.0;

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">
<defs><pattern id="frozen" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#dbeafe"/><line x1="0" y1="0" x2="0" y2="8" stroke="#93c5fd" stroke-width="3"/></pattern></defs>
<rect width="100%" height="100%" fill="white"/>
<text x="20" y="26" font-size="18" font-weight="bold">{}</text>
"##,
        esc(title)
    );
    if let Some((text, pass)) = verdict {
        let color = if pass { "#15803d" } else { "#b91c1c" };
        let _ = writeln!(
            s,
            r##"<text x="20" y="50" font-size="14" fill="{color}" class="verdict">{}</text>"##,
            esc(text)
        );
    }
    for (i, (env, lane)) in by_env.iter().enumerate() {
        let y = TOP + LANE * i as f64;
        draw_lane(&mut s, *env, lane, y, &x);
    }
    draw_axis(&mut s, t0, t1, height - 40.0, &x);
    s.push_str("</svg>\n");
    s
}

fn draw_lane(
    s: &mut String,
    env: EnvId,
    lane: &[&LifecycleEvent],
    y: f64,
    x: &impl Fn(u64) -> f64,
) {
    let function = lane
        .first()
        .map(|e| e.function.to_string())
        .unwrap_or_default();
    let mid = y + 30.0;
    let _ = writeln!(
        s,
        r##"<text x="10" y="{}" font-weight="bold">{} #{env}</text>"##,
        mid + 4.0,
        esc(&function)
    );
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{mid}" x2="{}" y2="{mid}" stroke="#e5e7eb"/>"##,
        WIDTH - RIGHT
    );
    let mut open: Option<(u64, &'static str)> = None;
    let mut frozen_at = None;
    let mut sigterm_at = None;
    let bar = |s: &mut String, from: u64, to: u64, fill: &str, label: &str, class: &str| {
        let (a, b) = (x(from), x(to));
        // At least 4 px, drawn with crisp edges: short invokes on a long axis stay visible.
        let w = (b - a).max(4.0);
        let _ = writeln!(
            s,
            r##"<rect class="{class}" x="{a:.1}" y="{}" width="{w:.1}" height="22" fill="{fill}" rx="2" shape-rendering="crispEdges"><title>{}</title></rect>"##,
            mid - 11.0,
            esc(label)
        );
        if w > 40.0 {
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{}" font-size="11">{}</text>"##,
                a + 4.0,
                mid + 4.0,
                esc(label)
            );
        }
    };
    let marker = |s: &mut String, t: u64, color: &str, label: &str, row: f64| {
        let px = x(t);
        let _ = writeln!(
            s,
            r##"<line class="marker" x1="{px:.1}" y1="{}" x2="{px:.1}" y2="{}" stroke="{color}" stroke-width="2"/><text x="{:.1}" y="{}" fill="{color}" font-size="11">{}</text>"##,
            mid - 20.0,
            mid + 20.0,
            px + 3.0,
            mid + 20.0 + row,
            esc(label)
        );
    };
    for e in lane {
        let t = e.time_us;
        match &e.kind {
            EventKind::InitStart { .. } => open = Some((t, "init")),
            EventKind::InitDone { duration_ms } => {
                if let Some((from, _)) = open.take() {
                    bar(
                        s,
                        from,
                        t,
                        "#a5b4fc",
                        &format!("init {duration_ms:.1} ms"),
                        "init",
                    );
                }
            }
            EventKind::InitFailed { error_type, .. } => {
                if let Some((from, _)) = open.take() {
                    bar(
                        s,
                        from,
                        t,
                        "#fca5a5",
                        &format!("init failed: {error_type}"),
                        "init",
                    );
                }
            }
            EventKind::InvokeStart { .. } => open = Some((t, "invoke")),
            EventKind::InvokeEnd { duration_ms, .. } => {
                if let Some((from, _)) = open.take() {
                    bar(
                        s,
                        from,
                        t,
                        "#86efac",
                        &format!("invoke {duration_ms:.2} ms"),
                        "invoke",
                    );
                }
            }
            EventKind::Timeout { .. } => marker(s, t, "#b91c1c", "timeout", 14.0),
            EventKind::Freeze => frozen_at = Some(t),
            EventKind::Thaw => {
                if let Some(from) = frozen_at.take() {
                    bar(s, from, t, "url(#frozen)", "frozen", "frozen");
                }
            }
            EventKind::ShutdownStart { budget_ms, reason } => {
                if let Some(from) = frozen_at.take() {
                    bar(s, from, t, "url(#frozen)", "frozen", "frozen");
                }
                // Near the right edge the label ends at the event instead of starting there.
                let anchor = if x(t) > WIDTH - 260.0 { "end" } else { "start" };
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{}" font-size="11" fill="#374151" text-anchor="{anchor}">shutdown ({reason}), budget {budget_ms} ms</text>"##,
                    x(t),
                    mid - 24.0
                );
            }
            EventKind::Sigterm {
                role: Role::Runtime,
                ..
            } => {
                sigterm_at = Some(t);
                marker(s, t, "#ea580c", "SIGTERM", 0.0);
            }
            EventKind::ShutdownEvent { name, .. } => {
                marker(s, t, "#7c3aed", &format!("SHUTDOWN → {name}"), 14.0)
            }
            EventKind::Sigkill { name, .. } => {
                marker(s, t, "#b91c1c", &format!("SIGKILL {name}"), 28.0)
            }
            EventKind::ProcessExit {
                name, exit, role, ..
            } => {
                let px = x(t);
                let color = if *role == Role::Runtime {
                    "#111827"
                } else {
                    "#6b7280"
                };
                let _ = writeln!(
                    s,
                    r##"<circle class="exit" cx="{px:.1}" cy="{mid}" r="4" fill="{color}"><title>{} exited: {}</title></circle>"##,
                    esc(name),
                    esc(exit)
                );
            }
            EventKind::ShutdownDone { .. } => {
                if let Some(from) = sigterm_at {
                    let _ = writeln!(
                        s,
                        r##"<rect class="budget" x="{:.1}" y="{}" width="{:.1}" height="32" fill="#fdba74" fill-opacity="0.25" stroke="#ea580c" stroke-dasharray="3 2"/>"##,
                        x(from),
                        mid - 16.0,
                        (x(t) - x(from)).max(2.0)
                    );
                }
            }
            _ => {}
        }
    }
    // The runtime's budget window, drawn from SIGTERM for `budget_ms`.
    if let (Some(from), Some(budget)) = (sigterm_at, budget_of(lane)) {
        let to = from + budget * 1000;
        let _ = writeln!(
            s,
            r##"<rect class="budget-window" x="{:.1}" y="{}" width="{:.1}" height="6" fill="#ea580c" fill-opacity="0.5"><title>runtime budget {budget} ms</title></rect>"##,
            x(from),
            mid + 12.0,
            (x(to) - x(from)).max(2.0)
        );
    }
}

fn budget_of(lane: &[&LifecycleEvent]) -> Option<u64> {
    lane.iter().find_map(|e| match e.kind {
        EventKind::ShutdownStart { budget_ms, .. } => Some(budget_ms),
        _ => None,
    })
}

fn draw_axis(s: &mut String, t0: u64, t1: u64, y: f64, x: &impl Fn(u64) -> f64) {
    let span_ms = (t1 - t0) as f64 / 1000.0;
    let step = [
        1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10_000.0,
        60_000.0,
    ]
    .into_iter()
    .find(|st| span_ms / st <= 12.0)
    .unwrap_or(600_000.0);
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="#374151"/>"##,
        WIDTH - RIGHT
    );
    let mut ms = 0.0;
    while ms <= span_ms {
        let px = x(t0 + (ms * 1000.0) as u64);
        let _ = writeln!(
            s,
            r##"<line x1="{px:.1}" y1="{y}" x2="{px:.1}" y2="{}" stroke="#374151"/><text x="{px:.1}" y="{}" text-anchor="middle" font-size="10">{ms} ms</text>"##,
            y + 5.0,
            y + 18.0
        );
        ms += step;
    }
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ev(seq: u64, ms: u64, kind: EventKind) -> LifecycleEvent {
        LifecycleEvent {
            seq,
            time_us: 1_000_000 + ms * 1000,
            function: Arc::from("f"),
            env: 1,
            kind,
        }
    }

    #[test]
    fn draws_every_phase() {
        let events = vec![
            ev(
                0,
                0,
                EventKind::InitStart {
                    phase: "init",
                    runtime_api: "x".into(),
                },
            ),
            ev(1, 5, EventKind::InitDone { duration_ms: 5.0 }),
            ev(
                2,
                5,
                EventKind::InvokeStart {
                    request_id: "r".into(),
                },
            ),
            ev(
                3,
                6,
                EventKind::InvokeEnd {
                    request_id: "r".into(),
                    duration_ms: 1.0,
                    max_memory_mb: 3,
                },
            ),
            ev(4, 6, EventKind::Freeze),
            ev(5, 100, EventKind::Thaw),
            ev(
                6,
                100,
                EventKind::ShutdownStart {
                    reason: "spindown",
                    budget_ms: 500,
                },
            ),
            ev(
                7,
                100,
                EventKind::Sigterm {
                    role: Role::Runtime,
                    name: "bootstrap".into(),
                    pid: 1,
                },
            ),
            ev(
                8,
                130,
                EventKind::ProcessExit {
                    role: Role::Runtime,
                    name: "bootstrap".into(),
                    pid: 1,
                    exit: "exit status 0".into(),
                    during_shutdown: true,
                },
            ),
            ev(
                9,
                131,
                EventKind::ShutdownDone {
                    reason: "spindown",
                    duration_ms: 31.0,
                },
            ),
        ];
        let svg = svg(&events, "check <f>", Some(("PASS", true)));
        for class in [
            "init",
            "invoke",
            "frozen",
            "marker",
            "exit",
            "budget-window",
            "verdict",
        ] {
            assert!(
                svg.contains(&format!("class=\"{class}\"")),
                "{class} missing"
            );
        }
        assert!(svg.contains("check &lt;f&gt;"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}
