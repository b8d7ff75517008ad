//! Finding what is writable (cgroup v2 in a delegated subtree, v1 as root, or nothing), once
//! per cgroup root; the emulator's own `grace-<pid>` cgroups; and the removal of those whose
//! emulator is gone.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::{DEFAULT_ROOT, EnvCgroup, kill_members, read, write};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::ProcessSpec;

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
}
