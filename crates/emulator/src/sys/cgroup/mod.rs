//! Lambda's resource model through cgroups: per environment, a CPU-time quota of one CPU per
//! 1,769 MB of memory, a memory limit equal to the memory size, the freezer for freezing, a kill
//! of every process of the environment however it detached, Max Memory Used, and the
//! out-of-memory kill.
//!
//! What is writable is found once per cgroup root ([`support`]): cgroup v2 when our own cgroup
//! (from `/proc/self/cgroup`) can have children with the `cpu` and `memory` controllers (a
//! delegated subtree, as systemd gives a user), else v1 when the `cpu` and `memory` hierarchies
//! are mounted and writable (the freezer is used when mounted too), else none, and then the
//! emulator runs without the model and says so. The emulator's cgroups sit under our own:
//! `grace-<pid>/env-<id>.<n>`, one per environment, removed once the environment is dead; those of
//! an emulator that is gone are removed at the first detection.
//!
//! A process joins its cgroup before its first instruction without `pre_exec` (no `unsafe`): it
//! is started as `/bin/sh -c 'echo $$ > …/cgroup.procs && exec "$0" "$@"' PROGRAM ARGS…`, and
//! `exec` keeps the pid, so the spawned pid is the program's.
//!
//! Modules: [`detect`] (what is writable, the emulator's own cgroups, stale ones); this module
//! holds one environment's cgroup ([`EnvCgroup`]).

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid as NixPid;

use super::{Pid, ProcessSpec};

/// Memory that buys one CPU's worth of CPU time on Lambda.
const MB_PER_VCPU: u64 = 1769;
/// The CFS period of the CPU quota.
const PERIOD_US: u64 = 100_000;
/// The smallest quota the kernel takes.
const MIN_QUOTA_US: u64 = 1_000;
/// Where cgroup filesystems are mounted.
const DEFAULT_ROOT: &str = "/sys/fs/cgroup";

mod detect;

pub(crate) use detect::parent;
pub use detect::{CgroupVersion, ResourceSupport, support};

/// One environment's cgroup (in v1, one directory per hierarchy).
#[derive(Debug)]
pub(crate) struct EnvCgroup {
    version: CgroupVersion,
    cpu: PathBuf,
    memory: PathBuf,
    freezer: Option<PathBuf>,
    /// Out-of-memory kills already reported.
    oom_seen: AtomicU64,
    /// Peak of `memory.current` seen (v2 without `memory.peak`).
    sampled_peak: AtomicU64,
}

impl EnvCgroup {
    fn dirs(&self) -> Vec<&Path> {
        let mut dirs = vec![self.cpu.as_path()];
        if self.memory != self.cpu {
            dirs.push(&self.memory);
        }
        if let Some(f) = &self.freezer
            && !dirs.contains(&f.as_path())
        {
            dirs.push(f);
        }
        dirs
    }

    fn limit(&self, memory_mb: u32) -> io::Result<()> {
        let quota = (PERIOD_US * u64::from(memory_mb) / MB_PER_VCPU).max(MIN_QUOTA_US);
        let bytes = u64::from(memory_mb) * 1024 * 1024;
        match self.version {
            CgroupVersion::V2 => {
                write(&self.cpu.join("cpu.max"), &format!("{quota} {PERIOD_US}"))?;
                write(&self.memory.join("memory.max"), &bytes.to_string())?;
                let swap = self.memory.join("memory.swap.max");
                if swap.exists() {
                    write(&swap, "0")?;
                }
                // An out-of-memory kill takes the whole environment, as on Lambda.
                let _ = write(&self.memory.join("memory.oom.group"), "1");
            }
            CgroupVersion::V1 => {
                write(&self.cpu.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
                write(&self.cpu.join("cpu.cfs_quota_us"), &quota.to_string())?;
                write(
                    &self.memory.join("memory.limit_in_bytes"),
                    &bytes.to_string(),
                )?;
                let memsw = self.memory.join("memory.memsw.limit_in_bytes");
                if memsw.exists() {
                    write(&memsw, &bytes.to_string())?;
                }
            }
        }
        Ok(())
    }

    /// The files a process writes its pid to, to join every hierarchy.
    fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs().iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// `spec`, started through `/bin/sh` so that the process joins this cgroup before the
    /// program's first instruction; `exec` keeps the pid. A program that cannot be run is
    /// refused here, as a direct spawn would refuse it.
    pub(crate) fn wrap(&self, spec: &ProcessSpec) -> io::Result<ProcessSpec> {
        check_runnable(spec)?;
        let mut script = String::new();
        for file in self.procs_files() {
            script.push_str(&format!("echo $$ > {} && ", quote(&file)));
        }
        // The shell exports PWD on its own; the program gets exactly the environment asked for.
        if !spec.env.iter().any(|(k, _)| k == "PWD") {
            script.push_str("unset PWD && ");
        }
        script.push_str("exec \"$0\" \"$@\"");
        let mut args = vec![OsString::from("-c"), OsString::from(script)];
        args.push(spec.program.clone());
        args.extend(spec.args.iter().cloned());
        Ok(ProcessSpec {
            program: OsString::from("/bin/sh"),
            args,
            cwd: spec.cwd.clone(),
            env: spec.env.clone(),
        })
    }

    /// Lifts the CPU quota (the environment is about to be SIGKILLed, and a throttled process
    /// would otherwise take up to a quota period to stop for the final reading).
    pub(crate) fn unthrottle(&self) -> io::Result<()> {
        match self.version {
            CgroupVersion::V2 => write(&self.cpu.join("cpu.max"), &format!("max {PERIOD_US}")),
            CgroupVersion::V1 => write(&self.cpu.join("cpu.cfs_quota_us"), "-1"),
        }
    }

    /// Whether freezing uses the cgroup freezer.
    pub(crate) fn has_freezer(&self) -> bool {
        self.freezer.is_some()
    }

    /// Asks the kernel to freeze every process; [`Self::frozen`] says when it has. Sleeping
    /// tasks freeze at once, a running one at its next return to user space (a throttled one
    /// once its quota period allows it to run).
    pub(crate) fn freeze(&self) -> io::Result<()> {
        let Some(dir) = &self.freezer else {
            return Ok(());
        };
        match self.version {
            CgroupVersion::V1 => write(&dir.join("freezer.state"), "FROZEN"),
            CgroupVersion::V2 => write(&dir.join("cgroup.freeze"), "1"),
        }
    }

    /// Whether every process is frozen (v1 `freezer.state` reads `FROZEN`, v2 `cgroup.events`
    /// says `frozen 1`).
    pub(crate) fn frozen(&self) -> bool {
        let Some(dir) = &self.freezer else {
            return false;
        };
        match self.version {
            CgroupVersion::V1 => {
                read(&dir.join("freezer.state")).is_some_and(|s| s.trim() == "FROZEN")
            }
            CgroupVersion::V2 => read(&dir.join("cgroup.events"))
                .is_some_and(|s| s.lines().any(|l| l.trim() == "frozen 1")),
        }
    }

    /// Thaws every process.
    pub(crate) fn thaw(&self) -> io::Result<()> {
        let Some(dir) = &self.freezer else {
            return Ok(());
        };
        match self.version {
            CgroupVersion::V1 => write(&dir.join("freezer.state"), "THAWED"),
            CgroupVersion::V2 => write(&dir.join("cgroup.freeze"), "0"),
        }
    }

    /// The processes in the cgroup.
    pub(crate) fn members(&self) -> Vec<Pid> {
        members(&self.memory)
    }

    /// SIGKILLs every process of the environment, however it detached (its own session or
    /// process group): `cgroup.kill` in v2 when there is one, else each member, with the
    /// cgroup frozen meanwhile so that nothing forks past the kill. Returns how many were left.
    pub(crate) fn kill_all(&self) -> usize {
        let left = self.members().len();
        if left == 0 {
            return 0;
        }
        let kill_file = self.memory.join("cgroup.kill");
        if self.version == CgroupVersion::V2 && kill_file.exists() {
            let _ = write(&kill_file, "1");
            return left;
        }
        // Frozen, nothing forks between the reading of the members and their kill.
        if self.freeze().is_ok() {
            for _ in 0..500 {
                if self.frozen() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_micros(100));
            }
        }
        signal_members(&self.memory);
        let _ = self.thaw();
        kill_members(&self.memory);
        left
    }

    /// Removes the cgroup; fails while a process is still in it.
    pub(crate) fn remove(&self) -> bool {
        let mut ok = true;
        for dir in self.dirs() {
            if let Err(e) = std::fs::remove_dir(dir)
                && e.kind() != io::ErrorKind::NotFound
            {
                ok = false;
            }
        }
        ok
    }

    /// Max Memory Used so far, in bytes.
    pub(crate) fn peak_bytes(&self) -> Option<u64> {
        let number = |file: &str| read(&self.memory.join(file))?.trim().parse::<u64>().ok();
        match self.version {
            CgroupVersion::V1 => number("memory.max_usage_in_bytes"),
            CgroupVersion::V2 => number("memory.peak").or_else(|| {
                let now = number("memory.current")?;
                Some(self.sampled_peak.fetch_max(now, Ordering::Relaxed).max(now))
            }),
        }
    }

    /// Out-of-memory kills since the last call that reported one.
    pub(crate) fn new_oom_kills(&self) -> u64 {
        let count = self.oom_kills();
        let seen = self.oom_seen.swap(count, Ordering::Relaxed);
        count.saturating_sub(seen)
    }

    fn oom_kills(&self) -> u64 {
        let (file, key) = match self.version {
            CgroupVersion::V1 => ("memory.oom_control", "oom_kill"),
            CgroupVersion::V2 => ("memory.events", "oom_kill"),
        };
        let text = read(&self.memory.join(file)).unwrap_or_default();
        let counted = text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        });
        match counted {
            Some(n) => n,
            // Kernels before 4.13 have no v1 counter: a hit limit is the best sign there is.
            None => read(&self.memory.join("memory.failcnt"))
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map_or(0, |n| u64::from(n > 0)),
        }
    }
}

/// The pids in a cgroup directory.
fn members(dir: &Path) -> Vec<Pid> {
    read(&dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_ascii_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// SIGKILLs every member of `dir` once; `false` when there was none.
fn signal_members(dir: &Path) -> bool {
    let pids = members(dir);
    for &pid in &pids {
        if let Ok(raw) = i32::try_from(pid) {
            let _ = kill(NixPid::from_raw(raw), Signal::SIGKILL);
        }
    }
    !pids.is_empty()
}

/// SIGKILLs every member of `dir`, again while some are left (a fork racing the kill), for at
/// most about 20 ms.
fn kill_members(dir: &Path) {
    for _ in 0..100 {
        if !signal_members(dir) {
            return;
        }
        // Killed processes leave `cgroup.procs` once they have exited, not at the signal.
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// Refuses a program that `exec` would not run, with the error a direct spawn gives.
fn check_runnable(spec: &ProcessSpec) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let program = Path::new(&spec.program);
    let candidates: Vec<PathBuf> = if program.components().count() > 1 {
        vec![spec.cwd.join(program)]
    } else {
        let path = spec
            .env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| OsString::from(v))
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        std::env::split_paths(&path)
            .map(|d| d.join(program))
            .collect()
    };
    let mut found_unrunnable = false;
    for candidate in candidates {
        if let Ok(meta) = std::fs::metadata(&candidate) {
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(());
            }
            found_unrunnable = true;
        }
    }
    Err(if found_unrunnable {
        io::Error::from(io::ErrorKind::PermissionDenied)
    } else {
        io::Error::from(io::ErrorKind::NotFound)
    })
}

/// A path quoted for `sh`.
fn quote(path: &Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_paths_for_the_shell() {
        assert_eq!(quote(Path::new("/a/b'c")), r"'/a/b'\''c'");
    }

    #[test]
    fn refuses_what_exec_would_not_run() {
        let spec = |program: &str| ProcessSpec {
            program: program.into(),
            args: Vec::new(),
            cwd: "/".into(),
            env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        };
        assert!(check_runnable(&spec("sh")).is_ok());
        assert!(check_runnable(&spec("/bin/sh")).is_ok());
        assert_eq!(
            check_runnable(&spec("/nonexistent/x")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            check_runnable(&spec("/etc/passwd")).unwrap_err().kind(),
            io::ErrorKind::PermissionDenied
        );
    }
}
