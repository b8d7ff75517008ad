//! The resource model's part of an environment's driver (`sys::cgroup`): the cgroup its
//! processes start in, freezing through the cgroup freezer, Max Memory Used, the out-of-memory
//! kill, and the kill of whatever is left once the environment is dead.

use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::config::FunctionConfig;
use crate::events::EnvId;
use crate::sys::{self, EnvCgroup, Exit, Pid, ProcessSpec};

/// One environment's cgroup, as its driver uses it.
#[derive(Debug)]
pub(super) struct Resources {
    env: EnvId,
    cgroup: Arc<EnvCgroup>,
    /// Frozen through the cgroup freezer (rather than SIGSTOP).
    frozen: bool,
}

impl Resources {
    /// The cgroup of a new environment, or `None` (logged) when the model is off or cannot
    /// apply here.
    pub(super) fn new(env: EnvId, cfg: &FunctionConfig) -> Option<Self> {
        if !cfg.resource_model {
            return None;
        }
        let parent = match sys::cgroup_parent(cfg.cgroup_root.as_deref()) {
            Ok(parent) => parent,
            Err(why) => {
                tracing::debug!(env, %why, "resource model off: no writable cgroup");
                return None;
            }
        };
        match parent.create(env, cfg.memory_mb) {
            Ok(cgroup) => Some(Self {
                env,
                cgroup: Arc::new(cgroup),
                frozen: false,
            }),
            Err(e) => {
                tracing::warn!(env, error = %e, "cannot create the environment's cgroup; running it without the resource model");
                None
            }
        }
    }

    /// Lifts the CPU quota before the final reading of a runtime that is about to be
    /// SIGKILLed: stopping it for the reading must not wait for its next quota period.
    pub(super) fn unthrottle(&self) {
        if let Err(e) = self.cgroup.unthrottle() {
            tracing::debug!(env = self.env, error = %e, "cannot lift the CPU quota");
        }
    }

    /// `spec`, started so that the process joins the cgroup first.
    pub(super) fn wrap(&self, spec: &ProcessSpec) -> std::io::Result<ProcessSpec> {
        self.cgroup.wrap(spec)
    }

    /// Max Memory Used, in MB (rounded up), if the cgroup can say.
    pub(super) fn max_memory_mb(&self) -> Option<u64> {
        self.cgroup
            .peak_bytes()
            .map(|bytes| bytes.div_ceil(1024 * 1024))
    }

    /// What tells a process's exit watcher whether an exit was an out-of-memory kill.
    pub(super) fn oom_probe(&self) -> OomProbe {
        OomProbe(Arc::clone(&self.cgroup))
    }

    /// Carries out a signal effect where the cgroup does it better: with a freezer, SIGSTOP
    /// freezes the whole environment once (as Lambda does; no stop a process could see) and
    /// SIGCONT thaws it. `true` when the signal is handled and must not be sent.
    pub(super) fn signal(&mut self, pid: Pid, signal: Signal, tasks: &TaskTracker) -> bool {
        if !self.cgroup.has_freezer() {
            return false;
        }
        match signal {
            Signal::SIGSTOP if self.frozen => true,
            Signal::SIGSTOP => match self.cgroup.freeze() {
                Ok(()) => {
                    self.frozen = true;
                    self.confirm_frozen(tasks);
                    true
                }
                Err(e) => {
                    tracing::warn!(env = self.env, pid, error = %e, "cgroup freeze failed; using SIGSTOP");
                    false
                }
            },
            Signal::SIGCONT if self.frozen => {
                if let Err(e) = self.cgroup.thaw() {
                    tracing::warn!(env = self.env, error = %e, "cgroup thaw failed");
                }
                self.frozen = false;
                // SIGCONT goes too: harmless, and it resumes a process stopped some other way.
                false
            }
            _ => false,
        }
    }

    /// Waits, off the driver, until the kernel says the environment is frozen, and says so if
    /// it is not within a second (a throttled task freezes once its quota lets it run).
    fn confirm_frozen(&self, tasks: &TaskTracker) {
        let (env, cgroup) = (self.env, Arc::clone(&self.cgroup));
        tasks.spawn(async move {
            let until = Instant::now() + Duration::from_secs(1);
            while !cgroup.frozen() {
                if Instant::now() >= until {
                    tracing::debug!(env, "the cgroup freezer has not finished after 1 s");
                    return;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
    }

    /// The environment is dead: SIGKILL whatever of it is left however it detached (a `setsid`
    /// grandchild), then remove the cgroup once the kernel has let the last process go (at most
    /// 5 s).
    pub(super) fn finish(self, tasks: &TaskTracker) {
        let _ = self.cgroup.thaw();
        let left = self.cgroup.kill_all();
        if left > 0 {
            tracing::debug!(env = self.env, left, "killed what outlived the environment");
        }
        let cgroup = self.cgroup;
        // Off the driver's thread: removing a memory cgroup can take milliseconds.
        let removal = tokio::task::spawn_blocking(move || {
            let until = std::time::Instant::now() + Duration::from_secs(5);
            while !cgroup.remove() && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        tasks.spawn(async move {
            let _ = removal.await;
        });
    }
}

/// Tells whether a process's exit was an out-of-memory kill.
#[derive(Debug)]
pub(super) struct OomProbe(Arc<EnvCgroup>);

impl OomProbe {
    /// The kernel counts an out-of-memory kill as it sends the SIGKILL, so by the time the
    /// victim has been reaped the count shows it.
    pub(super) fn killed_for_memory(&self, exit: Exit) -> bool {
        exit == Exit::Signal(Signal::SIGKILL as i32) && self.0.new_oom_kills() > 0
    }
}
