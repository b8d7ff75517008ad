//! A function of one of Lambda's managed runtimes given by its runtime name and code directory,
//! without a template: `grace serve --runtime nodejs20.x --handler app.handler DIR`, or
//! [`super::Function::runtime`]. It starts as the same function declared in a SAM template
//! would (`Runtime`, `Handler`, `CodeUri: DIR`): the runtime interface client, the
//! `AWS_EXECUTION_ENV`, the module paths, and the warning when the local interpreter's version
//! is not the declared one (see [`crate::template`]).

use std::path::Path;

use grace_emulator::FunctionConfig;

use super::{Settings, Warning, absolute, locate};
use crate::error::{Context as _, Error, bail};
use crate::template::{node, python};

/// Function `runtime` (`nodejs20.x`, `nodejs22.x`, `python3.X`; `provided.*` is `DIR/bootstrap`)
/// whose code is in `dir`, named `name` (default: the directory's name), with `settings`
/// applied; `settings.handler` is required but for `provided.*`. `lookup` reads the environment
/// (`GRACE_NODE`, `GRACE_NODE_RIC`, `GRACE_PYTHON`). What is worth a warning is pushed onto
/// `warnings`.
pub fn managed(
    runtime: &str,
    dir: &Path,
    name: Option<String>,
    settings: &Settings,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<Warning>,
) -> Result<FunctionConfig, Error> {
    let mut found = Vec::new();
    let result = resolve(runtime, dir, name, settings, lookup, &mut found);
    warnings.extend(found.into_iter().map(|message| Warning {
        file: dir.to_path_buf(),
        message,
    }));
    result
}

fn resolve(
    runtime: &str,
    dir: &Path,
    name: Option<String>,
    settings: &Settings,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<FunctionConfig, Error> {
    let dir = absolute(dir)?;
    if matches!(runtime, "provided.al2023" | "provided.al2" | "provided") {
        let mut cfg = locate(&dir)?.config(name);
        settings.apply(&mut cfg)?;
        return Ok(cfg);
    }
    if !dir.is_dir() {
        bail!(
            "--runtime {runtime}: {} is not a directory (give the function's code directory, \
             its task root)",
            dir.display()
        );
    }
    let name = match name {
        Some(name) => name,
        None => dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("cannot name the function; pass --name")?,
    };
    let Some(handler) = settings.handler.as_deref() else {
        bail!(
            "--runtime {runtime} needs --handler (e.g. app.handler: the file app, its export handler)"
        );
    };
    let layers = settings.absolute_layers()?;
    let (command, execution_env, major) = if let Some(major) = node::major(runtime) {
        let mut slot = None;
        let node = node::cached(&mut slot, settings, lookup)?;
        warnings.extend(node::version_warning(&name, major, node));
        (node::command(node), node::execution_env(major), Some(major))
    } else if let Some(version) = runtime
        .strip_prefix("python")
        .filter(|v| v.starts_with("3."))
    {
        let (program, source) = python::choose(settings.python.as_deref(), lookup);
        let py = python::check(&program, source)?;
        if py.version != version {
            warnings.push(format!(
                "{name}: Runtime {runtime} runs under Python {} ({})",
                py.version,
                Path::new(&py.program).display()
            ));
        }
        (
            python::command(&py, handler),
            format!("AWS_Lambda_{runtime}"),
            None,
        )
    } else {
        bail!(
            "--runtime {runtime}: not served (served: {}, python3.x, provided.al2023, \
             provided.al2)",
            node::SERVED.join(", ")
        );
    };
    let mut cfg = FunctionConfig::new(name.clone(), command, dir.clone());
    settings.apply(&mut cfg)?;
    if let Some(flag) = &settings.execution_env
        && *flag != execution_env
    {
        warnings.push(format!(
            "{name}: --runtime {runtime} sets AWS_EXECUTION_ENV={execution_env}; \
             --execution-env {flag} ignored"
        ));
    }
    cfg.execution_env = Some(execution_env);
    match major {
        Some(major) => node::default_node_path(&mut cfg.env, &layers, major, &dir),
        None => {
            let version = runtime.trim_start_matches("python");
            if let Some(path) = python::layer_path(&layers, version)
                && !cfg.env.iter().any(|(k, _)| k == "PYTHONPATH")
            {
                cfg.env.push(("PYTHONPATH".into(), path));
            }
        }
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_cannot_be_served_is_named() {
        let dir = std::env::temp_dir();
        let settings = Settings {
            handler: Some("app.handler".into()),
            ..Settings::default()
        };
        let none = |_: &str| None;
        let run = |runtime: &str, settings: &Settings| {
            managed(runtime, &dir, None, settings, &none, &mut Vec::new())
                .unwrap_err()
                .to_string()
        };
        let err = run("java21", &settings);
        assert!(
            err.contains("--runtime java21: not served") && err.contains("nodejs22.x"),
            "{err}"
        );
        let err = run("nodejs20.x", &Settings::default());
        assert!(err.contains("needs --handler"), "{err}");
        let file = dir.join(format!("grace-managed-{}", std::process::id()));
        std::fs::write(&file, "").unwrap();
        let err = managed("nodejs20.x", &file, None, &settings, &none, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a directory"), "{err}");
        std::fs::remove_file(&file).unwrap();
    }
}
