//! What the runtime does with its connections, files and children from SIGTERM until it is
//! gone, observed rather than sampled.
//!
//! [`ShutdownObserver::start`] attaches to every thread of the runtime with `PTRACE_SEIZE`
//! (new threads follow through `PTRACE_O_TRACECLONE`), stops them all, reads the baseline while
//! nothing can move (each TCP connection's descriptor and the bytes written to it so far), and
//! lets them run with syscall stops; only then is SIGTERM sent. From there the tracer sees, at
//! the moment they happen:
//!
//! - every `close`, `shutdown`, `dup2`/`dup3` over a descriptor and `close_range` that ends a
//!   connection, and reads how many bytes had been written to it since SIGTERM (the kernel's
//!   `tcp_info` counters, so a write through any call counts);
//! - the end: the `exit_group` call (or the last thread's `exit`), a signal whose default action
//!   kills the process (SIGTERM with no handler), or the exit stop. There every thread is
//!   stopped, the descriptors are still open, and the final reading is exact: what is still
//!   open, what was written to it, files open for writing, children.
//!
//! Then it detaches, so the process exits untraced and is reaped by its parent as usual. When
//! the budget runs out, [`ShutdownObserver::finish`] with `killed` stops every thread the same
//! way, reads, and detaches before the SIGKILL.
//!
//! Each connection open at SIGTERM then gets a [`Fate`] (`fate.rs`). The cost is two stops per
//! system call the runtime makes during its shutdown, and nothing before it (docs/guide.md
//! gives the measurement).

mod fate;
mod regs;
mod tracer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid as NixPid;

pub(crate) use fate::never_told;
pub use fate::{ConnectionFate, Fate};

use super::sockdiag::Connection;
use super::{Holdings, Inspector, Pid};

/// What the observation found, for the `leftovers` lifecycle event.
#[derive(Debug, Clone, Default)]
pub(crate) struct Observation {
    /// What the runtime held at the end (files open for writing, children, connections).
    pub(crate) holdings: Option<Holdings>,
    /// The fate of each TCP connection open at SIGTERM.
    pub(crate) connections: Vec<ConnectionFate>,
    /// `None` when the observation was exact; otherwise why it could not be.
    pub(crate) unobserved: Option<String>,
}

/// A connection the tracer follows.
#[derive(Debug, Clone)]
struct Track {
    conn: Connection,
    inode: u32,
    /// Bytes written to it before SIGTERM.
    base: u64,
    /// How it was closed, if the process closed it: the call, when, bytes written by then.
    closed: Option<(&'static str, Duration, u64)>,
    /// Bytes written by the final reading, when it was still open then.
    at_end: Option<u64>,
}

/// How the traced process ended, as the tracer saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// It called `exit_group` (or its last thread `exit`), or reached its exit stop.
    Exit,
    /// A signal with no handler whose default action ends the process.
    Signal(i32),
    /// Stopped and detached on request, before a SIGKILL.
    Detached,
    /// The tracer lost it (an error, or it vanished without a stop).
    Lost,
}

/// The tracer's answer.
#[derive(Debug)]
struct Report {
    tracks: Vec<Track>,
    end: End,
    holdings: Option<Holdings>,
}

/// An observation in progress; see the module docs.
#[derive(Debug)]
pub(crate) struct ShutdownObserver {
    pid: Pid,
    rx: mpsc::Receiver<Report>,
    detach: Arc<AtomicBool>,
}

impl ShutdownObserver {
    /// Attaches to `pid` and every thread of it, reads the baseline, and sends SIGTERM to its
    /// process group (from the tracer, which must be waiting when it lands). `Err` says why it
    /// cannot be observed; then nothing was sent.
    pub(crate) fn start(pid: Pid, inspector: Arc<Inspector>) -> Result<Self, String> {
        if !regs::SUPPORTED {
            return Err("system-call observation is not built for this architecture".into());
        }
        let raw = NixPid::from_raw(i32::try_from(pid).map_err(|e| e.to_string())?);
        let (ready_tx, ready_rx) = mpsc::channel();
        let (tx, rx) = mpsc::channel();
        let detach = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&detach);
        std::thread::Builder::new()
            .name("grace-observe".to_owned())
            .spawn(move || {
                // ptrace requests must come from the thread that attached.
                let mut tracer = match tracer::Tracer::attach(raw, inspector, flag) {
                    Ok(t) => t,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let report = tracer.run();
                let _ = tx.send(report);
            })
            .map_err(|e| e.to_string())?;
        match ready_rx.recv_timeout(Duration::from_secs(2)) {
            Ok(Ok(())) => Ok(Self { pid, rx, detach }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("attaching took longer than 2 s".into()),
        }
    }

    /// The observation, once the process has ended (`killed: false`), or, with `killed`, after
    /// stopping it and detaching so that the caller can SIGKILL it. Blocks: call it from a
    /// blocking context.
    pub(crate) fn finish(self, killed: bool) -> Observation {
        if killed {
            self.detach.store(true, Ordering::SeqCst);
            // Wakes the tracer: the stop is reported to it, and it swallows the signal.
            if let Ok(raw) = i32::try_from(self.pid) {
                let _ = kill(NixPid::from_raw(raw), Signal::SIGSTOP);
            }
        }
        let report = self
            .rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or(Report {
                tracks: Vec::new(),
                end: End::Lost,
                holdings: None,
            });
        fate::observation(report, killed)
    }
}

/// The runtime's TCP connections by descriptor: `fd -> inode` for the sockets among `known`.
fn socket_fds(pid: Pid, known: &HashMap<u32, Connection>) -> HashMap<i32, u32> {
    let mut out = HashMap::new();
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(inode) = socket_inode(pid, fd)
            && known.contains_key(&inode)
        {
            out.insert(fd, inode);
        }
    }
    out
}

/// The socket inode descriptor `fd` of `pid` refers to, if it is a socket.
fn socket_inode(pid: Pid, fd: i32) -> Option<u32> {
    let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    target
        .to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Milliseconds, for the event.
fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}
