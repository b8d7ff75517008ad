//! What was observed, as lanes of spans and marks: one lane for the platform and one per
//! process (the runtime, each external extension) of every environment. Built from the
//! lifecycle events and the runtime's shutdown report line; drawn by `svg`, exported by `trace`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::OutputLine;
pub(crate) use super::kind::Kind;
use super::report::{self, Outcome};
use crate::events::{EnvId, EventKind, LifecycleEvent, Role};
use crate::sys::Pid;

/// A span (`start < end`) or a mark (`start == end`), in microseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) kind: Kind,
    /// The short text drawn next to it (empty: none).
    pub(crate) label: String,
    /// The longer text of its tooltip and trace arguments.
    pub(crate) detail: String,
}

/// One row of the picture and one thread of the trace.
#[derive(Debug, Clone)]
pub(crate) struct Lane {
    pub(crate) env: EnvId,
    pub(crate) function: Arc<str>,
    /// `platform`, `runtime`, or the extension's name.
    pub(crate) name: String,
    pub(crate) pid: Option<Pid>,
    pub(crate) items: Vec<Item>,
}

/// Every lane, environments in order, the platform's lane first in each.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) t0: u64,
    pub(crate) t1: u64,
    pub(crate) lanes: Vec<Lane>,
}

impl Model {
    pub(crate) fn build(events: &[LifecycleEvent], lines: &[OutputLine]) -> Self {
        let mut by_env: BTreeMap<EnvId, Vec<&LifecycleEvent>> = BTreeMap::new();
        for e in events {
            by_env.entry(e.env).or_default().push(e);
        }
        let mut lanes = Vec::new();
        for (env, mut evs) in by_env {
            evs.sort_by_key(|e| e.seq);
            let reports: Vec<&OutputLine> = lines.iter().filter(|l| l.env == env).collect();
            lanes.extend(Env::new(env, &evs).build(&evs, &reports));
        }
        let times = lanes
            .iter()
            .flat_map(|l| l.items.iter().flat_map(|i| [i.start, i.end]));
        let t0 = events.iter().map(|e| e.time_us).min().unwrap_or(0);
        let t1 = times.chain([t0 + 1000]).max().unwrap_or(t0 + 1000);
        Model { t0, t1, lanes }
    }
}

/// Builds one environment's lanes.
struct Env {
    lanes: Vec<Lane>,
}

impl Env {
    fn new(env: EnvId, evs: &[&LifecycleEvent]) -> Self {
        let function = evs
            .first()
            .map(|e| Arc::clone(&e.function))
            .unwrap_or_else(|| Arc::from(""));
        let lane = |name: &str, pid| Lane {
            env,
            function: Arc::clone(&function),
            name: name.to_owned(),
            pid,
            items: Vec::new(),
        };
        Env {
            lanes: vec![lane("platform", None)],
        }
        .with_processes(evs, lane)
    }

    fn with_processes(
        mut self,
        evs: &[&LifecycleEvent],
        lane: impl Fn(&str, Option<Pid>) -> Lane,
    ) -> Self {
        for e in evs {
            if let EventKind::ProcessStart { role, name, pid } = &e.kind {
                // The platform, the runtime, then the extensions.
                match role {
                    Role::Runtime => self.lanes.insert(1, lane("runtime", Some(*pid))),
                    Role::Extension => {
                        self.lanes
                            .push(lane(&format!("extension {name}"), Some(*pid)));
                    }
                }
            }
        }
        self
    }

    /// The lane of process `pid` (or of the runtime), else the platform's.
    fn lane(&mut self, pid: Option<Pid>, role: Option<Role>) -> &mut Lane {
        let i = self
            .lanes
            .iter()
            .position(|l| match (pid, role) {
                (Some(pid), _) if l.pid == Some(pid) => true,
                (_, Some(Role::Runtime)) => l.name == "runtime",
                _ => false,
            })
            .unwrap_or(0);
        &mut self.lanes[i]
    }

    fn push(&mut self, pid: Option<Pid>, role: Option<Role>, item: Item) {
        self.lane(pid, role).items.push(item);
    }

    fn build(mut self, evs: &[&LifecycleEvent], reports: &[&OutputLine]) -> Vec<Lane> {
        let span = |start: u64, end: u64, kind, label: String, detail: String| Item {
            start,
            end: end.max(start),
            kind,
            label,
            detail,
        };
        let mark = |at, kind, label: &str, detail: String| Item {
            start: at,
            end: at,
            kind,
            label: label.to_owned(),
            detail,
        };
        let mut init = None;
        let mut invokes: BTreeMap<&str, (u64, bool)> = BTreeMap::new();
        let mut frozen = None;
        let mut shutdown = None;
        let mut sigterm = None;
        let mut external = false;
        let mut started: BTreeMap<Pid, u64> = BTreeMap::new();
        let mut terms: BTreeMap<Pid, u64> = BTreeMap::new();
        let mut shutdown_sent = false;
        let mut last = 0;
        for e in evs {
            let t = e.time_us;
            last = last.max(t);
            match &e.kind {
                EventKind::InitStart { .. } => init = Some(t),
                EventKind::InitDone { duration_ms } => {
                    let from = init.take().unwrap_or(t);
                    let label = format!("init {}", ms(*duration_ms));
                    self.push(None, None, span(from, t, Kind::Init, label.clone(), label));
                }
                EventKind::InitFailed {
                    error_type,
                    message,
                    ..
                } => {
                    let from = init.take().unwrap_or(t);
                    let detail = format!("init failed: {error_type}: {message}");
                    let label = format!("init failed: {error_type}");
                    self.push(None, None, span(from, t, Kind::InitFailed, label, detail));
                }
                EventKind::ExtensionRegistered { external: true, .. } => external = true,
                EventKind::InvokeStart { request_id } => {
                    invokes.insert(request_id, (t, false));
                }
                EventKind::FunctionError { request_id, .. } => {
                    if let Some(inv) = invokes.get_mut(request_id.as_str()) {
                        inv.1 = true;
                    }
                }
                EventKind::InvokeEnd {
                    request_id,
                    duration_ms,
                    max_memory_mb,
                } => {
                    let (from, failed) = invokes.remove(request_id.as_str()).unwrap_or((t, false));
                    let kind = if failed {
                        Kind::InvokeFailed
                    } else {
                        Kind::Invoke
                    };
                    let detail = format!(
                        "invoke {request_id}: {} ({max_memory_mb} MB max memory)",
                        ms(*duration_ms)
                    );
                    let label = format!("invoke {}", ms(*duration_ms));
                    self.push(None, None, span(from, t, kind, label, detail));
                }
                EventKind::Timeout {
                    request_id,
                    timeout_ms,
                } => {
                    if let Some(inv) = invokes.get_mut(request_id.as_str()) {
                        inv.1 = true;
                    }
                    let detail = format!("invoke {request_id} timed out after {timeout_ms} ms");
                    self.push(None, None, mark(t, Kind::Timeout, "timeout", detail));
                }
                EventKind::Freeze => frozen = Some(t),
                EventKind::Thaw => self.thaw(&mut frozen, t),
                EventKind::ShutdownStart { reason, budget_ms } => {
                    self.thaw(&mut frozen, t);
                    shutdown = Some((t, *reason, *budget_ms));
                }
                EventKind::ProcessStart { pid, .. } => {
                    started.insert(*pid, t);
                }
                EventKind::Sigterm { role, name, pid } => {
                    if *role == Role::Runtime {
                        sigterm = Some(t);
                    }
                    terms.entry(*pid).or_insert(t);
                    let detail = format!("SIGTERM → {name} (pid {pid})");
                    self.push(
                        Some(*pid),
                        Some(*role),
                        mark(t, Kind::Sigterm, "SIGTERM", detail),
                    );
                }
                EventKind::ShutdownEvent {
                    name,
                    reason,
                    deadline_ms,
                } => {
                    shutdown_sent = true;
                    let detail = format!("SHUTDOWN ({reason}) → {name}, deadline {deadline_ms}");
                    let lane = self
                        .lanes
                        .iter()
                        .position(|l| l.name == format!("extension {name}"));
                    let item = mark(t, Kind::ShutdownEvent, "SHUTDOWN", detail);
                    self.lanes[lane.unwrap_or(0)].items.push(item);
                }
                EventKind::Sigkill { role, name, pid } => {
                    let detail = format!("SIGKILL → {name} (pid {pid})");
                    self.push(
                        Some(*pid),
                        Some(*role),
                        mark(t, Kind::Sigkill, "SIGKILL", detail),
                    );
                }
                EventKind::ProcessExit {
                    role,
                    name,
                    pid,
                    exit,
                    ..
                } => {
                    let from = started.remove(pid).unwrap_or(t);
                    let detail = format!("{name} (pid {pid}) running");
                    self.push(
                        Some(*pid),
                        Some(*role),
                        span(from, t, Kind::Alive, String::new(), detail),
                    );
                    let mut label = exit
                        .strip_prefix("exit status ")
                        .map_or_else(|| format!("exit: {exit}"), |code| format!("exit {code}"));
                    if let Some(&term) = terms.get(pid) {
                        let after = ms(t.saturating_sub(term) as f64 / 1000.0);
                        label.push_str(&format!(", {after} after SIGTERM"));
                        let detail = format!("{name} (pid {pid}): SIGTERM → exit in {after}");
                        let item = span(term, t, Kind::Term, String::new(), detail);
                        self.push(Some(*pid), Some(*role), item);
                    }
                    let detail = format!("{name} (pid {pid}) exited: {exit}");
                    self.push(Some(*pid), Some(*role), mark(t, Kind::Exit, &label, detail));
                }
                EventKind::Leftovers {
                    pid,
                    at,
                    holdings,
                    connections,
                    ..
                } => {
                    // Each connection open at SIGTERM, where its fate was decided: at its close
                    // when the process closed it, otherwise at the end.
                    for c in connections {
                        let when = match (c.at_ms, terms.get(pid)) {
                            (Some(after), Some(&term)) => term + (after * 1000.0) as u64,
                            _ => t,
                        };
                        let (kind, label) = if c.fate == crate::sys::Fate::Goodbye {
                            (Kind::Goodbye, format!("{} goodbye", c.peer))
                        } else {
                            (Kind::Leftover, format!("{} {}", c.peer, c.fate.describe()))
                        };
                        let detail = format!(
                            "{} -> {}: {} ({}, {} bytes sent after SIGTERM)",
                            c.local,
                            c.peer,
                            c.fate.describe(),
                            c.how,
                            c.sent_after_sigterm
                        );
                        self.push(
                            Some(*pid),
                            Some(Role::Runtime),
                            mark(when, kind, &label, detail),
                        );
                    }
                    let held = holdings
                        .files
                        .iter()
                        .map(|f| ("file", f))
                        .chain(holdings.children.iter().map(|c| ("child", c)));
                    for (what, which) in held {
                        let label = format!("{what} {which} open at {at}");
                        let detail = format!("still held at {at}: {what} {which}");
                        self.push(
                            Some(*pid),
                            Some(Role::Runtime),
                            mark(t, Kind::Leftover, &label, detail),
                        );
                    }
                }
                EventKind::ShutdownDone {
                    reason,
                    duration_ms,
                } => {
                    if let Some((from, _, _)) = shutdown {
                        let label = format!("spin-down {}", ms(*duration_ms));
                        let detail = format!("shutdown ({reason}) {}", ms(*duration_ms));
                        self.push(None, None, span(from, t, Kind::Shutdown, label, detail));
                    }
                }
                _ => {}
            }
        }
        // Still running or frozen when the record ends.
        self.thaw(&mut frozen, last);
        for (pid, from) in started {
            let item = span(
                from,
                last,
                Kind::Alive,
                String::new(),
                format!("pid {pid} running"),
            );
            self.push(Some(pid), None, item);
        }
        // A budget is drawn only when something was given one: a SIGTERM or a SHUTDOWN (not when
        // every process had already exited, e.g. after a failed init).
        if let Some((start, reason, budget_ms)) = shutdown
            && budget_ms > 0
            && (sigterm.is_some() || !terms.is_empty() || shutdown_sent)
        {
            // With internal extensions only, the runtime's budget runs from its SIGTERM; with
            // external ones, the whole shutdown's runs from its start (§4.4).
            let from = if external {
                start
            } else {
                sigterm.unwrap_or(start)
            };
            let to = from + budget_ms * 1000;
            let label = format!("budget {budget_ms} ms");
            let detail = format!("{reason}: {budget_ms} ms until SIGKILL");
            self.push(None, None, span(from, to, Kind::Budget, label, detail));
            let item = mark(
                to,
                Kind::Deadline,
                "SIGKILL deadline",
                format!("SIGKILL at +{budget_ms} ms"),
            );
            self.push(None, None, item);
        }
        for line in reports {
            self.hooks(line);
        }
        for lane in &mut self.lanes {
            lane.items.sort_by_key(|i| (i.start, i.end));
        }
        self.lanes
    }

    fn thaw(&mut self, frozen: &mut Option<u64>, t: u64) {
        if let Some(from) = frozen.take() {
            let label = format!("frozen {}", ms((t - from.min(t)) as f64 / 1000.0));
            let item = Item {
                start: from,
                end: t.max(from),
                kind: Kind::Frozen,
                detail: format!("{label}: every process stopped"),
                label,
            };
            self.push(None, None, item);
        }
    }

    /// The hooks of a report line, back to back, ending when the line arrived: the runtime
    /// prints it as soon as its last hook returns. (Not from SIGTERM: a runtime may begin its
    /// shutdown before, when the Runtime API fails it at a reset.)
    fn hooks(&mut self, line: &OutputLine) {
        let Some(r) = report::parse(&line.text) else {
            return;
        };
        let us = |ms: f64| (ms * 1000.0).round() as u64;
        let anchor = line.time_us.saturating_sub(us(r.elapsed_ms));
        let lane = self.lane(None, Some(Role::Runtime));
        if r.trigger != "SIGTERM" {
            lane.items.push(Item {
                start: anchor,
                end: anchor,
                kind: Kind::Trigger,
                label: format!("shutdown: {}", r.trigger),
                detail: format!("the runtime began its shutdown on: {}", r.trigger),
            });
        }
        if let Some(i) = &r.interrupted {
            lane.items.push(Item {
                start: anchor,
                end: anchor + us(i.ms),
                kind: Kind::Handler,
                label: format!("handler {} {}", i.how, ms(i.ms)),
                detail: format!(
                    "invocation {} at SIGTERM: handler {} after {}",
                    i.request_id,
                    i.how,
                    ms(i.ms)
                ),
            });
        }
        let hooks_ms: f64 = r.hooks.iter().map(|h| h.ms).sum();
        let mut at = line.time_us.saturating_sub(us(hooks_ms)).max(anchor);
        for (n, h) in r.hooks.iter().enumerate() {
            let (kind, how) = match &h.outcome {
                Outcome::Ok => (Kind::Hook, "ok".to_owned()),
                Outcome::TimedOut => (Kind::HookFailed, "timed out".to_owned()),
                Outcome::Failed(e) if e.is_empty() => (Kind::HookFailed, "failed".to_owned()),
                Outcome::Failed(e) => (Kind::HookFailed, format!("failed ({e})")),
            };
            let end = at + us(h.ms);
            lane.items.push(Item {
                start: at,
                end,
                kind,
                label: format!("{} {}", h.name, ms(h.ms)),
                detail: format!(
                    "hook {} of {}: {} {how} in {}; shutdown on {}, {} of the runtime's {} ms budget used",
                    n + 1,
                    r.hooks.len(),
                    h.name,
                    ms(h.ms),
                    r.trigger,
                    ms(r.elapsed_ms),
                    r.budget_ms
                ),
            });
            at = end;
        }
    }
}

/// `12.5 ms`, with two decimals below a millisecond.
pub(crate) fn ms(v: f64) -> String {
    if v < 1.0 {
        format!("{v:.2} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}
