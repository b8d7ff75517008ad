//! The system calls the tracer decodes, per architecture: their numbers and where the number,
//! the arguments and the return value are in a stopped thread's registers.

use nix::unistd::Pid as NixPid;

/// What a thread stopped at a system call is doing: the call's number and its first three
/// arguments (at entry), or its return value (at exit).
#[derive(Debug, Clone, Copy)]
pub(super) struct Call {
    pub(super) nr: u64,
    pub(super) args: [u64; 3],
    pub(super) ret: i64,
}

/// The calls that matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Close,
    Shutdown,
    /// `dup2`/`dup3`: the second argument is closed first.
    DupOver,
    CloseRange,
    ExitGroup,
    Exit,
    Other,
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use super::*;

    pub(in super::super) const SUPPORTED: bool = true;

    pub(in super::super) fn kind(nr: u64) -> Kind {
        match nr {
            3 => Kind::Close,
            48 => Kind::Shutdown,
            33 | 292 => Kind::DupOver,
            436 => Kind::CloseRange,
            231 => Kind::ExitGroup,
            60 => Kind::Exit,
            _ => Kind::Other,
        }
    }

    pub(in super::super) fn read(tid: NixPid) -> Option<Call> {
        let r = nix::sys::ptrace::getregs(tid).ok()?;
        Some(Call {
            nr: r.orig_rax,
            args: [r.rdi, r.rsi, r.rdx],
            ret: r.rax as i64,
        })
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    use super::*;
    use nix::sys::ptrace::regset::NT_PRSTATUS;

    pub(in super::super) const SUPPORTED: bool = true;

    pub(in super::super) fn kind(nr: u64) -> Kind {
        match nr {
            57 => Kind::Close,
            210 => Kind::Shutdown,
            24 => Kind::DupOver,
            436 => Kind::CloseRange,
            94 => Kind::ExitGroup,
            93 => Kind::Exit,
            _ => Kind::Other,
        }
    }

    pub(in super::super) fn read(tid: NixPid) -> Option<Call> {
        let r = nix::sys::ptrace::getregset::<NT_PRSTATUS>(tid).ok()?;
        Some(Call {
            nr: r.regs[8],
            args: [r.regs[0], r.regs[1], r.regs[2]],
            ret: r.regs[0] as i64,
        })
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod arch {
    use super::*;

    pub(in super::super) const SUPPORTED: bool = false;

    pub(in super::super) fn kind(_nr: u64) -> Kind {
        Kind::Other
    }

    pub(in super::super) fn read(_tid: NixPid) -> Option<Call> {
        None
    }
}

pub(super) use arch::{SUPPORTED, kind, read};

/// `close_range`'s flag that only marks descriptors close-on-exec.
pub(super) const CLOSE_RANGE_CLOEXEC: u64 = 4;
/// `shutdown`'s `how` that only stops reading (nothing is sent).
pub(super) const SHUT_RD: u64 = 0;
