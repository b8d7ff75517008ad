//! `grace check`: runs a function through a full lifecycle under the emulator (cold start, N
//! invokes, freeze, spin-down; with `--reset`, also a timeout reset) and tells whether it really
//! shuts down well, with reasons and advice; `--json` for machines, `--timeline` for a picture,
//! `--trace` for Perfetto.
//! The check itself is [`grace_harness::check`]; this module parses options and prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use grace_emulator::logs::LogLine;
use grace_harness::CheckOptions;

use crate::function::{FunctionArgs, parse_duration};

/// Check that a function shuts down gracefully: SIGTERM, cleanup in budget, nothing left behind.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  grace check target/lambda/my-fn
  grace check --name py --dir app --execution-env AWS_Lambda_python3.12 --handler app.handler \\
      --layer ./enabler-layer -- python -m awslambdaric app.handler
  grace check --runtime nodejs20.x --handler app.handler --layer ./enabler-layer ./fn
  grace check ./bootstrap --reset --json --timeline lifecycle.svg --trace lifecycle.json

Exit code: 0 when every check passes (or is skipped); 1 when one fails or warns (a warning is a
risk, or a graceful shutdown the check could not confirm).")]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) function: FunctionArgs,
    /// How many warm invokes after the cold one.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) invokes: u32,
    /// The event to invoke with: JSON text, or @FILE.
    #[arg(long, default_value = "{}")]
    pub(crate) payload: String,
    /// How long the environment stays idle (frozen) before the spin-down.
    #[arg(long, default_value = "300ms", value_parser = parse_duration)]
    pub(crate) idle: Duration,
    /// Also force a timeout reset mid-invoke (SIGTERM while the handler runs).
    #[arg(long)]
    pub(crate) reset: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Write the lifecycle timeline as SVG.
    #[arg(long, value_name = "OUT.svg")]
    pub(crate) timeline: Option<PathBuf>,
    /// Write the lifecycle as Chrome trace-event JSON (open it in https://ui.perfetto.dev).
    #[arg(long, value_name = "OUT.json")]
    pub(crate) trace: Option<PathBuf>,
    /// With several functions (a template), check only this one.
    #[arg(long, value_name = "NAME")]
    pub(crate) only: Option<String>,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut warnings = Vec::new();
    let configs = args.function.configs(&mut warnings);
    for w in &warnings {
        eprintln!("grace: warning: {w}");
    }
    let mut configs = configs?;
    if let Some(only) = &args.only {
        let names: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
        configs.retain(|c| &c.name == only);
        if configs.is_empty() {
            bail!(
                "--only {only}: no such function (there are: {})",
                names.join(", ")
            );
        }
    }
    if configs.len() != 1 {
        let names: Vec<&str> = configs.iter().map(|c| c.name.as_str()).collect();
        bail!(
            "grace check takes one function ({} given: {}); pick one with --only NAME",
            names.len(),
            names.join(", ")
        );
    }
    let cfg = configs.remove(0);
    // What the configuration warned about this function is part of its report (e.g. a nodejs22.x
    // function that runs under a local Node.js 20).
    let prefix = format!("{}: ", cfg.name);
    let notes: Vec<&str> = warnings
        .iter()
        .filter_map(|w| w.message.strip_prefix(&prefix))
        .collect();
    let payload = match args.payload.strip_prefix('@') {
        Some(file) => std::fs::read(file).with_context(|| format!("cannot read {file}"))?,
        None => args.payload.clone().into_bytes(),
    };
    let mut options = CheckOptions::default()
        .invokes(args.invokes)
        .payload(payload)
        .idle(args.idle)
        .reset(args.reset);
    if !args.json {
        options = options.on_log(Arc::new(|line: &LogLine<'_>| {
            eprintln!("  | {}", line.text);
        }));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(grace_harness::check::run(cfg, &options))?;
    if let Some(path) = &args.timeline {
        std::fs::write(path, report.timeline_svg())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.trace {
        std::fs::write(path, report.trace_json())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        let mut json = serde_json::to_value(&report)?;
        if !notes.is_empty() {
            json["notes"] = notes.clone().into();
        }
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("\n{report}");
        for note in &notes {
            println!("note: {note}");
        }
        if let Some(path) = &args.timeline {
            println!("timeline: {}", path.display());
        }
        if let Some(path) = &args.trace {
            println!(
                "trace: {} (open it in https://ui.perfetto.dev)",
                path.display()
            );
        }
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
