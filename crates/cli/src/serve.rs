//! `grace serve`: run functions under the emulator behind an AWS-compatible Invoke API.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;
use grace_emulator::events::{LifecycleEvent, Observer};
use grace_emulator::{CpuAffinity, Emulator, HttpFront, InvokeMode, Options};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

use crate::function::{FunctionArgs, parse_duration};
use crate::log_out::BatchedStdout;

/// Run functions locally behind an AWS-compatible Invoke API.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  grace serve target/lambda/my-fn                      # a cargo lambda build output
  grace serve ./bootstrap --name echo --timeout 10s
  grace serve --name py --dir app -- python -m awslambdaric app.handler
  grace serve --runtime nodejs20.x --handler app.handler ./fn   # Node.js, under aws-lambda-ric
  grace serve --function a=./a --function b=./b --concurrency 4 --idle-shutdown 30s
  grace serve --template template.yaml --parameter Stage=dev   # AWS SAM functions

With --template, the template's values win and the other options fill in what it leaves unset;
--env overrides its variables, --layer adds layers, PATH/CMD/--function add functions. What it
cannot emulate is named in `grace: warning:` lines.

Then: curl -d '{}' http://127.0.0.1:9001/2015-03-31/functions/NAME/invocations
  or: aws lambda invoke --endpoint-url http://127.0.0.1:9001 --function-name NAME out.json
  or: curl http://127.0.0.1:9001/lambda-url/NAME/any/path?q=1   # its function URL
  or, with --api 127.0.0.1:3000: curl http://127.0.0.1:3000/ROUTE   # a template's Api/HttpApi events")]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) function: FunctionArgs,
    /// Address of the Invoke API.
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub(crate) listen: SocketAddr,
    /// Serve the template's `Api` and `HttpApi` event routes on this address too (as `sam local
    /// start-api`, paths without the stage), on the same warm environments.
    #[arg(long, value_name = "ADDR")]
    pub(crate) api: Option<SocketAddr>,
    /// Stream NAME's function URL answers (`FunctionUrlConfig.InvokeMode: RESPONSE_STREAM` for a
    /// function not from a template) (repeatable).
    #[arg(long = "response-stream", value_name = "NAME")]
    pub(crate) response_stream: Vec<String>,
    /// Spin an environment down after it has been idle this long (Lambda: minutes).
    #[arg(long, value_parser = parse_duration)]
    pub(crate) idle_shutdown: Option<Duration>,
    /// Most environments per function; invokes beyond get 429.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub(crate) concurrency: u32,
    /// Do not freeze idle environments (cgroup freezer under the resource model, else SIGSTOP).
    #[arg(long)]
    pub(crate) no_freeze: bool,
    /// Print every lifecycle event (init, invoke, freeze, SIGTERM, SHUTDOWN, SIGKILL…) to stderr.
    #[arg(long)]
    pub(crate) events: bool,
    /// Wait before retrying a failed asynchronous (Event) invoke (Lambda: 1m, then 2m).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub(crate) async_retry_delay: Duration,
    /// Worker threads of the emulator (1 keeps every hand-off on one core: fastest on small
    /// machines).
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// Where environments run: `auto` pins each one to as many CPUs as Lambda allocates cores for
    /// its memory (one per 1,769 MB), the least loaded first and the first environment next to
    /// the emulator's own thread, so that an invoke's loopback exchanges stay on one core; `off`
    /// leaves placement to the kernel (and lets the function see every CPU).
    #[arg(long, value_enum, default_value_t = Affinity::Auto)]
    pub(crate) cpu_affinity: Affinity,
    /// Reload a function when its sources change: a Rust function (PATH a Cargo project, or a
    /// project's target/{debug,release}/BIN or target/lambda/BIN) is rebuilt first, any other
    /// is its directory; the old environments are retired through SIGTERM → SHUTDOWN → SIGKILL.
    #[arg(long)]
    pub(crate) watch: bool,
}

/// `--cpu-affinity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Affinity {
    Auto,
    Off,
}

pub(crate) fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let runtime = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    // Before anything else: from here on a SIGINT or SIGTERM is queued for the shutdown below,
    // not the default action that would end the process mid-start.
    let mut signals = {
        let _entered = runtime.enter();
        Signals::listen()?
    };
    install_subscriber(std::env::var("RUST_LOG").ok().as_deref());
    let watch = args
        .watch
        .then(|| crate::watch::prepare(&mut args.function))
        .transpose()?;
    let mut configs = args.function.configs_warned()?;
    let resource_model = args.function.resource_model_notice();
    for cfg in &mut configs {
        cfg.idle_shutdown = args.idle_shutdown;
        cfg.concurrency = args.concurrency as usize;
        cfg.freeze = !args.no_freeze;
        cfg.async_retry_delay = args.async_retry_delay;
    }
    let names: Vec<String> = configs.iter().map(|c| c.name.clone()).collect();
    let front = http_front(&args, &names)?;
    let watch = watch.map(|w| w.adopt(&mut configs)).transpose()?;
    let stdout = Arc::new(BatchedStdout::default());
    let flushed = Arc::clone(&stdout);
    let code = runtime.block_on(async move {
        tokio::spawn(Arc::clone(&stdout).run());
        let flush_before_stop = Arc::clone(&stdout);
        let options = Options {
            log_sink: stdout.sink(names.len() > 1),
            event_observer: args.events.then(stderr_events),
            cpu_affinity: match args.cpu_affinity {
                Affinity::Auto => CpuAffinity::Auto,
                Affinity::Off => CpuAffinity::Off,
            },
            ..Options::default()
        };
        let emulator = Emulator::new(configs, options)?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let addr = listener.local_addr()?;
        eprintln!("grace serve: {resource_model}");
        eprintln!("grace serve: listening on http://{addr} (functions: {})", names.join(", "));
        eprintln!("grace serve: function URLs at http://{addr}/lambda-url/NAME/");
        let api = match args.api {
            Some(api) => {
                let listener = tokio::net::TcpListener::bind(api)
                    .await
                    .with_context(|| format!("cannot listen on {api} (--api)"))?;
                let routes = front.routes.len();
                eprintln!("grace serve: API on http://{} ({routes} routes)", listener.local_addr()?);
                Some(listener)
            }
            None => None,
        };
        let shutdown = CancellationToken::new();
        let serving = tokio::spawn({
            let emulator = emulator.clone();
            let shutdown = shutdown.clone();
            async move { emulator.serve_http(listener, api, front, shutdown).await }
        });
        if let Some(watch) = watch {
            tokio::spawn(watch.run(emulator.clone(), shutdown.clone()));
        }
        signals.next().await;
        eprintln!("grace serve: shutting down (finishing invocations in flight, then spinning environments down; signal again to kill at once)");
        shutdown.cancel();
        tokio::select! {
            report = serving => {
                flush_before_stop.flush();
                if let Ok(report) = report {
                    for what in &report.still_running {
                        eprintln!("grace serve: still running when the close limit ran out (killed): {what}");
                    }
                }
                eprintln!("grace serve: stopped");
                Ok(ExitCode::SUCCESS)
            }
            code = signals.next() => Ok(code),
        }
    });
    // Whatever the last turn left, before the process ends (on every path out, errors too).
    flushed.flush();
    code
}

/// The HTTP front: a template's routes and function URL modes, and `--response-stream`.
fn http_front(args: &Args, names: &[String]) -> anyhow::Result<HttpFront> {
    let mut front = match &args.function.template {
        Some(template) => {
            let parameters = args.function.settings()?.parameters;
            let mut warnings = Vec::new();
            let front =
                grace_harness::template::http_front(template, &parameters, names, &mut warnings);
            for w in &warnings {
                eprintln!("grace: warning: {w}");
            }
            front?
        }
        None => HttpFront::default(),
    };
    for name in &args.response_stream {
        if !names.contains(name) {
            anyhow::bail!("--response-stream {name}: no such function");
        }
        front
            .invoke_modes
            .insert(name.clone(), InvokeMode::ResponseStream);
    }
    Ok(front)
}

/// SIGINT and SIGTERM, listened for from the start.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    /// Must be called inside the runtime.
    fn listen() -> anyhow::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
        })
    }

    /// The next signal, as the exit code a shell gives a process it ended (130, 143).
    async fn next(&mut self) -> ExitCode {
        tokio::select! {
            _ = self.interrupt.recv() => ExitCode::from(130),
            _ = self.terminate.recv() => ExitCode::from(143),
        }
    }
}

/// Diagnostics (the emulator's warnings, and more with `RUST_LOG`) on stderr; warnings and
/// errors only by default. An invalid `RUST_LOG` is said once and the default used.
fn install_subscriber(rust_log: Option<&str>) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = match rust_log.filter(|v| !v.is_empty()) {
        Some(directives) => EnvFilter::try_new(directives).unwrap_or_else(|e| {
            eprintln!("grace: warning: RUST_LOG `{directives}`: {e}; using `warn`");
            EnvFilter::new("warn")
        }),
        None => EnvFilter::new("warn"),
    };
    // Another subscriber already set (cannot happen in `grace`) is not worth failing for.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// `--events`: one line per lifecycle event on stderr.
fn stderr_events() -> Observer {
    Arc::new(|event: &LifecycleEvent| {
        let time = UNIX_EPOCH + Duration::from_micros(event.time_us);
        let mut fields = serde_json::to_value(event).unwrap_or_default();
        let kind = fields
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("?")
            .to_owned();
        let mut details = String::new();
        if let Some(obj) = fields.as_object_mut() {
            for key in ["seq", "time_us", "function", "env", "type"] {
                obj.remove(key);
            }
            for (k, v) in obj.iter() {
                let v = v
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string());
                details.push_str(&format!(" {k}={v}"));
            }
        }
        eprintln!(
            "[event] {} {}#{} {kind}{details}",
            humantime::format_rfc3339_millis(time),
            event.function,
            event.env
        );
    })
}
