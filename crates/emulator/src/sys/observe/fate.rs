//! How each connection open at SIGTERM ended, from what the tracer saw.
//!
//! Only a goodbye is clean: something was written after SIGTERM (a protocol's goodbye such as
//! PostgreSQL's Terminate, or the rest of a request) and then the connection was closed or
//! left for the exit to close. Closing with nothing written is what an interpreter's teardown
//! or a dropped client does, and the server sees an unexpected end of its session.

use super::{End, Observation, Report, ms};

/// The fate of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fate {
    /// Bytes written after SIGTERM, then closed or left for the exit.
    Goodbye,
    /// Closed with nothing written after SIGTERM.
    ClosedAbruptly,
    /// Still open, nothing written after SIGTERM, when the process exited: the kernel closed it.
    OpenAtExit,
    /// Still open, with nothing written after SIGTERM, when the budget ran out and SIGKILL came.
    CutBySigkill,
    /// No SIGTERM at all (no extension registered): on Lambda the environment simply vanishes,
    /// and the server notices only when its own keepalive fires.
    NeverTold,
    /// The observation could not follow it (closed by a call the tracer does not decode, or
    /// the tracer lost the process).
    NotObserved,
}

impl Fate {
    /// The words a report uses.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Goodbye => "goodbye",
            Self::ClosedAbruptly => "closed abruptly",
            Self::OpenAtExit => "open at exit",
            Self::CutBySigkill => "cut by SIGKILL",
            Self::NeverTold => "never told",
            Self::NotObserved => "not observed",
        }
    }
}

/// One connection and its fate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConnectionFate {
    /// The local end, `address:port`.
    pub local: String,
    /// The remote end, `address:port`.
    pub peer: String,
    pub fate: Fate,
    /// Bytes written to it after SIGTERM (by its close, or by the end).
    pub sent_after_sigterm: u64,
    /// What ended it: `close`, `shutdown`, `dup2`, `close_range`, `exit`, `signal N`,
    /// `sigkill`, `kill (no SIGTERM)`.
    pub how: String,
    /// When the process closed it, in ms after SIGTERM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<f64>,
}

/// The tracer's report as fates; `killed`: the budget ran out and a SIGKILL follows.
pub(super) fn observation(report: Report, killed: bool) -> Observation {
    let unobserved = match report.end {
        End::Lost => Some("the tracer lost track of the runtime".to_owned()),
        _ => None,
    };
    let end_how = match report.end {
        _ if killed => "sigkill".to_owned(),
        End::Signal(sig) => format!("signal {sig}"),
        _ => "exit".to_owned(),
    };
    let mut connections: Vec<ConnectionFate> = report
        .tracks
        .into_iter()
        .map(|t| {
            let (local, peer) = ends(&t.conn.text, &t.conn.peer);
            let sent = |w: u64| w.saturating_sub(t.base);
            let (fate, sent, how, at_ms) = match (t.closed, t.at_end) {
                (Some((how, at, w)), _) => {
                    let fate = if sent(w) > 0 {
                        Fate::Goodbye
                    } else {
                        Fate::ClosedAbruptly
                    };
                    (fate, sent(w), how.to_owned(), Some(ms(at)))
                }
                // Written, then left for the kill: what was written still goes out when the
                // kernel closes the socket (a process that hangs after its cleanup; the exit
                // verdict fails the hang).
                (None, Some(w)) if sent(w) > 0 => (Fate::Goodbye, sent(w), end_how.clone(), None),
                (None, Some(_)) if killed => (Fate::CutBySigkill, 0, end_how.clone(), None),
                (None, Some(_)) => (Fate::OpenAtExit, 0, end_how.clone(), None),
                (None, None) if report.end == End::Lost => {
                    (Fate::NotObserved, 0, "unknown".to_owned(), None)
                }
                // Gone from the descriptors without a call the tracer decodes.
                (None, None) => (Fate::NotObserved, 0, "unobserved close".to_owned(), None),
            };
            ConnectionFate {
                local,
                peer,
                fate,
                sent_after_sigterm: sent,
                how,
                at_ms,
            }
        })
        .collect();
    connections.sort_by(|a, b| (&a.peer, &a.local).cmp(&(&b.peer, &b.local)));
    Observation {
        holdings: report.holdings,
        connections,
        unobserved,
    }
}

/// Connections held when the runtime was killed with no SIGTERM before (`local -> peer`).
pub(crate) fn never_told(tcp: &[String]) -> Vec<ConnectionFate> {
    tcp.iter()
        .map(|text| {
            let peer = text.rsplit(" -> ").next().unwrap_or_default();
            let (local, peer) = ends(text, peer);
            ConnectionFate {
                local,
                peer,
                fate: Fate::NeverTold,
                sent_after_sigterm: 0,
                how: "kill (no SIGTERM)".to_owned(),
                at_ms: None,
            }
        })
        .collect()
}

fn ends(text: &str, peer: &str) -> (String, String) {
    let local = text.split(" -> ").next().unwrap_or_default().to_owned();
    (local, peer.to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::sys::observe::Track;
    use crate::sys::sockdiag::Connection;

    fn track(closed: Option<(&'static str, u64)>, at_end: Option<u64>) -> Track {
        Track {
            conn: Connection::from_proc("127.0.0.1:40000 -> 127.0.0.1:5432".to_owned(), 5432),
            inode: 7,
            base: 100,
            closed: closed.map(|(h, w)| (h, Duration::from_millis(3), w)),
            at_end,
        }
    }

    fn fate_of(t: Track, end: End, killed: bool) -> ConnectionFate {
        let r = Report {
            tracks: vec![t],
            end,
            holdings: None,
        };
        observation(r, killed).connections.remove(0)
    }

    #[test]
    fn a_close_after_writing_is_a_goodbye_and_without_writing_is_abrupt() {
        let c = fate_of(track(Some(("close", 105)), None), End::Exit, false);
        assert_eq!((c.fate, c.sent_after_sigterm), (Fate::Goodbye, 5));
        assert_eq!(c.peer, "127.0.0.1:5432");
        assert_eq!(c.at_ms, Some(3.0));
        // The negative control: the same close with nothing written.
        let c = fate_of(track(Some(("close", 100)), None), End::Exit, false);
        assert_eq!(c.fate, Fate::ClosedAbruptly);
    }

    #[test]
    fn left_open_is_a_goodbye_only_when_written_to() {
        let c = fate_of(track(None, Some(130)), End::Exit, false);
        assert_eq!(c.fate, Fate::Goodbye);
        let c = fate_of(track(None, Some(100)), End::Exit, false);
        assert_eq!((c.fate, c.how.as_str()), (Fate::OpenAtExit, "exit"));
        let c = fate_of(track(None, Some(100)), End::Signal(15), false);
        assert_eq!((c.fate, c.how.as_str()), (Fate::OpenAtExit, "signal 15"));
    }

    #[test]
    fn open_at_a_sigkill_is_cut_unless_a_goodbye_was_written() {
        // Nothing written: cut.
        let c = fate_of(track(None, Some(100)), End::Detached, true);
        assert_eq!(c.fate, Fate::CutBySigkill);
        // Written (a process that hangs after its cleanup): the kernel still sends it.
        let c = fate_of(track(None, Some(130)), End::Detached, true);
        assert_eq!((c.fate, c.how.as_str()), (Fate::Goodbye, "sigkill"));
        // Closed before the SIGKILL: the close decides.
        let c = fate_of(track(Some(("close", 130)), None), End::Detached, true);
        assert_eq!(c.fate, Fate::Goodbye);
    }

    #[test]
    fn what_the_tracer_did_not_see_is_not_guessed() {
        let c = fate_of(track(None, None), End::Exit, false);
        assert_eq!(c.fate, Fate::NotObserved);
        let r = Report {
            tracks: vec![track(None, None)],
            end: End::Lost,
            holdings: None,
        };
        assert!(observation(r, false).unobserved.is_some());
    }

    #[test]
    fn never_told_names_the_peer() {
        let f = never_told(&["10.0.0.1:1234 -> 10.0.0.2:6379".to_owned()]);
        assert_eq!(f[0].peer, "10.0.0.2:6379");
        assert_eq!(f[0].local, "10.0.0.1:1234");
        assert_eq!(f[0].fate, Fate::NeverTold);
    }
}
