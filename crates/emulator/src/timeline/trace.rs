//! The same lanes as Chrome trace-event JSON (the Trace Event Format), for zooming in Perfetto
//! or `chrome://tracing`: each environment a process, each lane a thread (named by metadata
//! events), spans complete events (`ph: "X"`), marks thread-scoped instants (`ph: "i"`).
//! Times are microseconds since the first event; `otherData.t0_unix_us` anchors them.

use serde_json::{Value, json};

use super::model::Model;

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
        tid += 1;
        let name = match lane.pid {
            Some(p) => format!("{} (pid {p})", lane.name),
            None => lane.name.clone(),
        };
        events.push(meta("thread_name", pid, tid, json!({ "name": name })));
        events.push(meta(
            "thread_sort_index",
            pid,
            tid,
            json!({ "sort_index": tid }),
        ));
        for item in &lane.items {
            let ts = item.start.saturating_sub(model.t0);
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
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": { "title": title, "t0_unix_us": model.t0 },
    })
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
    Ok(events.len())
}
