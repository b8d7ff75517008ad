//! What a watched function is made from, and how a new version of it is made.
//!
//! A Rust function is recognised by where its executable is: `PROJECT/target/lambda/BIN/bootstrap`
//! (what `cargo lambda build` writes, served as a directory or from a template's `CodeUri`) is
//! rebuilt with `cargo lambda build --bin BIN`, and `PROJECT/target/{debug,release}/BIN` with
//! `cargo build --bin BIN`, in the project that holds that `target/` folder. A Cargo project
//! directory given as the function's PATH is built first (`prepare`), wherever its target
//! directory is. Anything else (a Python function, a script, a binary from elsewhere) is its
//! directory, read afresh by every new environment: no build, just a reload.

use std::ffi::OsString;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use grace_emulator::FunctionConfig;

/// A binary built from a Cargo project directory given as a function's PATH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Built {
    pub(super) project: PathBuf,
    pub(super) bin: String,
    /// The executable cargo wrote.
    pub(super) executable: PathBuf,
}

/// How a new version of a Rust function is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tool {
    /// `cargo build`, `--release` when the served binary is a release build.
    Cargo { release: bool },
    /// `cargo lambda build`.
    CargoLambda,
}

/// What a watched function is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// A Rust binary of a Cargo project: rebuilt, then `executable` is the new version.
    Rust {
        project: PathBuf,
        bin: String,
        tool: Tool,
        executable: PathBuf,
    },
    /// Files read by each new environment as they are (interpreted code, or a binary built by
    /// something else): the task root.
    Files { dir: PathBuf },
}

impl Source {
    /// What `cfg` is made from; `built` are the projects built from a PATH (`prepare`).
    pub(super) fn of(cfg: &FunctionConfig, built: &[Built]) -> Self {
        let program = cfg.command.first().map(PathBuf::from).unwrap_or_default();
        if let Some(b) = built.iter().find(|b| b.executable == program) {
            return Source::Rust {
                project: b.project.clone(),
                bin: b.bin.clone(),
                tool: Tool::Cargo { release: false },
                executable: b.executable.clone(),
            };
        }
        cargo_output(&program).unwrap_or_else(|| Source::Files {
            dir: cfg.task_root.clone(),
        })
    }

    /// The folder whose changes reload the function.
    pub(super) fn root(&self) -> &Path {
        match self {
            Source::Rust { project, .. } => project,
            Source::Files { dir } => dir,
        }
    }

    /// The build command line (program first), or `None` for plain files.
    pub(super) fn build_command(&self) -> Option<Vec<OsString>> {
        let Source::Rust { bin, tool, .. } = self else {
            return None;
        };
        let mut argv: Vec<OsString> = vec!["cargo".into()];
        match tool {
            Tool::Cargo { release } => {
                // `--workspace`: the binary may belong to any member of the project's workspace.
                argv.extend(["build".into(), "--workspace".into()]);
                if *release {
                    argv.push("--release".into());
                }
            }
            Tool::CargoLambda => argv.extend(["lambda".into(), "build".into()]),
        }
        argv.extend(["--bin".into(), bin.into()]);
        Some(argv)
    }
}

/// `PROJECT/target/lambda/BIN/bootstrap` or `PROJECT/target/{debug,release}/BIN`, where
/// `PROJECT` has a `Cargo.toml`.
fn cargo_output(program: &Path) -> Option<Source> {
    if !program.is_absolute() {
        return None;
    }
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).map(str::to_owned);
    let file = name(program)?;
    let dir = program.parent()?;
    let project_of = |target: &Path| {
        let project = target.parent()?;
        (name(target)? == "target" && project.join("Cargo.toml").is_file())
            .then(|| project.to_path_buf())
    };
    if file == "bootstrap"
        && let Some(lambda) = dir.parent()
        && name(lambda).as_deref() == Some("lambda")
        && let Some(project) = lambda.parent().and_then(project_of)
    {
        return Some(Source::Rust {
            project,
            bin: name(dir)?,
            tool: Tool::CargoLambda,
            executable: program.to_path_buf(),
        });
    }
    let profile = name(dir)?;
    if profile == "debug" || profile == "release" {
        let project = project_of(dir.parent()?)?;
        return Some(Source::Rust {
            project,
            bin: file,
            tool: Tool::Cargo {
                release: profile == "release",
            },
            executable: program.to_path_buf(),
        });
    }
    None
}

/// Whether `path` is a Cargo project directory (rather than a built function).
pub(super) fn is_project(path: &Path) -> bool {
    path.is_dir() && path.join("Cargo.toml").is_file() && !path.join("bootstrap").exists()
}

/// Builds the Cargo project at `dir` (cargo's progress and errors on stderr) and picks its
/// binary: the one named `name` if there is one, else its only one.
pub(super) fn build_project(dir: &Path, name: Option<&str>) -> anyhow::Result<Built> {
    let project = std::path::absolute(dir)?;
    eprintln!("grace serve: building {}", project.display());
    let mut child = Command::new("cargo")
        .args(["build", "--message-format=json-render-diagnostics"])
        .current_dir(&project)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot run cargo")?;
    let stdout = child.stdout.take().context("cargo's output")?;
    let mut bins = Vec::new();
    for line in std::io::BufReader::new(stdout).lines() {
        if let Some(bin) = executable(&line?) {
            bins.push(bin);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!(
            "cannot build the function in {} (`cargo build` failed: {status}; its errors are above)",
            project.display()
        );
    }
    let chosen = match name.and_then(|n| bins.iter().position(|(b, _)| b == n)) {
        Some(i) => bins.swap_remove(i),
        None if bins.len() == 1 => bins.swap_remove(0),
        None => {
            let names: Vec<&str> = bins.iter().map(|(b, _)| b.as_str()).collect();
            bail!(
                "{} builds {} binaries ({}): name the function's with --name (or NAME= in --function)",
                project.display(),
                names.len(),
                names.join(", ")
            );
        }
    };
    Ok(Built {
        project,
        bin: chosen.0,
        executable: chosen.1,
    })
}

/// A binary's name and executable, from one line of cargo's JSON messages.
fn executable(line: &str) -> Option<(String, PathBuf)> {
    let msg: serde_json::Value = serde_json::from_str(line).ok()?;
    if msg["reason"] != "compiler-artifact" {
        return None;
    }
    let kinds = msg["target"]["kind"].as_array()?;
    if !kinds.iter().any(|k| k == "bin") {
        return None;
    }
    let exe = msg["executable"].as_str()?;
    Some((
        msg["target"]["name"].as_str()?.to_owned(),
        PathBuf::from(exe),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("grace-watch-src-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn cfg(command: &Path, task_root: &Path) -> FunctionConfig {
        FunctionConfig::new("f", vec![command.into()], task_root.to_path_buf())
    }

    #[test]
    fn cargo_outputs_are_rebuilt_by_the_tool_that_wrote_them() {
        let p = scratch("outputs");
        std::fs::write(p.join("Cargo.toml"), "[package]\n").unwrap();
        let lambda = p.join("target/lambda/hello/bootstrap");
        let source = Source::of(&cfg(&lambda, lambda.parent().unwrap()), &[]);
        assert_eq!(
            source,
            Source::Rust {
                project: p.clone(),
                bin: "hello".into(),
                tool: Tool::CargoLambda,
                executable: lambda.clone(),
            }
        );
        assert_eq!(source.root(), p);
        assert_eq!(
            source.build_command().unwrap(),
            ["cargo", "lambda", "build", "--bin", "hello"]
        );
        let release = p.join("target/release/hello");
        let source = Source::of(&cfg(&release, &p.join("target/release")), &[]);
        assert_eq!(
            source.build_command().unwrap(),
            [
                "cargo",
                "build",
                "--workspace",
                "--release",
                "--bin",
                "hello"
            ]
        );
        let debug = p.join("target/debug/hello");
        let source = Source::of(&cfg(&debug, &p.join("target/debug")), &[]);
        assert_eq!(
            source.build_command().unwrap(),
            ["cargo", "build", "--workspace", "--bin", "hello"]
        );
        std::fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn anything_else_is_its_directory() {
        let p = scratch("files");
        // No Cargo.toml above `target/`: not a project of ours.
        let orphan = p.join("target/debug/hello");
        let source = Source::of(&cfg(&orphan, &p.join("target/debug")), &[]);
        assert_eq!(
            source,
            Source::Files {
                dir: p.join("target/debug")
            }
        );
        assert_eq!(source.build_command(), None);
        // A Python function: the interpreter is a name, the code is the task root.
        let python = FunctionConfig::new(
            "py",
            vec!["python3".into(), "-m".into(), "awslambdaric".into()],
            p.join("app"),
        );
        assert_eq!(
            Source::of(&python, &[]),
            Source::Files { dir: p.join("app") }
        );
        std::fs::remove_dir_all(&p).unwrap();
    }

    #[test]
    fn a_project_built_from_its_directory_is_known_by_its_executable() {
        let built = Built {
            project: "/src/fn".into(),
            bin: "fn".into(),
            executable: "/shared/target/debug/fn".into(),
        };
        let source = Source::of(
            &cfg(
                Path::new("/shared/target/debug/fn"),
                Path::new("/shared/target/debug"),
            ),
            std::slice::from_ref(&built),
        );
        assert_eq!(source.root(), Path::new("/src/fn"));
        assert_eq!(
            source.build_command().unwrap(),
            ["cargo", "build", "--workspace", "--bin", "fn"]
        );
    }

    #[test]
    fn executables_are_read_from_cargos_messages() {
        let bin = r#"{"reason":"compiler-artifact","target":{"kind":["bin"],"name":"fn"},"executable":"/t/debug/fn"}"#;
        assert_eq!(executable(bin), Some(("fn".into(), "/t/debug/fn".into())));
        let lib = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"x"},"executable":null}"#;
        assert_eq!(executable(lib), None);
        assert_eq!(
            executable(r#"{"reason":"build-finished","success":true}"#),
            None
        );
        assert_eq!(executable("not json"), None);
    }
}
