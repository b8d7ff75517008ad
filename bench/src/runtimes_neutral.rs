//! The second half of `grace-bench runtimes`: each runtime under the other systems of
//! `--under` (by default the neutral emulators `cargo lambda watch` and RIE, one runtime process,
//! concurrency 1, unpinned, no freeze; grace's pinned and freeze variants can be added to measure
//! what pinning and freeze do to each client), a wrk warm-up and a wrk run, and the runtime
//! process's CPU, threads and context switches per invoke, measured as under grace
//! ([`crate::runtimes`]), so the two clients can be compared on an emulator that is not ours.

use std::fs;
use std::path::Path;

use crate::cpu;
use crate::error::{Result, chain, unexpected};
use crate::matrix::Variant;
use crate::procs;
use crate::runtimes::Plan;
use crate::systems::{self, Paths, System};
use crate::wrk::Wrk;

/// One runtime under one neutral emulator, one round: CPU per invoke, nothing else.
#[derive(Debug, Clone)]
pub(crate) struct Neutral {
    pub(crate) system: System,
    pub(crate) cpu_us: Option<f64>,
    pub(crate) emulator_cpu_us: Option<f64>,
    pub(crate) threads: Option<usize>,
    pub(crate) ctxsw_per_invoke: Option<f64>,
    pub(crate) ok_rps: f64,
    pub(crate) ok: u64,
    pub(crate) errors: u64,
    pub(crate) notes: Vec<String>,
}

impl Neutral {
    pub(crate) fn failed(system: System, note: String) -> Self {
        Self {
            system,
            cpu_us: None,
            emulator_cpu_us: None,
            threads: None,
            ctxsw_per_invoke: None,
            ok_rps: 0.0,
            ok: 0,
            errors: 0,
            notes: vec![note],
        }
    }
}

/// One runtime under a neutral emulator (1 runtime process, concurrency 1): a wrk warm-up,
/// then wrk for the duration, with the runtime process's CPU before and after.
pub(crate) fn measure(
    plan: &Plan,
    system: System,
    runtime: &Path,
    paths: &Paths,
    wrk: &Wrk,
    tag: &str,
) -> Result<Neutral> {
    let v = Variant {
        system,
        runtime_procs: 1,
    };
    let mut running = systems::start(v, 1, runtime, paths, tag)?;
    let mut n = Neutral::failed(system, String::new());
    n.notes.clear();
    let outcome = (|| -> Result<()> {
        let (emulators, harness_runtimes) = running.pids();
        // The runtime process: started by the harness (cargo lambda), or the emulator's child
        // running the runtime's binary (grace also has a watchdog shell as a child).
        let name = runtime
            .file_name()
            .map(|f| f.to_string_lossy().chars().take(15).collect::<String>())
            .unwrap_or_default();
        let pid = match harness_runtimes.first() {
            Some(&p) => p,
            None => procs::proc_table()
                .iter()
                .find(|p| emulators.contains(&p.ppid) && p.comm == name)
                .map(|p| p.pid)
                .ok_or_else(|| unexpected!("no `{name}` process under the emulator"))?,
        };
        wrk.run(&running.url, 1, plan.warmup_s)?;
        let before = cpu::snapshot(&emulators, &harness_runtimes);
        let ctx0 = ctx_switches(pid);
        let s = wrk.run(&running.url, 1, plan.duration_s)?;
        let after = cpu::snapshot(&emulators, &harness_runtimes);
        let ctx1 = ctx_switches(pid);
        n.ok = s.requests.saturating_sub(s.non_2xx);
        n.errors = s.errors();
        n.ok_rps = s.ok_rps();
        n.threads = threads(pid);
        n.ctxsw_per_invoke = per_invoke_count(ctx0, ctx1, n.ok);
        if let Some(c) = cpu::per_invoke(&before, &after, n.ok) {
            n.cpu_us = Some(c.runtime_us);
            n.emulator_cpu_us = Some(c.emulator_us);
        }
        running.check_alive()
    })();
    if let Err(e) = outcome {
        n.notes
            .push(format!("{}\n{}", chain(&e), running.log_tails()));
    }
    n.notes.extend(running.stop());
    Ok(n)
}

/// Context switches (voluntary and not) of every thread of `pid`, from /proc/PID/task/*/status.
pub(crate) fn ctx_switches(pid: i32) -> Option<u64> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for t in tasks.flatten() {
        let status = fs::read_to_string(t.path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches:"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Some(total)
}

/// Threads of `pid`.
pub(crate) fn threads(pid: i32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/task")).ok()?.count())
}

pub(crate) fn per_invoke_count(
    before: Option<u64>,
    after: Option<u64>,
    invokes: u64,
) -> Option<f64> {
    let (b, a) = (before?, after?);
    (invokes > 0).then(|| a.saturating_sub(b) as f64 / invokes as f64)
}
