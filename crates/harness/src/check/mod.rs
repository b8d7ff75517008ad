//! The check `grace check` runs: a function's full lifecycle under a fresh emulator (a cold
//! start, warm invokes, a freeze while idle, a spin-down; optionally a timeout reset
//! mid-invoke), then [`Verdict`]s on what it did: whether the runtime got SIGTERM, whether it
//! exited before SIGKILL and how much of the runtime's budget for the extensions present its
//! cleanup took, what it left behind (TCP connections, files open for writing, child
//! processes), and whether output written during an invoke was held back past its end. The
//! overall verdict is fail if any verdict fails, else warn if any warns, else pass.
//! [`verdict`] holds the reasoning (with `budget` and `output`); this module runs the lifecycle.

mod budget;
mod connections;
mod output;
mod run;
pub mod verdict;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use grace_emulator::events::{EnvId, EventKind, LifecycleEvent};
use grace_emulator::logs::{LogLine, LogSink, LogSource};
use grace_emulator::timeline::{OutputLine, is_report_line};
use grace_emulator::{Emulator, FunctionConfig, InvokeInput, Options};
use serde::Serialize;

use crate::error::Error;
pub use run::run;
pub use verdict::{Lambda, Status, TimedLine, Verdict, shutdown_verdicts};

/// How the check runs. `CheckOptions::default()` is what `grace check` does without options:
/// a cold invoke and 3 warm ones with `{}`, 300 ms idle (frozen), then the spin-down.
#[derive(Clone)]
pub struct CheckOptions {
    invokes: u32,
    payload: Bytes,
    idle: Duration,
    reset: bool,
    log: Option<LogSink>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            invokes: 3,
            payload: Bytes::from_static(b"{}"),
            idle: Duration::from_millis(300),
            reset: false,
            log: None,
        }
    }
}

impl fmt::Debug for CheckOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckOptions")
            .field("invokes", &self.invokes)
            .field("payload", &self.payload)
            .field("idle", &self.idle)
            .field("reset", &self.reset)
            .finish_non_exhaustive()
    }
}

impl CheckOptions {
    /// How many warm invokes follow the cold one (default 3).
    pub fn invokes(mut self, warm: u32) -> Self {
        self.invokes = warm;
        self
    }

    /// The event every invoke sends (default `{}`).
    pub fn payload(mut self, payload: impl Into<Bytes>) -> Self {
        self.payload = payload.into();
        self
    }

    /// How long the environment stays idle (frozen) before the spin-down (default 300 ms).
    pub fn idle(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// Also force a timeout reset mid-invoke, in a second environment: SIGTERM while the
    /// handler runs (default off).
    pub fn reset(mut self, reset: bool) -> Self {
        self.reset = reset;
        self
    }

    /// Where the function's log lines go as they arrive (default: nowhere; they are still
    /// analysed).
    pub fn on_log(mut self, sink: LogSink) -> Self {
        self.log = Some(sink);
        self
    }
}

/// One invoke's answer, as the check saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Answer {
    /// The Invoke API's status.
    pub status: u16,
    /// `X-Amz-Function-Error`.
    pub function_error: Option<&'static str>,
    /// The first 300 characters of the body.
    pub body: String,
}

/// Whether the check ran under Lambda's resource model (CPU quota, memory limit; see
/// `FunctionConfig::resource_model`), and if not, why: a verdict on CPU-bound cleanup means
/// less without it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ResourceModel {
    /// The environments ran in cgroups with Lambda's CPU time and memory.
    pub on: bool,
    /// `on (cgroup v1: CPU quota, memory limit, freezer)`, `off (no writable cgroup: …)`,
    /// `off (not requested)`.
    pub detail: String,
}

impl ResourceModel {
    /// What `function` runs under on this machine.
    pub fn of(function: &FunctionConfig) -> Self {
        if !function.resource_model {
            return Self {
                on: false,
                detail: "off (not requested)".to_owned(),
            };
        }
        let support = grace_emulator::resource_support(function.cgroup_root.as_deref());
        Self {
            on: matches!(support, grace_emulator::ResourceSupport::Available { .. }),
            detail: support.describe(),
        }
    }
}

/// What the check found: its verdicts, and the evidence.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The function checked.
    pub function: String,
    /// The overall verdict: `fail` when any verdict fails, else `warn` when any warns (a risk, or
    /// something the check could not confirm), else `pass`. Skipped verdicts do not count.
    pub verdict: Status,
    /// Whether the overall verdict is `pass`: no failure and no warning.
    pub pass: bool,
    /// The verdicts, in the order `grace check` prints them.
    #[serde(rename = "checks")]
    pub verdicts: Vec<Verdict>,
    /// The answers to the invokes (the cold one first).
    pub invokes: Vec<Answer>,
    /// Whether Lambda's resource model applied.
    pub resource_model: ResourceModel,
    /// The lifecycle events of the run (init, invokes, freeze, SIGTERM, SHUTDOWN, exits…).
    #[serde(skip)]
    pub events: Vec<LifecycleEvent>,
    /// The runtime's `lambda-grace` report lines (its shutdown hooks), for the timeline.
    #[serde(skip)]
    pub report_lines: Vec<OutputLine>,
    /// When cleanup was SIGKILLed under the resource model: the smallest memory size (of
    /// Lambda's CPU steps) at which a rerun's cleanup ended before SIGKILL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fits_at_mb: Option<u32>,
}

impl Report {
    /// The report on these verdicts, with the overall verdict they add up to.
    fn new(
        function: String,
        verdicts: Vec<Verdict>,
        invokes: Vec<Answer>,
        resource_model: ResourceModel,
        events: Vec<LifecycleEvent>,
    ) -> Self {
        let verdict = overall(&verdicts);
        Self {
            function,
            verdict,
            pass: verdict == Status::Pass,
            verdicts,
            invokes,
            resource_model,
            events,
            report_lines: Vec::new(),
            fits_at_mb: None,
        }
    }

    /// Whether the overall verdict is a pass: no verdict failed and none warned. A warning is
    /// not a pass: it is a risk (cleanup near the budget) or a shutdown the check could not
    /// confirm as graceful (a connection seen open shortly before the exit).
    pub fn passed(&self) -> bool {
        self.pass
    }

    /// The failed verdicts.
    pub fn failures(&self) -> impl Iterator<Item = &Verdict> {
        self.with_status(Status::Fail)
    }

    /// The warnings.
    pub fn warnings(&self) -> impl Iterator<Item = &Verdict> {
        self.with_status(Status::Warn)
    }

    /// The verdicts with `status`.
    pub fn with_status(&self, status: Status) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(move |v| v.status == status)
    }

    /// The verdict with this id (`sigterm`, `exit`, `tcp`…), if it was reached.
    pub fn verdict(&self, id: &str) -> Option<&Verdict> {
        self.verdicts.iter().find(|v| v.id == id)
    }

    /// The one-line summary: `PASS: NAME shuts down gracefully`, `WARN: N of M checks warned`,
    /// or `FAIL: N of M checks failed` (`, and K warned`).
    pub fn summary(&self) -> String {
        let failed = self.failures().count();
        let warned = self.warnings().count();
        let of = self.verdicts.len();
        match (failed, warned) {
            (0, 0) => format!("PASS: {} shuts down gracefully", self.function),
            (0, w) => format!("WARN: {w} of {of} checks warned (not a pass; see the advice)"),
            (f, 0) => format!("FAIL: {f} of {of} checks failed"),
            (f, w) => format!("FAIL: {f} of {of} checks failed, and {w} warned"),
        }
    }

    /// The lifecycle as an SVG picture, titled and with the summary.
    pub fn timeline_svg(&self) -> String {
        grace_emulator::timeline::svg(
            &self.events,
            &self.report_lines,
            &format!("grace check: {}", self.function),
            Some((&self.summary(), self.pass)),
        )
    }

    /// The lifecycle as Chrome trace-event JSON, for Perfetto or `chrome://tracing`.
    pub fn trace_json(&self) -> String {
        grace_emulator::timeline::trace_json(
            &self.events,
            &self.report_lines,
            &format!("grace check: {}", self.function),
        )
    }
}

/// The text `grace check` prints: a header, one line per verdict (with advice), the summary.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "grace check: {}", self.function)?;
        writeln!(f, "  resource model: {}", self.resource_model.detail)?;
        for v in &self.verdicts {
            writeln!(f, "  {}  {:<34} {}", v.status.tag(), v.title, v.detail)?;
            if let Some(advice) = &v.advice {
                writeln!(f, "        advice: {advice}")?;
            }
        }
        write!(f, "{}", self.summary())
    }
}

/// Fail if any verdict fails (a warning never hides a failure), else warn if any warns, else
/// pass.
fn overall(verdicts: &[Verdict]) -> Status {
    let any = |s: Status| verdicts.iter().any(|v| v.status == s);
    if any(Status::Fail) {
        Status::Fail
    } else if any(Status::Warn) {
        Status::Warn
    } else {
        Status::Pass
    }
}

/// Lifecycle events of one environment of function `f`, numbered in order, for unit tests.
#[cfg(test)]
fn test_events(kinds: Vec<(u64, EventKind)>) -> Vec<LifecycleEvent> {
    kinds
        .into_iter()
        .enumerate()
        .map(|(seq, (time_us, kind))| LifecycleEvent {
            seq: seq as u64,
            time_us,
            function: Arc::from("f"),
            env: 1,
            kind,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::run::analyse;
    use super::*;

    fn verdict(id: &'static str, status: Status) -> Verdict {
        Verdict::new(id, "t", status, "d")
    }

    fn report(verdicts: Vec<Verdict>) -> Report {
        let off = ResourceModel {
            on: false,
            detail: "off (not requested)".into(),
        };
        Report::new("f".into(), verdicts, Vec::new(), off, Vec::new())
    }

    #[test]
    fn summarises_as_grace_check_does() {
        let r = report(vec![verdict("a", Status::Pass), verdict("s", Status::Skip)]);
        assert_eq!(r.summary(), "PASS: f shuts down gracefully");
        assert!(r.passed());
        assert_eq!(r.verdict, Status::Pass);
        // A warning is not a pass.
        let r = report(vec![verdict("a", Status::Pass), verdict("b", Status::Warn)]);
        assert_eq!(
            r.summary(),
            "WARN: 1 of 2 checks warned (not a pass; see the advice)"
        );
        assert!(!r.passed());
        assert_eq!(r.verdict, Status::Warn);
        // A warning never hides a failure, whatever the order.
        let r = report(vec![verdict("b", Status::Warn), verdict("a", Status::Fail)]);
        assert_eq!(r.verdict, Status::Fail);
        let r = report(vec![verdict("a", Status::Fail), verdict("b", Status::Warn)]);
        assert_eq!(r.summary(), "FAIL: 1 of 2 checks failed, and 1 warned");
        assert!(!r.passed());
        assert_eq!(r.verdict, Status::Fail);
        assert_eq!(r.failures().map(|v| v.id).collect::<Vec<_>>(), ["a"]);
        assert_eq!(r.verdict("b").map(|v| v.status), Some(Status::Warn));
        assert_eq!(
            r.to_string(),
            "grace check: f\n  resource model: off (not requested)\n  FAIL  t                                  d\n  WARN  t                                  d\nFAIL: 1 of 2 checks failed, and 1 warned"
        );
    }

    #[test]
    fn an_init_failure_fails_the_invokes() {
        let answers = vec![Answer {
            status: 200,
            function_error: Some("Unhandled"),
            body: "boom".into(),
        }];
        // Without an InitFailed event the function error is only a warning.
        let v = analyse(&[], &[], &answers, false, &Lambda::default());
        assert_eq!(v[0].status, Status::Warn);
        assert!(v[0].advice.is_none());
    }
}
