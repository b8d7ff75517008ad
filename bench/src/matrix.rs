//! Running the matrix: rounds × concurrencies × runtimes × system variants. Within a round the
//! variants of one (runtime, concurrency) group run back to back, their order rotated by one
//! each round so that no system always runs first (or always after the same neighbour). Each
//! cell starts its system on fresh ports, checks that it echoes, warms it up, measures, stops
//! it, and sweeps up anything left behind before the next cell starts.

use crate::error::{Result, chain};
use std::path::PathBuf;
use std::time::Duration;

use crate::cpu::{self, PerInvoke};
use crate::machine;
use crate::procs::{self, Interrupt};
use crate::report::micros;
use crate::results::{CellKey, Results, Round};
use crate::systems::{self, Paths, System};
use crate::wrk::{Sample, Wrk};

/// One measured configuration: a system and how many runtime processes serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Variant {
    pub(crate) system: System,
    /// Runtime processes: grace starts up to this many environments; cargo lambda gets this
    /// many processes from the harness; RIE always has one.
    pub(crate) runtime_procs: u32,
}

impl Variant {
    /// The variants measured at concurrency `c`, in `systems` order.
    pub(crate) fn at(systems: &[System], c: u32) -> Vec<Self> {
        let mut out = Vec::new();
        for &system in systems {
            let procs: &[u32] = match system {
                System::Grace | System::GraceFreeze | System::GraceUnpinned => &[c],
                System::CargoLambda if c > 1 => &[1, c],
                System::CargoLambda | System::Rie => &[1],
            };
            out.extend(procs.iter().map(|&runtime_procs| Self {
                system,
                runtime_procs,
            }));
        }
        out
    }

    /// Why this variant is not measured at concurrency `c`, if it is not.
    pub(crate) fn not_applicable(self, c: u32) -> Option<&'static str> {
        (self.system == System::Rie && c > 1)
            .then_some("n/a: crashes on a second concurrent invoke")
    }

    /// Label with the runtime process count where it varies.
    pub(crate) fn label(self) -> String {
        match self.system {
            System::CargoLambda => {
                let s = if self.runtime_procs == 1 { "" } else { "es" };
                format!(
                    "{} ({} runtime process{s})",
                    self.system.label(),
                    self.runtime_procs
                )
            }
            _ => self.system.label().to_owned(),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) rounds: u32,
    pub(crate) concurrencies: Vec<u32>,
    pub(crate) systems: Vec<System>,
    /// Runtime binaries (absolute paths); cells refer to them by index.
    pub(crate) runtimes: Vec<PathBuf>,
    pub(crate) warmup_s: u64,
    pub(crate) duration_s: u64,
}

/// Runs every round of `plan`; `Err` only when interrupted (a failing cell is recorded).
pub(crate) fn run(plan: &Plan, paths: &Paths, wrk: &Wrk) -> Result<Results> {
    let mut results = Results::default();
    // Declare every cell up front so the report keeps the planned order.
    for runtime in 0..plan.runtimes.len() {
        for &c in &plan.concurrencies {
            for v in Variant::at(&plan.systems, c) {
                results.declare(
                    CellKey {
                        runtime,
                        concurrency: c,
                        variant: v,
                    },
                    v.not_applicable(c),
                );
            }
        }
    }
    let per_round: usize = results
        .cells
        .iter()
        .filter(|c| c.not_applicable.is_none())
        .count();
    for round in 1..=plan.rounds {
        let mut done = 0;
        for &c in &plan.concurrencies {
            for (runtime, runtime_path) in plan.runtimes.iter().enumerate() {
                let mut group: Vec<Variant> = Variant::at(&plan.systems, c)
                    .into_iter()
                    .filter(|v| v.not_applicable(c).is_none())
                    .collect();
                if !group.is_empty() {
                    let shift = (round as usize - 1) % group.len();
                    group.rotate_left(shift);
                }
                for v in group {
                    done += 1;
                    let key = CellKey {
                        runtime,
                        concurrency: c,
                        variant: v,
                    };
                    let tag = format!(
                        "r{round}-c{c}-rt{runtime}-{:?}-{}",
                        v.system, v.runtime_procs
                    );
                    eprint!(
                        "[round {round}/{} cell {done}/{per_round}] c={c} {} … ",
                        plan.rounds,
                        v.label()
                    );
                    let load = machine::load_average();
                    let r = measure(key, runtime_path, plan, paths, wrk, &tag);
                    Interrupt::check()?;
                    let r = Round {
                        round,
                        outcome: r.0,
                        cpu: r.1,
                        notes: r.2,
                        load,
                    };
                    match &r.outcome {
                        Ok(s) => eprintln!(
                            "{:.0} invokes/s, p50 {}, p99 {}{}",
                            s.ok_rps(),
                            micros(s.p50_us),
                            micros(s.p99_us),
                            if s.errors() > 0 {
                                format!(", {} errors", s.errors())
                            } else {
                                String::new()
                            }
                        ),
                        Err(e) => eprintln!("FAILED: {e}"),
                    }
                    for n in &r.notes {
                        eprintln!("    note: {n}");
                    }
                    results.record(key, r);
                }
            }
        }
    }
    Ok(results)
}

/// One cell, one round: the measurement (or why none), CPU per invoke, and notes about stopping.
fn measure(
    key: CellKey,
    runtime: &std::path::Path,
    plan: &Plan,
    paths: &Paths,
    wrk: &Wrk,
    tag: &str,
) -> (
    std::result::Result<Sample, String>,
    Option<PerInvoke>,
    Vec<String>,
) {
    let c = key.concurrency;
    let mut notes = Vec::new();
    let mut cpu = None;
    let outcome = match systems::start(key.variant, c, runtime, paths, tag) {
        Err(e) => Err(chain(&e)),
        Ok(mut running) => {
            let measured = wrk
                .run(&running.url, c, plan.warmup_s)
                .map_err(|e| e.context("warm-up"))
                .and_then(|_| {
                    let (emulators, runtimes) = running.pids();
                    let before = cpu::snapshot(&emulators, &runtimes);
                    let sample = wrk.run(&running.url, c, plan.duration_s)?;
                    let after = cpu::snapshot(&emulators, &runtimes);
                    cpu = cpu::per_invoke(&before, &after, sample.requests);
                    Ok(sample)
                })
                .and_then(|s| {
                    running
                        .check_alive()
                        .map(|()| s)
                        .map_err(|e| e.context("during the run"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_per_concurrency() {
        let all = [
            System::Grace,
            System::GraceFreeze,
            System::CargoLambda,
            System::Rie,
        ];
        let at1 = Variant::at(&all, 1);
        assert_eq!(at1.len(), 4);
        let at4 = Variant::at(&all, 4);
        let cl: Vec<u32> = at4
            .iter()
            .filter(|v| v.system == System::CargoLambda)
            .map(|v| v.runtime_procs)
            .collect();
        assert_eq!(cl, [1, 4]);
        let rie = at4.iter().find(|v| v.system == System::Rie).unwrap();
        assert!(rie.not_applicable(4).is_some());
        assert!(rie.not_applicable(1).is_none());
    }
}
