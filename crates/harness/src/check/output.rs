//! The output verdict: whether lines written during an invoke reach the log during it, or are
//! held back (stdout block-buffered on a pipe) until a later flush or the exit. On Lambda a frozen
//! environment holds such lines hostage and a killed one loses them.
//!
//! Only arrivals are observable, so the verdict fails only on evidence that a line arriving
//! outside its invoke was written for that invoke: it names the invoke's request id and arrives
//! after the invoke's end, or the same line arrives outside every invoke once per invoke (a
//! multiple of the invoke count) and never inside one. Output that arrives only at shutdown is
//! not evidence by itself: a function may print nothing while it works and talk in its SIGTERM
//! handler.

use std::collections::BTreeMap;

use grace_emulator::events::{EnvId, EventKind, LifecycleEvent};

use super::verdict::{Status, Verdict};

/// A log line's arrival, as the output check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedLine {
    /// When it arrived, microseconds since the Unix epoch.
    pub time_us: u64,
    /// The environment that wrote it.
    pub env: EnvId,
    /// Whether the runtime wrote it (not the platform or an extension).
    pub function_output: bool,
    /// The line itself (a line that names an invoke's request id belongs to that invoke).
    pub text: String,
}

/// One invoke as the output check sees it: its request id and when it ran.
struct Window<'a> {
    request_id: &'a str,
    from: u64,
    to: u64,
}

impl Window<'_> {
    fn holds(&self, t: u64) -> bool {
        t >= self.from && t <= self.to
    }
}

/// The output verdict for environment `env`. `invokes` is how many invokes the check sent there
/// (0: nothing to judge, e.g. the reset's environment).
pub(super) fn buffered_output(
    ev: &[&LifecycleEvent],
    lines: &[TimedLine],
    env: EnvId,
    sigterm: Option<u64>,
    invokes: usize,
) -> Verdict {
    const TITLE: &str = "log output arrives during invocations";
    let mut windows = Vec::new();
    let mut open = None;
    for e in ev {
        match &e.kind {
            EventKind::InvokeStart { request_id } => open = Some((request_id.as_str(), e.time_us)),
            EventKind::InvokeEnd { .. } => {
                if let Some((request_id, from)) = open.take() {
                    windows.push(Window {
                        request_id,
                        from,
                        to: e.time_us,
                    });
                }
            }
            _ => {}
        }
    }
    let shutdown_from = sigterm
        .or_else(|| {
            ev.iter()
                .find(|e| matches!(e.kind, EventKind::ShutdownStart { .. }))
                .map(|e| e.time_us)
        })
        .unwrap_or(u64::MAX);
    let ours: Vec<&TimedLine> = lines
        .iter()
        .filter(|l| l.env == env && l.function_output)
        .collect();
    let inside = |l: &TimedLine| windows.iter().any(|w| w.holds(l.time_us));
    let during = ours.iter().filter(|l| inside(l)).count();
    let at_shutdown = ours.iter().filter(|l| l.time_us >= shutdown_from).count();
    let held = if invokes == 0 {
        Vec::new()
    } else {
        held_back(&ours, &windows, inside)
    };
    match held.first() {
        Some(first) => {
            let where_ = if held.iter().all(|l| l.time_us >= shutdown_from) {
                "only at shutdown"
            } else {
                "after the invoke ended"
            };
            Verdict::new(
                "output",
                TITLE,
                Status::Fail,
                format!(
                    "{} written during the {} invocations arrived {where_} (e.g. `{}`); {during} arrived during them: stdout is buffered",
                    lines_(held.len()),
                    windows.len(),
                    first.text.trim_end()
                ),
            )
            .advise("flush after each line (Python: PYTHONUNBUFFERED=1 or print(..., flush=True); C: setvbuf); on Lambda a frozen environment holds buffered logs, and a killed one loses them")
        }
        None if during == 0 && at_shutdown > 0 => Verdict::new(
            "output",
            TITLE,
            Status::Pass,
            format!(
                "nothing written during the {} invocations; {} at shutdown, none held back from an invoke",
                windows.len(),
                lines_(at_shutdown)
            ),
        ),
        None => Verdict::new(
            "output",
            TITLE,
            Status::Pass,
            format!(
                "{} during invocations, {at_shutdown} at shutdown",
                lines_(during)
            ),
        ),
    }
}

/// "1 line", "6 lines".
fn lines_(n: usize) -> String {
    format!("{n} line{}", if n == 1 { "" } else { "s" })
}

/// The lines that arrived outside their invoke although they were written for it: they name the
/// request id of an invoke that had ended, or the same text arrived outside every invoke once
/// per invoke (and never inside one).
fn held_back<'l>(
    ours: &[&'l TimedLine],
    windows: &[Window<'_>],
    inside: impl Fn(&TimedLine) -> bool,
) -> Vec<&'l TimedLine> {
    let outside: Vec<&TimedLine> = ours.iter().copied().filter(|l| !inside(l)).collect();
    let names_an_ended_invoke = |l: &TimedLine| {
        windows
            .iter()
            .any(|w| w.to < l.time_us && l.text.contains(w.request_id))
    };
    let mut repeats: BTreeMap<&str, usize> = BTreeMap::new();
    for l in &outside {
        *repeats.entry(l.text.trim_end()).or_default() += 1;
    }
    let seen_inside = |text: &str| ours.iter().any(|l| inside(l) && l.text.trim_end() == text);
    let n = windows.len();
    let once_per_invoke =
        |text: &str| n >= 2 && repeats.get(text).is_some_and(|&c| c % n == 0) && !seen_inside(text);
    outside
        .into_iter()
        .filter(|l| names_an_ended_invoke(l) || once_per_invoke(l.text.trim_end()))
        .collect()
}

#[cfg(test)]
mod tests {

    use super::*;

    /// Four invokes of 10 ms each (request ids `r0`…`r3`, at 0, 100, 200 and 300 ms) and
    /// SIGTERM at 1 s.
    fn lifecycle() -> Vec<LifecycleEvent> {
        let mut kinds = Vec::new();
        for i in 0..4_u64 {
            let request_id = format!("r{i}-5e1c");
            kinds.push((
                i * 100_000,
                EventKind::InvokeStart {
                    request_id: request_id.clone(),
                },
            ));
            kinds.push((
                i * 100_000 + 10_000,
                EventKind::InvokeEnd {
                    request_id,
                    duration_ms: 10.0,
                    max_memory_mb: 20,
                },
            ));
        }
        kinds.push((
            1_000_000,
            EventKind::Sigterm {
                role: grace_emulator::events::Role::Runtime,
                name: "bootstrap".into(),
                pid: 7,
            },
        ));
        crate::check::test_events(kinds)
    }

    fn line(time_us: u64, text: &str) -> TimedLine {
        TimedLine {
            time_us,
            env: 1,
            function_output: true,
            text: text.into(),
        }
    }

    fn verdict(lines: &[TimedLine]) -> Verdict {
        let events = lifecycle();
        let ev: Vec<&LifecycleEvent> = events.iter().collect();
        buffered_output(&ev, lines, 1, Some(1_000_000), 4)
    }

    #[test]
    fn lines_written_only_in_the_sigterm_handler_are_not_buffering() {
        let steps = [
            "SIGTERM received",
            "draining",
            "flushing",
            "files",
            "sockets",
            "bye",
        ];
        let lines: Vec<TimedLine> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| line(1_001_000 + i as u64 * 100, s))
            .collect();
        let v = verdict(&lines);
        assert_eq!(v.status, Status::Pass, "{}", v.detail);
        assert_eq!(
            v.detail,
            "nothing written during the 4 invocations; 6 lines at shutdown, none held back from an invoke"
        );
    }

    #[test]
    fn lines_that_name_an_ended_invoke_are_held_back() {
        let lines: Vec<TimedLine> = (0..4)
            .map(|i| line(1_002_000, &format!("handled r{i}-5e1c")))
            .collect();
        let v = verdict(&lines);
        assert_eq!(v.status, Status::Fail);
        assert!(
            v.detail
                .starts_with("4 lines written during the 4 invocations arrived only at shutdown"),
            "{}",
            v.detail
        );
        // Negative control: the same lines, each during its own invoke.
        let lines: Vec<TimedLine> = (0..4)
            .map(|i| line(i * 100_000 + 5_000, &format!("handled r{i}-5e1c")))
            .collect();
        assert_eq!(verdict(&lines).status, Status::Pass);
    }

    #[test]
    fn a_line_that_names_an_invoke_after_its_end_but_before_shutdown_is_held_back() {
        // Flushed when the next invoke filled the buffer: late, though not at shutdown.
        let lines = vec![line(5_000, "start r0-5e1c"), line(150_000, "end r0-5e1c")];
        let v = verdict(&lines);
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.contains("after the invoke ended"), "{}", v.detail);
    }

    #[test]
    fn the_same_line_once_per_invoke_at_shutdown_is_held_back() {
        let lines: Vec<TimedLine> = (0..4).map(|_| line(1_002_000, "log: handled")).collect();
        assert_eq!(verdict(&lines).status, Status::Fail);
        // Negative controls: three repeats for four invokes, or the line also seen during one.
        let lines: Vec<TimedLine> = (0..3).map(|_| line(1_002_000, "closing")).collect();
        assert_eq!(verdict(&lines).status, Status::Pass);
        let mut lines: Vec<TimedLine> = (0..4).map(|_| line(1_002_000, "tick")).collect();
        lines.push(line(5_000, "tick"));
        assert_eq!(verdict(&lines).status, Status::Pass);
    }

    #[test]
    fn the_resets_environment_is_not_judged() {
        let lines: Vec<TimedLine> = (0..4)
            .map(|i| line(1_002_000, &format!("handled r{i}-5e1c")))
            .collect();
        let events = lifecycle();
        let ev: Vec<&LifecycleEvent> = events.iter().collect();
        let v = buffered_output(&ev, &lines, 1, Some(1_000_000), 0);
        assert_eq!(v.status, Status::Pass);
    }
}
