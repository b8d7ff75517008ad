//! The kinds of things on the timeline: each decides its colour, its class in the SVG (and
//! category in the trace), whether it is an instant, and whether the axis may compress it.

/// What an item is; it decides the colour, the class in the SVG and the trace category.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Init,
    InitFailed,
    Invoke,
    InvokeFailed,
    Frozen,
    Shutdown,
    Budget,
    Alive,
    /// From a process's SIGTERM to its exit: the grace it used.
    Term,
    Hook,
    HookFailed,
    Handler,
    /// The runtime began its shutdown for another reason than SIGTERM (its report says which).
    Trigger,
    Sigterm,
    ShutdownEvent,
    Sigkill,
    Deadline,
    Exit,
    Timeout,
    /// Something the runtime still held at its exit or SIGKILL (a file, a child), or a
    /// connection that ended badly (closed abruptly, left open, cut, never told).
    Leftover,
    /// A connection that said goodbye after SIGTERM.
    Goodbye,
}

impl Kind {
    pub(crate) fn class(self) -> &'static str {
        match self {
            Kind::Init | Kind::InitFailed => "init",
            Kind::Invoke | Kind::InvokeFailed => "invoke",
            Kind::Frozen => "frozen",
            Kind::Shutdown => "shutdown",
            Kind::Budget => "budget-window",
            Kind::Alive => "process",
            Kind::Term => "term",
            Kind::Hook | Kind::HookFailed => "hook",
            Kind::Handler => "handler",
            Kind::Trigger => "trigger",
            Kind::Sigterm => "sigterm",
            Kind::ShutdownEvent => "shutdown-event",
            Kind::Sigkill => "sigkill",
            Kind::Deadline => "deadline",
            Kind::Exit => "exit",
            Kind::Timeout => "timeout",
            Kind::Leftover => "leftover",
            Kind::Goodbye => "goodbye",
        }
    }

    pub(crate) fn color(self) -> &'static str {
        match self {
            Kind::Init => "#818cf8",
            Kind::Invoke => "#22c55e",
            Kind::InitFailed | Kind::InvokeFailed | Kind::HookFailed => "#ef4444",
            Kind::Frozen => "#93c5fd",
            Kind::Shutdown => "#cbd5e1",
            Kind::Budget => "#fdba74",
            Kind::Alive => "#d1d5db",
            Kind::Term => "#fb923c",
            Kind::Hook => "#a855f7",
            Kind::Handler | Kind::Trigger => "#d97706",
            Kind::Sigterm => "#ea580c",
            Kind::ShutdownEvent => "#7c3aed",
            Kind::Sigkill | Kind::Deadline | Kind::Timeout => "#b91c1c",
            Kind::Exit => "#111827",
            Kind::Leftover => "#dc2626",
            Kind::Goodbye => "#16a34a",
        }
    }

    /// Marks are instants; everything else is a span.
    pub(crate) fn is_mark(self) -> bool {
        matches!(
            self,
            Kind::Sigterm
                | Kind::Trigger
                | Kind::ShutdownEvent
                | Kind::Sigkill
                | Kind::Deadline
                | Kind::Exit
                | Kind::Timeout
                | Kind::Leftover
                | Kind::Goodbye
        )
    }

    /// Spans of work (and a shutdown in progress): never drawn on a compressed stretch of the
    /// axis.
    pub(crate) fn is_work(self) -> bool {
        matches!(
            self,
            Kind::Term
                | Kind::Init
                | Kind::InitFailed
                | Kind::Invoke
                | Kind::InvokeFailed
                | Kind::Hook
                | Kind::HookFailed
                | Kind::Handler
        )
    }
}
