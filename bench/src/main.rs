//! `grace-bench`: echo throughput and latency of `grace serve` against the emulators people use
//! instead (`cargo lambda watch`, AWS's Runtime Interface Emulator), all serving the same
//! runtime binary, measured with `wrk` in one run on one machine.
//!
//! The machine is small and shared, so a run alternates systems within each round, repeats the
//! rounds, and reports medians and per-round ratios; it describes the machine and every version
//! involved, and writes `docs/BENCHMARKS.md` (between markers) and a table on standard output.
//!
//! Modes are subcommands ([`cli`]), each run by [`modes`] after the one [`setup`] they share:
//! `matrix` ([`matrix_mode`], [`matrix`], [`report`]), `runtimes` ([`runtimes`],
//! [`runtimes_neutral`], [`runtimes_report`], [`instructions`]), `floor` ([`floor`]), `lifecycle` ([`lifecycle`],
//! [`lifecycle_report`]) and `soak` ([`soak`], [`soak_report`]). Errors are [`error::Error`].
//!
//! Shared modules: [`systems`] (start, check and
//! stop each system), [`wrk`] (run and parse wrk), [`cpu`] (CPU time per invoke), [`results`]
//! (medians, ratios), [`table`] (markdown and text), [`probe`] (RIE under
//! concurrent invokes), [`machine`] (machine and versions), [`procs`] (processes that never
//! outlive the harness), [`http`] (a tiny client for checks).
//!
//! Run it with `scripts/bench.sh MODE [ARGS]` (e.g. `scripts/bench.sh matrix --rounds 3`), which installs the peers and builds the binaries.

mod cli;
mod cpu;
mod error;
mod floor;
mod http;
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
