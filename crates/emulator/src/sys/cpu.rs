//! Where environments run: with [`CpuAffinity::Auto`], each environment's processes are pinned
//! to as many CPUs as its memory buys on Lambda (one vCPU's worth per 1,769 MB, at least one),
//! and the emulator's own thread to one CPU, the "home" CPU that the first environment shares.
//!
//! Why: an invoke is a chain of loopback exchanges between the caller, the emulator and the
//! runtime. When the runtime and the emulator sit on different cores, each exchange is a
//! cross-core wake-up, which costs several times a same-core one (on the small virtual machines
//! this is measured on: ~15,000 vs ~60,000 exchanges/s). Lambda, for its part, allocates cores by
//! memory (AWS's table: 1 up to 1,769 MB, 2 up to 3,538 MB, … 6 at 10,240 MB; "at 1,769 MB a
//! function has the equivalent of one vCPU"), so an environment pinned to that many CPUs has no
//! less parallelism than in the cloud. With the resource model on (`FunctionConfig::resource_model`)
//! an environment gets as many CPUs as Lambda *shows* ([`lambda_cpus`]: 2 up to 3,008 MB…), since
//! its cgroup's CPU quota then keeps its CPU *time* to Lambda's (a 128 MB function gets about 7 %
//! of one CPU); without the model that cap is not applied (a whole core here).
//!
//! Environments are placed on the least loaded CPUs (ties go to the home CPU, then the CPUs after
//! it), so concurrent environments spread over the machine. Only the CPUs the emulator may use
//! (its own affinity, e.g. under `taskset` or a cpuset) are considered; with a single CPU nothing
//! is pinned.

use std::sync::{Arc, Mutex};

use nix::sched::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};
use nix::unistd::Pid;

/// Memory that buys one vCPU's worth of CPU time on Lambda.
const MB_PER_VCPU: u32 = 1769;

/// Whether environments are pinned to CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CpuAffinity {
    /// Nothing is pinned: the kernel places every process (the library's default).
    #[default]
    Off,
    /// Pin the emulator's thread and each environment (see the module documentation).
    Auto,
}

/// The CPUs environments are placed on, and how many environments each one holds.
#[derive(Debug)]
pub(crate) struct Placement {
    /// CPU numbers the emulator may use, starting with the home CPU.
    cpus: Vec<usize>,
    /// Environments placed on each of `cpus`.
    load: Mutex<Vec<u32>>,
    /// The affinity of the thread that spawns, restored after each spawn.
    home: CpuSet,
}

/// The CPUs one environment holds; dropping it frees them.
#[derive(Debug)]
pub(crate) struct CpuLease {
    placement: Arc<Placement>,
    /// Indexes into `placement.cpus`.
    slots: Vec<usize>,
    set: CpuSet,
}

impl Placement {
    /// With [`CpuAffinity::Auto`] and more than one usable CPU, pins the calling thread (the
    /// emulator's, when its runtime is single-threaded) to the CPU it is on and returns the
    /// placement; otherwise `None`, and nothing is pinned.
    pub(crate) fn new(mode: CpuAffinity, pin_caller: bool) -> Option<Arc<Self>> {
        if mode == CpuAffinity::Off {
            return None;
        }
        let allowed = sched_getaffinity(Pid::from_raw(0)).ok()?;
        let mut cpus: Vec<usize> = (0..CpuSet::count())
            .filter(|&c| allowed.is_set(c).unwrap_or(false))
            .collect();
        if cpus.len() < 2 {
            return None;
        }
        let current = sched_getcpu().ok().filter(|c| cpus.contains(c));
        if let Some(pos) = current.and_then(|c| cpus.iter().position(|&x| x == c)) {
            cpus.rotate_left(pos);
        }
        let home = if pin_caller {
            let set = set_of(&[cpus[0]]);
            if sched_setaffinity(Pid::from_raw(0), &set).is_err() {
                return None;
            }
            set
        } else {
            allowed
        };
        Some(Arc::new(Self {
            load: Mutex::new(vec![0; cpus.len()]),
            cpus,
            home,
        }))
    }

    /// Chooses the CPUs for a new environment of `memory_mb`: with `lambda_count` (the resource
    /// model, whose CPU quota keeps the CPU time Lambda's), as many as Lambda shows
    /// ([`lambda_cpus`]); else one per 1,769 MB, for speed.
    pub(crate) fn place(self: &Arc<Self>, memory_mb: u32, lambda_count: bool) -> CpuLease {
        let want = if lambda_count {
            lambda_cpus(memory_mb)
        } else {
            memory_mb.div_ceil(MB_PER_VCPU).max(1) as usize
        };
        let want = want.min(self.cpus.len());
        let mut load = self.lock();
        let mut order: Vec<usize> = (0..self.cpus.len()).collect();
        // Stable: among equally loaded CPUs the home CPU comes first, then the ones after it.
        order.sort_by_key(|&i| load[i]);
        order.truncate(want);
        for &i in &order {
            load[i] += 1;
        }
        let cpus: Vec<usize> = order.iter().map(|&i| self.cpus[i]).collect();
        CpuLease {
            placement: Arc::clone(self),
            set: set_of(&cpus),
            slots: order,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u32>> {
        self.load.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl CpuLease {
    /// The CPU numbers held.
    pub(crate) fn cpus(&self) -> Vec<usize> {
        self.slots.iter().map(|&i| self.placement.cpus[i]).collect()
    }

    /// Runs `spawn` with the calling thread's affinity set to this lease's CPUs, so that the
    /// process it starts inherits them from its first instruction (a runtime sizes its thread
    /// pools from its affinity at start-up); restores the thread's affinity afterwards.
    pub(crate) fn spawn_within<T>(&self, spawn: impl FnOnce() -> T) -> T {
        let me = Pid::from_raw(0);
        let pinned = sched_setaffinity(me, &self.set).is_ok();
        let out = spawn();
        if pinned {
            let _ = sched_setaffinity(me, &self.placement.home);
        }
        out
    }
}

impl Drop for CpuLease {
    fn drop(&mut self) {
        let mut load = self.placement.lock();
        for &i in &self.slots {
            load[i] = load[i].saturating_sub(1);
        }
    }
}

/// The CPU count a function of `memory_mb` sees on Lambda (`nproc`): 2 up to 3,008 MB, 3 up to
/// 5,307 MB, 4 up to 7,076 MB, 5 up to 8,845 MB, 6 above. Its CPU *time* is another matter: one
/// CPU's worth per 1,769 MB, which the resource model's quota gives.
pub(crate) fn lambda_cpus(memory_mb: u32) -> usize {
    match memory_mb {
        0..=3008 => 2,
        3009..=5307 => 3,
        5308..=7076 => 4,
        7077..=8845 => 5,
        _ => 6,
    }
}

fn set_of(cpus: &[usize]) -> CpuSet {
    let mut set = CpuSet::new();
    for &c in cpus {
        let _ = set.set(c);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement(n: usize) -> Arc<Placement> {
        Arc::new(Placement {
            cpus: (10..10 + n).collect(),
            load: Mutex::new(vec![0; n]),
            home: CpuSet::new(),
        })
    }

    #[test]
    fn environments_spread_from_the_home_cpu_and_free_their_cpus() {
        let p = placement(2);
        let a = p.place(128, false);
        assert_eq!(a.cpus(), [10], "the first environment shares the home CPU");
        let b = p.place(128, false);
        assert_eq!(b.cpus(), [11]);
        let c = p.place(128, false);
        assert_eq!(c.cpus(), [10]);
        drop(b);
        assert_eq!(
            p.place(128, false).cpus(),
            [11],
            "a freed CPU is the least loaded"
        );
    }

    #[test]
    fn memory_buys_cpus_up_to_what_the_machine_has() {
        let p = placement(4);
        assert_eq!(p.place(1769, false).cpus().len(), 1);
        assert_eq!(p.place(1770, false).cpus().len(), 2);
        assert_eq!(
            p.place(10_240, false).cpus().len(),
            4,
            "6 vCPUs' worth, 4 CPUs here"
        );
    }

    #[test]
    fn the_resource_model_shows_lambdas_cpu_count() {
        let p = placement(8);
        for (mb, n) in [
            (128, 2),
            (3008, 2),
            (3009, 3),
            (5307, 3),
            (7076, 4),
            (8845, 5),
        ] {
            assert_eq!(p.place(mb, true).cpus().len(), n, "{mb} MB");
        }
        assert_eq!(p.place(10_240, true).cpus().len(), 6);
        assert_eq!(placement(2).place(10_240, true).cpus().len(), 2, "capped");
    }

    #[test]
    fn off_pins_nothing() {
        let before = sched_getaffinity(Pid::from_raw(0)).unwrap();
        assert!(Placement::new(CpuAffinity::Off, true).is_none());
        let after = sched_getaffinity(Pid::from_raw(0)).unwrap();
        assert!((0..CpuSet::count()).all(|c| before.is_set(c) == after.is_set(c)));
    }
}
