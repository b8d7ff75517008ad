//! `grace check`: runs a function through a full lifecycle under the emulator (cold start, N
//! invokes, freeze, spin-down; with `--reset`, also a timeout reset) and tells whether it really
//! shuts down well, with reasons and advice; `--json` for machines, `--timeline` for a picture.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use grace_emulator::events::{EnvId, LifecycleEvent};
use grace_emulator::logs::{LogLine, LogSource};
use grace_emulator::{Emulator, InvokeInput, Options};
use serde::Serialize;

use crate::function::{FunctionArgs, parse_duration};
use crate::verdict::{Check, Status, TimedLine, shutdown_checks};

/// Check that a function shuts down gracefully: SIGTERM, cleanup in budget, nothing left behind.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  grace check target/lambda/my-fn
  grace check --name py --dir app --execution-env AWS_Lambda_python3.12 --handler app.handler \\
      --layer ./enabler-layer -- python -m awslambdaric app.handler
  grace check ./bootstrap --reset --json --timeline lifecycle.svg

Exit code: 0 when every check passes (warnings allowed), 1 when one fails.")]
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
    /// With several functions (a template), check only this one.
    #[arg(long, value_name = "NAME")]
    pub(crate) only: Option<String>,
}

#[derive(Debug, Serialize)]
struct Outcome {
    function: String,
    pass: bool,
    checks: Vec<Check>,
    invokes: Vec<Answer>,
}

#[derive(Debug, Serialize)]
struct Answer {
    status: u16,
    function_error: Option<&'static str>,
    body: String,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut configs = args.function.configs()?;
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
    let mut cfg = configs.remove(0);
    cfg.concurrency = 1;
    cfg.inspect_shutdown = true;
    let name = cfg.name.clone();
    let payload = match args.payload.strip_prefix('@') {
        Some(file) => std::fs::read(file).with_context(|| format!("cannot read {file}"))?,
        None => args.payload.clone().into_bytes(),
    };
    let lines: Arc<Mutex<Vec<TimedLine>>> = Arc::default();
    let events: Arc<Mutex<Vec<LifecycleEvent>>> = Arc::default();
    let (line_sink, event_sink) = (Arc::clone(&lines), Arc::clone(&events));
    let quiet = args.json;
    let options = Options {
        log_sink: Arc::new(move |line: &LogLine<'_>| {
            if !quiet {
                eprintln!("  | {}", line.text);
            }
            let function_output = matches!(line.source, LogSource::Function);
            let l = TimedLine {
                time_us: now_us(),
                env: line.env,
                function_output,
            };
            line_sink.lock().unwrap_or_else(|e| e.into_inner()).push(l);
        }),
        event_observer: Some(Arc::new(move |e: &LifecycleEvent| {
            event_sink
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(e.clone());
        })),
        ..Options::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let invokes = rt.block_on(async {
        let emulator = Emulator::new(vec![cfg], options)?;
        let mut answers = Vec::new();
        for _ in 0..=args.invokes {
            let out = emulator
                .invoke(InvokeInput::new(name.clone(), payload.clone()))
                .await;
            answers.push(Answer {
                status: out.status,
                function_error: out.function_error,
                body: String::from_utf8_lossy(&out.body)
                    .chars()
                    .take(300)
                    .collect(),
            });
        }
        tokio::time::sleep(args.idle).await;
        emulator.spin_down(None).await.map_err(anyhow::Error::msg)?;
        if args.reset {
            let mut input = InvokeInput::new(name.clone(), payload.clone());
            input.timeout = Some(Duration::from_millis(1));
            emulator.invoke(input).await;
        }
        emulator.close().await;
        Ok::<_, anyhow::Error>(answers)
    })?;
    let events = std::mem::take(&mut *events.lock().unwrap_or_else(|e| e.into_inner()));
    let lines = std::mem::take(&mut *lines.lock().unwrap_or_else(|e| e.into_inner()));
    let checks = analyse(&events, &lines, &invokes, args.reset);
    let pass = checks.iter().all(|c| c.status != Status::Fail);
    let outcome = Outcome {
        function: name.clone(),
        pass,
        checks,
        invokes,
    };
    let verdict = summary(&outcome);
    if let Some(path) = &args.timeline {
        let svg = grace_emulator::timeline::svg(
            &events,
            &format!("grace check: {name}"),
            Some((&verdict, pass)),
        );
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print_text(&outcome, &verdict);
        if let Some(path) = &args.timeline {
            println!("timeline: {}", path.display());
        }
    }
    Ok(if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn analyse(
    events: &[LifecycleEvent],
    lines: &[TimedLine],
    invokes: &[Answer],
    reset: bool,
) -> Vec<Check> {
    let mut envs: Vec<EnvId> = events.iter().map(|e| e.env).collect();
    envs.dedup();
    let mut checks = Vec::new();
    let init_failed = invokes.first().is_some_and(|a| a.function_error.is_some())
        && events
            .iter()
            .any(|e| matches!(e.kind, grace_emulator::events::EventKind::InitFailed { .. }));
    let answered = invokes.iter().filter(|a| a.status == 200).count();
    let errors = invokes
        .iter()
        .filter(|a| a.function_error.is_some())
        .count();
    checks.push(Check {
        id: "invokes",
        title: "invokes are answered",
        status: if init_failed || answered < invokes.len() {
            Status::Fail
        } else if errors > 0 {
            Status::Warn
        } else {
            Status::Pass
        },
        detail: match invokes.iter().find(|a| a.function_error.is_some()) {
            Some(a) if init_failed => format!("init failed: {}", a.body),
            Some(a) => format!(
                "{answered} of {} answered, {errors} with a function error, e.g. {}",
                invokes.len(),
                a.body
            ),
            None => format!(
                "{answered} of {} answered (1 cold, {} warm)",
                invokes.len(),
                invokes.len().saturating_sub(1)
            ),
        },
        advice: init_failed.then(|| "fix the init error first; see the log above".to_owned()),
    });
    if let Some(&env) = envs.first() {
        checks.extend(shutdown_checks(events, env, lines, invokes.len()));
    }
    if reset {
        match envs.get(1) {
            Some(&env) => {
                for mut c in shutdown_checks(events, env, lines, 0) {
                    if c.id == "sigterm" || c.id == "exit" {
                        c.id = if c.id == "sigterm" {
                            "reset-sigterm"
                        } else {
                            "reset-exit"
                        };
                        c.title = if c.id == "reset-sigterm" {
                            "reset: SIGTERM mid-invoke"
                        } else {
                            "reset: exits before SIGKILL"
                        };
                        checks.push(c);
                    }
                }
            }
            None => checks.push(Check {
                id: "reset",
                title: "reset: SIGTERM mid-invoke",
                status: Status::Warn,
                detail: "no timeout reset was observed".to_owned(),
                advice: None,
            }),
        }
    }
    checks
}

fn summary(outcome: &Outcome) -> String {
    let failed = outcome
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .count();
    let warned = outcome
        .checks
        .iter()
        .filter(|c| c.status == Status::Warn)
        .count();
    match (failed, warned) {
        (0, 0) => format!("PASS: {} shuts down gracefully", outcome.function),
        (0, w) => format!("PASS with {w} warning{}", if w == 1 { "" } else { "s" }),
        (f, _) => format!("FAIL: {f} of {} checks failed", outcome.checks.len()),
    }
}

fn print_text(outcome: &Outcome, verdict: &str) {
    println!("\ngrace check: {}", outcome.function);
    for c in &outcome.checks {
        let tag = c.status.tag();
        println!("  {tag}  {:<34} {}", c.title, c.detail);
        if let Some(advice) = &c.advice {
            println!("        advice: {advice}");
        }
    }
    println!("{verdict}");
}
