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
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

/// Whether a just-thawed process has settled: no thread still stopped (`T`), and the main
/// thread asleep again (`S`/`D`) rather than runnable with the wake-up still pending.
///
/// A process-directed signal goes to a thread that "wants" it: the kernel skips a thread that
/// is stopped, or that has a signal pending and has not run since. SIGTERM sent the instant
/// after SIGCONT therefore often lands on a helper thread (in Python, one that never runs the
/// handler, while the main thread sleeps on). Lambda's platform does not show this effect, so
/// the emulator lets the process settle before it signals.
pub(crate) fn settled_after_thaw(pid: Pid) -> bool {
    let state = |path: std::path::PathBuf| {
        std::fs::read_to_string(path).ok().and_then(|stat| {
            stat.rfind(')')
                .and_then(|i| stat[i + 1..].trim_start().chars().next())
        })
    };
    if !matches!(state(format!("/proc/{pid}/stat").into()), Some('S' | 'D')) {
        return false;
    }
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    !tasks
        .flatten()
        .any(|t| state(t.path().join("stat")) == Some('T'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_exits_as_lambda_does() {
        assert_eq!(Exit::Code(1).describe(), "exit status 1");
        assert_eq!(Exit::Signal(9).describe(), "signal: killed");
    }

    #[test]
    fn reads_own_state_and_memory() {
        let me = std::process::id();
        assert!(matches!(proc_state(me), Some('R' | 'S')));
        assert_eq!(proc_state(u32::MAX), None);
    }
}
