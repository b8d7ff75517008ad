//! Where a function comes from, turned into the emulator's [`FunctionConfig`]: a built
//! executable, a `cargo lambda build` output directory (with `bootstrap`), any command line, or
//! one function of an AWS SAM template; with the [`Settings`] shared by the functions a command
//! line or a test describes. Submodules: `builder`, [`Function`]; `managed`, a function of a
//! managed runtime (Node.js, Python) given by runtime name and code directory ([`managed()`]).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use grace_emulator::{FunctionConfig, ShutdownBudgets};

use crate::error::{Context as _, Error, Result, bail};

mod builder;
mod managed;
pub use builder::Function;
pub use managed::managed;

/// The configuration shared by the functions of one run: what a command line's options or a
/// [`Function`]'s builder methods set. A template's own values win over these; these fill in
/// what it leaves unset (see [`crate::template`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// Environment variables (they override a template's of the same name).
    pub env: Vec<(String, String)>,
    /// Layer directories; executables in their `extensions/` run as external extensions.
    pub layers: Vec<PathBuf>,
    /// Memory size in MB (Lambda's default: 128).
    pub memory_mb: u32,
    /// Invoke timeout (Lambda's default: 3 s).
    pub timeout: Duration,
    /// Init phase limit (10 s).
    pub init_timeout: Duration,
    /// `_HANDLER`.
    pub handler: Option<String>,
    /// `AWS_EXECUTION_ENV`.
    pub execution_env: Option<String>,
    /// The shutdown budgets (Lambda's: 500 ms, 300 ms, 2 s).
    pub budgets: ShutdownBudgets,
    /// Template parameters, `NAME` → `VALUE` (as `sam local --parameter-overrides`).
    pub parameters: Vec<(String, String)>,
    /// The Python for a template's `python3.x` functions (default: `$GRACE_PYTHON`, then
    /// `python3` on `PATH`).
    pub python: Option<PathBuf>,
    /// The Node.js for `nodejs20.x`/`nodejs22.x` functions (default: `$GRACE_NODE`, then `node`
    /// on `PATH`).
    pub node: Option<PathBuf>,
    /// AWS's Node.js runtime interface client, `aws-lambda-ric`: its package folder or an npm
    /// prefix holding it (default: `$GRACE_NODE_RIC`, then the global npm folder).
    pub node_ric: Option<PathBuf>,
}

/// Lambda's default memory size, MB.
pub const DEFAULT_MEMORY_MB: u32 = 128;
/// Lambda's default timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

impl Default for Settings {
    fn default() -> Self {
        Self {
            env: Vec::new(),
            layers: Vec::new(),
            memory_mb: DEFAULT_MEMORY_MB,
            timeout: DEFAULT_TIMEOUT,
            init_timeout: Duration::from_secs(10),
            handler: None,
            execution_env: None,
            budgets: ShutdownBudgets::default(),
            parameters: Vec::new(),
            python: None,
            node: None,
            node_ric: None,
        }
    }
}

impl Settings {
    /// Applies these settings to a function that does not come from a template.
    pub fn apply(&self, cfg: &mut FunctionConfig) -> Result<(), Error> {
        cfg.env = self.env.clone();
        cfg.layers = self.absolute_layers()?;
        cfg.memory_mb = self.memory_mb;
        cfg.timeout = self.timeout;
        cfg.init_timeout = self.init_timeout;
        cfg.execution_env = self.execution_env.clone();
        if let Some(h) = &self.handler {
            cfg.handler = h.clone();
        }
        cfg.budgets = self.budgets;
        Ok(())
    }

    pub(crate) fn absolute_layers(&self) -> Result<Vec<PathBuf>, Error> {
        Ok(self
            .layers
            .iter()
            .map(|l| absolute(l))
            .collect::<Result<_, _>>()?)
    }
}

/// Something worth telling about a function's configuration that does not stop it from running
/// (a template property that is not emulated, a value that does not resolve…).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Warning {
    /// The file it is about (a template).
    pub file: PathBuf,
    /// What it says.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.message)
    }
}

/// An executable function found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Located {
    /// The command line that starts it (the executable).
    pub command: Vec<OsString>,
    /// Its task root: the directory with `bootstrap`, or the executable's directory.
    pub dir: PathBuf,
    /// The name it goes by unless given one: the directory's name for a `bootstrap`, else the
    /// executable's.
    pub name: String,
}

impl Located {
    /// The emulator's configuration for it, named `name` (else its default name).
    pub fn config(self, name: Option<String>) -> FunctionConfig {
        FunctionConfig::new(name.unwrap_or(self.name), self.command, self.dir)
    }
}

/// A function PATH: a directory with `bootstrap` (a `cargo lambda build` output), or an
/// executable.
pub fn locate(path: &Path) -> Result<Located, Error> {
    Ok(locate_inner(path)?)
}

fn locate_inner(path: &Path) -> Result<Located> {
    let path = absolute(path)?;
    let meta =
        std::fs::metadata(&path).with_context(|| format!("{} does not exist", path.display()))?;
    let (exe, dir) = if meta.is_dir() {
        let exe = path.join("bootstrap");
        if !exe.is_file() {
            bail!("{} has no `bootstrap` file", path.display());
        }
        (exe, path.clone())
    } else {
        (
            path.clone(),
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        )
    };
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&exe)?.permissions().mode();
    if mode & 0o111 == 0 {
        bail!("{} is not executable (chmod +x it)", exe.display());
    }
    let name_source = if exe.file_name().is_some_and(|n| n == "bootstrap") {
        &dir
    } else {
        &exe
    };
    let name = name_source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .context("cannot name the function; pass --name")?;
    Ok(Located {
        command: vec![exe.into_os_string()],
        dir,
        name,
    })
}

/// Reads a file of `K=V` lines (`#` comments, blank lines and a leading `export ` ignored;
/// surrounding double quotes stripped).
pub fn read_env_file(file: &Path) -> Result<Vec<(String, String)>, Error> {
    let read = || -> Result<Vec<(String, String)>> {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let mut vars = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            vars.push(split_var(line).with_context(|| format!("{}:{}", file.display(), n + 1))?);
        }
        Ok(vars)
    };
    Ok(read()?)
}

/// Parses one `K=V` (surrounding double quotes of the value stripped).
pub fn parse_var(kv: &str) -> Result<(String, String), Error> {
    Ok(split_var(kv)?)
}

fn split_var(kv: &str) -> Result<(String, String)> {
    let (k, v) = kv.split_once('=').context("expected K=V")?;
    if k.is_empty() {
        bail!("empty variable name");
    }
    let v = v.trim_matches('"');
    Ok((k.to_owned(), v.to_owned()))
}

pub(crate) fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("bad path {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_variables() {
        assert_eq!(split_var("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert_eq!(split_var("A=\"q\"").unwrap(), ("A".into(), "q".into()));
        assert!(split_var("=x").is_err());
        assert!(split_var("novalue").is_err());
    }

    #[test]
    fn locates_a_bootstrap_directory_or_an_executable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("grace-harness-fn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("bootstrap");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o644)).unwrap();
        // Negative control: not executable yet.
        let err = locate(&dir).unwrap_err().to_string();
        assert!(err.contains("is not executable"), "{err}");
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let found = locate(&dir).unwrap();
        assert_eq!(found.name, dir.file_name().unwrap().to_string_lossy());
        assert_eq!(found.command, [exe.clone().into_os_string()]);
        let (cfg, warnings) = Function::cargo_lambda_dir(&dir)
            .memory_mb(256)
            .env("A", "1")
            .freeze(false)
            .config()
            .unwrap();
        assert_eq!((cfg.memory_mb, cfg.freeze), (256, false));
        assert_eq!(cfg.env, [("A".to_owned(), "1".to_owned())]);
        assert!(warnings.is_empty());
        let err = Function::binary(&dir).config().unwrap_err().to_string();
        assert!(err.contains("use Function::cargo_lambda_dir"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
