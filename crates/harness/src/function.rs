//! Where a function comes from, turned into the emulator's [`FunctionConfig`]: a built
//! executable, a `cargo lambda build` output directory (with `bootstrap`), any command line, or
//! one function of an AWS SAM template; with the [`Settings`] shared by the functions a command
//! line or a test describes.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Context as _, Result, bail};
use grace_emulator::{FunctionConfig, ShutdownBudgets};

use crate::error::Error;

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

/// One function to run under the emulator, as a test describes it: where it is, and its
/// configuration. Build one with [`Function::binary`], [`Function::cargo_lambda_dir`],
/// [`Function::command`] or [`Function::template`], then set what differs from Lambda's
/// defaults.
///
/// ```no_run
/// use std::time::Duration;
/// use grace_harness::Function;
/// let f = Function::binary("target/debug/hello")
///     .memory_mb(256)
///     .timeout(Duration::from_secs(2))
///     .env("RUST_LOG", "debug");
/// ```
#[derive(Debug, Clone)]
pub struct Function {
    source: Source,
    name: Option<String>,
    settings: Settings,
    freeze: bool,
}

#[derive(Debug, Clone)]
enum Source {
    Binary(PathBuf),
    Dir(PathBuf),
    Command {
        name: String,
        argv: Vec<OsString>,
        dir: Option<PathBuf>,
    },
    Template {
        path: PathBuf,
        name: String,
    },
}

impl Function {
    fn from_source(source: Source) -> Self {
        Self {
            source,
            name: None,
            settings: Settings::default(),
            freeze: true,
        }
    }

    /// A built executable, run as the function's `bootstrap` (in a test of a binary crate:
    /// `env!("CARGO_BIN_EXE_<name>")`). Named after the file.
    pub fn binary(path: impl Into<PathBuf>) -> Self {
        Self::from_source(Source::Binary(path.into()))
    }

    /// A directory holding `bootstrap`: `cargo lambda build`'s output (`target/lambda/NAME`).
    /// Named after the directory.
    pub fn cargo_lambda_dir(dir: impl Into<PathBuf>) -> Self {
        Self::from_source(Source::Dir(dir.into()))
    }

    /// Any command line, e.g. `python -m awslambdaric app.handler`; it runs in the current
    /// directory unless [`Function::dir`] says otherwise.
    pub fn command<I, S>(name: impl Into<String>, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self::from_source(Source::Command {
            name: name.into(),
            argv: argv.into_iter().map(Into::into).collect(),
            dir: None,
        })
    }

    /// The function with logical id `name` in the AWS SAM template at `path`; its values win
    /// over the builder's, which fill in what it leaves unset (as `grace serve --template`).
    pub fn template(path: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        Self::from_source(Source::Template {
            path: path.into(),
            name: name.into(),
        })
    }

    /// The name it is invoked by (not for a template function: its logical id is its name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// For [`Function::command`]: its directory (`LAMBDA_TASK_ROOT` and working directory).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        if let Source::Command { dir: d, .. } = &mut self.source {
            *d = Some(dir.into());
        }
        self
    }

    /// An environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.env.push((key.into(), value.into()));
        self
    }

    /// A layer directory (its `extensions/` executables run as external extensions).
    pub fn layer(mut self, dir: impl Into<PathBuf>) -> Self {
        self.settings.layers.push(dir.into());
        self
    }

    /// Memory size in MB.
    pub fn memory_mb(mut self, mb: u32) -> Self {
        self.settings.memory_mb = mb;
        self
    }

    /// The invoke timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// The init phase limit.
    pub fn init_timeout(mut self, timeout: Duration) -> Self {
        self.settings.init_timeout = timeout;
        self
    }

    /// `_HANDLER`.
    pub fn handler(mut self, handler: impl Into<String>) -> Self {
        self.settings.handler = Some(handler.into());
        self
    }

    /// `AWS_EXECUTION_ENV` (e.g. `AWS_Lambda_python3.12`).
    pub fn execution_env(mut self, value: impl Into<String>) -> Self {
        self.settings.execution_env = Some(value.into());
        self
    }

    /// The shutdown budgets (Lambda's by default).
    pub fn budgets(mut self, budgets: ShutdownBudgets) -> Self {
        self.settings.budgets = budgets;
        self
    }

    /// A template parameter's value.
    pub fn parameter(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.parameters.push((name.into(), value.into()));
        self
    }

    /// The Python for a template's `python3.x` function.
    pub fn python(mut self, program: impl Into<PathBuf>) -> Self {
        self.settings.python = Some(program.into());
        self
    }

    /// Whether idle environments are frozen (SIGSTOP), as on Lambda (the default).
    pub fn freeze(mut self, freeze: bool) -> Self {
        self.freeze = freeze;
        self
    }

    /// The settings so far.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The emulator's configuration for this function, with what is worth a warning. A
    /// template's `python3.x` function without [`Function::python`] runs under
    /// `$GRACE_PYTHON`, else `python3` on `PATH`.
    pub fn config(&self) -> Result<(FunctionConfig, Vec<Warning>), Error> {
        let mut warnings = Vec::new();
        let mut cfg = match &self.source {
            Source::Binary(path) => {
                if path.is_dir() {
                    bail!(
                        "{} is a directory: use Function::cargo_lambda_dir",
                        path.display()
                    );
                }
                let mut cfg = locate(path)?.config(self.name.clone());
                self.settings.apply(&mut cfg)?;
                cfg
            }
            Source::Dir(dir) => {
                if !dir.is_dir() {
                    bail!("{} is not a directory with `bootstrap`", dir.display());
                }
                let mut cfg = locate(dir)?.config(self.name.clone());
                self.settings.apply(&mut cfg)?;
                cfg
            }
            Source::Command { name, argv, dir } => {
                if argv.is_empty() {
                    bail!("{name}: an empty command line");
                }
                let dir = match dir {
                    Some(d) => absolute(d)?,
                    None => std::env::current_dir().context("cannot read the current directory")?,
                };
                let mut cfg = FunctionConfig::new(
                    self.name.clone().unwrap_or_else(|| name.clone()),
                    argv.clone(),
                    dir,
                );
                self.settings.apply(&mut cfg)?;
                cfg
            }
            Source::Template { path, name } => {
                let env = |k: &str| std::env::var(k).ok();
                let all =
                    crate::template::function_configs(path, &self.settings, &env, &mut warnings)?;
                let available: Vec<String> = all.iter().map(|c| c.name.clone()).collect();
                all.into_iter()
                    .find(|c| c.name == *name)
                    .ok_or_else(|| Error::NoSuchFunction {
                        template: path.display().to_string(),
                        name: name.clone(),
                        available: available.join(", "),
                    })?
            }
        };
        cfg.freeze = self.freeze;
        Ok((cfg, warnings))
    }
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
