//! The lifecycle as a picture and as a trace. Per environment, one lane for the platform (init,
//! invokes, frozen periods, the spin-down, its budget and SIGKILL deadline) and one per process
//! (the runtime: SIGTERM, each shutdown hook of `lambda-grace` read from its report line, the
//! exit or SIGKILL, what it still held; each external extension: SHUTDOWN, its exit).
//!
//! [`svg`] draws it on an axis that stays legible at any scale (long idle stretches are
//! compressed, every span is at least a few pixels wide, labels never overlap); [`trace_json`]
//! exports the same lanes as Chrome trace-event JSON for Perfetto. `grace check --timeline
//! --trace` writes both; `grace serve` serves them at `/grace/v1/timeline.svg` and
//! `/grace/v1/trace.json`.
//!
//! ```
//! use grace_emulator::timeline::{self, OutputLine};
//! let events = Vec::new(); // from `Emulator::events` or an event observer
//! let lines = vec![OutputLine {
//!     time_us: 0,
//!     env: 1,
//!     text: "[lambda-grace] shutdown: SIGTERM; hooks: none; 0.1ms of 450ms budget".into(),
//! }];
//! let picture = timeline::svg(&events, &lines, "my function", None);
//! let trace = timeline::trace_json(&events, &lines, "my function");
//! assert!(picture.starts_with("<svg") && trace.starts_with('{'));
//! ```
//!
//! Modules: `model` (events → lanes of spans and marks), `kind` (what each is), `report` (the
//! shutdown report line), `layout` (the axis and label rows), `svg`, `trace`.

mod kind;
mod layout;
mod model;
mod report;
mod svg;
mod trace;

use crate::events::{EnvId, LifecycleEvent};
pub use report::is_report_line;

/// A line the runtime wrote, with when it arrived; the timeline reads `lambda-grace`'s
/// shutdown report from it (others are ignored: see [`is_report_line`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    /// Microseconds since the Unix epoch.
    pub time_us: u64,
    /// The environment whose runtime wrote it.
    pub env: EnvId,
    pub text: String,
}

/// Renders `events` (any order) and the runtime's report `lines` as an SVG document.
/// `verdict` is a line of text and whether it is a pass.
pub fn svg(
    events: &[LifecycleEvent],
    lines: &[OutputLine],
    title: &str,
    verdict: Option<(&str, bool)>,
) -> String {
    svg::render(&model::Model::build(events, lines), title, verdict).0
}

/// The same as Chrome trace-event JSON (`{"traceEvents": [...]}`).
pub fn trace_json(events: &[LifecycleEvent], lines: &[OutputLine], title: &str) -> String {
    trace::document(&model::Model::build(events, lines), title).to_string()
}

#[cfg(test)]
mod tests;
