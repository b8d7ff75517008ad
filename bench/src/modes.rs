//! Runs the mode the command line chose, after the one [`Setup`] every mode shares.

use crate::cli::{Cli, FloorArgs, LifecycleArgs, Mode, RuntimesArgs};
use crate::error::Result;
use crate::setup::{Setup, existing};

/// Sets up and runs `cli`'s mode.
pub(crate) fn run(cli: &Cli) -> Result<()> {
    let setup = Setup::new(cli.mode.common())?;
    match &cli.mode {
        Mode::Matrix(a) => crate::matrix_mode::drive(a, &setup),
        Mode::Runtimes(a) => runtimes(a, &setup),
        Mode::Floor(a) => floor(a, &setup),
        Mode::Lifecycle(a) => lifecycle(a, &setup),
        Mode::Soak(a) => crate::soak_report::drive(a, &setup),
        Mode::Http(a) => crate::http_report::drive(a, &setup),
    }
}

fn runtimes(args: &RuntimesArgs, setup: &Setup) -> Result<()> {
    let plan = crate::runtimes::Plan {
        rounds: args.timing.rounds,
        cold_starts: args.cold_starts,
        warmup_s: args.timing.warmup,
        duration_s: args.timing.duration,
        neutral: args.under.clone(),
        callgrind: !args.no_callgrind,
    };
    crate::runtimes_report::drive(&plan, setup)
}

fn floor(args: &FloorArgs, setup: &Setup) -> Result<()> {
    let nginx = existing(
        &args.nginx,
        "nginx",
        "scripts/setup-test-deps.sh installs it",
    )?;
    crate::floor::drive(args.rounds, args.duration, &nginx, setup)
}

fn lifecycle(args: &LifecycleArgs, setup: &Setup) -> Result<()> {
    let plan = crate::lifecycle::Plan {
        rounds: args.rounds,
        cold_starts: args.cold_starts,
        invokes: args.invokes,
        pause_ms: args.pause_ms,
        total_invokes: 100_000,
        shutdowns: args.shutdowns,
    };
    crate::lifecycle_report::drive(&plan, setup)
}
