//! The environment variables of an environment's processes (§4.6, §2.4), and where external
//! extensions are found (§2.4).

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::config::FunctionConfig;

/// The runtime's environment (§4.6): the function's variables, then the reserved ones.
pub(super) fn runtime_env(cfg: &FunctionConfig, runtime_api: SocketAddr) -> Vec<(String, String)> {
    let mut env = base_env(cfg);
    let today = humantime::format_rfc3339(std::time::SystemTime::now()).to_string();
    let stream = format!(
        "{}/[{}]{}",
        today.get(..10).unwrap_or_default().replace('-', "/"),
        cfg.version(),
        crate::ids::uuid().simple()
    );
    let task_root = cfg.task_root.to_string_lossy().into_owned();
    set(&mut env, "_HANDLER", &cfg.handler);
    set(&mut env, "LAMBDA_TASK_ROOT", &task_root);
    set(&mut env, "LAMBDA_RUNTIME_DIR", &task_root);
    set(
        &mut env,
        "AWS_LAMBDA_LOG_GROUP_NAME",
        &format!("/aws/lambda/{}", cfg.name),
    );
    set(&mut env, "AWS_LAMBDA_LOG_STREAM_NAME", &stream);
    if let Some(exec_env) = &cfg.execution_env {
        set(&mut env, "AWS_EXECUTION_ENV", exec_env);
    }
    set(&mut env, "AWS_LAMBDA_RUNTIME_API", &runtime_api.to_string());
    env
}

/// An external extension's environment: the runtime's minus the runtime-only variables and
/// anything starting with `_` (§2.4).
pub(super) fn extension_env(
    cfg: &FunctionConfig,
    runtime_api: SocketAddr,
) -> Vec<(String, String)> {
    let mut env = base_env(cfg);
    set(&mut env, "AWS_LAMBDA_RUNTIME_API", &runtime_api.to_string());
    env.retain(|(k, _)| !k.starts_with('_') && !RUNTIME_ONLY.contains(&k.as_str()));
    env
}

const RUNTIME_ONLY: &[&str] = &[
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_XRAY_CONTEXT_MISSING",
    "AWS_XRAY_DAEMON_ADDRESS",
    "LAMBDA_RUNTIME_DIR",
    "LAMBDA_TASK_ROOT",
];

/// Variables every process of the environment gets.
fn base_env(cfg: &FunctionConfig) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::with_capacity(cfg.env.len() + 16);
    // The host's PATH, so that interpreters installed here are found, after the layers' bin
    // folders (Lambda puts /opt/bin on the PATH).
    let mut path: Vec<String> = cfg
        .layers
        .iter()
        .map(|l| l.join("bin").to_string_lossy().into_owned())
        .collect();
    path.push(std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".to_owned()));
    env.push(("PATH".to_owned(), path.join(":")));
    env.push(("LANG".to_owned(), "en_US.UTF-8".to_owned()));
    env.push((
        "AWS_XRAY_CONTEXT_MISSING".to_owned(),
        "LOG_ERROR".to_owned(),
    ));
    for (k, v) in &cfg.env {
        set(&mut env, k, v);
    }
    set(&mut env, "TZ", ":UTC");
    set(&mut env, "AWS_REGION", &cfg.region);
    set(&mut env, "AWS_DEFAULT_REGION", &cfg.region);
    set(&mut env, "AWS_LAMBDA_FUNCTION_NAME", &cfg.name);
    set(&mut env, "AWS_LAMBDA_FUNCTION_VERSION", cfg.version());
    set(
        &mut env,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        &cfg.memory_mb.to_string(),
    );
    set(&mut env, "AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
    env
}

fn set(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_owned(),
        None => env.push((key.to_owned(), value.to_owned())),
    }
}

/// The executables in each layer's `extensions/` folder, by file name, lexically ordered (as
/// RAPID lists `/opt/extensions`); a later layer's file replaces an earlier one of the same name.
pub(super) fn external_extensions(layers: &[PathBuf]) -> Vec<(String, PathBuf)> {
    let mut found: std::collections::BTreeMap<String, PathBuf> = std::collections::BTreeMap::new();
    for layer in layers {
        let Ok(entries) = std::fs::read_dir(layer.join("extensions")) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry
                .file_type()
                .is_ok_and(|t| t.is_file() || t.is_symlink())
            {
                found.insert(
                    entry.file_name().to_string_lossy().into_owned(),
                    entry.path(),
                );
            }
        }
    }
    found.into_iter().collect()
}
