//! Everything that touches the operating system: process groups, signals, freezing, `/proc`
//! readings, the orphan watchdog and the cgroups of the resource model. Linux is the reference platform (Lambda runs Linux); a port
//! to another Unix is contained in this module.

mod cgroup;
mod cpu;
mod inspect;
mod memory;
mod observe;
mod process;
mod sockdiag;
mod watchdog;

pub use cgroup::{CgroupVersion, ResourceSupport, support as resource_support};
pub(crate) use cgroup::{EnvCgroup, parent as cgroup_parent};
pub use cpu::CpuAffinity;
pub(crate) use cpu::{CpuLease, Placement};
pub(crate) use memory::MemoryMeter;
pub(crate) use process::{Exit, ProcessSpec, Thawed, kill_group, spawn};
pub(crate) use watchdog::Watchdog;

pub use inspect::Holdings;
pub(crate) use inspect::Inspector;
pub use observe::{ConnectionFate, Fate};
pub(crate) use observe::{Observation, ShutdownObserver, never_told};
pub use process::{Pid, proc_state};
