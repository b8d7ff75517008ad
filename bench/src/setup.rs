//! The one setup path every mode goes through: signal handling and subreaping, the repository
//! root as the working directory, every binary resolved and checked, a scratch directory, the
//! wrk script, and the command line to reproduce the run.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cli::Common;
use crate::error::{Error, Result};
use crate::procs;
use crate::systems::Paths;
use crate::wrk::{self, Wrk};

/// What a mode starts from.
#[derive(Debug)]
pub(crate) struct Setup {
    /// The repository root (also the current directory).
    pub(crate) root: PathBuf,
    /// Absolute paths of the systems' binaries, and the scratch directory.
    pub(crate) paths: Paths,
    /// wrk with its POST script, one thread.
    pub(crate) wrk: Wrk,
    /// Cargo.lock's text (client versions are looked up in it).
    pub(crate) lock: String,
    /// `scripts/bench.sh` plus this run's arguments.
    pub(crate) command: String,
    /// Where the report goes, unless `--no-write`.
    pub(crate) out: Option<PathBuf>,
    /// Held for its `Drop`, which removes the scratch directory (unless kept); `paths.work`
    /// is its path.
    _work: WorkDir,
}

impl Setup {
    /// Installs the signal flag, becomes the subreaper, moves to the repository root, and
    /// resolves every binary of `common` (relative paths against the root).
    pub(crate) fn new(common: &Common) -> Result<Self> {
        procs::Interrupt::install()?;
        procs::become_subreaper()?;
        let command = reproduce_command();
        let root = repo_root();
        std::env::set_current_dir(&root).map_err(Error::io(format!("cd {}", root.display())))?;
        let work = WorkDir::create(common.keep_logs)?;
        let paths = Paths {
            grace: existing(&common.grace, "grace", "cargo build --release -p grace")?,
            cargo_lambda: existing(
                &common.cargo_lambda,
                "cargo-lambda",
                "scripts/setup-test-deps.sh",
            )?,
            rie: existing(&common.rie, "aws-lambda-rie", "scripts/setup-test-deps.sh")?,
            work: work.0.clone(),
        };
        let wrk = Wrk {
            bin: common.wrk.clone(),
            script: wrk::write_script(&work.0)?,
            threads: 1,
        };
        Ok(Self {
            lock: fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default(),
            out: (!common.no_write).then(|| common.out.clone()),
            root,
            paths,
            wrk,
            command,
            _work: work,
        })
    }
}

/// `path` made absolute (relative ones against the current directory), or an
/// [`Error::Missing`] naming `what` and how to get it.
pub(crate) fn existing(path: &Path, what: &str, hint: &str) -> Result<PathBuf> {
    fs::canonicalize(path).map_err(|source| Error::Missing {
        what: what.to_owned(),
        path: path.to_path_buf(),
        hint: hint.to_owned(),
        source,
    })
}

/// The repository root: the nearest ancestor of the current directory holding
/// `bench/Cargo.toml`, else where this crate was built.
fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    cwd.ancestors()
        .find(|d| d.join("bench/Cargo.toml").is_file() && d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// `scripts/bench.sh` plus this run's arguments, quoted where needed.
fn reproduce_command() -> String {
    let mut cmd = String::from("scripts/bench.sh");
    for a in std::env::args().skip(1) {
        let plain = a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=,./:".contains(c));
        cmd += &if plain {
            format!(" {a}")
        } else {
            format!(" '{}'", a.replace('\'', r"'\''"))
        };
    }
    cmd
}

/// A scratch directory (wrk script, logs, cargo lambda's stub project), removed on drop unless
/// kept.
#[derive(Debug)]
pub(crate) struct WorkDir(pub(crate) PathBuf, bool);

impl WorkDir {
    pub(crate) fn create(keep: bool) -> Result<Self> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("grace-bench-{}-{nanos}", std::process::id()));
        fs::create_dir_all(dir.join("logs"))
            .map_err(Error::io(format!("creating {}", dir.display())))?;
        Ok(Self(dir, keep))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.1 {
            eprintln!(
                "grace-bench: logs kept in {}",
                self.0.join("logs").display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}
