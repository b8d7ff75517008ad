//! `grace-bench`: echo throughput and latency of `grace serve` against the emulators people use
//! instead (`cargo lambda watch`, AWS's Runtime Interface Emulator), all serving the same
//! runtime binary, measured with `wrk` in one run on one machine.
//!
//! The machine is small and shared, so a run alternates systems within each round, repeats the
//! rounds, and reports medians and per-round ratios; it describes the machine and every version
//! involved, and writes `docs/BENCHMARKS.md` (between markers) and a table on standard output.
//!
//! Modules: [`matrix`] (the variants measured and the rounds), [`systems`] (start, check and
//! stop each system), [`wrk`] (run and parse wrk), [`cpu`] (CPU time per invoke), [`results`]
//! (medians, ratios), [`report`] and [`table`] (markdown and text), [`probe`] (RIE under
//! concurrent invokes), [`machine`] (machine and versions), [`procs`] (processes that never
//! outlive the harness), [`http`] (a tiny client for checks).
//!
//! Run it with `scripts/bench.sh [ARGS]`, which installs the peers and builds the binaries.

mod cpu;
mod floor;
mod http;
mod instructions;
mod lifecycle;
mod lifecycle_report;
mod machine;
mod matrix;
mod modes;
mod probe;
mod procs;
mod report;
mod results;
mod runtimes;
mod runtimes_report;
mod systems;
mod table;
mod wrk;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::machine::utc_now;

use clap::Parser;

use crate::matrix::Plan;
use crate::modes::WorkDir;
use crate::report::Context;
use crate::systems::{Paths, System};
use crate::wrk::Wrk;

/// Runtime binaries measured when `--runtime` is not given: label, path under the repository
/// root, and the runtime client crate (its version is looked up in Cargo.lock). Every system
/// serves each of them in turn; adding a runtime is adding a line here (and building it in
/// `scripts/bench.sh`).
const DEFAULT_RUNTIMES: &[(&str, &str, &str)] =
    &[("lr-echo", "target/release/lr-echo", "lambda_runtime")];

/// Echo throughput and latency: grace serve vs cargo lambda watch vs AWS's RIE.
#[derive(Debug, Parser)]
#[command(name = "grace-bench", version, about, long_about = None)]
struct Args {
    /// Seconds measured per cell (after the warm-up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,
    /// Seconds of wrk warm-up before each measurement (same concurrency).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    warmup: u64,
    /// Times the whole matrix is run; the report gives medians over rounds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Concurrency levels (wrk connections; grace's --concurrency; cargo lambda runtime processes).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4], value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: Vec<u32>,
    /// Also measure at concurrency 16.
    #[arg(long)]
    c16: bool,
    /// Systems to measure, in the order they alternate.
    #[arg(long, value_delimiter = ',', default_values = ["grace", "grace-freeze", "grace-unpinned", "cargo-lambda", "rie"])]
    systems: Vec<System>,
    /// Markdown file whose generated section is (re)written.
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    out: PathBuf,
    /// Only print the table; do not write --out.
    #[arg(long)]
    no_write: bool,
    /// A runtime binary to serve, as PATH or LABEL=PATH (repeatable; default: lr-echo).
    #[arg(long = "runtime", value_name = "[LABEL=]PATH")]
    runtimes: Vec<String>,
    /// The grace binary.
    #[arg(long, default_value = "target/release/grace")]
    grace: PathBuf,
    /// The cargo-lambda binary.
    #[arg(long, default_value = ".deps/peers/cargo-lambda")]
    cargo_lambda: PathBuf,
    /// The RIE binary.
    #[arg(long, default_value = ".deps/peers/aws-lambda-rie")]
    rie: PathBuf,
    /// The wrk binary.
    #[arg(long, default_value = "wrk")]
    wrk: PathBuf,
    /// wrk threads (capped at the connection count; 1 leaves the most CPU to the system measured).
    #[arg(long, default_value_t = 1)]
    wrk_threads: u32,
    /// Skip trying two simultaneous invokes on RIE.
    #[arg(long)]
    no_rie_probe: bool,
    /// Instead of the matrix: compare the runtime clients `target/release/echo` (lambda-grace)
    /// and `target/release/lr-echo` (lambda_runtime) under `grace serve` (uses --rounds,
    /// --duration, --warmup, --cold-starts, --out, --no-write, --grace, --wrk).
    #[arg(long = "runtimes")]
    compare_runtimes: bool,
    /// With --runtimes: cold starts timed per round and runtime.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    cold_starts: u32,
    /// Instead of the matrix: the floor `wrk → nginx (proxy) → nginx` against the echo systems at
    /// concurrency 1 and 16 (uses --rounds, --duration).
    #[arg(long)]
    floor: bool,
    /// The nginx binary (--floor).
    #[arg(long, default_value = "/usr/sbin/nginx")]
    nginx: PathBuf,
    /// Instead of the matrix: cold start, freeze/thaw, idle memory, 100k invokes, shutdown.
    #[arg(long)]
    lifecycle: bool,
    /// With --lifecycle: sequential invokes per freeze/thaw round; pause before each (ms);
    /// spin-downs timed per runtime.
    #[arg(long, default_value_t = 200)]
    invokes: u32,
    #[arg(long, default_value_t = 20)]
    pause_ms: u64,
    #[arg(long, default_value_t = 10)]
    shutdowns: u32,
    /// Keep the scratch directory (every process's standard error, per cell) and print its path.
    #[arg(long)]
    keep_logs: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grace-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(mut args: Args) -> Result<(), String> {
    procs::Interrupt::install()?;
    procs::become_subreaper()?;
    let command = reproduce_command();
    // Relative paths are relative to the repository root (scripts/bench.sh runs from there).
    let root = repo_root();
    std::env::set_current_dir(&root).map_err(|e| format!("cd {}: {e}", root.display()))?;
    if args.compare_runtimes {
        return compare_runtimes(&args, command);
    }
    if args.floor || args.lifecycle {
        return modes::drive(&args, command);
    }
    if args.c16 && !args.concurrency.contains(&16) {
        args.concurrency.push(16);
    }
    args.systems.dedup();
    let work = WorkDir::create(args.keep_logs)?;
    let paths = Paths {
        grace: existing(&args.grace, "grace (cargo build --release -p grace)")?,
        cargo_lambda: existing(
            &args.cargo_lambda,
            "cargo-lambda (scripts/setup-test-deps.sh)",
        )?,
        rie: existing(&args.rie, "aws-lambda-rie (scripts/setup-test-deps.sh)")?,
        work: work.0.clone(),
    };
    let lock = fs::read_to_string("Cargo.lock").unwrap_or_default();
    let runtimes = runtimes(&args.runtimes, &lock)?;
    let wrk = Wrk {
        bin: args.wrk.clone(),
        script: wrk::write_script(&work.0)?,
        threads: args.wrk_threads,
    };

    let machine = machine::Machine::describe();
    let load_before = machine::load_average();
    let mut ctx = Context {
        date: utc_now(),
        command,
        machine: machine.line(),
        versions: versions(&args, &paths, &root),
        runtimes: runtimes
            .iter()
            .map(|r| (r.0.clone(), r.2.clone()))
            .collect(),
        method: method(&args, &wrk),
        ..Context::default()
    };
    eprintln!("grace-bench: {}\n  machine: {}", ctx.date, ctx.machine);
    for (what, v) in &ctx.versions {
        eprintln!("  {what}: {v}");
    }

    let wants_probe =
        args.systems.contains(&System::Rie) && args.concurrency.iter().any(|&c| c > 1);
    if wants_probe && !args.no_rie_probe {
        eprint!("grace-bench: trying two simultaneous invokes on RIE … ");
        let seen = probe::rie_concurrency(&runtimes[0].1, &paths);
        procs::Interrupt::check()?;
        let seen = seen.unwrap_or_else(|e| format!("the probe could not run: {e}"));
        eprintln!("{seen}");
        ctx.rie_probe = Some(seen);
    }

    let plan = Plan {
        rounds: args.rounds,
        concurrencies: args.concurrency.clone(),
        systems: args.systems.clone(),
        runtimes: runtimes.iter().map(|r| r.1.clone()).collect(),
        warmup_s: args.warmup,
        duration_s: args.duration,
    };
    let results = matrix::run(&plan, &paths, &wrk)?;
    ctx.load = (load_before, machine::load_average());

    println!("\n{}", report::text(&ctx, &results));
    if !args.no_write {
        report::write(&args.out, &report::markdown(&ctx, &results))?;
        eprintln!("grace-bench: wrote {}", args.out.display());
    }
    Ok(())
}

/// `--runtimes`: lambda-grace against lambda_runtime (see [`runtimes`]).
fn compare_runtimes(args: &Args, command: String) -> Result<(), String> {
    let work = WorkDir::create(args.keep_logs)?;
    let wrk = Wrk {
        bin: args.wrk.clone(),
        script: wrk::write_script(&work.0)?,
        threads: 1,
    };
    let plan = runtimes::Plan {
        rounds: args.rounds,
        cold_starts: args.cold_starts,
        warmup_s: args.warmup,
        duration_s: args.duration,
    };
    let grace = existing(&args.grace, "grace (cargo build --release -p grace)")?;
    let out = (!args.no_write).then_some(args.out.as_path());
    runtimes_report::drive(&plan, &grace, &wrk, &work.0, out, command)
}

/// Runtime binaries as `(label, absolute path, description)`.
fn runtimes(given: &[String], lock: &str) -> Result<Vec<(String, PathBuf, String)>, String> {
    let specs: Vec<(String, PathBuf)> = if given.is_empty() {
        DEFAULT_RUNTIMES
            .iter()
            .map(|(l, p, _)| ((*l).to_owned(), PathBuf::from(p)))
            .collect()
    } else {
        given
            .iter()
            .map(|g| match g.split_once('=') {
                Some((l, p)) => (l.to_owned(), PathBuf::from(p)),
                None => {
                    let p = PathBuf::from(g);
                    let l = p
                        .file_name()
                        .map_or_else(|| g.clone(), |f| f.to_string_lossy().into_owned());
                    (l, p)
                }
            })
            .collect()
    };
    specs
        .into_iter()
        .map(|(label, path)| {
            let abs = existing(
                &path,
                "runtime binary (cargo build --release -p grace-peer-fixtures)",
            )?;
            let file = abs
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let client = DEFAULT_RUNTIMES
                .iter()
                .find(|(_, p, _)| {
                    Path::new(p)
                        .file_name()
                        .is_some_and(|f| f.to_string_lossy() == file)
                })
                .map(|(_, _, krate)| match machine::locked_version(lock, krate) {
                    Some(v) => format!("{krate} {v}"),
                    None => (*krate).to_owned(),
                });
            let desc = format!(
                "`{}` ({}{}), the same binary under every system",
                path.display(),
                client.map(|c| format!("{c}, ")).unwrap_or_default(),
                machine::size_mb(&abs)
            );
            Ok((label, abs, desc))
        })
        .collect()
}

fn versions(args: &Args, paths: &Paths, root: &Path) -> Vec<(String, String)> {
    let grace = machine::command_line(&paths.grace, &["--version"]);
    vec![
        (
            "grace".into(),
            format!("{grace}, commit {}", machine::git_commit(root)),
        ),
        (
            "cargo lambda".into(),
            machine::command_line(&paths.cargo_lambda, &["lambda", "--version"]),
        ),
        ("RIE".into(), machine::rie_version(&paths.rie)),
        (
            "wrk".into(),
            // "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will Glozer"
            machine::command_line(&args.wrk, &["--version"])
                .split(" Copyright")
                .next()
                .unwrap_or_default()
                .to_owned(),
        ),
    ]
}

fn method(args: &Args, wrk: &Wrk) -> Vec<String> {
    vec![
        format!(
            "**Method:** `wrk -t {} -c C -d {}s --latency` POSTing `{}` (after a {} s warm-up at the same \
             concurrency), C = concurrency; every cell starts its system on fresh loopback ports and \
             stops it (SIGTERM, SIGKILL after 3 s) before the next; {} round(s), systems alternating \
             within a round (order rotated each round). Function output goes to /dev/null.",
            wrk.threads, args.duration, http::EVENT, args.warmup, args.rounds
        ),
        "**Configurations:** grace runs with `--concurrency C` (up to C environments); cargo lambda \
         watch is measured with 1 runtime process and, at C > 1, with C processes (it does not start \
         them itself); RIE has a single environment."
            .into(),
        "**Reading it:** the machine is shared and noisy: compare ratios within this run rather \
         than absolute figures across runs; min–max shows the spread over rounds."
            .into(),
    ]
}

/// The repository root: the nearest ancestor of the current directory holding
/// `bench/Cargo.toml`, else where this crate was built.
fn repo_root() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    cwd.ancestors()
        .find(|d| d.join("bench/Cargo.toml").is_file() && d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// `path` made absolute (relative ones against the current directory), or why it is unusable.
fn existing(path: &Path, what: &str) -> Result<PathBuf, String> {
    fs::canonicalize(path).map_err(|e| format!("{what}: {}: {e}", path.display()))
}

/// `scripts/bench.sh` plus this run's arguments, quoted where needed.
fn reproduce_command() -> String {
    let mut cmd = String::from("scripts/bench.sh");
    for a in std::env::args().skip(1) {
        let plain = a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_=,./:".contains(c));
        cmd += &if plain {
            format!(" {a}")
        } else {
            format!(" '{}'", a.replace('\'', r"'\''"))
        };
    }
    cmd
}
