//! `grace-bench runtimes`: two runtime clients serving the same echo function under the same
//! emulator, in one run, alternating A B, B A, …: under `grace serve --no-freeze --cpu-affinity
//! off --concurrency 1` (cold starts, CPU, RSS), then under each neutral emulator (`cargo lambda
//! watch`, RIE: CPU per invoke only, with the same warm-up and wrk run), so the CPU ratio can be
//! checked on an emulator that is not ours.
//!
//! Per round and runtime, on a fresh `grace serve`:
//! 1. **Spawn → first /next**: K cold starts (`POST /grace/v1/shutdown`, then an invoke); from
//!    `GET /grace/v1/events`, `runtime_ready.time_us − process_start.time_us` (role `runtime`) of
//!    each of those environments.
//! 2. **CPU per invoke**: on the environment left by the last cold start, a wrk warm-up, then wrk
//!    at concurrency 1 for D seconds; the runtime process's utime + stime (/proc/PID/stat)
//!    before and after, divided by the 2xx responses.
//! 3. **Peak RSS**: VmHWM of that runtime process (/proc/PID/status) before the warm-up (after
//!    one invoke: equal work) and after the wrk run (its growth per invoke: both clients'
//!    RSS grows with the invokes served, so the figure after a timed run is not equal work).
//!
//! The stripped binary size is the file's size. The report is [`crate::runtimes_report`].

use crate::error::{Error, Result, chain, unexpected};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::cpu;
use crate::http;
use crate::matrix::Variant;
use crate::procs;
use crate::results::median;
use crate::runtimes_neutral::{self, Neutral, ctx_switches, per_invoke_count, threads};
use crate::systems::{self, Paths, System};
use crate::wrk::Wrk;

/// The two runtimes compared: label, binary under the repository root, client crate (for its
/// version in Cargo.lock), and the package that builds it. The first is ours.
pub(crate) const PAIR: [(&str, &str, &str, &str); 2] = [
    (
        "echo",
        "target/release/echo",
        "lambda-grace",
        "example-echo",
    ),
    (
        "lr-echo",
        "target/release/lr-echo",
        "lambda_runtime",
        "grace-peer-fixtures",
    ),
];

/// What one round measured for one runtime.
#[derive(Debug, Clone, Default)]
pub(crate) struct Round {
    /// Spawn → first /next of each cold start, microseconds.
    pub(crate) ready_us: Vec<f64>,
    /// Runtime CPU per 2xx invoke, microseconds.
    pub(crate) cpu_us: Option<f64>,
    /// The emulator's CPU per invoke over the same window, microseconds (for context).
    pub(crate) emulator_cpu_us: Option<f64>,
    /// VmHWM of the runtime process after the wrk run, kB.
    pub(crate) hwm_kb: Option<u64>,
    /// VmHWM of the same process before the warm-up (after its one cold-start invoke), kB.
    pub(crate) hwm_start_kb: Option<u64>,
    /// 2xx invokes per second in the wrk run.
    pub(crate) ok_rps: f64,
    /// 2xx responses in the wrk run.
    pub(crate) ok: u64,
    /// 2xx responses since `hwm_start_kb` (warm-up and wrk run).
    pub(crate) total_ok: u64,
    /// Errors (non-2xx, socket errors) in the wrk run.
    pub(crate) errors: u64,
    /// Threads of the runtime process and its context switches (all threads, voluntary and
    /// not) per 2xx invoke over the wrk run: what a multi-thread scheduler costs.
    pub(crate) threads: Option<usize>,
    pub(crate) ctxsw_per_invoke: Option<f64>,
    /// The same runtime's CPU per invoke under each neutral emulator, this round.
    pub(crate) neutral: Vec<Neutral>,
    /// What went wrong, if anything.
    pub(crate) notes: Vec<String>,
}

/// One runtime's rounds.
#[derive(Debug, Clone)]
pub(crate) struct Runtime {
    pub(crate) label: String,
    pub(crate) path: PathBuf,
    /// e.g. `lambda_runtime 1.5.0`.
    pub(crate) client: String,
    pub(crate) size_bytes: u64,
    pub(crate) rounds: Vec<Round>,
    /// Instructions per invoke counted by callgrind (see [`crate::instructions`]), or why not:
    /// under grace, and under cargo lambda watch.
    pub(crate) instructions: Result<f64, String>,
    pub(crate) instructions_neutral: Result<f64, String>,
}

impl Runtime {
    /// Median of the per-round figure `f` (rounds without it are skipped).
    pub(crate) fn median_of(&self, f: impl Fn(&Round) -> Option<f64>) -> Option<f64> {
        median(self.rounds.iter().filter_map(f).collect())
    }

    /// Median over every cold start of every round, microseconds.
    pub(crate) fn ready_median_us(&self) -> Option<f64> {
        median(
            self.rounds
                .iter()
                .flat_map(|r| r.ready_us.iter().copied())
                .collect(),
        )
    }
}

/// How the comparison runs.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) rounds: u32,
    pub(crate) cold_starts: u32,
    pub(crate) warmup_s: u64,
    pub(crate) duration_s: u64,
    /// Emulators measured besides grace (CPU per invoke only).
    pub(crate) neutral: Vec<System>,
    /// Whether to count instructions with callgrind.
    pub(crate) callgrind: bool,
}

/// The runtimes of [`PAIR`], checked to exist, with their client versions from `lock`.
pub(crate) fn pair(lock: &str) -> Result<Vec<Runtime>> {
    PAIR.iter()
        .map(|(label, path, krate, package)| {
            let hint = format!("cargo build --release --locked -p {package}");
            let abs = crate::setup::existing(Path::new(path), label, &hint)?;
            let size_bytes = fs::metadata(&abs)
                .map_err(Error::io(format!("reading the size of {path}")))?
                .len();
            let client = match crate::machine::locked_version(lock, krate) {
                Some(v) => format!("{krate} {v}"),
                None => (*krate).to_owned(),
            };
            Ok(Runtime {
                label: (*label).to_owned(),
                path: abs,
                client,
                size_bytes,
                rounds: Vec::new(),
                instructions: Err("not measured".into()),
                instructions_neutral: Err("not measured".into()),
            })
        })
        .collect()
}

/// Counts each runtime's instructions per invoke with callgrind (once: the count is steady),
/// under grace and, when `neutral` is set, under cargo lambda watch.
pub(crate) fn count_instructions(runtimes: &mut [Runtime], paths: &Paths, neutral: bool) {
    let Some(valgrind) = crate::instructions::valgrind() else {
        for rt in runtimes {
            rt.instructions = Err("valgrind not found".into());
            rt.instructions_neutral = Err("valgrind not found".into());
        }
        return;
    };
    let mut unders = vec![System::GraceUnpinned];
    if neutral {
        unders.push(System::CargoLambda);
    }
    for rt in runtimes {
        for &under in &unders {
            eprint!(
                "grace-bench: callgrind: {} under {} … ",
                rt.label,
                under.label()
            );
            let n = crate::instructions::per_invoke(paths, &valgrind, &rt.path, &rt.label, under)
                .map_err(|e| chain(&e));
            match &n {
                Ok(n) => eprintln!("{n:.0} instructions per invoke"),
                Err(e) => eprintln!("failed: {e}"),
            }
            if under == System::CargoLambda {
                rt.instructions_neutral = n;
            } else {
                rt.instructions = n;
            }
        }
    }
}

/// Runs every round, alternating the runtimes (order reversed every other round).
pub(crate) fn run(plan: &Plan, runtimes: &mut [Runtime], paths: &Paths, wrk: &Wrk) -> Result<()> {
    for round in 1..=plan.rounds {
        let mut order: Vec<usize> = (0..runtimes.len()).collect();
        if round % 2 == 0 {
            order.reverse();
        }
        for i in order {
            let rt = &mut runtimes[i];
            eprint!(
                "grace-bench: round {round}/{}: {} … ",
                plan.rounds, rt.label
            );
            let tag = format!("r{round}-{}", rt.label);
            let r = measure(plan, &rt.path, paths, wrk, &tag);
            procs::Interrupt::check()?;
            let mut r = r.unwrap_or_else(|e| Round {
                notes: vec![chain(&e)],
                ..Round::default()
            });
            for o in procs::sweep_orphans() {
                r.notes.push(format!("left behind and killed: {o}"));
            }
            eprintln!(
                "first /next {} ms, CPU {} µs/invoke, VmHWM {} kB, {:.0} invokes/s{}",
                median(r.ready_us.clone()).map_or("?".into(), |v| format!("{:.2}", v / 1e3)),
                r.cpu_us.map_or("?".into(), |v| format!("{v:.1}")),
                r.hwm_kb.map_or("?".into(), |v| v.to_string()),
                r.ok_rps,
                if r.notes.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.notes.join("; "))
                }
            );
            rt.rounds.push(r);
        }
        // Then each neutral emulator, the two runtimes back to back (same order as above).
        for &system in &plan.neutral {
            let mut order: Vec<usize> = (0..runtimes.len()).collect();
            if round % 2 == 0 {
                order.reverse();
            }
            for i in order {
                let rt = &mut runtimes[i];
                eprint!(
                    "grace-bench: round {round}/{}: {} under {} … ",
                    plan.rounds,
                    rt.label,
                    system.label()
                );
                let tag = format!("r{round}-{}-{system:?}", rt.label);
                let n = runtimes_neutral::measure(plan, system, &rt.path, paths, wrk, &tag);
                procs::Interrupt::check()?;
                let mut n = n.unwrap_or_else(|e| Neutral::failed(system, chain(&e)));
                for o in procs::sweep_orphans() {
                    n.notes.push(format!("left behind and killed: {o}"));
                }
                eprintln!(
                    "CPU {} µs/invoke ({} threads, {} context switches/invoke), {:.0} invokes/s{}",
                    n.cpu_us.map_or("?".into(), |v| format!("{v:.1}")),
                    n.threads.map_or("?".into(), |v| v.to_string()),
                    n.ctxsw_per_invoke.map_or("?".into(), |v| format!("{v:.1}")),
                    n.ok_rps,
                    if n.notes.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", n.notes.join("; "))
                    }
                );
                if let Some(r) = rt.rounds.last_mut() {
                    r.neutral.push(n);
                }
            }
        }
    }
    Ok(())
}

/// One round of one runtime on a fresh `grace serve` (always stopped before returning).
fn measure(plan: &Plan, runtime: &Path, paths: &Paths, wrk: &Wrk, tag: &str) -> Result<Round> {
    // Unpinned: each client sees every CPU, as on Lambda (two vCPUs below 3 GB), and sizes its
    // thread pools from them.
    let v = Variant {
        system: System::GraceUnpinned,
        runtime_procs: 1,
    };
    let mut running = systems::start(v, 1, runtime, paths, tag)?;
    let mut round = Round::default();
    let outcome = measure_on(plan, &running.url, running.pids().0, wrk, &mut round)
        .and_then(|()| running.check_alive());
    if let Err(e) = outcome {
        round
            .notes
            .push(format!("{}\n{}", chain(&e), running.log_tails()));
    }
    round.notes.extend(running.stop());
    Ok(round)
}

fn measure_on(
    plan: &Plan,
    url: &str,
    emulator: Vec<i32>,
    wrk: &Wrk,
    round: &mut Round,
) -> Result<()> {
    let base = url
        .split("/2015-03-31/")
        .next()
        .ok_or("no base URL")?
        .to_owned();
    let t = Duration::from_secs(10);
    let mut envs = Vec::new();
    for _ in 0..plan.cold_starts {
        let r = http::post(&format!("{base}/grace/v1/shutdown"), "", t)?;
        if r.status != 200 {
            return Err(unexpected!("POST /grace/v1/shutdown: HTTP {}", r.status));
        }
        http::wait_echo(url, Duration::from_secs(30))?;
        envs.push(current_env(&base)?.0);
        procs::Interrupt::check()?;
    }
    let events = get_json(&format!("{base}/grace/v1/events"))?;
    round.ready_us = ready_times(&events, &envs)?;

    let (_, pid) = current_env(&base)?;
    round.hwm_start_kb = vm_hwm_kb(pid);
    let warm = wrk.run(url, 1, plan.warmup_s)?;
    let before = cpu::snapshot(&emulator, &[pid]);
    let ctx0 = ctx_switches(pid);
    let s = wrk.run(url, 1, plan.duration_s)?;
    let after = cpu::snapshot(&emulator, &[pid]);
    let ctx1 = ctx_switches(pid);
    round.threads = threads(pid);
    round.hwm_kb = vm_hwm_kb(pid);
    let (_, pid_after) = current_env(&base)?;
    if pid_after != pid {
        round
            .notes
            .push(format!("runtime pid changed {pid} → {pid_after}"));
    }
    round.ok = s.requests.saturating_sub(s.non_2xx);
    round.total_ok = round.ok + warm.requests.saturating_sub(warm.non_2xx);
    round.errors = s.errors();
    round.ok_rps = s.ok_rps();
    round.ctxsw_per_invoke = per_invoke_count(ctx0, ctx1, round.ok);
    if let Some(c) = cpu::per_invoke(&before, &after, round.ok) {
        round.cpu_us = Some(c.runtime_us);
        round.emulator_cpu_us = Some(c.emulator_us);
    }
    Ok(())
}

pub(crate) fn get_json(url: &str) -> Result<Value> {
    let r = http::get(url, Duration::from_secs(10))?;
    if r.status != 200 {
        return Err(unexpected!("GET {url}: HTTP {}", r.status));
    }
    serde_json::from_slice(&r.body).map_err(|source| Error::Json {
        context: format!("GET {url}"),
        source,
    })
}

/// The single environment's id and runtime pid, from `GET /grace/v1/environments`.
pub(crate) fn current_env(base: &str) -> Result<(u64, i32)> {
    let envs = get_json(&format!("{base}/grace/v1/environments"))?;
    let list = envs.as_array().ok_or("environments: not a list")?;
    let [env] = list.as_slice() else {
        return Err(unexpected!("expected 1 environment, got {}", list.len()));
    };
    let id = env["id"].as_u64().ok_or("environment without id")?;
    let pid = env["processes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["role"] == "runtime")
        .and_then(|p| p["pid"].as_i64())
        .ok_or("environment without a runtime pid")?;
    Ok((id, i32::try_from(pid).map_err(|e| e.to_string())?))
}

/// `runtime_ready − process_start` (role runtime) of each environment in `envs`, microseconds.
pub(crate) fn ready_times(events: &Value, envs: &[u64]) -> Result<Vec<f64>> {
    let list = events.as_array().ok_or("events: not a list")?;
    let time_of = |env: u64, kind: &str| {
        list.iter()
            .find(|e| {
                e["env"].as_u64() == Some(env)
                    && e["type"] == kind
                    && (kind != "process_start" || e["role"] == "runtime")
            })
            .and_then(|e| e["time_us"].as_i64())
    };
    envs.iter()
        .map(
            |&env| match (time_of(env, "process_start"), time_of(env, "runtime_ready")) {
                (Some(s), Some(r)) => Ok((r - s) as f64),
                _ => Err(unexpected!(
                    "events of environment {env}: no process_start/runtime_ready"
                )),
            },
        )
        .collect()
}

/// `VmHWM` of `pid` in kB, from /proc/PID/status.
fn vm_hwm_kb(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_hwm(&status)
}

fn parse_hwm(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_from_events() {
        let events: Value = serde_json::from_str(
            r#"[{"env":1,"type":"process_start","role":"runtime","time_us":100},
                {"env":1,"type":"runtime_ready","time_us":2600},
                {"env":2,"type":"process_start","role":"extension","time_us":3000},
                {"env":2,"type":"process_start","role":"runtime","time_us":3100},
                {"env":2,"type":"runtime_ready","time_us":4100}]"#,
        )
        .unwrap();
        assert_eq!(ready_times(&events, &[1, 2]).unwrap(), vec![2500.0, 1000.0]);
        assert!(ready_times(&events, &[3]).is_err());
    }

    #[test]
    fn hwm() {
        let s = "Name:\techo\nVmPeak:\t  10 kB\nVmHWM:\t    2900 kB\nVmRSS:\t 2800 kB\n";
        assert_eq!(parse_hwm(s), Some(2900));
        assert_eq!(parse_hwm("Name:\tx\n"), None);
    }
}
