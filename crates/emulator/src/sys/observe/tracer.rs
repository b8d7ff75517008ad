//! The tracer thread: attaches, follows system calls until the end, reads, detaches.
//!
//! Two rules keep the traced process's exit its parent's business: the tracer waits only for
//! stops (`WSTOPPED`, never `WEXITED`: it shares a thread group with the process's parent, so a
//! reap here would take the exit status away from it), and it detaches from every thread
//! before the process can die (at `exit_group`, at a fatal signal, at the exit stop, or on
//! request before a SIGKILL).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::ptrace::{self, Event, Options};
use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid as NixPid;

use super::regs::{self, Kind};
use super::{End, Report, Track, socket_fds, socket_inode};
use crate::sys::{Inspector, Pid};

const PTRACE_EVENT_STOP: i32 = 128;
/// How long a thread may take to stop when asked.
const STOP_WAIT: Duration = Duration::from_millis(200);

#[derive(Debug, Default)]
struct Thread {
    /// Between a syscall-entry stop and its syscall-exit stop.
    in_call: bool,
    kind: Option<Kind>,
    /// Connections the call in progress would close: inode, call, bytes written by then.
    pending: Vec<(u32, &'static str, u64)>,
}

pub(super) struct Tracer {
    pid: NixPid,
    upid: Pid,
    inspector: Arc<Inspector>,
    detach: Arc<AtomicBool>,
    threads: HashMap<NixPid, Thread>,
    tracks: HashMap<u32, Track>,
    t0: Instant,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer").field("pid", &self.pid).finish()
    }
}

impl Tracer {
    /// Seizes every thread (without stopping them: where SIGTERM lands must not change) and
    /// reads the baseline of the idle process.
    pub(super) fn attach(
        pid: NixPid,
        inspector: Arc<Inspector>,
        detach: Arc<AtomicBool>,
    ) -> Result<Self, String> {
        let upid = Pid::try_from(pid.as_raw()).map_err(|e| e.to_string())?;
        let mut t = Self {
            pid,
            upid,
            inspector,
            detach,
            threads: HashMap::new(),
            tracks: HashMap::new(),
            t0: Instant::now(),
        };
        let options = Options::PTRACE_O_TRACESYSGOOD
            | Options::PTRACE_O_TRACECLONE
            | Options::PTRACE_O_TRACEEXIT;
        // Threads started before their creator was seized are found by listing again.
        loop {
            let mut added = false;
            for tid in tasks(upid) {
                if t.threads.contains_key(&tid) {
                    continue;
                }
                match ptrace::seize(tid, options) {
                    Ok(()) => {
                        t.threads.insert(tid, Thread::default());
                        added = true;
                    }
                    Err(e) if tid == pid => {
                        return Err(format!("ptrace cannot attach to the runtime: {e}"));
                    }
                    Err(_) => {} // the thread has just exited
                }
            }
            if !added {
                break;
            }
        }
        let known = t.inspector.known();
        for (_, inode) in socket_fds(upid, known) {
            let Some(conn) = known.get(&inode) else {
                continue;
            };
            let Some(now) = t.inspector.socket_now(conn) else {
                continue;
            };
            if !now.established || now.inode != inode {
                continue;
            }
            let Some(base) = now.written else {
                t.detach_all(&HashMap::new());
                return Err(
                    "this kernel's tcp_info has no byte counters (Linux 4.19 or later needed)"
                        .into(),
                );
            };
            t.tracks.insert(
                inode,
                Track {
                    conn: conn.clone(),
                    inode,
                    base,
                    closed: None,
                    at_end: None,
                },
            );
        }
        Ok(t)
    }

    /// Follows the process until its end (or a detach request), and reports.
    ///
    /// Until SIGTERM is on its way to a thread (its signal-delivery stop, which comes before
    /// any handler runs), the threads run untraced but for signals. Then every thread is
    /// stopped and resumed with syscall stops. A runtime that takes SIGTERM with `sigwait`
    /// has no such stop: once the signal is no longer pending, tracing starts anyway. (The
    /// threads are stopped only once SIGTERM has been taken: stopping them while it is still
    /// pending would let any of them take it.)
    pub(super) fn run(&mut self) -> Report {
        let flags = WaitPidFlag::WSTOPPED
            | WaitPidFlag::__WALL
            | WaitPidFlag::__WNOTHREAD
            | WaitPidFlag::WNOHANG;
        crate::sys::kill_group(self.upid, Signal::SIGTERM);
        loop {
            let status = match waitid(Id::All, flags) {
                Ok(s) => s,
                Err(Errno::EINTR) => continue,
                Err(_) => return self.report(End::Lost, None),
            };
            match status {
                WaitStatus::PtraceEvent(tid, sig, 0) | WaitStatus::Stopped(tid, sig)
                    if sig == Signal::SIGTERM =>
                {
                    if fatal(self.upid, sig) {
                        return self.end(End::Signal(sig as i32), tid, Some(sig));
                    }
                    self.trace_syscalls(Some((tid, sig)));
                    break;
                }
                WaitStatus::PtraceEvent(tid, sig, 0) | WaitStatus::Stopped(tid, sig) => {
                    if sig == Signal::SIGSTOP && self.detach.load(Ordering::SeqCst) {
                        return self.end(End::Detached, tid, None);
                    }
                    let _ = ptrace::cont(tid, Some(sig));
                }
                WaitStatus::PtraceEvent(tid, _, e) if e == Event::PTRACE_EVENT_EXIT as i32 => {
                    if tid == self.pid {
                        return self.end_at_exit_stop();
                    }
                    self.threads.remove(&tid);
                    let _ = ptrace::detach(tid, None);
                }
                WaitStatus::PtraceEvent(tid, _, _) => {
                    self.threads.entry(tid).or_default();
                    let _ = ptrace::cont(tid, None);
                }
                _ if !pending(self.upid, Signal::SIGTERM) => {
                    self.trace_syscalls(None);
                    break;
                }
                _ => std::thread::sleep(Duration::from_micros(20)),
            }
        }
        self.follow()
    }

    /// Stops every thread (`delivering` is stopped already, with SIGTERM on its way), and
    /// resumes them all with syscall stops.
    fn trace_syscalls(&mut self, delivering: Option<(NixPid, Signal)>) {
        let mut inject: HashMap<NixPid, Signal> = HashMap::new();
        if let Some((tid, sig)) = delivering {
            inject.insert(tid, sig);
        }
        let others: Vec<NixPid> = self
            .threads
            .keys()
            .copied()
            .filter(|t| Some(*t) != delivering.map(|d| d.0))
            .collect();
        for tid in others {
            let _ = ptrace::interrupt(tid);
            match wait_stop(tid) {
                Some(Some(sig)) => {
                    inject.insert(tid, sig);
                }
                Some(None) => {}
                None => {
                    self.threads.remove(&tid);
                }
            }
        }
        self.t0 = Instant::now();
        for (tid, th) in self.threads.iter_mut() {
            th.in_call = false;
            let _ = ptrace::syscall(*tid, inject.get(tid).copied());
        }
    }

    /// With syscall stops, until the end.
    fn follow(&mut self) -> Report {
        let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::__WALL | WaitPidFlag::__WNOTHREAD;
        loop {
            let status = match waitid(Id::All, flags) {
                Ok(s) => s,
                Err(Errno::EINTR) => continue,
                Err(_) => return self.report(End::Lost, None),
            };
            match status {
                WaitStatus::PtraceSyscall(tid) => {
                    if let Some(end) = self.on_syscall(tid) {
                        return self.end(end, tid, None);
                    }
                    let _ = ptrace::syscall(tid, None);
                }
                WaitStatus::PtraceEvent(tid, _, e) if e == Event::PTRACE_EVENT_EXIT as i32 => {
                    if tid == self.pid {
                        // The others are dying too, and may not stop again: read, let go.
                        return self.end_at_exit_stop();
                    }
                    self.threads.remove(&tid);
                    let _ = ptrace::detach(tid, None);
                }
                WaitStatus::PtraceEvent(tid, sig, 0) | WaitStatus::Stopped(tid, sig) => {
                    if sig == Signal::SIGSTOP && self.detach.load(Ordering::SeqCst) {
                        return self.end(End::Detached, tid, None);
                    }
                    if fatal(self.upid, sig) {
                        return self.end(End::Signal(sig as i32), tid, Some(sig));
                    }
                    let _ = ptrace::syscall(tid, Some(sig));
                }
                WaitStatus::PtraceEvent(tid, _, e) => {
                    // A new thread's first stop, an interrupt, a clone event of its creator.
                    if e == PTRACE_EVENT_STOP && self.detach.load(Ordering::SeqCst) {
                        self.threads.entry(tid).or_default();
                        return self.end(End::Detached, tid, None);
                    }
                    self.threads.entry(tid).or_default();
                    let _ = ptrace::syscall(tid, None);
                }
                _ => {}
            }
        }
    }

    /// A syscall-entry or -exit stop of `tid`; `Some` when the process is about to end.
    fn on_syscall(&mut self, tid: NixPid) -> Option<End> {
        let call = regs::read(tid)?;
        let entering = {
            let th = self.threads.entry(tid).or_default();
            th.in_call = !th.in_call;
            th.in_call
        };
        if entering {
            let kind = regs::kind(call.nr);
            let [a0, a1, a2] = call.args;
            let mut pending = Vec::new();
            match kind {
                Kind::Close => self.pend(a0, "close", &mut pending),
                Kind::Shutdown if a1 != regs::SHUT_RD => self.pend(a0, "shutdown", &mut pending),
                Kind::DupOver if a0 != a1 => self.pend(a1, "dup2", &mut pending),
                Kind::CloseRange if a2 & regs::CLOSE_RANGE_CLOEXEC == 0 => {
                    for (fd, _) in socket_fds(self.upid, self.inspector.known()) {
                        if let Ok(fd) = u64::try_from(fd)
                            && fd >= a0
                            && fd <= a1
                        {
                            self.pend(fd, "close_range", &mut pending);
                        }
                    }
                }
                Kind::ExitGroup => return Some(End::Exit),
                Kind::Exit if self.threads.len() == 1 => return Some(End::Exit),
                _ => {}
            }
            let th = self.threads.entry(tid).or_default();
            th.kind = Some(kind);
            th.pending = pending;
            return None;
        }
        let (kind, pending) = {
            let th = self.threads.entry(tid).or_default();
            (th.kind.take(), std::mem::take(&mut th.pending))
        };
        let done = match kind {
            // Linux releases the descriptor even when close reports EINTR.
            Some(Kind::Close) => call.ret == 0 || call.ret == -(Errno::EINTR as i64),
            Some(_) => call.ret >= 0,
            None => false,
        };
        if done && !pending.is_empty() {
            let open = socket_fds(self.upid, self.inspector.known());
            for (inode, how, written) in pending {
                // Another descriptor still holds the socket: closing this one ended nothing.
                if how != "shutdown" && open.values().any(|i| *i == inode) {
                    continue;
                }
                if let Some(t) = self.tracks.get_mut(&inode) {
                    let at = self.t0.elapsed();
                    t.closed.get_or_insert((how, at, written));
                }
            }
        }
        None
    }

    /// Notes that the call in progress would end the connection on `fd`, if it is one we
    /// follow, with the bytes written to it by now (the socket is still open at entry).
    fn pend(&self, fd: u64, how: &'static str, pending: &mut Vec<(u32, &'static str, u64)>) {
        let Ok(fd) = i32::try_from(fd) else {
            return;
        };
        let Some(inode) = socket_inode(self.upid, fd) else {
            return;
        };
        let Some(track) = self.tracks.get(&inode) else {
            return;
        };
        if track.closed.is_some() {
            return;
        }
        let written = self
            .inspector
            .socket_now(&track.conn)
            .filter(|s| s.inode == inode)
            .and_then(|s| s.written)
            .unwrap_or(track.base);
        pending.push((inode, how, written));
    }

    /// Stops every thread besides `stopped` (already in a stop), reads, detaches from all
    /// (`stopped` gets `inject`), and reports.
    fn end(&mut self, end: End, stopped: NixPid, inject: Option<Signal>) -> Report {
        let mut signals: HashMap<NixPid, Signal> = HashMap::new();
        if let Some(sig) = inject {
            signals.insert(stopped, sig);
        }
        let others: Vec<NixPid> = self
            .threads
            .keys()
            .copied()
            .filter(|t| *t != stopped)
            .collect();
        for tid in others {
            let _ = ptrace::interrupt(tid);
            match wait_stop(tid) {
                Some(Some(sig)) if !(sig == Signal::SIGSTOP && end == End::Detached) => {
                    signals.insert(tid, sig);
                }
                Some(_) => {}
                None => {
                    self.threads.remove(&tid);
                }
            }
        }
        let holdings = self.inspector.sample();
        self.read_end();
        self.detach_all(&signals);
        self.report(end, holdings)
    }

    /// The leader's exit stop: its descriptors are still open, the other threads are dying.
    fn end_at_exit_stop(&mut self) -> Report {
        let holdings = self.inspector.sample();
        self.read_end();
        self.detach_all(&HashMap::new());
        self.report(End::Exit, holdings)
    }

    /// The final reading of the connections not closed: still open, and written to since?
    fn read_end(&mut self) {
        let open = socket_fds(self.upid, self.inspector.known());
        for t in self.tracks.values_mut() {
            if t.closed.is_some() || !open.values().any(|i| *i == t.inode) {
                continue;
            }
            t.at_end = Some(
                self.inspector
                    .socket_now(&t.conn)
                    .filter(|s| s.inode == t.inode)
                    .and_then(|s| s.written)
                    .unwrap_or(t.base),
            );
        }
    }

    fn detach_all(&mut self, signals: &HashMap<NixPid, Signal>) {
        for (tid, _) in self.threads.drain() {
            let _ = ptrace::detach(tid, signals.get(&tid).copied());
        }
    }

    fn report(&mut self, end: End, holdings: Option<crate::sys::Holdings>) -> Report {
        if end == End::Lost {
            self.detach_all(&HashMap::new());
        }
        Report {
            tracks: self.tracks.drain().map(|(_, t)| t).collect(),
            end,
            holdings,
        }
    }
}

/// The threads of `pid`.
fn tasks(pid: Pid) -> Vec<NixPid> {
    crate::sys::process::threads(pid)
        .into_iter()
        .filter_map(|t| i32::try_from(t).ok())
        .map(NixPid::from_raw)
        .collect()
}

/// Waits until `tid` is in a ptrace stop: `Some(signal)` if that stop holds a signal on its
/// way (to be passed on when it resumes), `Some(None)` for any other stop, `None` if it is
/// gone or did not stop in time.
fn wait_stop(tid: NixPid) -> Option<Option<Signal>> {
    let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::__WALL | WaitPidFlag::WNOHANG;
    let until = Instant::now() + STOP_WAIT;
    loop {
        match waitid(Id::Pid(tid), flags) {
            Ok(WaitStatus::PtraceEvent(_, sig, 0)) | Ok(WaitStatus::Stopped(_, sig)) => {
                return Some(Some(sig));
            }
            Ok(WaitStatus::PtraceEvent(..)) | Ok(WaitStatus::PtraceSyscall(_)) => {
                return Some(None);
            }
            Ok(_) if Instant::now() < until => std::thread::sleep(Duration::from_micros(20)),
            Ok(_) => return None,
            Err(Errno::EINTR) => {}
            Err(_) => return None,
        }
    }
}

/// Whether `sig` is pending for the process as a whole (sent, not yet taken by a thread).
fn pending(pid: Pid, sig: Signal) -> bool {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("ShdPnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|mask| mask & (1u64 << (sig as i32 - 1)) != 0)
}

/// Whether delivering `sig` ends the process: its default action is to terminate, and the
/// process neither handles nor ignores it.
fn fatal(pid: Pid, sig: Signal) -> bool {
    use Signal::*;
    if matches!(
        sig,
        SIGCHLD | SIGURG | SIGWINCH | SIGCONT | SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU
    ) {
        return false;
    }
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let mask = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0)
    };
    let bit = 1u64 << (sig as i32 - 1);
    (mask("SigCgt:") | mask("SigIgn:")) & bit == 0
}
