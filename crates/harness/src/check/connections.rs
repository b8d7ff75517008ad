//! The connection verdict: how each TCP connection open at SIGTERM ended, in a server's terms.
//!
//! Only a goodbye passes (bytes written after SIGTERM, then closed or left for the exit). A
//! close with nothing written, a connection left open for the kernel, one cut by SIGKILL and
//! one never told (no SIGTERM at all) each fail, naming the peer, what happened and what to do.
//! A connection the observation could not follow, or an observation that could not be made,
//! warns: the check does not pass on what it did not see.

use grace_emulator::{ConnectionFate, Fate};

use super::verdict::{Status, Verdict};

const ID: &str = "tcp";
const TITLE: &str = "connections end with a goodbye";

/// The verdict on `connections`; `unobserved` says why the observation is not exact.
pub(crate) fn verdict(connections: &[ConnectionFate], unobserved: Option<&str>) -> Verdict {
    if let Some(why) = unobserved {
        let held: Vec<&str> = connections.iter().map(|c| c.peer.as_str()).collect();
        let detail = if held.is_empty() {
            format!("not observed ({why})")
        } else {
            format!("not observed ({why}); open at SIGTERM: {}", held.join(", "))
        };
        return Verdict::new(ID, TITLE, Status::Warn, detail).advise(
            "the check cannot tell how connections ended without tracing the runtime (ptrace); run it where ptrace is allowed",
        );
    }
    if connections.is_empty() {
        return Verdict::new(
            ID,
            TITLE,
            Status::Pass,
            "no TCP connection was open at SIGTERM",
        );
    }
    let bad: Vec<&ConnectionFate> = connections
        .iter()
        .filter(|c| c.fate != Fate::Goodbye)
        .collect();
    if bad.is_empty() {
        let said: Vec<String> = connections.iter().map(describe).collect();
        return Verdict::new(ID, TITLE, Status::Pass, said.join("; "));
    }
    let status = if bad.iter().all(|c| c.fate == Fate::NotObserved) {
        Status::Warn
    } else {
        Status::Fail
    };
    let detail: Vec<String> = bad.iter().map(|c| describe(c)).collect();
    let mut advice: Vec<&str> = Vec::new();
    for c in &bad {
        let a = advice_for(c.fate);
        if !advice.contains(&a) {
            advice.push(a);
        }
    }
    Verdict::new(ID, TITLE, status, detail.join("; ")).advise(advice.join(" "))
}

/// One connection in a line: the peer, its fate, and the evidence.
fn describe(c: &ConnectionFate) -> String {
    let at = c
        .at_ms
        .map(|ms| format!(" {ms:.1} ms after SIGTERM"))
        .unwrap_or_default();
    let what = match c.fate {
        Fate::Goodbye if c.at_ms.is_some() => format!(
            "{} bytes sent after SIGTERM, then {}{at}",
            c.sent_after_sigterm, c.how
        ),
        Fate::Goodbye if c.how == "sigkill" => format!(
            "{} bytes sent after SIGTERM, then left open until the SIGKILL",
            c.sent_after_sigterm
        ),
        Fate::Goodbye => format!(
            "{} bytes sent after SIGTERM, then left for the {}",
            c.sent_after_sigterm, c.how
        ),
        Fate::ClosedAbruptly => format!("{}{at} with nothing sent after SIGTERM", c.how),
        Fate::OpenAtExit if c.how.starts_with("signal") => format!(
            "still open when the runtime died of {}: the kernel closed it, nothing sent after SIGTERM",
            c.how
        ),
        Fate::OpenAtExit => {
            "still open at the exit: the kernel closed it, nothing sent after SIGTERM".to_owned()
        }
        Fate::CutBySigkill => "still open when SIGKILL came at the end of the budget".to_owned(),
        Fate::NeverTold => {
            "open when the runtime was killed without a SIGTERM (no extension registered)"
                .to_owned()
        }
        Fate::NotObserved => format!("{} (the observation could not follow it)", c.how),
    };
    format!("{} ({}): {}", c.peer, c.fate.describe(), what)
}

fn advice_for(fate: Fate) -> &'static str {
    match fate {
        Fate::Goodbye => "",
        Fate::ClosedAbruptly => {
            "A close with nothing sent is what a teardown or a dropped client does: the server sees an unexpected EOF. Send the protocol's goodbye in a shutdown hook (close the pool or the connection explicitly: PostgreSQL's Terminate, Redis QUIT)."
        }
        Fate::OpenAtExit => {
            "Close connections in a shutdown hook before exiting: the server sees the session end without a goodbye and may keep its locks until it notices."
        }
        Fate::CutBySigkill => {
            "The cleanup did not finish inside the budget: close connections first and make the hook fit (see the exit verdict)."
        }
        Fate::NeverTold => {
            "Without an extension Lambda sends no SIGTERM: the environment vanishes and the server keeps the session until its own keepalive fires. Register an extension (the shutdown-enabler layer, or lambda-grace's internal one) to get SIGTERM."
        }
        Fate::NotObserved => {
            "The tracer could not follow this connection (a close through io_uring, or by another process): the check cannot vouch for it."
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(fate: Fate, sent: u64, how: &str, at_ms: Option<f64>) -> ConnectionFate {
        ConnectionFate {
            local: "127.0.0.1:40000".into(),
            peer: "127.0.0.1:5432".into(),
            fate,
            sent_after_sigterm: sent,
            how: how.into(),
            at_ms,
        }
    }

    #[test]
    fn only_goodbyes_pass() {
        let v = verdict(&[conn(Fate::Goodbye, 5, "close", Some(2.5))], None);
        assert_eq!(v.status, Status::Pass);
        assert!(
            v.detail
                .contains("5 bytes sent after SIGTERM, then close 2.5 ms"),
            "{v:?}"
        );
        for fate in [
            Fate::ClosedAbruptly,
            Fate::OpenAtExit,
            Fate::CutBySigkill,
            Fate::NeverTold,
        ] {
            let v = verdict(&[conn(fate, 0, "close", None)], None);
            assert_eq!(v.status, Status::Fail, "{fate:?}");
            assert!(v.detail.starts_with("127.0.0.1:5432 ("), "{v:?}");
            assert!(v.advice.is_some());
        }
    }

    #[test]
    fn one_bad_connection_fails_the_lot() {
        let v = verdict(
            &[
                conn(Fate::Goodbye, 5, "close", Some(1.0)),
                conn(Fate::ClosedAbruptly, 0, "close", Some(1.0)),
            ],
            None,
        );
        assert_eq!(v.status, Status::Fail);
        assert!(v.detail.contains("closed abruptly"), "{v:?}");
        assert!(!v.detail.contains("goodbye"), "{v:?}");
    }

    #[test]
    fn what_was_not_observed_warns_and_never_passes() {
        let v = verdict(&[], Some("ptrace cannot attach to the runtime: EPERM"));
        assert_eq!(v.status, Status::Warn);
        let v = verdict(
            &[conn(Fate::NotObserved, 0, "unobserved close", None)],
            None,
        );
        assert_eq!(v.status, Status::Warn);
        let v = verdict(&[], None);
        assert_eq!(v.status, Status::Pass);
    }
}
