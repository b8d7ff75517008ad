//! What the runtime holds at the instant it exits, read exactly rather than sampled.
//!
//! A dedicated thread attaches to the runtime with `PTRACE_SEIZE` and `PTRACE_O_TRACEEXIT`
//! before SIGTERM is sent. When the runtime's main thread exits, the kernel stops it early in
//! its exit, before its descriptors are released; the thread reads what it holds then (the
//! process is stopped: nothing can change under the reading), and lets it go. Signals that
//! arrive meanwhile (SIGTERM itself) are passed on unchanged, so the process sees what it would
//! have seen untraced; only the moment of its exit waits for the reading.
//!
//! Only stops are waited for (`waitid` with `WSTOPPED`, never `WEXITED`), so the process's exit
//! is still reaped by its parent as usual. A process that dies of SIGKILL (its budget ran out)
//! has no exit stop: then there is no exact reading, and the caller falls back to the last
//! sampled one.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::ptrace::{self, Event, Options};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid as NixPid;

use super::{Holdings, Inspector, Pid};

/// How often the thread looks for a stop (it sleeps in between; a stop waits at most this long).
const POLL: Duration = Duration::from_micros(250);

/// A reading taken at the runtime's exit stop, on its way.
#[derive(Debug)]
pub(crate) struct ExitWatch {
    rx: mpsc::Receiver<Option<Holdings>>,
}

impl ExitWatch {
    /// Attaches to `pid` and watches it until it exits or `limit` passes. `None` when it cannot
    /// attach (then the caller relies on sampling alone).
    pub(crate) fn start(pid: Pid, inspector: Arc<Inspector>, limit: Duration) -> Option<Self> {
        let raw = NixPid::from_raw(i32::try_from(pid).ok()?);
        let (attached_tx, attached_rx) = mpsc::channel();
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("grace-exit-watch".to_owned())
            .spawn(move || {
                // ptrace requests must come from the thread that attached.
                let seized = ptrace::seize(raw, Options::PTRACE_O_TRACEEXIT).is_ok();
                let _ = attached_tx.send(seized);
                if seized {
                    let _ = tx.send(watch(raw, &inspector, Instant::now() + limit));
                }
            })
            .ok()?;
        match attached_rx.recv_timeout(Duration::from_secs(1)) {
            Ok(true) => Some(Self { rx }),
            _ => None,
        }
    }

    /// The exact reading, once the watch has ended (at the exit stop, or when the process died
    /// without one, or at the limit). Blocks: call it from a blocking context.
    pub(crate) fn finish(self) -> Option<Holdings> {
        self.rx.recv().ok().flatten()
    }
}

/// Passes signals on until the exit stop, reads there, and detaches.
fn watch(pid: NixPid, inspector: &Inspector, until: Instant) -> Option<Holdings> {
    let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::__WALL | WaitPidFlag::WNOHANG;
    loop {
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::PtraceEvent(_, _, event))
                if event == Event::PTRACE_EVENT_EXIT as i32 =>
            {
                let reading = inspector.sample();
                let _ = ptrace::detach(pid, None);
                return reading;
            }
            // A signal on its way to the process (SIGTERM): deliver it unchanged. (`waitid`
            // reports a signal-delivery stop as a trap with no event.)
            Ok(WaitStatus::PtraceEvent(_, signal, 0)) | Ok(WaitStatus::Stopped(_, signal)) => {
                let _ = ptrace::cont(pid, Some(signal));
            }
            // A group stop or another event: let it run on.
            Ok(WaitStatus::PtraceEvent(..)) | Ok(WaitStatus::PtraceSyscall(_)) => {
                let _ = ptrace::cont(pid, None);
            }
            Ok(_) => {
                if gone(pid) || Instant::now() >= until {
                    let _ = ptrace::detach(pid, None);
                    return None;
                }
                std::thread::sleep(POLL);
            }
            // ECHILD: it has exited (and was reaped) without an exit stop.
            Err(_) => return None,
        }
    }
}

/// Whether the process is gone or a zombie (its exit has passed).
fn gone(pid: NixPid) -> bool {
    let Ok(raw) = u32::try_from(pid.as_raw()) else {
        return true;
    };
    matches!(super::proc_state(raw), None | Some('Z') | Some('X'))
}
