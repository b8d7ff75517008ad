//! `grace-bench`: how `grace serve` compares with the emulators people use instead (`cargo
//! lambda watch`, AWS's Runtime Interface Emulator) and how the lambda-grace runtime client
//! compares with `lambda_runtime`, measured on one machine in one run, plus a soak of `grace
//! serve` under many concurrent callers.
//!
//! The machine is small and shared, so a run alternates systems within each round, repeats the
//! rounds, and reports medians and per-round ratios; it describes the machine and every version
//! involved, and writes its section of `docs/BENCHMARKS.md` (between markers) and a table on
//! standard output.
//!
//! ```text
//! grace-bench matrix --rounds 3 --duration 4      # echo throughput and latency
//! grace-bench runtimes --rounds 5                  # lambda-grace vs lambda_runtime
//! grace-bench soak --duration 120 --no-write       # 64 callers for 2 minutes
//! grace-bench http --rounds 4 --duration 3         # HTTP through a function URL
//! ```
//!
//! Modes are subcommands ([`cli`]), each run by [`modes`] after the one [`setup`] they share:
//! `matrix` ([`matrix_mode`], [`matrix`], [`report`], [`probe`]), `runtimes` ([`runtimes`],
//! [`runtimes_neutral`], [`runtimes_report`], [`instructions`]), `floor` ([`floor`]),
//! `lifecycle` ([`lifecycle`], [`lifecycle_report`]), `soak` ([`soak`], [`soak_report`]) and
//! `http` ([`http_bench`], [`http_report`]).
//! Errors are one [`error::Error`] enum; `main` prints the chain and maps it to an exit code.
//!
//! Shared modules: [`systems`] (start, check and stop each system), [`wrk`] (run and parse
//! wrk), [`cpu`] (CPU time per invoke), [`results`] (medians, ratios), [`table`] (markdown and
//! text), [`machine`] (machine and versions), [`procs`] (processes that never outlive the
//! harness), [`http`] (a small client: one-shot requests for checks, keep-alive for the soak).
//!
//! Run it with `scripts/bench.sh MODE [ARGS]` (e.g. `scripts/bench.sh matrix --rounds 3`), which
//! installs the peers and builds the binaries.

mod cli;
mod cpu;
mod error;
mod floor;
mod http;
mod http_bench;
mod http_report;
mod instructions;
mod lifecycle;
mod lifecycle_report;
mod machine;
mod matrix;
mod matrix_mode;
mod modes;
mod probe;
mod procs;
mod report;
mod results;
mod runtimes;
mod runtimes_neutral;
mod runtimes_report;
mod setup;
mod soak;
mod soak_report;
mod systems;
mod table;
mod wrk;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match modes::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grace-bench: {}", error::chain(&e));
            ExitCode::FAILURE
        }
    }
}
