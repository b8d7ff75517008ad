//! Spawning environment processes in their own process groups, signalling whole groups, and
//! reading their memory from `/proc`.

use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid as NixPid;

/// A process id (also the id of the process group the process leads).
pub type Pid = u32;

/// What to start: a command line, its working directory and its whole environment.
#[derive(Debug, Clone)]
pub(crate) struct ProcessSpec {
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    pub(crate) cwd: PathBuf,
    pub(crate) env: Vec<(String, String)>,
}

/// A started process: the child handle and the read end of its merged stdout/stderr pipe.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) child: tokio::process::Child,
    pub(crate) pid: Pid,
    pub(crate) output: std::io::PipeReader,
}

/// Starts `spec` as the leader of a new process group, stdout and stderr merged into one pipe
/// (Lambda keeps their relative order in one log stream), stdin from /dev/null.
pub(crate) fn spawn(spec: &ProcessSpec) -> io::Result<Spawned> {
    let (reader, writer) = std::io::pipe()?;
    let stderr = writer.try_clone()?;
    let mut cmd = tokio::process::Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(stderr))
        .process_group(0)
        .kill_on_drop(false);
    let child = cmd.spawn()?;
    // `cmd` still holds our copies of the write end; drop it so the pipe reports EOF once every
    // process of the group has closed its output.
    drop(cmd);
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("process exited before its id was read"))?;
    Ok(Spawned {
        child,
        pid,
        output: reader,
    })
}

/// Sends `signal` to every process of the group `pgid`. A group that no longer exists is not an
/// error: the answer is `false`.
pub(crate) fn kill_group(pgid: Pid, signal: Signal) -> bool {
    let Ok(raw) = i32::try_from(pgid) else {
        return false;
    };
    killpg(NixPid::from_raw(raw), signal).is_ok()
}

/// How a process ended, in the words Lambda uses (`exit status 1`, `signal: killed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    pub(crate) fn from_status(status: ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Self::Code(code),
            (None, Some(sig)) => Self::Signal(sig),
            (None, None) => Self::Code(-1),
        }
    }

    /// `exit status 3` / `signal: killed`, as Lambda's `Runtime.ExitError` messages put it.
    pub(crate) fn describe(self) -> String {
        match self {
            Self::Code(code) => format!("exit status {code}"),
            Self::Signal(sig) => {
                let name = match Signal::try_from(sig) {
                    Ok(Signal::SIGKILL) => "killed".to_owned(),
                    Ok(Signal::SIGTERM) => "terminated".to_owned(),
                    Ok(Signal::SIGABRT) => "aborted".to_owned(),
                    Ok(Signal::SIGSEGV) => "segmentation fault".to_owned(),
                    Ok(s) => s.as_str().to_ascii_lowercase(),
                    Err(_) => sig.to_string(),
                };
                format!("signal: {name}")
            }
        }
    }
}

/// The state letter of a process from `/proc/PID/stat` (`R`, `S`, `T` for stopped, `Z`…).
pub fn proc_state(pid: Pid) -> Option<char> {
    state_in(&format!("/proc/{pid}/stat"))
}

/// The state letter in a `stat` file of `/proc`.
fn state_in(path: &str) -> Option<char> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name is in parentheses and may itself contain spaces or parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

/// The threads of a process just after its thaw, to tell when they have all settled.
///
/// A process-directed signal is taken by whichever thread dequeues it first. A thread that was
/// stopped or frozen from inside the kernel's signal handling (SIGSTOP, or the freezer's fake
/// signal) is still there when it is woken, and takes any signal pending at its next run: sent
/// the instant after the thaw, SIGTERM often goes to such a thread rather than to the main one
/// (in Python, a thread that never runs the handler, while the main thread sleeps on; seen in
/// 7 of about 1,400 runs of a test that checks an awslambdaric function twice). Lambda's platform does not
/// show this effect, so the emulator lets every thread settle before it signals: each one is
/// asleep again, or has been on a CPU since the thaw (its run count in `schedstat` moved).
#[derive(Debug)]
pub(crate) struct Thawed {
    pid: Pid,
    /// Each thread's run count just after the thaw (`None` without `schedstat`).
    runs: Vec<(u32, Option<u64>)>,
}

impl Thawed {
    /// Reads the threads of `pid` (call it right after the thaw).
    pub(crate) fn now(pid: Pid) -> Self {
        let runs = threads(pid)
            .into_iter()
            .map(|tid| (tid, run_count(pid, tid)))
            .collect();
        Self { pid, runs }
    }

    /// Whether every thread has settled: none is stopped (`T`), and each one runnable (`R`) has
    /// run since the thaw. Without `schedstat`, the main thread must be asleep instead.
    pub(crate) fn settled(&self) -> bool {
        for tid in threads(self.pid) {
            let Some(state) = thread_state(self.pid, tid) else {
                continue; // gone
            };
            match state {
                'T' | 't' => return false,
                'R' => {
                    let before = self.runs.iter().find(|(t, _)| *t == tid).map(|(_, r)| *r);
                    let waiting = match before {
                        // Started after the thaw: it is past the wake-up.
                        None => false,
                        Some(Some(was)) => run_count(self.pid, tid).is_none_or(|now| now == was),
                        Some(None) => tid == self.pid,
                    };
                    if waiting {
                        return false;
                    }
                }
                _ => {}
            }
        }
        true
    }
}

/// The thread ids of `pid` (none once it is gone).
pub(crate) fn threads(pid: Pid) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| t.file_name().to_str()?.parse().ok())
        .collect()
}

/// The state letter of thread `tid` of `pid`.
fn thread_state(pid: Pid, tid: u32) -> Option<char> {
    state_in(&format!("/proc/{pid}/task/{tid}/stat"))
}

/// How many times thread `tid` of `pid` has been put on a CPU (`schedstat`'s third field,
/// counted when it arrives on the CPU).
fn run_count(pid: Pid, tid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/schedstat"))
        .ok()?
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_exits_as_lambda_does() {
        assert_eq!(Exit::Code(1).describe(), "exit status 1");
        assert_eq!(Exit::Signal(9).describe(), "signal: killed");
    }

    /// Waits until `pid` is in `state` (what the test then asserts on is observed, not timed).
    fn wait_state(pid: Pid, state: char) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while proc_state(pid) != Some(state) {
            assert!(
                std::time::Instant::now() < until,
                "{pid} never reached {state}"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn a_stopped_process_has_not_settled_and_once_asleep_again_it_has() {
        use nix::sys::signal::kill;
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let nix_pid = NixPid::from_raw(pid as i32);
        wait_state(pid, 'S');
        assert!(Thawed::now(pid).settled());
        kill(nix_pid, Signal::SIGSTOP).unwrap();
        wait_state(pid, 'T');
        let thawed = Thawed::now(pid);
        assert!(!thawed.settled());
        kill(nix_pid, Signal::SIGCONT).unwrap();
        wait_state(pid, 'S');
        assert!(thawed.settled());
        child.kill().unwrap();
        child.wait().unwrap();
        // A process that is gone has nothing left to settle.
        assert!(Thawed::now(pid).settled());
    }

    #[test]
    fn reads_own_state_and_memory() {
        let me = std::process::id();
        assert!(matches!(proc_state(me), Some('R' | 'S')));
        assert_eq!(proc_state(u32::MAX), None);
    }
}
