//! The same lanes as Chrome trace-event JSON (the Trace Event Format), for zooming in Perfetto
//! or `chrome://tracing`: each environment a process, each lane a thread (named by metadata
//! events), spans complete events (`ph: "X"`), marks thread-scoped instants (`ph: "i"`).
//! Times are microseconds since the first event; `otherData.t0_unix_us` anchors them.

use serde_json::{Value, json};

use super::model::{Lane, Model};

/// The trace document.
pub(crate) fn document(model: &Model, title: &str) -> Value {
    let mut events = Vec::new();
    let mut env = None;
    let mut tid = 0u64;
    for lane in &model.lanes {
        let pid = lane.env;
        if env != Some(pid) {
            env = Some(pid);
            tid = 0;
            events.push(meta(
                "process_name",
                pid,
                0,
                json!({ "name": format!("{} · environment {pid}", lane.function) }),
            ));
            events.push(meta(
                "process_sort_index",
                pid,
                0,
                json!({ "sort_index": pid }),
            ));
        }
        let name = match lane.pid {
            Some(p) => format!("{} (pid {p})", lane.name),
            None => lane.name.clone(),
        };
        let (tracks, count) = tracks(lane);
        for n in 0..count {
            let name = if n == 0 {
                name.clone()
            } else {
                format!("{name} · {}", n + 1)
            };
            let t = tid + 1 + n as u64;
            events.push(meta("thread_name", pid, t, json!({ "name": name })));
            events.push(meta(
                "thread_sort_index",
                pid,
                t,
                json!({ "sort_index": t }),
            ));
        }
        for (item, track) in lane.items.iter().zip(tracks) {
            let (ts, tid) = (item.start.saturating_sub(model.t0), tid + 1 + track as u64);
            let name = if item.label.is_empty() {
                item.kind.class().to_owned()
            } else {
                item.label.clone()
            };
            let args = json!({ "detail": item.detail });
            events.push(if item.kind.is_mark() {
                json!({
                    "name": name, "cat": item.kind.class(), "ph": "i", "s": "t",
                    "ts": ts, "pid": pid, "tid": tid, "args": args,
                })
            } else {
                json!({
                    "name": name, "cat": item.kind.class(), "ph": "X",
                    "ts": ts, "dur": item.end.saturating_sub(item.start),
                    "pid": pid, "tid": tid, "args": args,
                })
            });
        }
        tid += count as u64;
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": { "title": title, "t0_unix_us": model.t0 },
    })
}

/// The track of each item of `lane` and how many tracks it needs. Trace viewers want the spans
/// of one thread nested or apart; one that overlaps another only in part (the budget and the
/// spin-down; hooks a runtime began before its SIGTERM) goes to a further track.
fn tracks(lane: &Lane) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..lane.items.len()).collect();
    order.sort_by_key(|&i| (lane.items[i].start, std::cmp::Reverse(lane.items[i].end)));
    let mut taken: Vec<Vec<(u64, u64)>> = vec![Vec::new()];
    let mut track = vec![0; lane.items.len()];
    for i in order {
        let item = &lane.items[i];
        if item.kind.is_mark() {
            continue;
        }
        let (s, e) = (item.start, item.end.max(item.start));
        let fits = |spans: &Vec<(u64, u64)>| {
            spans
                .iter()
                .all(|&(a, b)| e <= a || b <= s || (a <= s && e <= b) || (s <= a && b <= e))
        };
        let t = match taken.iter().position(fits) {
            Some(t) => t,
            None => {
                taken.push(Vec::new());
                taken.len() - 1
            }
        };
        taken[t].push((s, e));
        track[i] = t;
    }
    (track, taken.len())
}

fn meta(name: &str, pid: u64, tid: u64, args: Value) -> Value {
    json!({ "name": name, "ph": "M", "ts": 0, "pid": pid, "tid": tid, "args": args })
}

/// What every event of a trace must have to load: a known phase, a timestamp, a process and a
/// thread, and for a complete event a non-negative duration. `Err` names the first offender.
#[cfg(test)]
pub(crate) fn validate(doc: &Value) -> Result<usize, String> {
    let events = doc["traceEvents"]
        .as_array()
        .ok_or("no traceEvents array")?;
    for (n, e) in events.iter().enumerate() {
        let ph = e["ph"].as_str().ok_or(format!("event {n}: no ph"))?;
        if !matches!(ph, "X" | "i" | "M") {
            return Err(format!("event {n}: unexpected ph {ph}"));
        }
        for key in ["ts", "pid", "tid"] {
            if !e[key].is_u64() {
                return Err(format!("event {n}: {key} missing or negative: {e}"));
            }
        }
        if e["name"].as_str().is_none_or(str::is_empty) {
            return Err(format!("event {n}: no name"));
        }
        if ph == "X" && !e["dur"].is_u64() {
            return Err(format!("event {n}: dur missing or negative: {e}"));
        }
    }
    // Spans of one thread nest or stay apart.
    let spans: Vec<(u64, u64, u64, u64)> = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .filter_map(|e| {
            let ts = e["ts"].as_u64()?;
            Some((
                e["pid"].as_u64()?,
                e["tid"].as_u64()?,
                ts,
                ts + e["dur"].as_u64()?,
            ))
        })
        .collect();
    for (n, &(p, t, s, e)) in spans.iter().enumerate() {
        for &(p2, t2, a, b) in &spans[n + 1..] {
            let ok = e <= a || b <= s || (a <= s && e <= b) || (s <= a && b <= e);
            if p == p2 && t == t2 && !ok {
                return Err(format!(
                    "pid {p} tid {t}: [{s}, {e}] and [{a}, {b}] overlap in part"
                ));
            }
        }
    }
    Ok(events.len())
}
