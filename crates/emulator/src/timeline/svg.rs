//! The picture: a legend, then per environment one lane for the platform and one per process,
//! spans as bars, marks as ticks, labels in rows under their lane, frozen periods as a hatched
//! band across the environment, compressed stretches of the axis shaded and labelled.

use std::fmt::Write;

use super::layout::{Axis, Rows, Segment, text_width};
use super::model::{Item, Kind, Lane, Model, ms};

const WIDTH: f64 = 1400.0;
const LEFT: f64 = 190.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 96.0;
/// Height of a bar, and of one row of labels.
const BAR: f64 = 18.0;
const ROW: f64 = 15.0;
const ENV_HEADER: f64 = 22.0;

/// Where one label was put: for tests, which check that none overlap.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Placed {
    pub(crate) text: String,
    pub(crate) x0: f64,
    pub(crate) x1: f64,
    pub(crate) y: f64,
}

/// The SVG document, and where its labels went.
pub(crate) fn render(
    model: &Model,
    title: &str,
    verdict: Option<(&str, bool)>,
) -> (String, Vec<Placed>) {
    let axis = Axis::new(model, LEFT, WIDTH - LEFT - RIGHT);
    let width = (axis.right() + RIGHT).max(WIDTH);
    let mut body = String::new();
    let mut placed = Vec::new();
    let mut y = TOP;
    let mut env = None;
    let mut env_top = y;
    let mut frozen: Vec<(f64, f64, &Item)> = Vec::new();
    let mut bands = String::new();
    for lane in &model.lanes {
        if env != Some(lane.env) {
            if env.is_some() {
                band(&mut bands, &frozen, env_top, y);
                frozen.clear();
                y += 8.0;
            }
            env = Some(lane.env);
            env_top = y;
            let _ = writeln!(
                body,
                r##"<text x="12" y="{:.1}" font-weight="bold" font-size="13">{} · environment {}</text>"##,
                y + 15.0,
                esc(&lane.function),
                lane.env
            );
            y += ENV_HEADER;
        }
        for item in &lane.items {
            if item.kind == Kind::Frozen {
                frozen.push((axis.x(item.start), axis.x(item.end), item));
            }
        }
        y += draw_lane(&mut body, &mut placed, lane, &axis, y, width);
    }
    if env.is_some() {
        band(&mut bands, &frozen, env_top, y);
    }
    let axis_y = y + 16.0;
    let height = axis_y + 40.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">
<defs><pattern id="frozen" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#eff6ff"/><line x1="0" y1="0" x2="0" y2="8" stroke="#bfdbfe" stroke-width="3"/></pattern></defs>
<rect width="100%" height="100%" fill="white"/>
<text x="12" y="26" font-size="18" font-weight="bold">{}</text>
"##,
        esc(title)
    );
    if let Some((text, pass)) = verdict {
        let color = if pass { "#15803d" } else { "#b91c1c" };
        let _ = writeln!(
            s,
            r##"<text x="12" y="48" font-size="13" fill="{color}" class="verdict">{}</text>"##,
            esc(text)
        );
    }
    legend(&mut s);
    breaks(&mut s, &axis, TOP - 4.0, axis_y);
    s.push_str(&bands);
    s.push_str(&body);
    draw_axis(&mut s, &axis, model.t0, axis_y);
    s.push_str("</svg>\n");
    (s, placed)
}

/// Draws one lane at `y`; returns its height.
fn draw_lane(
    s: &mut String,
    placed: &mut Vec<Placed>,
    lane: &Lane,
    axis: &Axis,
    y: f64,
    width: f64,
) -> f64 {
    let bar = y + 4.0;
    let mid = bar + BAR / 2.0;
    // The lane's name, and under it what it is.
    let (name, what) = match lane.name.strip_prefix("extension ") {
        Some(ext) => (ext, "extension"),
        None => (lane.name.as_str(), ""),
    };
    let name: String = if name.chars().count() > 24 {
        name.chars().take(23).chain(['…']).collect()
    } else {
        name.to_owned()
    };
    let sub = match lane.pid {
        Some(pid) if what.is_empty() => format!("pid {pid}"),
        Some(pid) => format!("{what}, pid {pid}"),
        None => String::new(),
    };
    let _ = writeln!(
        s,
        r##"<text x="20" y="{:.1}" fill="#111827">{}</text><text x="20" y="{:.1}" fill="#6b7280" font-size="10">{}</text><line x1="{LEFT}" y1="{mid:.1}" x2="{:.1}" y2="{mid:.1}" stroke="#e5e7eb"/>"##,
        mid + 1.0,
        esc(&name),
        mid + 14.0,
        esc(&sub),
        axis.right()
    );
    let below = bar + BAR + 6.0;
    let mut rows = Rows::default();
    let mut labels = String::new();
    let mut pending = Vec::new();
    let limit = width - 8.0;
    for item in &lane.items {
        let (x0, x1) = (axis.x(item.start), axis.x(item.end));
        // A span too short for the axis to widen (0.0 ms) is still drawn.
        let w = if item.kind.is_mark() {
            0.0
        } else {
            (x1 - x0).max(3.0)
        };
        let tip = esc(&item.detail);
        let class = item.kind.class();
        let color = item.kind.color();
        match item.kind {
            Kind::Alive => {
                let _ = writeln!(
                    s,
                    r##"<rect class="{class}" x="{x0:.1}" y="{:.1}" width="{w:.1}" height="4" fill="{color}"><title>{tip}</title></rect>"##,
                    mid - 2.0
                );
                continue;
            }
            Kind::Budget | Kind::Term => {
                let _ = writeln!(
                    s,
                    r##"<rect class="{class}" x="{x0:.1}" y="{:.1}" width="{w:.1}" height="4" fill="{color}"><title>{tip}</title></rect>"##,
                    bar + BAR + 1.0
                );
            }
            Kind::Frozen => {
                let _ = writeln!(
                    s,
                    r##"<rect class="{class}" x="{x0:.1}" y="{bar:.1}" width="{w:.1}" height="{BAR}" fill="url(#frozen)" stroke="{color}"><title>{tip}</title></rect>"##
                );
            }
            Kind::Leftover | Kind::Goodbye => {
                // Something still held: a ring on the lane, apart from the signals' ticks.
                let _ = writeln!(
                    s,
                    r##"<circle class="{class}" cx="{x0:.1}" cy="{mid:.1}" r="5" fill="white" stroke="{color}" stroke-width="2.5"><title>{tip}</title></circle>"##
                );
            }
            k if k.is_mark() => {
                let _ = writeln!(
                    s,
                    r##"<path class="{class}" d="M{x0:.1} {:.1} l-4 -6 h8 z" fill="{color}"/><line class="{class}" x1="{x0:.1}" y1="{:.1}" x2="{x0:.1}" y2="{:.1}" stroke="{color}" stroke-width="2"><title>{tip}</title></line>"##,
                    bar - 1.0,
                    bar - 1.0,
                    bar + BAR,
                );
            }
            _ => {
                let _ = writeln!(
                    s,
                    r##"<rect class="{class}" x="{x0:.1}" y="{bar:.1}" width="{w:.1}" height="{BAR}" fill="{color}" rx="2"><title>{tip}</title></rect>"##
                );
            }
        }
        if item.label.is_empty() {
            continue;
        }
        let tw = text_width(&item.label);
        if !item.kind.is_mark() && item.kind != Kind::Budget && tw + 7.0 <= w {
            // It fits inside its bar.
            let fill = match item.kind {
                Kind::Frozen => "#1e3a8a",
                Kind::Shutdown => "#1f2937",
                _ => "white",
            };
            put(&mut labels, placed, &item.label, x0 + 4.0, bar + 13.0, fill);
            continue;
        }
        pending.push((item, x0, tw));
    }
    // Marks first (SIGTERM, SIGKILL, exits, what was left open), then spans, in time order.
    pending.sort_by_key(|(item, _, _)| !item.kind.is_mark());
    for (item, x0, tw) in pending {
        let Some((lx, row)) = rows.place(x0, tw, limit) else {
            continue;
        };
        let ly = below + ROW * row as f64 + 10.0;
        let color = item.kind.color();
        // A leader from the item down to its label.
        let _ = writeln!(
            labels,
            r##"<line x1="{x0:.1}" y1="{:.1}" x2="{x0:.1}" y2="{:.1}" stroke="{color}" stroke-opacity="0.45" stroke-dasharray="2 2"/>"##,
            bar + BAR,
            ly - 9.0
        );
        let text_color = match item.kind {
            Kind::Invoke | Kind::Frozen | Kind::Shutdown | Kind::Alive => "#374151",
            Kind::Budget => "#c2410c",
            Kind::Init => "#4338ca",
            Kind::Hook => "#7e22ce",
            _ => color,
        };
        put(&mut labels, placed, &item.label, lx, ly, text_color);
    }
    s.push_str(&labels);
    4.0 + BAR + 6.0 + ROW * rows.count() as f64 + 6.0
}

/// One label; dark ones get a white halo, to stay legible over a hatched band.
fn put(s: &mut String, placed: &mut Vec<Placed>, text: &str, x: f64, y: f64, fill: &str) {
    let w = text_width(text);
    let halo = if fill == "white" {
        ""
    } else {
        r#" stroke="white" stroke-width="3" stroke-linejoin="round" paint-order="stroke""#
    };
    let _ = writeln!(
        s,
        r##"<text x="{x:.1}" y="{y:.1}" fill="{fill}"{halo}>{}</text>"##,
        esc(text)
    );
    placed.push(Placed {
        text: text.to_owned(),
        x0: x,
        x1: x + w,
        y,
    });
}

/// Frozen periods as a hatched band across an environment's lanes.
fn band(s: &mut String, frozen: &[(f64, f64, &Item)], top: f64, bottom: f64) {
    for (x0, x1, item) in frozen {
        let _ = writeln!(
            s,
            r##"<rect x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="url(#frozen)" opacity="0.6"><title>{}</title></rect>"##,
            top + ENV_HEADER,
            x1 - x0,
            bottom - top - ENV_HEADER,
            esc(&item.detail)
        );
    }
}

/// Compressed stretches: shaded from the top of the lanes to the axis.
fn breaks(s: &mut String, axis: &Axis, top: f64, axis_y: f64) {
    for seg in axis.segments.iter().filter(|s| s.broken) {
        let _ = writeln!(
            s,
            r##"<rect class="axis-break" x="{:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="#f3f4f6"><title>axis compressed: {} not to scale</title></rect>"##,
            seg.x0,
            seg.x1 - seg.x0,
            axis_y - top,
            ms((seg.t1 - seg.t0) as f64 / 1000.0)
        );
    }
}

fn legend(s: &mut String) {
    let entries = [
        (Kind::Init, "init"),
        (Kind::Invoke, "invoke"),
        (Kind::Frozen, "frozen"),
        (Kind::Shutdown, "spin-down"),
        (Kind::Hook, "shutdown hook"),
        (Kind::Budget, "budget"),
        (Kind::Sigterm, "SIGTERM"),
        (Kind::Sigkill, "SIGKILL"),
        (Kind::Exit, "exit"),
        (Kind::Goodbye, "goodbye"),
        (Kind::Leftover, "cut / left open"),
    ];
    let mut x = 12.0;
    for (kind, text) in entries {
        let fill = match kind {
            Kind::Frozen => "url(#frozen)",
            Kind::Leftover | Kind::Goodbye => "white",
            _ => kind.color(),
        };
        let _ = writeln!(
            s,
            r##"<rect x="{x:.1}" y="62" width="12" height="12" fill="{fill}" stroke="{}" rx="2"/><text x="{:.1}" y="72" fill="#374151">{text}</text>"##,
            kind.color(),
            x + 16.0
        );
        x += 16.0 + text_width(text) + 16.0;
    }
    let _ = writeln!(
        s,
        r##"<rect x="{x:.1}" y="62" width="24" height="12" fill="#f3f4f6"/><text x="{:.1}" y="72" fill="#374151">time compressed (not to scale)</text>"##,
        x + 28.0
    );
}

/// Ticks in every stretch drawn to scale (time since the first event), the duration of every
/// compressed one; no label overlaps the previous one.
fn draw_axis(s: &mut String, axis: &Axis, t0: u64, y: f64) {
    let right = axis.right();
    let left = axis.segments.first().map_or(LEFT, |s| s.x0);
    let _ = writeln!(
        s,
        r##"<line x1="{left:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}" stroke="#374151"/>"##
    );
    let mut last_end = f64::MIN;
    let mut label = |s: &mut String, x: f64, text: &str, tick: bool| {
        let w = text_width(text);
        let x0 = x - w / 2.0;
        if x0 < last_end + 6.0 {
            return;
        }
        last_end = x0 + w;
        if tick {
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{y:.1}" x2="{x:.1}" y2="{:.1}" stroke="#374151"/>"##,
                y + 5.0
            );
        }
        let _ = writeln!(
            s,
            r##"<text class="tick" x="{x0:.1}" y="{:.1}" fill="#374151">{}</text>"##,
            y + 18.0,
            esc(text)
        );
    };
    let mut k = 0;
    let segs = &axis.segments;
    while k < segs.len() {
        if segs[k].broken {
            // One break for a run of compressed stretches.
            let first = segs[k];
            while k + 1 < segs.len() && segs[k + 1].broken {
                k += 1;
            }
            let seg = Segment {
                t1: segs[k].t1,
                x1: segs[k].x1,
                ..first
            };
            let mid = (seg.x0 + seg.x1) / 2.0;
            let _ = writeln!(
                s,
                r##"<path d="M{:.1} {:.1} l6 -10 M{:.1} {:.1} l6 -10" stroke="#6b7280" stroke-width="1.5"/>"##,
                mid - 6.0,
                y + 5.0,
                mid,
                y + 5.0
            );
            label(
                s,
                mid,
                &format!("+{}", ms((seg.t1 - seg.t0) as f64 / 1000.0)),
                false,
            );
            k += 1;
            continue;
        }
        // A run of stretches drawn to scale.
        let start = k;
        while k < segs.len() && !segs[k].broken {
            k += 1;
        }
        let (ta, tb) = (segs[start].t0, segs[k - 1].t1);
        let (xa, xb) = (segs[start].x0, segs[k - 1].x1);
        let us_per_px = (tb - ta) as f64 / (xb - xa).max(1.0);
        let step = nice(us_per_px * 80.0);
        // Ticks at round times since the first event.
        let mut t = t0 + (ta - t0.min(ta)).div_ceil(step) * step;
        while t <= tb {
            let text = tick((t - t0) as f64 / 1000.0, step);
            label(s, axis.x(t), &text, true);
            t += step;
        }
    }
}

/// A tick's label, with as many decimals as its step needs.
fn tick(ms: f64, step_us: u64) -> String {
    match step_us {
        1000.. => format!("{ms:.0} ms"),
        100.. => format!("{ms:.1} ms"),
        _ => format!("{ms:.2} ms"),
    }
}

/// A round step in µs not below `us`.
fn nice(us: f64) -> u64 {
    let mut step = 10u64;
    while (step as f64) < us {
        step = match step.to_string().as_bytes()[0] {
            b'1' => step * 2,
            b'2' => step / 2 * 5,
            _ => step * 2,
        };
    }
    step
}

pub(crate) fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
