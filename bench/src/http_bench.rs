//! `grace-bench http`: plain HTTP requests through a function URL, `grace serve` against
//! `cargo lambda watch`, both serving the same `lambda_http` binary (`http-lambda-http`, the
//! axum app of `examples/http-axum`), plus the same app on lambda-grace-http (`http-axum`) under
//! grace for reference.
//!
//! Every cell starts its system on fresh loopback ports, checks that
//! `GET /lambda-url/NAME/hello/bench` answers `Hello, bench!`, warms it up with wrk, measures
//! with `wrk --latency` GETting that URL for the duration (CPU time of the emulator and of the
//! runtime processes read from /proc around it), and stops it. Cells alternate within a round,
//! their order rotated each round; the report gives medians over rounds and the median of the
//! per-round ratios ([`crate::http_report`] writes it).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cpu::{self, PerInvoke};
use crate::error::{Error, Result, chain, unexpected};
use crate::http;
use crate::machine;
use crate::procs::{self, Interrupt};
use crate::report::micros;
use crate::systems::{self, Paths, Running};
use crate::wrk::{Sample, Wrk};

/// The path every request asks for, after `/lambda-url/NAME`.
pub(crate) const PATH: &str = "/hello/bench";

/// What the app answers to [`PATH`].
const ANSWER: &str = "Hello, bench!";

/// The function's name under grace (`grace serve --name`, set by [`systems`]).
const GRACE_NAME: &str = "echo";

/// The function's name under cargo lambda watch: its default function, the one runtimes started
/// outside it (no function name in `AWS_LAMBDA_RUNTIME_API`) poll for.
const CARGO_LAMBDA_NAME: &str = "_";

/// How long a system may take to answer its first request.
const READY_LIMIT: Duration = Duration::from_secs(30);

/// Which runtime binary a cell serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum App {
    /// `http-lambda-http`: the app on the official `lambda_http`.
    LambdaHttp,
    /// `http-axum`: the app on lambda-grace-http.
    GraceHttp,
}

impl App {
    pub(crate) fn binary(self) -> &'static str {
        match self {
            Self::LambdaHttp => "http-lambda-http",
            Self::GraceHttp => "http-axum",
        }
    }
}

/// One measured configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cell {
    /// `grace serve [--no-freeze] --concurrency C -- APP`.
    Grace { freeze: bool, app: App },
    /// `cargo lambda watch --only-lambda-apis` and `procs` runtime processes of
    /// `http-lambda-http` started by the harness.
    CargoLambda { procs: u32 },
}

impl Cell {
    /// The cells measured at concurrency `c`, in report order.
    pub(crate) fn at(c: u32) -> Vec<Self> {
        let mut out = vec![
            Self::Grace {
                freeze: false,
                app: App::LambdaHttp,
            },
            Self::Grace {
                freeze: true,
                app: App::LambdaHttp,
            },
            Self::CargoLambda { procs: 1 },
        ];
        if c > 1 {
            out.push(Self::CargoLambda { procs: c });
        }
        out.push(Self::Grace {
            freeze: false,
            app: App::GraceHttp,
        });
        out
    }

    pub(crate) fn app(self) -> App {
        match self {
            Self::Grace { app, .. } => app,
            Self::CargoLambda { .. } => App::LambdaHttp,
        }
    }

    /// `system · binary`, as the report's rows say it.
    pub(crate) fn label(self) -> String {
        let system = match self {
            Self::Grace { freeze: false, .. } => "grace serve --no-freeze".to_owned(),
            Self::Grace { freeze: true, .. } => "grace serve (freeze)".to_owned(),
            Self::CargoLambda { procs } => {
                let s = if procs == 1 { "" } else { "es" };
                format!("cargo lambda watch ({procs} runtime process{s})")
            }
        };
        format!("{system} · `{}`", self.app().binary())
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) rounds: u32,
    pub(crate) concurrencies: Vec<u32>,
    pub(crate) warmup_s: u64,
    pub(crate) duration_s: u64,
    /// Absolute paths of `http-lambda-http` and `http-axum`.
    pub(crate) lambda_http: PathBuf,
    pub(crate) grace_http: PathBuf,
}

impl Plan {
    fn binary(&self, app: App) -> &Path {
        match app {
            App::LambdaHttp => &self.lambda_http,
            App::GraceHttp => &self.grace_http,
        }
    }
}

/// One round of one cell.
#[derive(Debug, Clone)]
pub(crate) struct Round {
    /// The measurement (with no errors), or why there is none.
    pub(crate) outcome: std::result::Result<Sample, String>,
    pub(crate) cpu: Option<PerInvoke>,
    /// 1-minute load average when the cell started.
    pub(crate) load: String,
    /// What was seen besides the figures (processes under the system, stop trouble).
    pub(crate) notes: Vec<String>,
}

/// Every round of every cell of one concurrency.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) concurrency: u32,
    pub(crate) cells: Vec<Cell>,
    /// `rounds[i]`: the rounds of `cells[i]`, in order.
    pub(crate) rounds: Vec<Vec<Round>>,
}

/// Writes the wrk script that GETs the URL it is given; returns its path.
pub(crate) fn write_get_script(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("get.lua");
    fs::write(&path, "-- written by grace-bench\nwrk.method = \"GET\"\n")
        .map_err(Error::io(format!("writing {}", path.display())))?;
    Ok(path)
}

/// Runs every round of `plan`; `Err` only when interrupted (a failing cell is recorded).
pub(crate) fn run(plan: &Plan, paths: &Paths, wrk: &Wrk) -> Result<Vec<Group>> {
    let mut groups: Vec<Group> = plan
        .concurrencies
        .iter()
        .map(|&c| {
            let cells = Cell::at(c);
            Group {
                concurrency: c,
                rounds: vec![Vec::new(); cells.len()],
                cells,
            }
        })
        .collect();
    let per_round: usize = groups.iter().map(|g| g.cells.len()).sum();
    for round in 1..=plan.rounds {
        let mut done = 0;
        for g in &mut groups {
            let c = g.concurrency;
            let mut order: Vec<usize> = (0..g.cells.len()).collect();
            let shift = (round as usize - 1) % order.len();
            order.rotate_left(shift);
            for i in order {
                done += 1;
                let cell = g.cells[i];
                eprint!(
                    "[http round {round}/{} cell {done}/{per_round}] c={c} {} … ",
                    plan.rounds,
                    cell.label()
                );
                let load = machine::load_average();
                let tag = format!("http-r{round}-c{c}-{i}");
                let (outcome, cpu, notes) = measure(cell, c, plan, paths, wrk, &tag);
                Interrupt::check()?;
                match &outcome {
                    Ok(s) => eprintln!(
                        "{:.0} requests/s, p50 {}, p99 {}",
                        s.ok_rps(),
                        micros(s.p50_us),
                        micros(s.p99_us)
                    ),
                    Err(e) => eprintln!("FAILED: {e}"),
                }
                for n in &notes {
                    eprintln!("    note: {n}");
                }
                g.rounds[i].push(Round {
                    outcome,
                    cpu,
                    load,
                    notes,
                });
            }
        }
    }
    Ok(groups)
}

type Measured = (
    std::result::Result<Sample, String>,
    Option<PerInvoke>,
    Vec<String>,
);

/// One cell, one round.
fn measure(cell: Cell, c: u32, plan: &Plan, paths: &Paths, wrk: &Wrk, tag: &str) -> Measured {
    let mut notes = Vec::new();
    let mut cpu = None;
    let outcome = match start(cell, c, plan, paths, tag) {
        Err(e) => Err(chain(&e)),
        Ok((mut running, url)) => {
            let measured = wrk
                .run(&url, c, plan.warmup_s)
                .map_err(|e| e.context("warm-up"))
                .and_then(|_| {
                    let (emulators, runtimes) = running.pids();
                    let before = cpu::snapshot(&emulators, &runtimes);
                    let sample = wrk.run(&url, c, plan.duration_s)?;
                    let after = cpu::snapshot(&emulators, &runtimes);
                    cpu = cpu::per_invoke(&before, &after, sample.requests);
                    notes.push(processes_under(&emulators, &runtimes));
                    Ok(sample)
                })
                .and_then(|s| {
                    running
                        .check_alive()
                        .map(|()| s)
                        .map_err(|e| e.context("during the run"))
                })
                .and_then(|s| match s.errors() {
                    0 => Ok(s),
                    n => Err(unexpected!(
                        "{n} errors (non-2xx answers or socket errors) in {} requests",
                        s.requests
                    )),
                });
            let measured = measured.map_err(|e| format!("{}\n{}", chain(&e), running.log_tails()));
            notes.extend(running.stop());
            measured
        }
    };
    let orphans = procs::sweep_orphans();
    if !orphans.is_empty() {
        notes.push(format!(
            "left behind after stop (killed): {}",
            orphans.join(", ")
        ));
    }
    // Let sockets in TIME_WAIT and the scheduler settle before the next system starts.
    let _ = procs::sleep(Duration::from_millis(200));
    (outcome, cpu, notes)
}

/// Starts `cell` at concurrency `c`; returns it with the function URL measured, once that
/// answers.
fn start(cell: Cell, c: u32, plan: &Plan, paths: &Paths, tag: &str) -> Result<(Running, String)> {
    let binary = plan.binary(cell.app());
    let (mut running, name) = match cell {
        Cell::Grace { freeze, .. } => {
            let mut args = vec!["--concurrency".to_owned(), c.to_string()];
            if !freeze {
                args.push("--no-freeze".into());
            }
            let running = systems::start_grace_with(paths, binary, &args, tag)?;
            (running, GRACE_NAME)
        }
        Cell::CargoLambda { procs } => {
            let running =
                systems::start_cargo_lambda_command(procs, &[binary.as_os_str()], paths, tag)?;
            (running, CARGO_LAMBDA_NAME)
        }
    };
    let url = format!("{}/lambda-url/{name}{PATH}", running.base());
    if let Err(e) = wait_ready(&url).and_then(|()| running.check_alive()) {
        let tails = running.log_tails();
        let notes = running.stop();
        return Err(e.context(format!(
            "{} did not come up\n{tails}{}",
            cell.label(),
            notes.join("; ")
        )));
    }
    Ok((running, url))
}

/// GETs `url` until it answers 200 [`ANSWER`], or [`READY_LIMIT`] passes.
fn wait_ready(url: &str) -> Result<()> {
    let end = Instant::now() + READY_LIMIT;
    loop {
        let err = match http::get(url, Duration::from_secs(5)) {
            Ok(r) if r.status == 200 && r.body == ANSWER.as_bytes() => return Ok(()),
            Ok(r) => format!("HTTP {}: {}", r.status, String::from_utf8_lossy(&r.body)),
            Err(e) => chain(&e),
        };
        if Instant::now() >= end {
            return Err(unexpected!(
                "no `{ANSWER}` from {url} within {READY_LIMIT:?}: {err}"
            ));
        }
        procs::sleep(Duration::from_millis(50))?;
    }
}

/// `processes at the end: 1 emulator; under it and started here: http-lambda-htt ×16, sh ×1`:
/// what each system ran to serve the concurrency (names as /proc shows them, 15 characters).
fn processes_under(emulators: &[i32], runtimes: &[i32]) -> String {
    let table = procs::proc_table();
    let mut names: Vec<(String, usize)> = Vec::new();
    let mut count = |pid: i32| {
        if let Some(p) = table.iter().find(|p| p.pid == pid) {
            match names.iter_mut().find(|(n, _)| *n == p.comm) {
                Some((_, k)) => *k += 1,
                None => names.push((p.comm.clone(), 1)),
            }
        }
    };
    runtimes.iter().for_each(|&pid| count(pid));
    let mut queue: Vec<i32> = emulators.iter().chain(runtimes).copied().collect();
    while let Some(parent) = queue.pop() {
        for p in table.iter().filter(|p| p.ppid == parent) {
            count(p.pid);
            queue.push(p.pid);
        }
    }
    let list = names
        .iter()
        .map(|(n, k)| format!("{n} ×{k}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "processes at the end of the measurement: {} emulator; under it and started here: {list}",
        emulators.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_per_concurrency() {
        let at1 = Cell::at(1);
        assert_eq!(at1.len(), 4);
        assert!(!at1.contains(&Cell::CargoLambda { procs: 16 }));
        let at16 = Cell::at(16);
        assert_eq!(at16.len(), 5);
        assert!(at16.contains(&Cell::CargoLambda { procs: 16 }));
        assert_eq!(
            at16.iter().filter(|c| c.app() == App::LambdaHttp).count(),
            4
        );
        assert_eq!(
            Cell::CargoLambda { procs: 1 }.label(),
            "cargo lambda watch (1 runtime process) · `http-lambda-http`"
        );
    }
}
