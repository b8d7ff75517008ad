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

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

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

/// Which cgroup interface the model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// Whether the resource model can apply on this machine, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceSupport {
    /// Environments get their own cgroups; `freezer`: freezing uses the cgroup freezer (else
    /// SIGSTOP).
    Available {
        version: CgroupVersion,
        freezer: bool,
    },
    /// No writable cgroup; why.
    Unavailable(String),
}

impl ResourceSupport {
    /// `on (cgroup v1: CPU quota, memory limit, freezer)` or `off (no writable cgroup: …)`.
    pub fn describe(&self) -> String {
        match self {
            Self::Available { version, freezer } => format!(
                "on (cgroup {}: CPU quota, memory limit, {})",
                match version {
                    CgroupVersion::V1 => "v1",
                    CgroupVersion::V2 => "v2",
                },
                if *freezer {
                    "freezer"
                } else {
                    "SIGSTOP for freezing"
                }
            ),
            Self::Unavailable(why) => format!("off (no writable cgroup: {why})"),
        }
    }
}

/// Whether environments can get cgroups under `root` (default `/sys/fs/cgroup`). Detected once
/// per root, and the cgroups left by emulators that are gone are removed then.
pub fn support(root: Option<&Path>) -> ResourceSupport {
    match parent(root) {
        Ok(p) => ResourceSupport::Available {
            version: p.version,
            freezer: p.freezer.is_some(),
        },
        Err(why) => ResourceSupport::Unavailable(why),
    }
}

/// The emulator's own cgroups (`grace-<pid>` in each hierarchy), under which environments get
/// theirs.
#[derive(Debug)]
pub(crate) struct Parent {
    version: CgroupVersion,
    cpu: PathBuf,
    memory: PathBuf,
    freezer: Option<PathBuf>,
}

type Detected = Result<Arc<Parent>, String>;

/// The parent for `root`, detected (and created) once.
pub(crate) fn parent(root: Option<&Path>) -> Detected {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Detected>>> = OnceLock::new();
    let root = root.map_or_else(|| PathBuf::from(DEFAULT_ROOT), Path::to_path_buf);
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    cache
        .entry(root.clone())
        .or_insert_with(|| detect(&root).map(Arc::new))
        .clone()
}

fn detect(root: &Path) -> Result<Parent, String> {
    let own = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let name = format!("grace-{}", std::process::id());
    if root.join("cgroup.controllers").exists() {
        return detect_v2(root, &own, &name);
    }
    detect_v1(root, &own, &name)
}

/// The path of our cgroup in the hierarchy whose `/proc/self/cgroup` line matches `which`
/// (`""` for v2's `0::`, else a controller name).
fn own_path(own: &str, which: &str) -> Option<PathBuf> {
    own.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if which.is_empty() {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == which)
        };
        hit.then(|| PathBuf::from(path.trim_start_matches('/')))
    })
}

fn detect_v2(root: &Path, own: &str, name: &str) -> Result<Parent, String> {
    let base = root.join(own_path(own, "").ok_or("no cgroup v2 line in /proc/self/cgroup")?);
    let enabled = read(&base.join("cgroup.subtree_control")).unwrap_or_default();
    let has = |c: &str| enabled.split_whitespace().any(|e| e == c);
    if !(has("cpu") && has("memory")) {
        let available = read(&base.join("cgroup.controllers")).unwrap_or_default();
        let offered = |c: &str| available.split_whitespace().any(|e| e == c);
        if !(offered("cpu") && offered("memory")) {
            return Err(format!(
                "{}: the cpu and memory controllers are not delegated to it",
                base.display()
            ));
        }
        let enable = || write(&base.join("cgroup.subtree_control"), "+cpu +memory");
        if enable().is_err() {
            // "No internal processes": a cgroup that holds processes cannot give controllers
            // to children. Move this process into a leaf of its own (as `systemd-run` does in a
            // delegated scope) and try again.
            let leaf = base.join(format!("{name}.emulator"));
            make_dir(&leaf)?;
            write(&leaf.join("cgroup.procs"), &std::process::id().to_string())
                .and_then(|()| enable())
                .map_err(|e| {
                    format!(
                        "{}: cannot enable the cpu and memory controllers ({e})",
                        base.display()
                    )
                })?;
        }
    }
    clean_stale(&base);
    let dir = base.join(name);
    make_dir(&dir)?;
    write(&dir.join("cgroup.subtree_control"), "+cpu +memory")
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let freezer = dir.join("cgroup.freeze").exists().then(|| dir.clone());
    Ok(Parent {
        version: CgroupVersion::V2,
        cpu: dir.clone(),
        memory: dir,
        freezer,
    })
}

fn detect_v1(root: &Path, own: &str, name: &str) -> Result<Parent, String> {
    let hierarchy = |controller: &str| -> Result<PathBuf, String> {
        let mount = root.join(controller);
        if !mount.join("cgroup.procs").exists() {
            return Err(format!("{} is not a cgroup hierarchy", mount.display()));
        }
        let path = own_path(own, controller).unwrap_or_default();
        let base = mount.join(path);
        clean_stale(&base);
        let dir = base.join(name);
        make_dir(&dir)?;
        Ok(dir)
    };
    let cpu = hierarchy("cpu")?;
    let memory = hierarchy("memory")?;
    let freezer = hierarchy("freezer").ok();
    Ok(Parent {
        version: CgroupVersion::V1,
        cpu,
        memory,
        freezer,
    })
}

fn make_dir(dir: &Path) -> Result<(), String> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create {}: {e}", dir.display())),
    }
}

/// Removes the `grace-<pid>` cgroups under `base` whose emulator is gone, killing what is left
/// in them.
fn clean_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(pid) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix("grace-"))
            .and_then(|p| p.split('.').next()?.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = entry.path();
        if let Ok(envs) = std::fs::read_dir(&dir) {
            for env in envs.flatten().filter(|e| e.path().is_dir()) {
                kill_members(&env.path());
                let _ = std::fs::remove_dir(env.path());
            }
        }
        let _ = std::fs::remove_dir(&dir);
    }
}

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

impl Parent {
    /// Creates the cgroup of environment `id` with its CPU quota and memory limit.
    pub(crate) fn create(&self, id: u64, memory_mb: u32) -> io::Result<EnvCgroup> {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let name = format!("env-{id}.{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let sub = |p: &PathBuf| p.join(&name);
        let cg = EnvCgroup {
            version: self.version,
            cpu: sub(&self.cpu),
            memory: sub(&self.memory),
            freezer: self.freezer.as_ref().map(sub),
            oom_seen: AtomicU64::new(0),
            sampled_peak: AtomicU64::new(0),
        };
        for dir in cg.dirs() {
            std::fs::create_dir(dir)?;
        }
        let applied = cg.limit(memory_mb);
        if let Err(e) = applied {
            cg.remove();
            return Err(e);
        }
        Ok(cg)
    }
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

    /// Whether freezing uses the cgroup freezer.
    pub(crate) fn has_freezer(&self) -> bool {
        self.freezer.is_some()
    }

    /// Freezes every process and waits (briefly) until the kernel says they are.
    pub(crate) fn freeze(&self) -> io::Result<()> {
        let Some(dir) = &self.freezer else {
            return Ok(());
        };
        let (file, value, done): (_, _, fn(&str) -> bool) = match self.version {
            CgroupVersion::V1 => ("freezer.state", "FROZEN", |s| s.trim() == "FROZEN"),
            CgroupVersion::V2 => ("cgroup.freeze", "1", |s| {
                s.lines().any(|l| l.trim() == "frozen 1")
            }),
        };
        write(&dir.join(file), value)?;
        let check = match self.version {
            CgroupVersion::V1 => dir.join("freezer.state"),
            CgroupVersion::V2 => dir.join("cgroup.events"),
        };
        // Sleeping tasks freeze at once; a running one at its next return to user space.
        for _ in 0..500 {
            if read(&check).is_some_and(|s| done(&s)) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_micros(100));
        }
        Ok(())
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
        let _ = self.freeze();
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
    fn finds_our_cgroup_per_hierarchy() {
        let own = "12:memory:/process_api/abc\n3:cpu,cpuacct:/\n0::/user.slice/x.scope\n";
        assert_eq!(
            own_path(own, "memory"),
            Some(PathBuf::from("process_api/abc"))
        );
        assert_eq!(own_path(own, "cpu"), Some(PathBuf::from("")));
        assert_eq!(own_path(own, ""), Some(PathBuf::from("user.slice/x.scope")));
        assert_eq!(own_path(own, "freezer"), None);
    }

    #[test]
    fn a_root_without_cgroups_is_unavailable_and_says_why() {
        let dir = std::env::temp_dir().join(format!("grace-no-cgroup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let support = support(Some(&dir));
        let _ = std::fs::remove_dir(&dir);
        let ResourceSupport::Unavailable(why) = &support else {
            panic!("{support:?}");
        };
        assert!(why.contains("not a cgroup hierarchy"), "{why}");
        assert!(support.describe().starts_with("off (no writable cgroup"));
    }

    /// The v2 path against a plain directory laid out like a delegated cgroup v2 root (the
    /// kernel is not involved, so this checks what is written where, not what it does).
    #[test]
    fn v2_writes_lambdas_quota_and_limit_and_joins_every_hierarchy_once() {
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let Some(path) = own_path(&own, "") else {
            eprintln!("skipped: no cgroup v2 line in /proc/self/cgroup");
            return;
        };
        let root = std::env::temp_dir().join(format!("grace-fake-v2-{}", std::process::id()));
        let base = root.join(path);
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(root.join("cgroup.controllers"), "cpu memory").unwrap();
        std::fs::write(base.join("cgroup.controllers"), "cpu memory").unwrap();
        std::fs::write(base.join("cgroup.subtree_control"), "cpu memory").unwrap();
        let parent = detect(&root).unwrap();
        assert_eq!(parent.version, CgroupVersion::V2);
        assert!(parent.freezer.is_none(), "no cgroup.freeze: SIGSTOP");
        let cg = parent.create(7, 128).unwrap();
        assert_eq!(read(&cg.cpu.join("cpu.max")).unwrap(), "7235 100000");
        assert_eq!(read(&cg.memory.join("memory.max")).unwrap(), "134217728");
        let spec = ProcessSpec {
            program: "prog".into(),
            args: vec!["a b".into()],
            cwd: "/".into(),
            env: vec![("PATH".into(), "/bin".into())],
        };
        let wrapped = cg.wrap(&ProcessSpec {
            program: "/bin/sh".into(),
            ..spec
        });
        let args = wrapped.unwrap().args;
        let script = args[1].to_string_lossy().into_owned();
        assert_eq!(script.matches("cgroup.procs").count(), 1, "{script}");
        assert!(
            script.ends_with("unset PWD && exec \"$0\" \"$@\""),
            "{script}"
        );
        assert_eq!(args[2], "/bin/sh");
        assert_eq!(args[3], "a b");
        let _ = std::fs::remove_dir_all(&root);
    }

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
