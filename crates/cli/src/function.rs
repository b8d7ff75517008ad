//! The function options shared by `grace serve` and `grace check`: where the function is, how it
//! is named, and its configuration. The options become [`grace_harness::Settings`]; finding
//! the function and reading templates is `grace_harness`'s work.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use grace_emulator::{FunctionConfig, ShutdownBudgets};
use grace_harness::function::{locate, parse_var, read_env_file};
use grace_harness::{Settings, Warning};

/// Options that configure functions.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct FunctionArgs {
    /// A directory holding `bootstrap` (a `cargo lambda build` output directory counts), or an
    /// executable; with --runtime, the function's code directory.
    pub(crate) path: Option<PathBuf>,
    /// PATH is the code of a function of this managed runtime, started as Lambda starts it:
    /// nodejs20.x or nodejs22.x (AWS's aws-lambda-ric under the local Node.js), python3.X
    /// (awslambdaric); needs --handler.
    #[arg(long, value_name = "RUNTIME", requires = "path")]
    pub(crate) runtime: Option<String>,
    /// The function's name (default: the directory's or executable's name).
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// With `-- CMD…`: the function's directory (LAMBDA_TASK_ROOT and working directory).
    #[arg(long)]
    pub(crate) dir: Option<PathBuf>,
    /// Another function, as NAME=PATH (repeatable).
    #[arg(long = "function", value_name = "NAME=PATH")]
    pub(crate) functions: Vec<String>,
    /// An environment variable for the function, K=V (repeatable).
    #[arg(long = "env", value_name = "K=V")]
    pub(crate) env: Vec<String>,
    /// A file of K=V lines (`#` comments and blank lines ignored).
    #[arg(long)]
    pub(crate) env_file: Option<PathBuf>,
    /// A layer directory; executables in its `extensions/` folder run as external extensions
    /// (repeatable).
    #[arg(long = "layer", value_name = "DIR")]
    pub(crate) layers: Vec<PathBuf>,
    /// Memory size in MB.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(128..=10240))]
    pub(crate) memory: u32,
    /// Function timeout (e.g. 3s, 500ms, 1m).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub(crate) timeout: Duration,
    /// Init phase limit.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) init_timeout: Duration,
    /// `_HANDLER` (e.g. `app.handler` for Python and Node.js).
    #[arg(long)]
    pub(crate) handler: Option<String>,
    /// Runtime's SIGTERM grace with only internal extensions (Lambda: 500ms).
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub(crate) runtime_budget: Duration,
    /// Runtime's SIGTERM grace with external extensions (Lambda: 300ms).
    #[arg(long, default_value = "300ms", value_parser = parse_duration)]
    pub(crate) runtime_budget_external: Duration,
    /// The whole shutdown phase with external extensions (Lambda: 2s).
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) shutdown_budget: Duration,
    /// `AWS_EXECUTION_ENV` (set it for managed runtimes, e.g. AWS_Lambda_python3.12).
    #[arg(long)]
    pub(crate) execution_env: Option<String>,
    /// An AWS SAM template: serve its AWS::Serverless::Function resources, named by logical id
    /// (the other options fill in what it leaves unset; see `grace serve --help`).
    #[arg(long, value_name = "FILE")]
    pub(crate) template: Option<PathBuf>,
    /// A template parameter's value, NAME=VALUE (repeatable; as `sam local
    /// --parameter-overrides`).
    #[arg(long = "parameter", value_name = "NAME=VALUE")]
    pub(crate) parameters: Vec<String>,
    /// The Python for a template's python3.x functions; it needs awslambdaric (default:
    /// $GRACE_PYTHON, then python3 on PATH).
    #[arg(long, value_name = "PATH")]
    pub(crate) python: Option<PathBuf>,
    /// The Node.js for nodejs functions (default: $GRACE_NODE, then node on PATH).
    #[arg(long, value_name = "PATH")]
    pub(crate) node: Option<PathBuf>,
    /// AWS's Node.js runtime interface client for nodejs functions: the aws-lambda-ric package
    /// folder, or an npm prefix where `npm install aws-lambda-ric` ran (default:
    /// $GRACE_NODE_RIC, then the global npm folder).
    #[arg(long, value_name = "DIR")]
    pub(crate) node_ric: Option<PathBuf>,
    /// Run without Lambda's resource model. With it (the default) each environment gets its own
    /// cgroup: one CPU's worth of CPU time per 1,769 MB (a 128 MB function gets 7 % of a CPU, as
    /// on Lambda), a memory limit of --memory (exceeding it is `Runtime.OutOfMemory`), Lambda's
    /// CPU count, and the cgroup freezer. It needs a writable cgroup (root, or a delegated
    /// cgroup v2 subtree); without one it is off, and the output says so.
    #[arg(long)]
    pub(crate) no_resource_model: bool,
    /// Where the cgroup filesystems are mounted (for tests).
    #[arg(long, value_name = "DIR", hide = true)]
    pub(crate) cgroup_root: Option<PathBuf>,
    /// The rest: a command line to run as the bootstrap (`-- python -m awslambdaric app.handler`).
    #[arg(last = true, value_name = "CMD")]
    pub(crate) command: Vec<OsString>,
}

/// Parses `3s`, `500ms`, `1m` (humantime), or a bare number of seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Ok(Duration::from_secs_f64(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration (try 3s, 500ms, 1m): {e}"))
}

impl FunctionArgs {
    /// Every function these options describe, each with the shared configuration. What a
    /// template warns about is pushed onto `warnings`, also when an error follows.
    pub(crate) fn configs(
        &self,
        warnings: &mut Vec<Warning>,
    ) -> anyhow::Result<Vec<FunctionConfig>> {
        let settings = self.settings()?;
        let env = |k: &str| std::env::var(k).ok();
        let mut configs = Vec::new();
        // Configured already (the settings applied): a function of a managed runtime.
        let mut managed = Vec::new();
        if !self.command.is_empty() {
            if self.path.is_some() {
                bail!("give either PATH or `-- CMD…`, not both");
            }
            if let Some(runtime) = &self.runtime {
                bail!("--runtime {runtime} starts the runtime itself: give PATH, not `-- CMD…`");
            }
            let name = self.name.clone().context("`-- CMD…` needs --name NAME")?;
            let dir = match &self.dir {
                Some(d) => d.clone(),
                None => std::env::current_dir()?,
            };
            let dir = absolute(&dir)?;
            if !dir.is_dir() {
                bail!("--dir {} is not a directory", dir.display());
            }
            configs.push(FunctionConfig::new(name, self.command.clone(), dir));
        } else if let (Some(path), Some(runtime)) = (&self.path, &self.runtime) {
            managed.push(grace_harness::function::managed(
                runtime,
                path,
                self.name.clone(),
                &settings,
                &env,
                warnings,
            )?);
        } else if let Some(path) = &self.path {
            configs.push(locate(path)?.config(self.name.clone()));
        } else if self.name.is_some() || self.dir.is_some() {
            bail!(
                "--name and --dir describe a function given by PATH or `-- CMD…`; none was given"
            );
        }
        for spec in &self.functions {
            let (name, path) = spec
                .split_once('=')
                .with_context(|| format!("--function `{spec}`: expected NAME=PATH"))?;
            let found = locate(Path::new(path)).with_context(|| format!("--function {name}"))?;
            configs.push(found.config(Some(name.to_owned())));
        }
        if configs.is_empty() && managed.is_empty() && self.template.is_none() {
            bail!(
                "no function given: pass PATH, `--name NAME -- CMD…`, --function NAME=PATH or \
                 --template FILE"
            );
        }
        for cfg in &mut configs {
            settings.apply(cfg)?;
        }
        configs.extend(managed);
        if let Some(template) = &self.template {
            configs.extend(grace_harness::template::function_configs(
                template, &settings, &env, warnings,
            )?);
        }
        for cfg in &mut configs {
            cfg.resource_model = !self.no_resource_model;
            cfg.cgroup_root.clone_from(&self.cgroup_root);
        }
        Ok(configs)
    }

    /// [`Self::configs`], with the warnings printed to stderr (before an error, which they may
    /// explain).
    pub(crate) fn configs_warned(&self) -> anyhow::Result<Vec<FunctionConfig>> {
        let mut warnings = Vec::new();
        let configs = self.configs(&mut warnings);
        for w in &warnings {
            eprintln!("grace: warning: {w}");
        }
        configs
    }

    /// The options as the library's settings.
    pub(crate) fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::default();
        settings.env = self.env_vars()?;
        settings.layers = self.layers.clone();
        settings.memory_mb = self.memory;
        settings.timeout = self.timeout;
        settings.init_timeout = self.init_timeout;
        settings.handler = self.handler.clone();
        settings.execution_env = self.execution_env.clone();
        settings.budgets = ShutdownBudgets {
            runtime_internal_only: self.runtime_budget,
            runtime_with_external: self.runtime_budget_external,
            total: self.shutdown_budget,
        };
        settings.python = self.python.clone();
        settings.node = self.node.clone();
        settings.node_ric = self.node_ric.clone();
        // Read only with a template, the one thing they apply to.
        settings.parameters = self
            .parameters
            .iter()
            .filter(|_| self.template.is_some())
            .map(|p| match p.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                _ => Err(anyhow::anyhow!("--parameter `{p}`: expected NAME=VALUE")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(settings)
    }

    /// `resource model: on (cgroup v1: …)`, or `off` and why: the line every output that depends
    /// on the model carries.
    pub(crate) fn resource_model_notice(&self) -> String {
        if self.no_resource_model {
            return "resource model: off (--no-resource-model)".to_owned();
        }
        let support = grace_emulator::resource_support(self.cgroup_root.as_deref());
        format!("resource model: {}", support.describe())
    }

    /// The `--env-file` variables, then the `--env` ones.
    pub(crate) fn env_vars(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut vars = Vec::new();
        if let Some(file) = &self.env_file {
            vars.extend(read_env_file(file)?);
        }
        for kv in &self.env {
            vars.push(parse_var(kv).with_context(|| format!("--env `{kv}`"))?);
        }
        Ok(vars)
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("bad path {}", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
    }
}
