//! [`Function`]: one function as a test describes it, resolved into the emulator's
//! configuration by [`super::locate`], [`Settings::apply`] or the template reader.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use grace_emulator::{FunctionConfig, ShutdownBudgets};

use super::{Settings, Warning, absolute, locate};
use crate::error::{Context as _, Error, bail};

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
    resource_model: bool,
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
    Managed {
        runtime: String,
        dir: PathBuf,
    },
}

impl Function {
    fn from_source(source: Source) -> Self {
        Self {
            source,
            name: None,
            settings: Settings::default(),
            freeze: true,
            resource_model: false,
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

    /// A function of a managed runtime (`nodejs20.x`, `nodejs22.x`, `python3.X`) whose code is
    /// in `dir`, started as Lambda starts it (see [`super::managed()`]); set its
    /// [`Function::handler`]. Named after the directory.
    ///
    /// ```no_run
    /// use grace_harness::Function;
    /// let f = Function::runtime("nodejs20.x", "fn/").handler("app.handler");
    /// ```
    pub fn runtime(runtime: impl Into<String>, dir: impl Into<PathBuf>) -> Self {
        Self::from_source(Source::Managed {
            runtime: runtime.into(),
            dir: dir.into(),
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

    /// The Node.js for a `nodejs` function (default: `$GRACE_NODE`, then `node` on `PATH`).
    pub fn node(mut self, program: impl Into<PathBuf>) -> Self {
        self.settings.node = Some(program.into());
        self
    }

    /// Where AWS's Node.js runtime interface client `aws-lambda-ric` is: its package folder or an
    /// npm prefix holding it (default: `$GRACE_NODE_RIC`, then the global npm folder).
    pub fn node_ric(mut self, dir: impl Into<PathBuf>) -> Self {
        self.settings.node_ric = Some(dir.into());
        self
    }

    /// Whether idle environments are frozen (SIGSTOP), as on Lambda (the default).
    pub fn freeze(mut self, freeze: bool) -> Self {
        self.freeze = freeze;
        self
    }

    /// Whether the function runs under Lambda's resource model (a cgroup per environment: CPU
    /// time and memory as Lambda gives them, `Runtime.OutOfMemory` past the memory size). Off by
    /// default: it needs a writable cgroup (usually root); where there is none the function runs
    /// without it (see `grace_emulator::resource_support`).
    pub fn resource_model(mut self, on: bool) -> Self {
        self.resource_model = on;
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
            Source::Managed { runtime, dir } => {
                let env = |k: &str| std::env::var(k).ok();
                super::managed(
                    runtime,
                    dir,
                    self.name.clone(),
                    &self.settings,
                    &env,
                    &mut warnings,
                )?
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
        cfg.resource_model = self.resource_model;
        Ok((cfg, warnings))
    }
}
