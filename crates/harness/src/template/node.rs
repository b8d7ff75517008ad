//! Node.js functions (`nodejs20.x`, `nodejs22.x`), run as Lambda's managed Node.js runtime runs
//! them: AWS's runtime interface client `aws-lambda-ric` (the npm package; the same client as
//! Lambda's `/var/runtime`) loads `_HANDLER` from the task root, under the Node.js of this
//! machine.
//!
//! - **The program**: `--node PATH`, else `$GRACE_NODE`, else `node` on PATH.
//! - **The client**: `--node-ric DIR`, else `$GRACE_NODE_RIC`, else the global npm folder
//!   (`npm install -g aws-lambda-ric`); DIR is the package's folder or an npm prefix holding
//!   `node_modules/aws-lambda-ric`. Both are checked once, before serving, by loading the
//!   client's native addon with the program: a missing or unbuilt client is named as such rather
//!   than surfacing as a function that crashes at init.
//! - **The start**: a small `/bin/sh` bootstrap that `exec`s node, as Lambda's does: `--expose-gc
//!   --max-http-header-size 81920` and V8 heap limits from `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` read
//!   at start (a tenth of the memory for the new space, half of it per semi-space, the rest for
//!   the old space) unless `NODE_OPTIONS` sets them, then the client with `$_HANDLER`. Reading
//!   the variables at start keeps the heap in step with the memory size of each run (`grace
//!   check` reruns a function at larger sizes).
//! - **The variables**: `AWS_EXECUTION_ENV=AWS_Lambda_nodejsNN.x`, and, unless the function sets
//!   it, `NODE_PATH` as Lambda's (`/opt/nodejs/nodeNN/node_modules:/opt/nodejs/node_modules:…:
//!   /var/task`) with each layer's folders in place of `/opt`; the runtime's own modules (the AWS
//!   SDK that Lambda's `/var/runtime/node_modules` holds) are not provided.
//! - **The version**: a declared runtime whose major version is not the local Node.js's is run
//!   anyway, with a warning that says so.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, bail};
use crate::function::Settings;

/// The Node.js runtimes served, by major version.
pub(crate) const SERVED: &[&str] = &["nodejs20.x", "nodejs22.x"];

/// The major version of a served Node.js runtime name (`nodejs22.x` → `22`).
pub(crate) fn major(runtime: &str) -> Option<&str> {
    SERVED
        .contains(&runtime)
        .then(|| &runtime["nodejs".len()..runtime.len() - ".x".len()])
}

/// A checked Node.js program and runtime interface client.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) program: OsString,
    /// Where the program is (`process.execPath`), for messages.
    pub(crate) exec_path: PathBuf,
    /// `20.20.2`: the program's version.
    pub(crate) version: String,
    /// The `aws-lambda-ric` package folder.
    pub(crate) ric: PathBuf,
    /// Its version, from its `package.json`.
    pub(crate) ric_version: String,
}

impl Node {
    /// The program's major version (`20`).
    pub(crate) fn major(&self) -> &str {
        self.version.split('.').next().unwrap_or_default()
    }
}

/// The Node.js of `settings` ([`find`]), found and checked once: `slot` keeps it for the next
/// function of the run.
pub(crate) fn cached<'a>(
    slot: &'a mut Option<Node>,
    settings: &Settings,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<&'a Node> {
    let node = match slot.take() {
        Some(node) => node,
        None => find(
            settings.node.as_deref(),
            settings.node_ric.as_deref(),
            lookup,
        )?,
    };
    Ok(slot.insert(node))
}

/// Where the program and the client are to be found: the flags, then the variables (`lookup`
/// reads the environment), then `node` on PATH and the global npm folder.
pub(crate) fn find(
    node_flag: Option<&Path>,
    ric_flag: Option<&Path>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Node> {
    let var = |k: &str| lookup(k).filter(|v| !v.is_empty());
    let (program, source) = match (node_flag, var("GRACE_NODE")) {
        (Some(p), _) => (anchored(p.as_os_str().to_owned()), "--node"),
        (None, Some(p)) => (anchored(p.into()), "$GRACE_NODE"),
        (None, None) => ("node".into(), "node on PATH"),
    };
    let (ric, ric_source) = match (ric_flag, var("GRACE_NODE_RIC")) {
        (Some(d), _) => (absolute(d), "--node-ric"),
        (None, Some(d)) => (absolute(Path::new(&d)), "$GRACE_NODE_RIC"),
        (None, None) => (global_npm_root()?, "the global npm folder"),
    };
    check(&program, source, &package_dir(&ric), ric_source)
}

/// The package folder: `dir` itself, or `dir/node_modules/aws-lambda-ric` (an npm prefix).
fn package_dir(dir: &Path) -> PathBuf {
    let nested = dir.join("node_modules/aws-lambda-ric");
    if !dir.join("bin/index.mjs").is_file() && nested.is_dir() {
        return nested;
    }
    let flat = dir.join("aws-lambda-ric");
    if !dir.join("bin/index.mjs").is_file() && flat.is_dir() {
        // `npm root -g` names the node_modules folder itself.
        return flat;
    }
    dir.to_path_buf()
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A relative path with a `/` made absolute: the runtime starts in its task root, not here. A
/// bare name stays a name, looked up on PATH.
fn anchored(program: OsString) -> OsString {
    let path = PathBuf::from(&program);
    if path.is_relative() && path.components().count() > 1 {
        return absolute(&path).into_os_string();
    }
    program
}

/// `npm root -g`: where `npm install -g` puts packages.
fn global_npm_root() -> Result<PathBuf> {
    let hint = "pass --node-ric DIR or set GRACE_NODE_RIC to a folder where `npm install \
                aws-lambda-ric` ran (or install it globally: `npm install -g aws-lambda-ric`)";
    let out = match Command::new("npm").args(["root", "-g"]).output() {
        Ok(out) if out.status.success() => out,
        Ok(_) | Err(_) => bail!(
            "no runtime interface client for Node.js functions: npm cannot name its global \
             folder; {hint}"
        ),
    };
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Loads the client's package and native addon with the program: both must work.
fn check(program: &OsString, source: &str, ric: &Path, ric_source: &str) -> Result<Node> {
    let shown = PathBuf::from(program).display().to_string();
    let probe = "const d = process.argv[1]; const p = require(d + '/package.json'); \
                 if (p.name !== 'aws-lambda-ric') throw new Error(d + ' holds ' + p.name); \
                 require(d + '/dist/rapid-client.node'); \
                 console.log(process.versions.node + ' ' + p.version + ' ' + process.execPath)";
    let out = Command::new(program)
        .args(["-e", probe])
        .arg(ric)
        // The addon reads the variable as it loads (and aborts without it); nothing is called.
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no Node.js for nodejs functions: `{shown}` ({source}) not found; pass --node PATH \
             or set GRACE_NODE"
        ),
        Err(e) => bail!("cannot run Node.js `{shown}` ({source}): {e}"),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("Error:") || l.contains("Cannot find module"))
            .or_else(|| stderr.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("")
            .trim();
        bail!(
            "`{shown}` ({source}) cannot load AWS's Node.js runtime interface client from {} \
             ({ric_source}): {why}. nodejs functions run under it, as on Lambda: install it \
             (`npm install --prefix DIR aws-lambda-ric@3.3.0`, which builds its native addon \
             and needs cmake, autoconf, automake, libtool, make and g++) and pass \
             --node-ric DIR or set GRACE_NODE_RIC",
            ric.display()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let version = words.next().unwrap_or_default().to_owned();
    let ric_version = words.next().unwrap_or_default().to_owned();
    let exec_path = words.collect::<Vec<_>>().join(" ");
    Ok(Node {
        program: program.clone(),
        exec_path: if exec_path.is_empty() {
            PathBuf::from(program)
        } else {
            PathBuf::from(exec_path)
        },
        version,
        ric: ric.to_path_buf(),
        ric_version,
    })
}

/// The bootstrap: `$0` is `bootstrap`, `$1` the node program, `$2` the client's entry point.
/// Lambda's runtime script passes the same flags; heap limits are in MB.
const BOOTSTRAP: &str = r#"node="$1"; ric="$2"
case "${NODE_OPTIONS-}" in
  *max-semi-space-size*|*max_semi_space_size*|*max-old-space-size*|*max_old_space_size*)
    exec "$node" --expose-gc --max-http-header-size 81920 "$ric" "$_HANDLER" ;;
esac
mem="${AWS_LAMBDA_FUNCTION_MEMORY_SIZE:-128}"; new=$((mem / 10))
exec "$node" --expose-gc --max-http-header-size 81920 \
  "--max-semi-space-size=$((new / 2))" "--max-old-space-size=$((mem - new))" "$ric" "$_HANDLER"
"#;

/// The command line Lambda's Node.js runtime amounts to (see the module's docs).
pub(crate) fn command(node: &Node) -> Vec<OsString> {
    vec![
        "/bin/sh".into(),
        "-c".into(),
        BOOTSTRAP.into(),
        "bootstrap".into(),
        node.program.clone(),
        node.ric.join("bin/index.mjs").into_os_string(),
    ]
}

/// `NODE_PATH` as Lambda's Node.js runtime sets it when the function does not:
/// `/opt/nodejs/nodeNN/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:
/// /var/runtime:/var/task`, with each layer's folder for `/opt` (a later layer first: on
/// Lambda its files replace an earlier one's) and the task root for `/var/task`.
pub(crate) fn node_path(layers: &[PathBuf], major: &str, task_root: &Path) -> String {
    let versioned = layers
        .iter()
        .rev()
        .map(|l| l.join(format!("nodejs/node{major}/node_modules")));
    let shared = layers.iter().rev().map(|l| l.join("nodejs/node_modules"));
    versioned
        .chain(shared)
        .chain(std::iter::once(task_root.to_path_buf()))
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// Sets `NODE_PATH` in `env` unless the function sets it (as Lambda's bootstrap does).
pub(crate) fn default_node_path(
    env: &mut Vec<(String, String)>,
    layers: &[PathBuf],
    major: &str,
    task_root: &Path,
) {
    if !env.iter().any(|(k, _)| k == "NODE_PATH") {
        env.push(("NODE_PATH".into(), node_path(layers, major, task_root)));
    }
}

/// `AWS_EXECUTION_ENV` of runtime `nodejsNN.x`.
pub(crate) fn execution_env(major: &str) -> String {
    format!("AWS_Lambda_nodejs{major}.x")
}

/// The warning for function `name`, declared `nodejs{declared}.x`, when the local Node.js is of
/// another major version.
pub(crate) fn version_warning(name: &str, declared: &str, node: &Node) -> Option<String> {
    (node.major() != declared).then(|| {
        format!(
            "{name}: Runtime nodejs{declared}.x runs under the local Node.js {} ({}, \
             aws-lambda-ric {}), not Node.js {declared} as on Lambda: what differs between the \
             two versions is not reproduced",
            node.version,
            node.exec_path.display(),
            node.ric_version
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_runtimes_and_their_major_versions() {
        assert_eq!(major("nodejs20.x"), Some("20"));
        assert_eq!(major("nodejs22.x"), Some("22"));
        // Negative controls: runtimes Lambda no longer offers, or changed (24.x dropped
        // callback handlers), are not served.
        assert_eq!(major("nodejs18.x"), None);
        assert_eq!(major("nodejs24.x"), None);
        assert_eq!(major("python3.12"), None);
        assert_eq!(execution_env("22"), "AWS_Lambda_nodejs22.x");
    }

    #[test]
    fn node_path_puts_layers_first_the_later_one_first_then_the_task_root() {
        let layers = [PathBuf::from("/l/a"), PathBuf::from("/l/b")];
        assert_eq!(
            node_path(&layers, "20", Path::new("/task")),
            "/l/b/nodejs/node20/node_modules:/l/a/nodejs/node20/node_modules:\
             /l/b/nodejs/node_modules:/l/a/nodejs/node_modules:/task"
        );
        assert_eq!(node_path(&[], "22", Path::new("/task")), "/task");
        let mut env = vec![("NODE_PATH".to_owned(), "/mine".to_owned())];
        default_node_path(&mut env, &layers, "20", Path::new("/task"));
        assert_eq!(env, [("NODE_PATH".to_owned(), "/mine".to_owned())]);
    }

    #[test]
    fn a_different_major_version_is_named_and_the_same_one_is_not() {
        let node = Node {
            program: "node".into(),
            exec_path: "/usr/bin/node".into(),
            version: "20.20.2".into(),
            ric: PathBuf::from("/ric"),
            ric_version: "3.3.0".into(),
        };
        let w = version_warning("Fn", "22", &node).unwrap();
        assert!(
            w.contains("nodejs22.x runs under the local Node.js 20.20.2 (/usr/bin/node, aws-lambda-ric 3.3.0)"),
            "{w}"
        );
        assert_eq!(version_warning("Fn", "20", &node), None);
    }

    #[test]
    fn a_missing_program_or_client_is_named() {
        let none = |_: &str| None;
        let err = find(
            Some(Path::new("/nonexistent/node9")),
            Some(Path::new("/tmp")),
            &none,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("/nonexistent/node9") && err.contains("not found"),
            "{err}"
        );
        let empty = std::env::temp_dir().join(format!("grace-noric-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let err = find(None, Some(&empty), &none).unwrap_err().to_string();
        assert!(
            err.contains("cannot load AWS's Node.js runtime interface client")
                && err.contains("--node-ric"),
            "{err}"
        );
        std::fs::remove_dir_all(&empty).unwrap();
    }
}
