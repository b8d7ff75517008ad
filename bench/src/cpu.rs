//! CPU time per invoke, from /proc: how much processor time the emulator's processes and the
//! runtime processes used during a measurement, divided by the invokes served. Unlike
//! throughput, this figure barely moves when other work shares the machine, so it is the
//! steadier comparison on a busy host.
//!
//! "Emulator" is the system's own process(es); "runtime" is every runtime process, whether the
//! emulator started it (its descendants) or the harness did (cargo lambda watch). Processes that
//! start or exit inside the window are not counted (environments start during the warm-up).

use std::collections::HashMap;

use crate::procs::{ProcStat, proc_table};

/// Clock ticks per second of /proc's utime and stime (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU ticks used so far, per process, split by role.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    emulator: HashMap<i32, u64>,
    runtime: HashMap<i32, u64>,
}

/// Microseconds of CPU per invoke.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PerInvoke {
    pub(crate) emulator_us: f64,
    pub(crate) runtime_us: f64,
}

/// Reads the CPU time of `emulators`, of `runtimes`, and of all their descendants (counted as
/// runtime).
pub(crate) fn snapshot(emulators: &[i32], runtimes: &[i32]) -> Snapshot {
    split(&proc_table(), emulators, runtimes)
}

fn split(table: &[ProcStat], emulators: &[i32], runtimes: &[i32]) -> Snapshot {
    let mut snap = Snapshot::default();
    let ticks = |pid: i32| table.iter().find(|p| p.pid == pid).map(|p| p.cpu_ticks);
    for &pid in emulators {
        if let Some(t) = ticks(pid) {
            snap.emulator.insert(pid, t);
        }
    }
    let mut queue: Vec<i32> = emulators.iter().chain(runtimes).copied().collect();
    for &pid in runtimes {
        if let Some(t) = ticks(pid) {
            snap.runtime.insert(pid, t);
        }
    }
    while let Some(parent) = queue.pop() {
        for child in table.iter().filter(|p| p.ppid == parent) {
            if snap.runtime.insert(child.pid, child.cpu_ticks).is_none() {
                queue.push(child.pid);
            }
        }
    }
    snap
}

/// CPU per invoke between two snapshots, over `requests` invokes (processes present in both).
pub(crate) fn per_invoke(before: &Snapshot, after: &Snapshot, requests: u64) -> Option<PerInvoke> {
    if requests == 0 {
        return None;
    }
    let used = |b: &HashMap<i32, u64>, a: &HashMap<i32, u64>| -> u64 {
        a.iter()
            .filter_map(|(pid, t)| b.get(pid).map(|bt| t.saturating_sub(*bt)))
            .sum()
    };
    let us = |ticks: u64| ticks as f64 / TICKS_PER_SECOND * 1e6 / requests as f64;
    Some(PerInvoke {
        emulator_us: us(used(&before.emulator, &after.emulator)),
        runtime_us: us(used(&before.runtime, &after.runtime)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, cpu_ticks: u64) -> ProcStat {
        ProcStat {
            pid,
            comm: String::new(),
            state: 'S',
            ppid,
            cpu_ticks,
        }
    }

    #[test]
    fn roles_and_rates() {
        // 10 = emulator, 11 its runtime child, 12 a grandchild, 20 a harness-started runtime.
        let before = split(
            &[
                p(10, 1, 100),
                p(11, 10, 50),
                p(12, 11, 5),
                p(20, 1, 0),
                p(30, 1, 9),
            ],
            &[10],
            &[20],
        );
        let after = split(
            &[
                p(10, 1, 300),
                p(11, 10, 150),
                p(12, 11, 5),
                p(20, 1, 100),
                p(30, 1, 99),
            ],
            &[10],
            &[20],
        );
        // 200 ticks = 2 s over 10,000 invokes = 200 µs; runtime 100 + 0 + 100 ticks = 200 µs.
        let r = per_invoke(&before, &after, 10_000).unwrap();
        assert_eq!(
            r,
            PerInvoke {
                emulator_us: 200.0,
                runtime_us: 200.0
            }
        );
        assert_eq!(per_invoke(&before, &after, 0), None);
    }
}
