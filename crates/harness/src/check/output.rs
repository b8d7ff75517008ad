//! The output verdict: whether lines written during an invoke reach the log during it, or are
//! held back (stdout block-buffered on a pipe) until a later flush or the exit. On Lambda a frozen
//! environment holds such lines hostage and a killed one loses them.
//!
//! Only arrivals are observable, so the verdict fails only on evidence that a line arriving
//! outside its invoke was written for that invoke: it names the invoke's request id and arrives
//! after the invoke's end, or the same line arrives outside every invoke once per invoke (a
//! multiple of the invoke count) and never inside one. Output that arrives only at shutdown is
//! not evidence by itself: a function may print nothing while it works and talk in its SIGTERM
//! handler. Nor is a request id alone when the line also says when it was written: AWS's Node.js
//! client starts every `console` line with the time and the *current* request id, which after an
//! invoke stays the last one, also in a SIGTERM handler; a line stamped after its invoke ended
//! was written then, not held back.

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
/// (0: nothing to judge, e.g. the reset's environment); `killed`: the runtime ended by a signal
/// (SIGKILL, or SIGTERM's default action) rather than an exit of its own, which would have
/// flushed its buffers.
pub(super) fn buffered_output(
    ev: &[&LifecycleEvent],
    lines: &[TimedLine],
    env: EnvId,
    sigterm: Option<u64>,
    invokes: usize,
    killed: bool,
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
        // Killed with nothing to show: whatever it held in its own buffers died with it.
        None if during == 0 && at_shutdown == 0 && invokes > 0 && killed => Verdict::new(
            "output",
            TITLE,
            Status::Warn,
            format!(
                "nothing arrived during the {} invocations nor at shutdown, and the runtime ended by a signal: what it held in its own buffers was lost unseen, so whether its output is buffered cannot be told",
                windows.len()
            ),
        )
        .advise("handle SIGTERM and exit before SIGKILL (see the exit check) so that its buffers are flushed, and flush after each line"),
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
        let written = stamped_at(&l.text);
        windows.iter().any(|w| {
            w.to < l.time_us && l.text.contains(w.request_id) && written.is_none_or(|t| t < w.to)
        })
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

/// When a line says it was written, in microseconds since the Unix epoch: a leading UTC time
/// `YYYY-MM-DDTHH:MM:SS.mmmZ` followed by a tab or a space (AWS's Node.js client writes
/// `2024-05-01T12:00:00.123Z\t<request id>\tINFO\t…`).
fn stamped_at(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() < 25 || !matches!(b[24], b'\t' | b' ') || b[23] != b'Z' {
        return None;
    }
    let shape = b"dddd-dd-ddTdd:dd:dd.ddd";
    let fits = shape.iter().zip(b).all(|(want, got)| match want {
        b'd' => got.is_ascii_digit(),
        other => other == got,
    });
    if !fits {
        return None;
    }
    let n = |from: usize, to: usize| text[from..to].parse::<i64>().ok();
    let (y, m, d) = (n(0, 4)?, n(5, 7)?, n(8, 10)?);
    let (hh, mm, ss, ms) = (n(11, 13)?, n(14, 16)?, n(17, 19)?, n(20, 23)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = (((days * 24 + hh) * 60 + mm) * 60 + ss) * 1000 + ms;
    u64::try_from(ms).ok().map(|ms| ms * 1000)
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
        buffered_output(&ev, lines, 1, Some(1_000_000), 4, false)
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
    fn reads_the_time_a_line_says_it_was_written() {
        assert_eq!(stamped_at("1970-01-01T00:00:01.500Z\tx"), Some(1_500_000));
        assert_eq!(
            stamped_at("2026-12-03T17:17:29.795Z\te86\tINFO\t[runtime] SIGTERM received"),
            Some(1_796_318_249_795_000)
        );
        assert_eq!(
            stamped_at("2024-02-29T23:59:59.999Z x"),
            Some(1_709_251_199_999_000)
        );
        assert_eq!(stamped_at("handled r0-5e1c"), None);
        assert_eq!(stamped_at("2024-13-01T00:00:00.000Z\tx"), None);
        assert_eq!(stamped_at("2024-01-01 00:00:00.000Z\tx"), None);
    }

    /// A time stamp as AWS's Node.js client writes it, `us` microseconds after the epoch.
    fn stamp(us: u64) -> String {
        format!(
            "1970-01-01T00:00:{:02}.{:03}Z",
            us / 1_000_000,
            us / 1000 % 1000
        )
    }

    #[test]
    fn a_sigterm_handlers_lines_stamped_with_the_last_request_id_are_not_held_back() {
        // The Node.js client names the last invoke's request id in every line, also at shutdown;
        // its time stamp says the line was written after that invoke ended.
        let lines: Vec<TimedLine> = ["SIGTERM received", "cleaning up", "exiting"]
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let at = 1_001_000 + i as u64 * 1000;
                line(at, &format!("{}\tr3-5e1c\tINFO\t{s}", stamp(at)))
            })
            .collect();
        let v = verdict(&lines);
        assert_eq!(v.status, Status::Pass, "{}", v.detail);
        // Negative control: stamped during the invoke (it ended at 310 ms), arrived at shutdown.
        let held: Vec<TimedLine> = (0..3)
            .map(|i| {
                line(
                    1_001_000 + i,
                    &format!("{}\tr3-5e1c\tINFO\thandled", stamp(305_000)),
                )
            })
            .collect();
        assert_eq!(verdict(&held).status, Status::Fail);
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
    fn a_runtime_killed_with_nothing_written_cannot_be_judged() {
        let events = lifecycle();
        let ev: Vec<&LifecycleEvent> = events.iter().collect();
        let v = buffered_output(&ev, &[], 1, Some(1_000_000), 4, true);
        assert_eq!(v.status, Status::Warn, "{}", v.detail);
        assert!(v.detail.contains("cannot be told"), "{}", v.detail);
        // Negative controls: the same silence from a runtime that exited by itself (its
        // buffers were flushed at the exit), and a killed runtime whose lines arrived.
        assert_eq!(verdict(&[]).status, Status::Pass);
        let arrived = [line(5_000, "handled r0-5e1c")];
        let v = buffered_output(&ev, &arrived, 1, Some(1_000_000), 4, true);
        assert_eq!(v.status, Status::Pass, "{}", v.detail);
    }

    #[test]
    fn the_resets_environment_is_not_judged() {
        let lines: Vec<TimedLine> = (0..4)
            .map(|i| line(1_002_000, &format!("handled r{i}-5e1c")))
            .collect();
        let events = lifecycle();
        let ev: Vec<&LifecycleEvent> = events.iter().collect();
        let v = buffered_output(&ev, &lines, 1, Some(1_000_000), 0, false);
        assert_eq!(v.status, Status::Pass);
    }
}
