//! Making a new version: running the build (its output kept for the error message), and keeping
//! each version's executable in a snapshot of its own, so that an environment started while the
//! next version builds still runs the version it was defined with, and the build never writes
//! over an executable that is running.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use grace_emulator::FunctionConfig;

/// The most of a failed build's output kept in the `reload_failed` event.
const MAX_ERROR_BYTES: usize = 8 * 1024;

/// Runs `argv` in `dir`; `Err` carries what it printed when it failed.
pub(super) async fn run(argv: &[OsString], dir: &Path) -> Result<Duration, String> {
    let started = std::time::Instant::now();
    let (program, args) = argv.split_first().ok_or("an empty build command")?;
    let output = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", program.to_string_lossy()))?;
    if output.status.success() {
        return Ok(started.elapsed());
    }
    let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stdout));
    let text = text.trim();
    let text = if text.is_empty() {
        format!("the build failed ({})", output.status)
    } else {
        text.to_owned()
    };
    Err(text)
}

/// The last `MAX_ERROR_BYTES` of `text` (the compiler's summary comes last).
pub(super) fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(MAX_ERROR_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Where the versions' executables are kept: `$TMPDIR/grace-watch-PID/FUNCTION/VERSION/NAME`.
/// Removed when dropped.
#[derive(Debug)]
pub(super) struct Snapshots {
    dir: PathBuf,
}

impl Snapshots {
    pub(super) fn new() -> anyhow::Result<Self> {
        Self::at(std::env::temp_dir().join(format!("grace-watch-{}", std::process::id())))
    }

    fn at(dir: PathBuf) -> anyhow::Result<Self> {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self { dir })
    }

    /// Copies `executable` as `version` of `function` (same file name, same permissions).
    pub(super) fn take(
        &self,
        function: &str,
        version: u64,
        executable: &Path,
    ) -> anyhow::Result<PathBuf> {
        let dir = self.dir.join(function).join(version.to_string());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let name = executable
            .file_name()
            .with_context(|| format!("{} names no file", executable.display()))?;
        let copy = dir.join(name);
        std::fs::copy(executable, &copy).with_context(|| {
            format!("cannot copy {} to {}", executable.display(), copy.display())
        })?;
        Ok(copy)
    }

    /// Gives `version` of an interpreted function a Python bytecode cache of its own
    /// (`PYTHONPYCACHEPREFIX`), unless the function sets one: Python trusts a cached module
    /// whose source has the same size and modification second, which a quick edit of one
    /// character has, and the new environment would run the old code.
    pub(super) fn fresh_bytecode(&self, cfg: &mut FunctionConfig, version: u64) {
        const VAR: &str = "PYTHONPYCACHEPREFIX";
        let ours = self.dir.join(&cfg.name);
        let prefix = ours.join(version.to_string()).join("pycache");
        match cfg.env.iter_mut().find(|(k, _)| k == VAR) {
            Some((_, v)) if Path::new(v).starts_with(&ours) => *v = prefix.display().to_string(),
            Some(_) => {}
            None => cfg.env.push((VAR.to_owned(), prefix.display().to_string())),
        }
    }

    /// Removes the versions of `function` older than `current`: no new environment is made from
    /// them any more, and the running ones keep their executable open (Linux keeps an unlinked
    /// file as long as it is in use).
    pub(super) fn prune(&self, function: &str, current: u64) {
        let Ok(entries) = std::fs::read_dir(self.dir.join(function)) else {
            return;
        };
        for entry in entries.flatten() {
            let older = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|v| v < current);
            if older {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

impl Drop for Snapshots {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshots(tag: &str) -> Snapshots {
        let dir = std::env::temp_dir().join(format!("grace-watch-{tag}-{}", std::process::id()));
        Snapshots::at(dir).unwrap()
    }

    #[test]
    fn versions_are_kept_apart_and_pruned() {
        use std::os::unix::fs::PermissionsExt;
        let snapshots = snapshots("versions");
        let src = snapshots.dir.join("bootstrap");
        std::fs::write(&src, "v1").unwrap();
        std::fs::set_permissions(&src, std::fs::Permissions::from_mode(0o755)).unwrap();
        let v1 = snapshots.take("f", 1, &src).unwrap();
        std::fs::write(&src, "v2").unwrap();
        let v2 = snapshots.take("f", 2, &src).unwrap();
        assert_eq!(v1.file_name().unwrap(), "bootstrap");
        assert_eq!(std::fs::read_to_string(&v1).unwrap(), "v1");
        assert_eq!(std::fs::read_to_string(&v2).unwrap(), "v2");
        let mode = std::fs::metadata(&v2).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        snapshots.prune("f", 2);
        assert!(!v1.exists() && v2.exists());
        let dir = snapshots.dir.clone();
        drop(snapshots);
        assert!(!dir.exists());
    }

    #[test]
    fn each_version_of_an_interpreted_function_has_its_own_bytecode_cache() {
        let snapshots = snapshots("bytecode");
        let mut cfg = FunctionConfig::new("py", vec!["python3".into()], "/app".into());
        let prefix = |cfg: &FunctionConfig| {
            cfg.env
                .iter()
                .filter(|(k, _)| k == "PYTHONPYCACHEPREFIX")
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        snapshots.fresh_bytecode(&mut cfg, 1);
        let first = prefix(&cfg);
        snapshots.fresh_bytecode(&mut cfg, 2);
        let second = prefix(&cfg);
        assert_eq!((first.len(), second.len()), (1, 1));
        assert_ne!(first, second);
        assert!(second[0].starts_with(&snapshots.dir.display().to_string()));
        // The function's own setting is kept.
        let mut own = FunctionConfig::new("py", vec!["python3".into()], "/app".into());
        own.env.push(("PYTHONPYCACHEPREFIX".into(), "/mine".into()));
        snapshots.fresh_bytecode(&mut own, 2);
        assert_eq!(prefix(&own), ["/mine"]);
    }

    #[test]
    fn long_build_output_keeps_its_end() {
        let text = format!("{}error: the end", "é".repeat(MAX_ERROR_BYTES));
        let kept = tail(&text);
        assert!(kept.len() <= MAX_ERROR_BYTES);
        assert!(kept.ends_with("error: the end"));
        assert_eq!(tail("short"), "short");
    }
}
