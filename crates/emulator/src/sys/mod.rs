//! Everything that touches the operating system: process groups, signals, freezing, `/proc`
//! readings and the orphan watchdog. Linux is the reference platform (Lambda runs Linux); a port
//! to another Unix is contained in this module.

mod cpu;
mod inspect;
mod memory;
mod process;
mod sockdiag;
mod watchdog;

pub use cpu::CpuAffinity;
pub(crate) use cpu::{CpuLease, Placement};
pub(crate) use memory::MemoryMeter;
pub(crate) use process::{Exit, ProcessSpec, kill_group, settled_after_thaw, spawn};
pub(crate) use watchdog::Watchdog;

pub use inspect::Holdings;
pub(crate) use inspect::Inspector;
pub use process::{Pid, proc_state};
