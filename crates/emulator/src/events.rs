//! Lifecycle events: every step an environment takes, with a timestamp. They are the source of
//! `grace serve --events`, the `/grace/v1/events` control endpoint, and the checks and timelines
//! built on the emulator.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::sys::Pid;

/// Identifies one execution environment (sandbox) for the emulator's lifetime.
pub type EnvId = u64;

/// The `env` of events about a function rather than one of its environments (`reload`,
/// `reload_failed`): environments are numbered from 1.
pub const FUNCTION_EVENT: EnvId = 0;

/// One step of an environment's life.
#[derive(Debug, Clone, Serialize)]
pub struct LifecycleEvent {
    /// Order of recording, across all environments.
    pub seq: u64,
    /// Wall-clock time, microseconds since the Unix epoch.
    pub time_us: u64,
    /// The function the environment runs.
    pub function: Arc<str>,
    /// The environment; [`FUNCTION_EVENT`] (0) for an event about the function as a whole
    /// (a reload), which no environment has.
    pub env: EnvId,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// Which process of an environment an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Runtime,
    Extension,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    InitStart {
        phase: &'static str,
        runtime_api: String,
    },
    ProcessStart {
        role: Role,
        name: String,
        pid: Pid,
    },
    ExtensionRegistered {
        name: String,
        external: bool,
        events: Vec<String>,
    },
    RuntimeReady,
    InitDone {
        duration_ms: f64,
    },
    InitFailed {
        error_type: String,
        message: String,
        duration_ms: f64,
    },
    InvokeStart {
        request_id: String,
    },
    Response {
        request_id: String,
        bytes: usize,
    },
    FunctionError {
        request_id: String,
        error_type: String,
    },
    RuntimeDone {
        request_id: String,
        status: &'static str,
    },
    InvokeEnd {
        request_id: String,
        duration_ms: f64,
        max_memory_mb: u64,
    },
    Timeout {
        request_id: String,
        timeout_ms: u64,
    },
    Freeze,
    Thaw,
    ShutdownStart {
        reason: &'static str,
        budget_ms: u64,
    },
    Sigterm {
        role: Role,
        name: String,
        pid: Pid,
    },
    ShutdownEvent {
        name: String,
        reason: &'static str,
        deadline_ms: u64,
    },
    ProcessExit {
        role: Role,
        name: String,
        pid: Pid,
        exit: String,
        during_shutdown: bool,
    },
    /// What the runtime still held when it exited (`at: "exit"`) or was killed (`at:
    /// "sigkill"`): connections, files open for writing, children, read while it was stopped;
    /// and how each TCP connection open at SIGTERM ended (observed from SIGTERM on).
    Leftovers {
        pid: Pid,
        at: &'static str,
        #[serde(flatten)]
        holdings: crate::sys::Holdings,
        connections: Vec<crate::sys::ConnectionFate>,
        /// Why the observation is not exact, when it is not.
        #[serde(skip_serializing_if = "Option::is_none")]
        unobserved: Option<String>,
    },
    Sigkill {
        role: Role,
        name: String,
        pid: Pid,
    },
    ShutdownDone {
        reason: &'static str,
        duration_ms: f64,
    },
    /// The function's definition was replaced (`grace serve --watch` after a rebuild): new
    /// invokes go to new environments of `generation` (the first definition is 1), and the
    /// `retiring` environments of the old one are retired (env [`FUNCTION_EVENT`]).
    Reload {
        generation: u64,
        retiring: usize,
    },
    /// A new definition could not be made (a build error): the old one keeps serving (env
    /// [`FUNCTION_EVENT`]).
    ReloadFailed {
        error: String,
    },
    /// The pool will never hand this environment out again: it spins down now if idle, else as
    /// soon as its invocation ends (`reason`: `reload`).
    Retired {
        reason: &'static str,
    },
}

/// Called with every event as it is recorded (for `--events` and other live views).
pub type Observer = Arc<dyn Fn(&LifecycleEvent) + Send + Sync>;

/// A bounded, shared record of lifecycle events (the newest `capacity` are kept, so memory does
/// not grow with the number of invokes).
pub struct EventLog {
    inner: Mutex<Inner>,
    observer: Option<Observer>,
    /// The newest shutdown report lines the runtimes wrote (lambda-grace's `[lambda-grace]
    /// shutdown: …`), for the timeline's hook spans.
    reports: Mutex<VecDeque<crate::timeline::OutputLine>>,
}

/// How many report lines are kept (one per spin-down of an environment).
const REPORT_LINES: usize = 256;

struct Inner {
    next_seq: u64,
    capacity: usize,
    ring: VecDeque<LifecycleEvent>,
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog").finish_non_exhaustive()
    }
}

impl EventLog {
    /// A log that keeps the newest `capacity` events.
    pub fn new(capacity: usize, observer: Option<Observer>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                next_seq: 0,
                capacity,
                ring: VecDeque::new(),
            }),
            observer,
            reports: Mutex::new(VecDeque::new()),
        }
    }

    /// Keeps `text`, written by environment `env`'s runtime, if it is a shutdown report line.
    pub(crate) fn offer_line(&self, env: EnvId, text: &str) {
        if !crate::timeline::is_report_line(text) {
            return;
        }
        let mut reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        if reports.len() == REPORT_LINES {
            reports.pop_front();
        }
        reports.push_back(crate::timeline::OutputLine {
            time_us: now_us(),
            env,
            text: text.to_owned(),
        });
    }

    /// The kept shutdown report lines, oldest first.
    pub fn report_lines(&self) -> Vec<crate::timeline::OutputLine> {
        let reports = self.reports.lock().unwrap_or_else(|e| e.into_inner());
        reports.iter().cloned().collect()
    }

    pub(crate) fn record(&self, function: &Arc<str>, env: EnvId, kind: EventKind) {
        let event = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let event = LifecycleEvent {
                seq: inner.next_seq,
                time_us: now_us(),
                function: Arc::clone(function),
                env,
                kind,
            };
            inner.next_seq += 1;
            if inner.ring.len() == inner.capacity {
                inner.ring.pop_front();
            }
            if self.observer.is_none() {
                inner.ring.push_back(event);
                return;
            }
            inner.ring.push_back(event.clone());
            event
        };
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }

    /// The kept events, oldest first, optionally only those with `seq >= since`.
    pub fn snapshot(&self, since: u64) -> Vec<LifecycleEvent> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner
            .ring
            .iter()
            .filter(|e| e.seq >= since)
            .cloned()
            .collect()
    }
}

/// Microseconds since the Unix epoch.
pub(crate) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    now_us() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_newest_events() {
        let log = EventLog::new(2, None);
        let f: Arc<str> = Arc::from("f");
        for _ in 0..3 {
            log.record(&f, 1, EventKind::Freeze);
        }
        let kept = log.snapshot(0);
        assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(log.snapshot(2).len(), 1);
        let json = serde_json::to_value(&kept[0]).unwrap();
        assert_eq!(json["type"], "freeze");
        assert_eq!(json["function"], "f");
    }
}
