//! `grace demo`: a Lambda function's whole life, locally, with no setup. The emulator runs an
//! embedded function (this binary in function mode, on `lambda-grace`) through init, a few
//! invokes, a freeze and a spin-down, and the lifecycle is printed as one timeline: SIGTERM →
//! cleanup hooks in order → exit, with timings against the budget.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use grace_emulator::events::{EventKind, LifecycleEvent, Role};
use grace_emulator::logs::{LogLine, LogSource};
use grace_emulator::{Emulator, FunctionConfig, InvokeInput, Options};

use crate::function::parse_duration;
use grace_harness::check::{Lambda, Status, TimedLine, shutdown_verdicts};

/// Watch a function live through init, invokes, freeze and a graceful spin-down.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// How many invokes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) invokes: u32,
    /// How long the environment stays idle (frozen) before it is spun down.
    #[arg(long, default_value = "300ms", value_parser = parse_duration)]
    pub(crate) idle: Duration,
    /// Where to write the lifecycle timeline (SVG); default: grace-demo-timeline.svg in the
    /// system's temporary directory.
    #[arg(long, value_name = "OUT.svg")]
    pub(crate) timeline: Option<std::path::PathBuf>,
}

/// One line of the timeline.
enum Item {
    Event(LifecycleEvent),
    Log {
        time_us: u64,
        env: grace_emulator::events::EnvId,
        text: String,
        platform: bool,
    },
    Answer {
        time_us: u64,
        text: String,
    },
}

impl Item {
    fn time_us(&self) -> u64 {
        match self {
            Item::Event(e) => e.time_us,
            Item::Log { time_us, .. } | Item::Answer { time_us, .. } => *time_us,
        }
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe()?;
    let mut cfg = FunctionConfig::new(
        "demo",
        vec![exe.into_os_string(), "__function".into()],
        std::env::temp_dir(),
    );
    cfg.concurrency = 1;
    cfg.inspect_shutdown = true;
    let lambda = Lambda::from(&cfg);
    let items: Arc<Mutex<Vec<Item>>> = Arc::default();
    let (logs, events) = (Arc::clone(&items), Arc::clone(&items));
    let options = Options {
        log_sink: Arc::new(move |line: &LogLine<'_>| {
            let platform = matches!(line.source, LogSource::Platform);
            let item = Item::Log {
                time_us: now_us(),
                env: line.env,
                text: line.text.to_owned(),
                platform,
            };
            logs.lock().unwrap_or_else(|e| e.into_inner()).push(item);
        }),
        event_observer: Some(Arc::new(move |e: &LifecycleEvent| {
            events
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Item::Event(e.clone()));
        })),
        ..Options::default()
    };
    println!("grace demo: one Lambda function's life, run locally by the grace emulator.");
    println!(
        "The function is this binary in function mode, built on lambda-grace: it registers an"
    );
    println!(
        "internal extension (so SIGTERM comes before SIGKILL), flushes before every freeze, and"
    );
    println!("runs its cleanup hooks in reverse order inside the 500 ms budget.\n");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let frozen_state = rt.block_on(async {
        let emulator = Emulator::new(vec![cfg], options)?;
        let names = ["Ada", "Grace", "Linus", "Barbara", "Ken"];
        for i in 0..args.invokes as usize {
            let payload = serde_json::json!({ "name": names[i % names.len()] }).to_string();
            let out = emulator
                .invoke(InvokeInput::new("demo", payload.clone()))
                .await;
            let text = format!(
                "{payload} → {} {}",
                out.status,
                String::from_utf8_lossy(&out.body)
            );
            items
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Item::Answer {
                    time_us: now_us(),
                    text,
                });
        }
        tokio::time::sleep(args.idle).await;
        let state = emulator.environments().await.first().and_then(|e| {
            e.processes
                .first()
                .map(|p| (p.pid, grace_emulator::proc_state(p.pid)))
        });
        emulator.spin_down(None).await.map_err(anyhow::Error::msg)?;
        emulator.close().await;
        Ok::<_, anyhow::Error>(state)
    })?;
    let mut items = std::mem::take(&mut *items.lock().unwrap_or_else(|e| e.into_inner()));
    items.sort_by_key(Item::time_us);
    let verdict = print_timeline(&items);
    if let Some((pid, Some(state))) = frozen_state {
        println!(
            "\nWhile idle, the runtime (pid {pid}) was in state `{state}` in /proc: stopped, as Lambda freezes it."
        );
    }
    println!("\n{}", verdict.text);
    // The same checks as `grace check`, on what just happened.
    let events: Vec<LifecycleEvent> = items
        .iter()
        .filter_map(|i| match i {
            Item::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    let lines: Vec<TimedLine> = items
        .iter()
        .filter_map(|i| match i {
            Item::Log {
                time_us,
                platform: false,
                env,
                text,
            } => Some(TimedLine {
                time_us: *time_us,
                env: *env,
                function_output: true,
                text: text.clone(),
            }),
            _ => None,
        })
        .collect();
    let env = events.first().map(|e| e.env).unwrap_or(1);
    let checks = shutdown_verdicts(&events, env, &lines, args.invokes as usize, &lambda);
    println!("\nThe checks `grace check` runs, on this lifecycle:");
    for c in &checks {
        let tag = c.status.tag();
        println!("  {tag}  {:<38} {}", c.title, c.detail);
    }
    let pass = checks.iter().all(|c| c.status != Status::Fail);
    let path = args
        .timeline
        .unwrap_or_else(|| std::env::temp_dir().join("grace-demo-timeline.svg"));
    let svg = grace_emulator::timeline::svg(&events, "grace demo", Some((&verdict.text, pass)));
    std::fs::write(&path, svg)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    println!(
        "\nTimeline picture: {} (open it in a browser)",
        path.display()
    );
    println!(
        "\nNext: `grace serve PATH` runs your own function the same way (see `grace serve --help`)."
    );
    Ok(if verdict.clean && pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

struct Verdict {
    clean: bool,
    text: String,
}

fn print_timeline(items: &[Item]) -> Verdict {
    let t0 = items.first().map(Item::time_us).unwrap_or(0);
    let mut sigterm_at = None;
    let mut budget_ms = 0;
    let mut exit_after = None;
    let mut killed = false;
    for item in items {
        let at = (item.time_us() - t0) as f64 / 1000.0;
        let (label, text) = match item {
            Item::Log { text, platform, .. } => {
                (if *platform { "platform" } else { "  log" }, text.clone())
            }
            Item::Answer { text, .. } => ("answer", text.clone()),
            Item::Event(e) => match describe(
                e,
                &mut sigterm_at,
                &mut budget_ms,
                &mut exit_after,
                &mut killed,
            ) {
                Some(line) => line,
                None => continue,
            },
        };
        println!("{at:>9.1} ms  {label:<9} {text}");
    }
    match (sigterm_at, exit_after, killed) {
        (Some(_), Some(ms), false) => Verdict {
            clean: true,
            text: format!(
                "Verdict: clean shutdown. The runtime got SIGTERM, ran its hooks, and exited {ms:.1} ms later, \
                 {:.0}% of its {budget_ms} ms budget; no SIGKILL was needed.",
                ms * 100.0 / budget_ms.max(1) as f64
            ),
        },
        (None, _, _) => Verdict {
            clean: false,
            text: "Verdict: no SIGTERM: no extension was registered, so the runtime was SIGKILLed."
                .to_owned(),
        },
        _ => Verdict {
            clean: false,
            text: "Verdict: the runtime did not exit within its budget and was SIGKILLed."
                .to_owned(),
        },
    }
}

/// The timeline's words for one lifecycle event; `None` hides it.
fn describe(
    e: &LifecycleEvent,
    sigterm_at: &mut Option<u64>,
    budget_ms: &mut u64,
    exit_after: &mut Option<f64>,
    killed: &mut bool,
) -> Option<(&'static str, String)> {
    Some(match &e.kind {
        EventKind::InitStart { runtime_api, .. } => (
            "init",
            format!(
                "environment {} starts; its Runtime API listens on {runtime_api}",
                e.env
            ),
        ),
        EventKind::ProcessStart {
            role: Role::Runtime,
            pid,
            ..
        } => ("init", format!("runtime started (pid {pid})")),
        EventKind::ExtensionRegistered {
            name,
            external: false,
            ..
        } => (
            "init",
            format!(
                "the runtime registered internal extension `{name}`: SIGTERM will come before SIGKILL"
            ),
        ),
        EventKind::RuntimeReady => (
            "init",
            "the runtime called /next: ready for events".to_owned(),
        ),
        EventKind::InitDone { duration_ms } => {
            ("init", format!("init done in {duration_ms:.1} ms"))
        }
        EventKind::InvokeStart { request_id } => (
            "invoke",
            format!("event {request_id} handed to the runtime"),
        ),
        EventKind::InvokeEnd {
            duration_ms,
            max_memory_mb,
            ..
        } => (
            "invoke",
            format!("invocation complete: {duration_ms:.2} ms, {max_memory_mb} MB max memory"),
        ),
        EventKind::Freeze => (
            "freeze",
            "idle: every process SIGSTOPped (no timers run while frozen)".to_owned(),
        ),
        EventKind::Thaw => ("thaw", "SIGCONT: the environment runs again".to_owned()),
        EventKind::ShutdownStart {
            reason,
            budget_ms: budget,
        } => {
            *budget_ms = *budget;
            (
                "shutdown",
                format!("spin-down ({reason}): the runtime has {budget} ms after SIGTERM"),
            )
        }
        EventKind::Sigterm { pid, .. } => {
            *sigterm_at = Some(e.time_us);
            ("SIGTERM", format!("→ runtime (pid {pid})"))
        }
        EventKind::ProcessExit {
            role: Role::Runtime,
            exit,
            ..
        } => {
            let after = sigterm_at.map(|t| (e.time_us.saturating_sub(t)) as f64 / 1000.0);
            *exit_after = after;
            let when = after
                .map(|ms| format!(", {ms:.1} ms after SIGTERM"))
                .unwrap_or_default();
            ("exit", format!("runtime exited ({exit}){when}"))
        }
        EventKind::Sigkill { name, pid, .. } => {
            *killed = true;
            ("SIGKILL", format!("→ {name} (pid {pid})"))
        }
        EventKind::ShutdownDone { duration_ms, .. } => (
            "shutdown",
            format!("environment gone, {duration_ms:.1} ms after the spin-down began"),
        ),
        _ => return None,
    })
}
