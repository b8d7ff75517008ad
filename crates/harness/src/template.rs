//! AWS SAM templates: the functions of a template as emulator configurations (what
//! `grace serve --template FILE` serves, and [`crate::Function::template`] runs).
//!
//! Every `AWS::Serverless::Function` resource becomes a function named by its logical id, with
//! its `Properties` merged with `Globals.Function` by SAM's rules (module `globals`):
//!
//! | property | becomes |
//! |---|---|
//! | `Runtime: provided.al2023`, `provided.al2`, `provided` | the command `CodeUri/bootstrap` |
//! | `Runtime: python3.X` | `PYTHON -m awslambdaric HANDLER` with `AWS_EXECUTION_ENV=AWS_Lambda_python3.X`, as Lambda's managed runtime (module `python`) |
//! | `Runtime: nodejs20.x`, `nodejs22.x` | AWS's `aws-lambda-ric` under the local Node.js, with `AWS_EXECUTION_ENV=AWS_Lambda_nodejsNN.x` and Lambda's `NODE_PATH` (module `node`) |
//! | `CodeUri` | the task root: a directory, or a `.zip` unpacked once (module `code`); absent: the template's directory |
//! | `Handler` | `_HANDLER` |
//! | `MemorySize`, `Timeout` | memory (MB) and timeout (s), checked against Lambda's ranges |
//! | `Environment.Variables` | the function's variables |
//! | `Layers` | layer directories: a path, or `!Ref` to an `AWS::Serverless::LayerVersion` whose `ContentUri` is a local directory or zip |
//!
//! `Api` and `HttpApi` events and `FunctionUrlConfig` are read by [`http_front`] (module
//! `events`): the routes and function URLs `grace serve` serves.
//!
//! Paths are relative to the template's directory. Intrinsic functions parse in both forms
//! (`!Ref X` and `{Ref: X}`); `Ref` to a parameter (its `--parameter NAME=VALUE`, else its
//! `Default`) or to a pseudo parameter (`AWS::Region`, `AWS::AccountId`, …), and
//! `Fn::Sub`/`Fn::Join` over those, are resolved (module `resolve`).
//!
//! **Nothing is dropped silently.** Each of these is named in a `grace: warning:` line on stderr:
//! a property that is not emulated (`Events`, `Policies`, `VpcConfig`, …), a value that does not
//! resolve (`!GetAtt`, `!Ref` to a resource or to a parameter without `Default`: the variable is
//! left unset, the default used), a layer that is not local (an ARN, S3), another resource type,
//! a `Globals` section other than `Function`, a `Condition`, an architecture other than this
//! machine's. A function that cannot run here (image, inline code, S3 code, another runtime) is
//! skipped with a warning; a local path that does not exist, a Python without `awslambdaric`,
//! or a Node.js that cannot load `aws-lambda-ric`, is an error. A `nodejs` runtime whose major
//! version is not the local Node.js's runs, with a warning that says so.
//!
//! **With the other function options** ([`Settings`], named here by their `grace` flags; the
//! template's values win; the options fill in):
//! `--env`/`--env-file` override template variables of the same name (as `sam local
//! --env-vars`); `--layer` adds layers after the template's; `--memory`, `--timeout`,
//! `--handler` and `--execution-env` apply to template functions that do not set them (their
//! defaults are Lambda's), with a warning when the template's value wins over one given (for
//! `--memory` and `--timeout`: given with a value other than the default);
//! `--init-timeout` and the shutdown budgets apply to all; PATH, `-- CMD` and `--function` add
//! functions beside the template's.
//!
//! **YAML.** `saphyr` parses the text: it is pure safe Rust, maintained (the successor of
//! `yaml-rust`/`yaml-rust2`), reads YAML 1.2 and JSON, resolves anchors, and keeps application
//! tags such as `!Ref` as a tagged node, which is all CloudFormation's short forms need.
//! `serde_yaml` is deprecated, `serde_yml` is unmaintained, `serde_norway` (a `serde_yaml`
//! fork) parses with libyaml translated to unsafe Rust, and a serde data model adds nothing
//! here: the template is walked as a tree (module `yaml`) because intrinsics can stand anywhere.

mod code;
mod events;
mod globals;
pub(crate) mod node;
pub(crate) mod python;
mod resolve;
mod sam_function;
mod yaml;

use std::path::{Path, PathBuf};

use crate::error::{Context, Result, bail};
use grace_emulator::FunctionConfig;

use crate::error::Error;
use crate::function::{DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, Settings, Warning};
use sam_function::{Reader, Runtime, SamFunction};
use yaml::Node;

/// The functions of the template at `path`, with `settings` applied. `lookup` reads the
/// environment (`GRACE_PYTHON`, when `settings` name no Python). What is worth a warning is
/// pushed onto `warnings`, also when an error follows (the warnings may explain it).
pub fn function_configs(
    path: &Path,
    settings: &Settings,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<FunctionConfig>, Error> {
    let (functions, mut found) = read(path, &settings.parameters)?;
    let result = configs(functions, settings, lookup, &mut found);
    warnings.extend(found.into_iter().map(|message| Warning {
        file: path.to_path_buf(),
        message,
    }));
    let configs = result?;
    if configs.is_empty() {
        bail!(
            "{}: no function that can be served here (see the warnings above)",
            path.display()
        );
    }
    Ok(configs)
}

/// Reads the template: its functions and the warnings about what it holds.
fn read(path: &Path, overrides: &[(String, String)]) -> Result<(Vec<SamFunction>, Vec<String>)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the template {}", path.display()))?;
    let template = yaml::parse(&text).with_context(|| format!("{}", path.display()))?;
    let base = std::path::absolute(path)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let defaults = FunctionConfig::new("", Vec::new(), PathBuf::new());
    let resolver =
        resolve::Resolver::new(&template, &defaults.region, &defaults.account_id, overrides)?;
    let Some(Node::Map(resources)) = template.get("Resources") else {
        bail!("{}: no Resources mapping", path.display());
    };
    let mut reader = Reader {
        template: &template,
        base: &base,
        resolver: &resolver,
        warnings: globals::ignored_sections(&template)
            .into_iter()
            .map(|s| format!("{s}: not emulated, ignored"))
            .collect(),
    };
    let global = template.get("Globals").and_then(|g| g.get("Function"));
    let mut functions = Vec::new();
    let mut others = Vec::new();
    for (name, resource) in resources {
        let kind = resource.get("Type").and_then(Node::as_str).unwrap_or("?");
        match kind {
            "AWS::Serverless::Function" => {}
            // Used through the functions' `Layers`, and their `Api` and `HttpApi` events.
            "AWS::Serverless::LayerVersion"
            | "AWS::Serverless::Api"
            | "AWS::Serverless::HttpApi" => continue,
            _ => {
                others.push(format!("{name} ({kind})"));
                continue;
            }
        }
        if let Some(condition) = resource.get("Condition") {
            reader.warnings.push(format!(
                "{name}: Condition {condition} is not evaluated; the function is served"
            ));
        }
        let empty = Node::Map(Vec::new());
        let props = resource.get("Properties").unwrap_or(&empty);
        let props = match global {
            Some(global) => globals::merge(global, props),
            None => props.clone(),
        };
        match reader.read(name, &props) {
            Ok(Some(f)) => functions.push(f),
            Ok(None) => {}
            Err(e) if is_missing_build(resource) => {
                return Err(e.context(format!(
                    "{name} is built by `sam build` (Metadata BuildMethod): run it and serve \
                     .aws-sam/build/template.yaml, or point CodeUri at `cargo lambda build`'s \
                     output (target/lambda/BIN)"
                )));
            }
            Err(e) => return Err(e),
        }
    }
    if !others.is_empty() {
        reader.warnings.push(format!(
            "resources not emulated, ignored: {}",
            others.join(", ")
        ));
    }
    Ok((functions, reader.warnings))
}

/// The HTTP entry points of the template's functions named in `functions` (those being served):
/// the routes of their `Api` and `HttpApi` events and their function URLs' invoke modes. What
/// is worth a warning is pushed onto `warnings`.
pub fn http_front(
    path: &Path,
    overrides: &[(String, String)],
    functions: &[String],
    warnings: &mut Vec<Warning>,
) -> Result<grace_emulator::HttpFront, Error> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the template {}", path.display()))?;
    let template = yaml::parse(&text).with_context(|| format!("{}", path.display()))?;
    let defaults = FunctionConfig::new("", Vec::new(), PathBuf::new());
    let resolver =
        resolve::Resolver::new(&template, &defaults.region, &defaults.account_id, overrides)?;
    let global = template.get("Globals").and_then(|g| g.get("Function"));
    let mut reader = events::FrontReader::new(&template, &resolver);
    let resources = template
        .get("Resources")
        .map(Node::entries)
        .unwrap_or_default();
    for (name, resource) in resources {
        let is_function =
            resource.get("Type").and_then(Node::as_str) == Some("AWS::Serverless::Function");
        if !is_function || !functions.contains(name) {
            continue;
        }
        let empty = Node::Map(Vec::new());
        let props = resource.get("Properties").unwrap_or(&empty);
        let props = match global {
            Some(global) => globals::merge(global, props),
            None => props.clone(),
        };
        reader.read(name, &props);
    }
    warnings.extend(reader.warnings.into_iter().map(|message| Warning {
        file: path.to_path_buf(),
        message,
    }));
    Ok(reader.front)
}

fn is_missing_build(resource: &Node) -> bool {
    resource
        .get("Metadata")
        .and_then(|m| m.get("BuildMethod"))
        .is_some()
}

/// Turns what the template says into emulator configurations, applying the settings.
fn configs(
    functions: Vec<SamFunction>,
    args: &Settings,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<FunctionConfig>> {
    let cli_env = &args.env;
    let cli_layers = args
        .layers
        .iter()
        .map(|l| std::path::absolute(l).with_context(|| format!("bad path {}", l.display())))
        .collect::<Result<Vec<_>, _>>()?;
    let mut interpreter = None;
    let mut node = None;
    let mut configs = Vec::with_capacity(functions.len());
    for f in functions {
        let mut layers = f.layers;
        layers.extend(cli_layers.iter().cloned());
        let mut env = f.env;
        let (command, execution_env) = match &f.runtime {
            Runtime::Custom => (bootstrap(&f.name, &f.code_dir)?, args.execution_env.clone()),
            Runtime::Python(version) => {
                if interpreter.is_none() {
                    let (program, source) = python::choose(args.python.as_deref(), lookup);
                    interpreter = Some(python::check(&program, source)?);
                }
                let py = interpreter.as_ref().context("no interpreter")?;
                if py.version != *version {
                    warnings.push(format!(
                        "{}: Runtime python{version} runs under Python {} ({})",
                        f.name,
                        py.version,
                        std::path::Path::new(&py.program).display()
                    ));
                }
                if let Some(path) = python::layer_path(&layers, version) {
                    set_var(&mut env, "PYTHONPATH", path);
                }
                let handler = f.handler.as_deref().unwrap_or_default();
                (
                    python::command(py, handler),
                    Some(format!("AWS_Lambda_python{version}")),
                )
            }
            Runtime::Node(major) => {
                let node = node::cached(&mut node, args, lookup)?;
                warnings.extend(node::version_warning(&f.name, major, node));
                (node::command(node), Some(node::execution_env(major)))
            }
        };
        for (k, v) in cli_env {
            set_var(&mut env, k, v.clone());
        }
        if let Runtime::Node(major) = &f.runtime {
            node::default_node_path(&mut env, &layers, major, &f.code_dir);
        }
        let mut cfg = FunctionConfig::new(f.name.clone(), command, f.code_dir);
        cfg.env = env;
        cfg.layers = layers;
        cfg.memory_mb = pick(
            warnings,
            &f.name,
            "MemorySize",
            f.memory_mb,
            args.memory_mb,
            DEFAULT_MEMORY_MB,
        );
        cfg.timeout = pick(
            warnings,
            &f.name,
            "Timeout",
            f.timeout,
            args.timeout,
            DEFAULT_TIMEOUT,
        );
        cfg.handler = match (f.handler, &args.handler) {
            (Some(h), Some(flag)) if h != *flag => {
                warnings.push(format!(
                    "{}: Handler {h} from the template wins over --handler {flag}",
                    f.name
                ));
                h
            }
            (Some(h), _) => h,
            (None, Some(flag)) => flag.clone(),
            (None, None) => cfg.handler,
        };
        if execution_env != args.execution_env
            && let Some(flag) = &args.execution_env
        {
            warnings.push(format!(
                "{}: the Runtime sets AWS_EXECUTION_ENV; --execution-env {flag} ignored",
                f.name
            ));
        }
        cfg.execution_env = execution_env;
        cfg.init_timeout = args.init_timeout;
        cfg.budgets = args.budgets;
        configs.push(cfg);
    }
    Ok(configs)
}

/// The template's value, else the option's; a warning when both are set and differ.
fn pick<T: PartialEq + std::fmt::Debug + Copy>(
    warnings: &mut Vec<String>,
    function: &str,
    property: &str,
    template: Option<T>,
    option: T,
    option_default: T,
) -> T {
    match template {
        Some(t) if option != option_default && option != t => {
            warnings.push(format!(
                "{function}: {property} {t:?} from the template wins over the option's {option:?}"
            ));
            t
        }
        Some(t) => t,
        None => option,
    }
}

fn set_var(env: &mut Vec<(String, String)>, key: &str, value: String) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => env.push((key.to_owned(), value)),
    }
}

/// `CODE_DIR/bootstrap`, which must be an executable file.
fn bootstrap(name: &str, code_dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    use std::os::unix::fs::PermissionsExt;
    let exe = code_dir.join("bootstrap");
    let meta = std::fs::metadata(&exe).with_context(|| {
        format!(
            "{name}: {} has no `bootstrap` (a provided.* runtime runs CodeUri/bootstrap: \
             point CodeUri at `cargo lambda build`'s output, target/lambda/BIN)",
            code_dir.display()
        )
    })?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        bail!("{name}: {} is not an executable file", exe.display());
    }
    Ok(vec![exe.into_os_string()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sam(name: &str, memory: Option<u32>, env: &[(&str, &str)]) -> SamFunction {
        // A provided.* function needs an executable CodeUri/bootstrap.
        let dir = std::env::temp_dir().join(format!("grace-tpl-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("bootstrap");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        SamFunction {
            name: name.into(),
            runtime: Runtime::Custom,
            code_dir: dir,
            handler: None,
            memory_mb: memory,
            timeout: None,
            env: env
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect(),
            layers: vec![PathBuf::from("/layers/t")],
        }
    }

    #[test]
    fn the_template_wins_and_the_options_fill_in() {
        let args = Settings {
            memory_mb: 512,
            timeout: Duration::from_secs(7),
            env: vec![("B".into(), "cli".into()), ("C".into(), "cli".into())],
            layers: vec!["/layers/cli".into()],
            handler: Some("h.cli".into()),
            ..Settings::default()
        };
        let mut warnings = Vec::new();
        let functions = vec![
            sam("Set", Some(256), &[("A", "tpl"), ("B", "tpl")]),
            sam("Unset", None, &[]),
        ];
        let c = configs(functions, &args, &|_| None, &mut warnings).unwrap();
        assert_eq!((c[0].memory_mb, c[1].memory_mb), (256, 512));
        assert_eq!(c[0].timeout, Duration::from_secs(7));
        let env: Vec<(&str, &str)> = c[0].env.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(env, [("A", "tpl"), ("B", "cli"), ("C", "cli")]);
        assert_eq!(
            c[0].layers,
            [PathBuf::from("/layers/t"), "/layers/cli".into()]
        );
        assert_eq!(c[1].handler, "h.cli");
        assert_eq!(
            warnings,
            ["Set: MemorySize 256 from the template wins over the option's 512"]
        );
        // Negative control: the options at their defaults fill in silently.
        let mut warnings = Vec::new();
        let args = Settings::default();
        let c = configs(
            vec![sam("Set", Some(256), &[])],
            &args,
            &|_| None,
            &mut warnings,
        )
        .unwrap();
        assert_eq!((c[0].memory_mb, c[0].handler.as_str()), (256, "bootstrap"));
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
