//! `grace`: run AWS Lambda functions locally with the real lifecycle (init, invokes, freeze,
//! timeouts, resets, and the SIGTERM → SHUTDOWN → SIGKILL spin-down), and check that they shut
//! down gracefully.
//!
//! This binary is thin: it parses arguments, builds configuration values, and calls the
//! libraries (`grace-harness` finds functions, reads SAM templates and runs the check;
//! `grace-emulator` runs them). Modules: [`function`] (the function options shared by
//! subcommands), [`serve`] (with [`log_out`], its log output), [`invoke`], [`shutdown`],
//! [`check`], [`demo`] (with [`demo_function`], the function it runs), [`package`] (Lambda
//! zips), [`watch`] (`grace serve --watch`), and [`client`] (a small HTTP client for the Invoke
//! API).

mod check;
mod client;
mod demo;
mod demo_function;
mod function;
mod invoke;
mod log_out;
mod package;
mod serve;
mod shutdown;
mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Run AWS Lambda functions locally with Lambda's real lifecycle.
#[derive(Debug, Parser)]
#[command(name = "grace", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Serve(Box<serve::Args>),
    Invoke(invoke::Args),
    Shutdown(shutdown::Args),
    Package(package::Args),
    Check(Box<check::Args>),
    Demo(demo::Args),
    /// Runs this binary as the demo's Lambda function (used by `grace demo`).
    #[command(name = "__function", hide = true)]
    Function,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Invoke(args) => invoke::run(args),
        Command::Shutdown(args) => shutdown::run(args),
        Command::Package(args) => package::run(args),
        Command::Check(args) => check::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::Function => demo_function::run(),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("grace: {err:#}");
            ExitCode::FAILURE
        }
    }
}
