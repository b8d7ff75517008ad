//! The systems under test: how each is started on fresh loopback ports with a given runtime
//! binary, checked (one invoke must echo), and stopped with every process reaped.
//!
//! | system | started as |
//! |---|---|
//! | `grace` | `grace serve --no-freeze --concurrency N -- RUNTIME` |
//! | `grace-freeze` | `grace serve --concurrency N -- RUNTIME` (idle environments SIGSTOPped) |
//! | `grace-unpinned` | `grace serve --no-freeze --cpu-affinity off --concurrency N -- RUNTIME` (the kernel places every process) |
//! | `cargo-lambda` | `cargo-lambda lambda watch --only-lambda-apis` in a stub Cargo project, plus 1 or N runtime processes started here |
//! | `rie` | `aws-lambda-rie … RUNTIME` (one environment; concurrency 1 only) |
//!
//! Standard output of every process goes to /dev/null; standard error to a log file whose tail
//! is quoted when something fails.

use crate::error::{Error, Result, unexpected};
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::http;
use crate::matrix::Variant;
use crate::procs::{self, Proc};

/// How long a system may take to come up and answer its first invoke.
const READY_LIMIT: Duration = Duration::from_secs(30);

/// The function name under grace.
const GRACE_FUNCTION: &str = "echo";

/// What `--systems` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum System {
    /// `grace serve --no-freeze`.
    Grace,
    /// `grace serve` (freeze on, the default).
    GraceFreeze,
    /// `grace serve --no-freeze --cpu-affinity off`: environments not pinned to CPUs.
    GraceUnpinned,
    /// `cargo lambda watch --only-lambda-apis`.
    CargoLambda,
    /// AWS's Runtime Interface Emulator.
    Rie,
}

impl System {
    /// How the report names it.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Grace => "grace serve --no-freeze",
            Self::GraceFreeze => "grace serve (freeze)",
            Self::GraceUnpinned => "grace serve --no-freeze --cpu-affinity off",
            Self::CargoLambda => "cargo lambda watch",
            Self::Rie => "RIE",
        }
    }

    /// A short name for column headers.
    pub(crate) fn short_label(self) -> &'static str {
        match self {
            Self::Grace => "grace",
            Self::GraceFreeze => "grace (freeze)",
            Self::GraceUnpinned => "grace (unpinned)",
            Self::CargoLambda => "cargo lambda",
            Self::Rie => "RIE",
        }
    }

    /// Whether this is one of ours with a ratio column in the report (the unpinned variant is
    /// a row: how much pinning brings).
    pub(crate) fn is_grace(self) -> bool {
        matches!(self, Self::Grace | Self::GraceFreeze)
    }
}

/// Where the systems' binaries are, and a scratch directory for logs and the stub project.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    pub(crate) grace: PathBuf,
    pub(crate) cargo_lambda: PathBuf,
    pub(crate) rie: PathBuf,
    pub(crate) work: PathBuf,
}

/// A started system: its invoke URL and its processes, in stop order.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) url: String,
    procs: Vec<Proc>,
    /// How many of `procs` (at the front) are runtime processes started by the harness.
    runtimes: usize,
    logs: Vec<PathBuf>,
}

impl Running {
    /// Stops every process (SIGTERM, then SIGKILL after 3 s) and reaps it; returns what is
    /// worth reporting (a process that needed SIGKILL, processes left in a group).
    pub(crate) fn stop(mut self) -> Vec<String> {
        let mut notes = Vec::new();
        for p in &mut self.procs {
            let s = p.stop();
            let code = s.status.and_then(|st| st.code()).filter(|&c| c != 0);
            if s.killed {
                notes.push(format!(
                    "{} ignored SIGTERM for 3 s and was SIGKILLed",
                    p.name()
                ));
            } else if let Some(code) = code {
                let when = if s.exited_before {
                    "before it was stopped"
                } else {
                    "after SIGTERM"
                };
                notes.push(format!("{} exited with code {code} {when}", p.name()));
            }
            notes.extend(s.warning);
        }
        notes
    }

    /// `http://HOST:PORT` of the invoke URL (grace's control API lives there too).
    pub(crate) fn base(&self) -> String {
        self.url
            .split("/2015-03-31/")
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// Process ids: `(emulator processes, runtime processes started by the harness)`.
    pub(crate) fn pids(&self) -> (Vec<i32>, Vec<i32>) {
        let ids = |ps: &[Proc]| ps.iter().filter_map(Proc::id).collect::<Vec<_>>();
        (
            ids(&self.procs[self.runtimes..]),
            ids(&self.procs[..self.runtimes]),
        )
    }

    /// Whether every process is still running; `Err` names the first that exited.
    pub(crate) fn check_alive(&mut self) -> Result<()> {
        for p in &mut self.procs {
            if let Some(status) = p.try_wait() {
                return Err(unexpected!("{} exited ({status})", p.name()));
            }
        }
        Ok(())
    }

    /// The whole text of every log (standard error of each process).
    pub(crate) fn logs_text(&self) -> String {
        self.logs
            .iter()
            .map(|l| fs::read_to_string(l).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The last lines of every log, for error messages.
    pub(crate) fn log_tails(&self) -> String {
        self.logs
            .iter()
            .map(|l| procs::log_tail(l, 8))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Starts `v` at concurrency `c` serving `runtime`, and waits until one invoke echoes.
/// `tag` names the log files.
pub(crate) fn start(
    v: Variant,
    c: u32,
    runtime: &Path,
    paths: &Paths,
    tag: &str,
) -> Result<Running> {
    let mut running = match v.system {
        System::Grace | System::GraceFreeze | System::GraceUnpinned => {
            start_grace(v.system, c, runtime, paths, tag)?
        }
        System::CargoLambda => start_cargo_lambda(v.runtime_procs, runtime, paths, tag)?,
        System::Rie => start_rie(runtime, paths, tag)?,
    };
    if let Err(e) = http::wait_echo(&running.url, READY_LIMIT).and_then(|()| running.check_alive())
    {
        let tails = running.log_tails();
        let notes = running.stop();
        return Err(e.context(format!(
            "{} did not come up\n{tails}{}",
            v.label(),
            notes.join("; ")
        )));
    }
    Ok(running)
}

fn log_file(paths: &Paths, tag: &str, name: &str) -> Result<(PathBuf, fs::File)> {
    let path = paths.work.join("logs").join(format!("{tag}-{name}.log"));
    let file =
        fs::File::create(&path).map_err(Error::io(format!("creating {}", path.display())))?;
    Ok((path, file))
}

fn start_grace(
    system: System,
    c: u32,
    runtime: &Path,
    paths: &Paths,
    tag: &str,
) -> Result<Running> {
    let mut args = vec!["--concurrency".to_owned(), c.to_string()];
    if matches!(system, System::Grace | System::GraceUnpinned) {
        args.push("--no-freeze".into());
    }
    if system == System::GraceUnpinned {
        args.extend(["--cpu-affinity".into(), "off".into()]);
    }
    start_grace_with(paths, runtime, &args, tag)
}

/// `grace serve --listen 127.0.0.1:PORT --name echo ARGS… -- RUNTIME`, once it listens (no
/// invoke is made).
pub(crate) fn start_grace_with(
    paths: &Paths,
    runtime: &Path,
    args: &[String],
    tag: &str,
) -> Result<Running> {
    start_grace_command(paths, &[runtime.as_os_str()], args, tag)
}

/// Like [`start_grace_with`], with a whole bootstrap command line (e.g. the runtime under a
/// profiler).
pub(crate) fn start_grace_command(
    paths: &Paths,
    command: &[&std::ffi::OsStr],
    args: &[String],
    tag: &str,
) -> Result<Running> {
    let port = procs::fresh_port()?;
    let (log, file) = log_file(paths, tag, "grace")?;
    let mut cmd = Command::new(&paths.grace);
    // The peers model neither Lambda's CPU share nor its memory limit; grace is measured the
    // same way (docs/BENCHMARKS.md says so next to the figures).
    cmd.args([
        "serve",
        "--no-resource-model",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--name",
        GRACE_FUNCTION,
    ]);
    cmd.args(args).arg("--").args(command);
    cmd.stdout(Stdio::null()).stderr(file);
    let mut proc = Proc::spawn("grace serve", &mut cmd)?;
    // Ready when it prints "grace serve: listening on http://ADDR (functions: echo)".
    let end = Instant::now() + READY_LIMIT;
    let addr = loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if let Some(rest) = text.split("listening on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
        if let Some(status) = proc.try_wait() {
            return Err(unexpected!(
                "grace serve exited ({status}) before listening:\n{}",
                procs::log_tail(&log, 8)
            ));
        }
        if Instant::now() >= end {
            return Err(unexpected!(
                "grace serve not listening after {READY_LIMIT:?}:\n{}",
                procs::log_tail(&log, 8)
            ));
        }
        procs::sleep(Duration::from_millis(10))?;
    };
    let url = format!("http://{addr}/2015-03-31/functions/{GRACE_FUNCTION}/invocations");
    Ok(Running {
        url,
        procs: vec![proc],
        runtimes: 0,
        logs: vec![log],
    })
}

fn start_cargo_lambda(n: u32, runtime: &Path, paths: &Paths, tag: &str) -> Result<Running> {
    start_cargo_lambda_command(n, &[runtime.as_os_str()], paths, tag)
}

/// `cargo lambda watch --only-lambda-apis` on a fresh port, and `n` runtime processes started
/// as `command` (e.g. the runtime under a profiler) with the Runtime API's variables; no invoke
/// is made.
pub(crate) fn start_cargo_lambda_command(
    n: u32,
    command: &[&std::ffi::OsStr],
    paths: &Paths,
    tag: &str,
) -> Result<Running> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| unexpected!("empty runtime command"))?;
    let project = stub_project(&paths.work)?;
    let port = procs::fresh_port()?;
    let (log, file) = log_file(paths, tag, "cargo-lambda")?;
    let mut cmd = Command::new(&paths.cargo_lambda);
    cmd.args([
        "lambda",
        "watch",
        "--only-lambda-apis",
        "-A",
        "127.0.0.1",
        "-P",
        &port.to_string(),
    ]);
    cmd.current_dir(&project).stdout(Stdio::null()).stderr(file);
    let emulator = Proc::spawn("cargo lambda watch", &mut cmd)?;
    let mut running = Running {
        url: format!("http://127.0.0.1:{port}/2015-03-31/functions/_/invocations"),
        procs: vec![emulator],
        runtimes: 0,
        logs: vec![log],
    };
    let end = Instant::now() + READY_LIMIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        running.check_alive()?;
        if Instant::now() >= end {
            return Err(unexpected!(
                "cargo lambda watch not listening after {READY_LIMIT:?}"
            ));
        }
        procs::sleep(Duration::from_millis(10))?;
    }
    // Runtimes stop first, so cargo lambda never sees a poll cut by its own shutdown.
    for i in 0..n {
        let (log, file) = log_file(paths, tag, &format!("runtime-{i}"))?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt"),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .stdout(Stdio::null())
            .stderr(file);
        running
            .procs
            .insert(0, Proc::spawn(&format!("runtime process {i}"), &mut cmd)?);
        running.runtimes += 1;
        running.logs.push(log);
    }
    Ok(running)
}

fn start_rie(runtime: &Path, paths: &Paths, tag: &str) -> Result<Running> {
    let (p1, p2) = (procs::fresh_port()?, procs::fresh_port()?);
    let (log, file) = log_file(paths, tag, "rie")?;
    let mut cmd = Command::new(&paths.rie);
    cmd.env("AWS_LAMBDA_FUNCTION_TIMEOUT", "3")
        .arg("--runtime-interface-emulator-address")
        .arg(format!("127.0.0.1:{p1}"))
        .arg("--runtime-api-address")
        .arg(format!("127.0.0.1:{p2}"))
        .arg(runtime)
        .current_dir(&paths.work)
        .stdout(Stdio::null())
        .stderr(file);
    let proc = Proc::spawn("RIE", &mut cmd)?;
    Ok(Running {
        url: format!("http://127.0.0.1:{p1}/2015-03-31/functions/function/invocations"),
        procs: vec![proc],
        runtimes: 0,
        logs: vec![log],
    })
}

/// The minimal Cargo project (one bin target) `cargo lambda watch` wants to run in.
fn stub_project(work: &Path) -> Result<PathBuf> {
    let dir = work.join("cargo-lambda-stub");
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap_or(&dir))
            .and_then(|()| fs::write(&path, text))
            .map_err(Error::io(format!("writing {}", path.display())))
    };
    write(
        "Cargo.toml",
        "[package]\nname = \"echo\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [[bin]]\nname = \"echo\"\npath = \"src/main.rs\"\n\n[workspace]\n",
    )?;
    write("src/main.rs", "fn main() {}\n")?;
    Ok(dir)
}
