//! The command line: one subcommand per mode, each with its own arguments, and the options
//! every mode shares ([`Common`]) flattened into each. Parsing only; [`crate::modes`] runs them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::systems::System;

/// Benchmarks of `grace serve` against the emulators people use instead, on loopback.
#[derive(Debug, Parser)]
#[command(name = "grace-bench", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) mode: Mode,
}

/// What to measure.
#[derive(Debug, Subcommand)]
pub(crate) enum Mode {
    /// Echo throughput and latency: grace serve vs cargo lambda watch vs AWS's RIE, all serving
    /// the same runtime binary.
    Matrix(MatrixArgs),
    /// The runtime clients lambda-grace (`echo`) and lambda_runtime (`lr-echo`) compared under
    /// grace serve and under neutral emulators (CPU per invoke, first /next, RSS, size).
    Runtimes(RuntimesArgs),
    /// The floor `wrk → nginx (proxy) → nginx` against the echo systems at concurrency 1 and 16.
    Floor(FloorArgs),
    /// Cold start, freeze/thaw, idle memory, 100k invokes, shutdown.
    Lifecycle(LifecycleArgs),
    /// Many concurrent callers with unique payloads against grace serve for minutes: every
    /// answer must be its own request's; RSS and open descriptors before and after.
    Soak(SoakArgs),
    /// HTTP requests through a function URL: grace serve vs cargo lambda watch serving the same
    /// lambda_http binary (`http-lambda-http`), and lambda-grace-http's `http-axum` under grace.
    Http(HttpArgs),
}

impl Mode {
    /// The options every mode shares.
    pub(crate) fn common(&self) -> &Common {
        match self {
            Self::Matrix(a) => &a.common,
            Self::Runtimes(a) => &a.common,
            Self::Floor(a) => &a.common,
            Self::Lifecycle(a) => &a.common,
            Self::Soak(a) => &a.common,
            Self::Http(a) => &a.common,
        }
    }
}

/// Options of every mode: where the binaries are, where the report goes, what to keep.
#[derive(Debug, Args)]
pub(crate) struct Common {
    /// Markdown file whose generated section (this mode's markers) is (re)written.
    #[arg(long, default_value = "docs/BENCHMARKS.md")]
    pub(crate) out: PathBuf,
    /// Only print the report; do not write --out.
    #[arg(long)]
    pub(crate) no_write: bool,
    /// Keep the scratch directory (every process's standard error, per cell) and print its path.
    #[arg(long)]
    pub(crate) keep_logs: bool,
    /// The grace binary.
    #[arg(long, default_value = "target/release/grace")]
    pub(crate) grace: PathBuf,
    /// The cargo-lambda binary.
    #[arg(long, default_value = ".deps/peers/cargo-lambda")]
    pub(crate) cargo_lambda: PathBuf,
    /// The RIE binary.
    #[arg(long, default_value = ".deps/peers/aws-lambda-rie")]
    pub(crate) rie: PathBuf,
    /// The wrk binary.
    #[arg(long, default_value = "wrk")]
    pub(crate) wrk: PathBuf,
}

/// Rounds and timing of the wrk-driven modes.
#[derive(Debug, Args)]
pub(crate) struct Timing {
    /// Seconds measured per cell (after the warm-up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub(crate) duration: u64,
    /// Seconds of wrk warm-up before each measurement (same concurrency).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub(crate) warmup: u64,
    /// Times the whole set of cells is run; the report gives medians over rounds.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) rounds: u32,
}

/// `grace-bench matrix`.
#[derive(Debug, Args)]
pub(crate) struct MatrixArgs {
    #[command(flatten)]
    pub(crate) timing: Timing,
    /// Concurrency levels (wrk connections; grace's --concurrency; cargo lambda runtime processes).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4], value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) concurrency: Vec<u32>,
    /// Also measure at concurrency 16.
    #[arg(long)]
    pub(crate) c16: bool,
    /// Systems to measure, in the order they alternate.
    #[arg(long, value_delimiter = ',', default_values = ["grace", "grace-freeze", "grace-unpinned", "cargo-lambda", "rie"])]
    pub(crate) systems: Vec<System>,
    /// A runtime binary to serve, as PATH or LABEL=PATH (repeatable; default: lr-echo).
    #[arg(long = "runtime", value_name = "[LABEL=]PATH")]
    pub(crate) runtimes: Vec<String>,
    /// wrk threads (capped at the connection count; 1 leaves the most CPU to the system measured).
    #[arg(long, default_value_t = 1)]
    pub(crate) wrk_threads: u32,
    /// Skip trying two simultaneous invokes on RIE.
    #[arg(long)]
    pub(crate) no_rie_probe: bool,
    #[command(flatten)]
    pub(crate) common: Common,
}

/// `grace-bench runtimes`.
#[derive(Debug, Args)]
pub(crate) struct RuntimesArgs {
    #[command(flatten)]
    pub(crate) timing: Timing,
    /// Cold starts timed per round and runtime (under grace).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) cold_starts: u32,
    /// Systems the CPU per invoke is also measured under, besides `grace-unpinned` (always
    /// measured: cold starts and RSS come from its control API). By default the neutral
    /// emulators; add `grace` (pinned) and `grace-freeze` to see what pinning and freeze do.
    #[arg(long, value_delimiter = ',', default_values = ["cargo-lambda", "rie"])]
    pub(crate) under: Vec<System>,
    /// Skip counting instructions per invoke with callgrind.
    #[arg(long)]
    pub(crate) no_callgrind: bool,
    #[command(flatten)]
    pub(crate) common: Common,
}

/// `grace-bench floor`.
#[derive(Debug, Args)]
pub(crate) struct FloorArgs {
    /// Seconds measured per cell (after a 1 s warm-up).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub(crate) duration: u64,
    /// Times every cell is run.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) rounds: u32,
    /// The nginx binary.
    #[arg(long, default_value = "/usr/sbin/nginx")]
    pub(crate) nginx: PathBuf,
    #[command(flatten)]
    pub(crate) common: Common,
}

/// `grace-bench lifecycle`.
#[derive(Debug, Args)]
pub(crate) struct LifecycleArgs {
    /// Times the figures that have rounds are measured.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) rounds: u32,
    /// Cold starts timed per round and runtime.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) cold_starts: u32,
    /// Sequential invokes per freeze/thaw round.
    #[arg(long, default_value_t = 200)]
    pub(crate) invokes: u32,
    /// Pause before each of those invokes, milliseconds.
    #[arg(long, default_value_t = 20)]
    pub(crate) pause_ms: u64,
    /// Spin-downs timed per runtime.
    #[arg(long, default_value_t = 10)]
    pub(crate) shutdowns: u32,
    #[command(flatten)]
    pub(crate) common: Common,
}

/// `grace-bench soak`.
#[derive(Debug, Args)]
pub(crate) struct SoakArgs {
    /// Concurrent callers (each one keep-alive connection, one invoke at a time).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub(crate) callers: u32,
    /// Seconds of soak after the warm-up (at most one hour).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) duration: u64,
    /// Seconds of warm-up (same callers) before the first RSS and descriptor sample.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub(crate) warmup: u64,
    /// grace serve's --concurrency (default: as many environments as callers).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub(crate) environments: Option<u32>,
    /// The echo runtime binary served.
    #[arg(long, default_value = "target/release/echo")]
    pub(crate) runtime: PathBuf,
    /// Extra arguments for grace serve, e.g. `--grace-arg=--no-freeze` (repeatable).
    #[arg(long = "grace-arg", allow_hyphen_values = true)]
    pub(crate) grace_args: Vec<String>,
    #[command(flatten)]
    pub(crate) common: Common,
}

/// `grace-bench http`.
#[derive(Debug, Args)]
pub(crate) struct HttpArgs {
    #[command(flatten)]
    pub(crate) timing: Timing,
    /// Concurrency levels (wrk connections; grace's --concurrency; cargo lambda runtime processes).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16], value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) concurrency: Vec<u32>,
    /// wrk threads (capped at the connection count).
    #[arg(long, default_value_t = 1)]
    pub(crate) wrk_threads: u32,
    /// The app on the official lambda_http, served by every system.
    #[arg(long, default_value = "target/release/http-lambda-http")]
    pub(crate) lambda_http: PathBuf,
    /// The same app on lambda-grace-http (the reference row under grace).
    #[arg(long, default_value = "target/release/http-axum")]
    pub(crate) grace_http: PathBuf,
    #[command(flatten)]
    pub(crate) common: Common,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn subcommands_parse_with_shared_options() {
        let cli = Cli::try_parse_from(["grace-bench", "soak", "--duration", "120", "--no-write"])
            .unwrap();
        let Mode::Soak(a) = &cli.mode else {
            panic!("not soak: {cli:?}")
        };
        assert_eq!((a.callers, a.duration), (64, 120));
        assert!(cli.mode.common().no_write);
        assert!(Cli::try_parse_from(["grace-bench", "soak", "--duration", "7200"]).is_err());
        assert!(Cli::try_parse_from(["grace-bench", "--runtimes"]).is_err());
        let cli = Cli::try_parse_from(["grace-bench", "http", "--rounds", "4"]).unwrap();
        let Mode::Http(a) = &cli.mode else {
            panic!("not http: {cli:?}")
        };
        assert_eq!(
            (a.concurrency.as_slice(), a.timing.rounds),
            (&[1, 16][..], 4)
        );
    }
}
