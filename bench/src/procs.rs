//! Child processes that never outlive the harness.
//!
//! - [`Proc`] owns one spawned process, started in its own process group. [`Proc::stop`] sends
//!   SIGTERM to the process alone (so an emulator runs its own shutdown path), waits up to
//!   [`STOP_GRACE`], then SIGKILLs the whole group and reaps the process; whatever is still in the
//!   group after the leader is gone is SIGKILLed too (and reported). `Drop` calls `stop`, so a
//!   panic or an early `?` return cleans up as well.
//! - [`become_subreaper`] makes this process the reaper of every orphaned descendant, and
//!   [`sweep_orphans`] kills and reaps any that remain between cells: whatever a system left
//!   behind after it was stopped ends up here, is killed, and is reported.
//! - [`Interrupt`] turns SIGINT/SIGTERM/SIGHUP into a flag that the waiting loops poll, so an
//!   interrupted run still stops everything it started.
//! - [`fresh_port`] hands out loopback ports never handed out before in this run.

use crate::error::{Error, Result};
use std::collections::HashSet;
use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// How long a stopped process gets between SIGTERM and SIGKILL.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(3);

/// How often the waiting loops look at a child or a flag.
const POLL: Duration = Duration::from_millis(10);

static INTERRUPTED: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// SIGINT, SIGTERM and SIGHUP handling: a handler (from `signal-hook`) raises a flag that the
/// waiting loops poll, and the run unwinds, stopping what it started. Handlers, unlike blocked
/// signal masks, are not inherited by the children.
#[derive(Debug)]
pub(crate) struct Interrupt;

impl Interrupt {
    /// Installs the handlers.
    pub(crate) fn install() -> Result<()> {
        let flag = INTERRUPTED.get_or_init(|| Arc::new(AtomicBool::new(false)));
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal_hook::flag::register(sig, Arc::clone(flag))
                .map_err(Error::io(format!("installing a handler for signal {sig}")))?;
        }
        Ok(())
    }

    /// Whether a stop signal arrived.
    pub(crate) fn raised() -> bool {
        INTERRUPTED.get().is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// `Err` once a stop signal arrived, for `?` in waiting loops.
    pub(crate) fn check() -> Result<()> {
        if Self::raised() {
            Err(Error::Interrupted)
        } else {
            Ok(())
        }
    }
}

/// Sleeps `d` in small steps, returning early with `Err` on interrupt.
pub(crate) fn sleep(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        Interrupt::check()?;
        thread::sleep(POLL.min(end.saturating_duration_since(Instant::now())));
    }
    Ok(())
}

/// Makes this process the subreaper of its descendants (Linux `PR_SET_CHILD_SUBREAPER`).
pub(crate) fn become_subreaper() -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(|source| Error::Os {
        context: "PR_SET_CHILD_SUBREAPER".into(),
        source,
    })
}

/// A child process in its own process group; stopped (and reaped) on [`Proc::stop`] or drop.
#[derive(Debug)]
pub(crate) struct Proc {
    name: String,
    child: Option<Child>,
}

/// What [`Proc::stop`] observed.
#[derive(Debug)]
pub(crate) struct Stopped {
    /// The exit status, when it could be read.
    pub(crate) status: Option<ExitStatus>,
    /// Whether the process had exited before it was signalled.
    pub(crate) exited_before: bool,
    /// Whether SIGKILL was needed (the process ignored SIGTERM for [`STOP_GRACE`]).
    pub(crate) killed: bool,
    /// Something worth reporting (e.g. processes left in its group).
    pub(crate) warning: Option<String>,
}

impl Proc {
    /// Spawns `cmd` in a new process group, with stdin from /dev/null.
    pub(crate) fn spawn(name: &str, cmd: &mut Command) -> Result<Self> {
        use std::os::unix::process::CommandExt;
        let child = cmd
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|source| Error::Spawn {
                name: name.to_owned(),
                program: cmd.get_program().to_string_lossy().into_owned(),
                source,
            })?;
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
        })
    }

    /// The name given at spawn time.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The process id, while the process is owned (not yet reaped).
    pub(crate) fn id(&self) -> Option<i32> {
        self.pid().map(Pid::as_raw)
    }

    fn pid(&self) -> Option<Pid> {
        let id = self.child.as_ref()?.id();
        i32::try_from(id).ok().map(Pid::from_raw)
    }

    /// The child's stdout pipe, if it was spawned with `Stdio::piped()` (once).
    pub(crate) fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.as_mut().and_then(|c| c.stdout.take())
    }

    /// `Some(status)` if the process has exited (it is then reaped).
    pub(crate) fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits for the process to exit on its own, up to `limit`; `None` if it is still running.
    pub(crate) fn wait_for(&mut self, limit: Duration) -> Result<Option<ExitStatus>> {
        let end = Instant::now() + limit;
        loop {
            if let Some(status) = self.try_wait() {
                return Ok(Some(status));
            }
            if Instant::now() >= end {
                return Ok(None);
            }
            Interrupt::check()?;
            thread::sleep(POLL);
        }
    }

    /// SIGTERM to the process, up to [`STOP_GRACE`] to exit, then SIGKILL to its whole group;
    /// reaps it. Idempotent.
    pub(crate) fn stop(&mut self) -> Stopped {
        let Some(pid) = self.pid() else {
            return Stopped {
                status: None,
                exited_before: false,
                killed: false,
                warning: None,
            };
        };
        let mut killed = false;
        let mut status = self.try_wait();
        let exited_before = status.is_some();
        if status.is_none() {
            let _ = kill(pid, Signal::SIGTERM);
            let end = Instant::now() + STOP_GRACE;
            while status.is_none() && Instant::now() < end {
                thread::sleep(POLL);
                status = self.try_wait();
            }
        }
        if status.is_none() {
            killed = true;
            let _ = killpg(pid, Signal::SIGKILL);
            status = self.child.as_mut().and_then(|c| c.wait().ok());
        }
        self.child = None;
        // The leader is gone; anything still in its group was left behind.
        let warning = if killpg(pid, None).is_ok() {
            let _ = killpg(pid, Signal::SIGKILL);
            Some(format!(
                "{}: processes were left in its process group (SIGKILLed)",
                self.name
            ))
        } else {
            None
        };
        Stopped {
            status,
            exited_before,
            killed,
            warning,
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Kills and reaps every process that has become this process's child without being owned by
/// a live [`Proc`] (call it only when none is alive). Returns a description of each that was
/// still running (zombies are reaped silently: they had already exited).
pub(crate) fn sweep_orphans() -> Vec<String> {
    let me = std::process::id();
    let mut found = Vec::new();
    let mut quiet_rounds = 0;
    // Orphans are re-parented asynchronously, and killing one may orphan its own children:
    // look until two consecutive scans find nothing.
    while quiet_rounds < 2 {
        let children = children_of(me);
        if children.is_empty() {
            quiet_rounds += 1;
        } else {
            quiet_rounds = 0;
        }
        for (pid, comm, state) in children {
            let p = Pid::from_raw(pid);
            if state != 'Z' {
                found.push(format!("pid {pid} ({comm})"));
                let _ = kill(p, Signal::SIGKILL);
            }
            let _ = waitpid(p, None::<WaitPidFlag>);
        }
        thread::sleep(Duration::from_millis(20));
    }
    found
}

/// One process, as /proc/PID/stat describes it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcStat {
    pub(crate) pid: i32,
    pub(crate) comm: String,
    pub(crate) state: char,
    pub(crate) ppid: i32,
    /// utime + stime, in clock ticks (all threads, including exited ones).
    pub(crate) cpu_ticks: u64,
}

/// Every process on the machine, from /proc.
pub(crate) fn proc_table() -> Vec<ProcStat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<i32>().ok()?;
            let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
            parse_stat(pid, &stat)
        })
        .collect()
}

/// `(pid, comm, state)` of every process whose parent is `parent`.
fn children_of(parent: u32) -> Vec<(i32, String, char)> {
    let parent = i32::try_from(parent).unwrap_or(-1);
    proc_table()
        .into_iter()
        .filter(|p| p.ppid == parent)
        .map(|p| (p.pid, p.comm, p.state))
        .collect()
}

/// Parses a /proc/PID/stat line (comm may hold spaces and parentheses).
fn parse_stat(pid: i32, stat: &str) -> Option<ProcStat> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_owned();
    // Fields from 3 on: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime stime …
    let rest: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let state = rest.first()?.chars().next()?;
    let ppid = rest.get(1)?.parse().ok()?;
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some(ProcStat {
        pid,
        comm,
        state,
        ppid,
        cpu_ticks: utime + stime,
    })
}

/// The last `n` lines of a log file, indented, headed by its name.
pub(crate) fn log_tail(path: &Path, n: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy())
        .unwrap_or_default();
    let body: Vec<String> = lines[start..].iter().map(|l| format!("    {l}")).collect();
    format!("  [{name}]\n{}", body.join("\n"))
}

static PORTS: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A free loopback port that this run has not handed out before.
pub(crate) fn fresh_port() -> Result<u16> {
    let mut used = PORTS
        .lock()
        .map_err(|_| "port registry poisoned".to_owned())?;
    let used = used.get_or_insert_with(HashSet::new);
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(Error::io("finding a free port"))?
            .port();
        if used.insert(port) {
            return Ok(port);
        }
    }
    Err("no fresh port after 100 tries".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_odd_comm() {
        let line = "1234 (my (odd) name) S 77 1234 1234 0 -1 4194560 10 0 0 0 250 40 0 0 20 0 4";
        let want = ProcStat {
            pid: 1234,
            comm: "my (odd) name".into(),
            state: 'S',
            ppid: 77,
            cpu_ticks: 290,
        };
        assert_eq!(parse_stat(1234, line), Some(want));
        assert!(!proc_table().is_empty());
    }

    #[test]
    fn ports_are_never_reused() {
        let a = fresh_port().unwrap();
        let b = fresh_port().unwrap();
        assert_ne!(a, b);
    }
}
