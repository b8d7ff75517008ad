//! `grace-bench matrix`: resolves the runtime binaries, describes the machine and versions,
//! probes RIE under concurrent invokes, runs [`crate::matrix`] and writes [`crate::report`].

use std::path::{Path, PathBuf};

use crate::cli::MatrixArgs;
use crate::error::{Error, Result, chain};
use crate::http;
use crate::machine::{self, utc_now};
use crate::matrix::{self, Plan};
use crate::probe;
use crate::procs;
use crate::report::{self, Context};
use crate::setup::{Setup, existing};
use crate::systems::{Paths, System};
use crate::wrk::Wrk;

/// Runtime binaries measured when `--runtime` is not given: label, path under the repository
/// root, and the runtime client crate (its version is looked up in Cargo.lock). Every system
/// serves each of them in turn; adding a runtime is adding a line here (and building it in
/// `scripts/bench.sh`).
const DEFAULT_RUNTIMES: &[(&str, &str, &str)] =
    &[("lr-echo", "target/release/lr-echo", "lambda_runtime")];

/// Runs the matrix and writes its section.
pub(crate) fn drive(args: &MatrixArgs, setup: &Setup) -> Result<()> {
    let mut concurrency = args.concurrency.clone();
    if args.c16 && !concurrency.contains(&16) {
        concurrency.push(16);
    }
    let mut systems = args.systems.clone();
    systems.dedup();
    let paths = &setup.paths;
    let runtimes = runtimes(&args.runtimes, &setup.lock)?;
    let wrk = Wrk {
        threads: args.wrk_threads,
        ..setup.wrk.clone()
    };

    let machine = machine::Machine::describe();
    let load_before = machine::load_average();
    let mut ctx = Context {
        date: utc_now(),
        command: setup.command.clone(),
        machine: machine.line(),
        versions: versions(&wrk.bin, paths, &setup.root),
        runtimes: runtimes
            .iter()
            .map(|r| (r.0.clone(), r.2.clone()))
            .collect(),
        method: method(args, &wrk),
        ..Context::default()
    };
    eprintln!("grace-bench: {}\n  machine: {}", ctx.date, ctx.machine);
    for (what, v) in &ctx.versions {
        eprintln!("  {what}: {v}");
    }

    let wants_probe = systems.contains(&System::Rie) && concurrency.iter().any(|&c| c > 1);
    if wants_probe && !args.no_rie_probe {
        eprint!("grace-bench: trying two simultaneous invokes on RIE … ");
        let seen = probe::rie_concurrency(&runtimes[0].1, paths);
        procs::Interrupt::check()?;
        let seen = seen.unwrap_or_else(|e| format!("the probe could not run: {}", chain(&e)));
        eprintln!("{seen}");
        ctx.rie_probe = Some(seen);
    }

    let plan = Plan {
        rounds: args.timing.rounds,
        concurrencies: concurrency,
        systems,
        runtimes: runtimes.iter().map(|r| r.1.clone()).collect(),
        warmup_s: args.timing.warmup,
        duration_s: args.timing.duration,
    };
    let results = matrix::run(&plan, paths, &wrk)?;
    ctx.load = (load_before, machine::load_average());

    println!("\n{}", report::text(&ctx, &results));
    if let Some(out) = &setup.out {
        report::write(out, &report::markdown(&ctx, &results))?;
        eprintln!("grace-bench: wrote {}", out.display());
    }
    Ok(())
}

/// Runtime binaries as `(label, absolute path, description)`.
fn runtimes(given: &[String], lock: &str) -> Result<Vec<(String, PathBuf, String)>> {
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
                "runtime binary",
                "cargo build --release -p grace-peer-fixtures",
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
            Ok::<_, Error>((label, abs, desc))
        })
        .collect()
}

fn versions(wrk: &Path, paths: &Paths, root: &Path) -> Vec<(String, String)> {
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
        ("wrk".into(), machine::wrk_version(wrk)),
    ]
}

fn method(args: &MatrixArgs, wrk: &Wrk) -> Vec<String> {
    vec![
        format!(
            "**Method:** `wrk -t {} -c C -d {}s --latency` POSTing `{}` (after a {} s warm-up at the same \
             concurrency), C = concurrency; every cell starts its system on fresh loopback ports and \
             stops it (SIGTERM, SIGKILL after 3 s) before the next; {} round(s), systems alternating \
             within a round (order rotated each round). Function output goes to /dev/null.",
            wrk.threads,
            args.timing.duration,
            http::EVENT,
            args.timing.warmup,
            args.timing.rounds
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
