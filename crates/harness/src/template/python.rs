//! The Python interpreter that runs `python3.x` functions: `--python PATH`, else `$GRACE_PYTHON`,
//! else `python3` on PATH. It must be able to import `awslambdaric`, AWS's runtime interface
//! client (what Lambda's managed Python runtime runs): this is checked once, before serving, so
//! a missing client is reported as such rather than as a function that crashes at init.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, bail};

/// A checked interpreter.
#[derive(Debug, Clone)]
pub(crate) struct Python {
    pub(crate) program: OsString,
    /// `3.12`: the interpreter's version.
    pub(crate) version: String,
}

/// Picks the interpreter: the flag, then the variable (`lookup` reads the environment), then
/// `python3`; with where it came from, for messages.
pub(crate) fn choose(
    flag: Option<&Path>,
    lookup: impl Fn(&str) -> Option<String>,
) -> (OsString, &'static str) {
    let (program, source) = match (flag, lookup("GRACE_PYTHON").filter(|v| !v.is_empty())) {
        (Some(p), _) => (p.as_os_str().to_owned(), "--python"),
        (None, Some(p)) => (p.into(), "$GRACE_PYTHON"),
        (None, None) => ("python3".into(), "python3 on PATH"),
    };
    (anchored(program), source)
}

/// A relative path with a `/` made absolute: the runtime starts in its task root, not here. A
/// bare name stays a name, looked up on PATH.
fn anchored(program: OsString) -> OsString {
    let path = PathBuf::from(&program);
    if path.is_relative()
        && path.components().count() > 1
        && let Ok(abs) = std::path::absolute(&path)
    {
        return abs.into_os_string();
    }
    program
}

/// Runs the interpreter once: it must exist and import `awslambdaric`.
pub(crate) fn check(program: &OsString, source: &str) -> Result<Python> {
    let shown = PathBuf::from(program).display().to_string();
    let probe = "import sys, awslambdaric; print('%d.%d' % sys.version_info[:2])";
    let out = match Command::new(program).args(["-c", probe]).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no Python interpreter for python3.x functions: `{shown}` ({source}) not found; \
             pass --python PATH or set GRACE_PYTHON to a Python that has awslambdaric"
        ),
        Err(e) => bail!("cannot run the Python interpreter `{shown}` ({source}): {e}"),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        bail!(
            "the Python interpreter `{shown}` ({source}) cannot import awslambdaric ({last}): \
             python3.x functions run under AWS's runtime interface client, as on Lambda; \
             install it (`{shown} -m pip install awslambdaric`) or pass --python PATH / set \
             GRACE_PYTHON to a Python that has it"
        );
    }
    Ok(Python {
        program: program.clone(),
        version: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    })
}

/// The command line Lambda's Python runtime amounts to.
pub(crate) fn command(python: &Python, handler: &str) -> Vec<OsString> {
    vec![
        python.program.clone(),
        "-m".into(),
        "awslambdaric".into(),
        handler.into(),
    ]
}

/// Lambda's Python runtimes put each layer's `python` and `python/lib/python3.X/site-packages`
/// on the path (they are `/opt/python…` there); `None` when no layer has a `python` folder.
pub(crate) fn layer_path(layers: &[PathBuf], version: &str) -> Option<String> {
    let mut parts = Vec::new();
    for layer in layers {
        let python = layer.join("python");
        if python.is_dir() {
            let site = python.join(format!("lib/python{version}/site-packages"));
            parts.push(site.display().to_string());
            parts.push(python.display().to_string());
        }
    }
    (!parts.is_empty()).then(|| parts.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_then_the_variable_then_python3() {
        let var = |v: Option<&'static str>| move |_: &str| v.map(str::to_owned);
        assert_eq!(choose(Some(Path::new("/x/py")), var(Some("/y"))).0, "/x/py");
        assert_eq!(
            choose(None, var(Some("/y"))),
            ("/y".into(), "$GRACE_PYTHON")
        );
        assert_eq!(choose(None, var(None)).0, "python3");
        assert_eq!(choose(None, var(Some(""))).0, "python3");
        let relative = choose(Some(Path::new(".venv/bin/python")), var(None)).0;
        assert_eq!(
            relative,
            std::env::current_dir().unwrap().join(".venv/bin/python")
        );
    }

    #[test]
    fn a_missing_interpreter_is_named() {
        let err = check(&"/nonexistent/python9".into(), "--python")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/python9") && err.contains("not found"),
            "{err}"
        );
    }

    #[test]
    fn layers_with_a_python_folder_go_on_the_path() {
        let dir = std::env::temp_dir().join(format!("grace-pylayer-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a/python")).unwrap();
        std::fs::create_dir_all(dir.join("b")).unwrap();
        let path = layer_path(&[dir.join("a"), dir.join("b")], "3.12").unwrap();
        assert!(path.ends_with("a/python"), "{path}");
        assert!(path.contains("a/python/lib/python3.12/site-packages"));
        assert_eq!(layer_path(&[dir.join("b")], "3.12"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
