//! Replacing a function's definition while the emulator runs (what `grace serve --watch` does
//! after a rebuild): the function's pool retires every environment it has through the ordinary
//! spin-down, so the old code's shutdown hooks and extensions see SIGTERM and SHUTDOWN as on any
//! spin-down, and new invokes go to environments made from the new definition.

use super::*;
use crate::events::{EventKind, FUNCTION_EVENT};

/// What [`Emulator::replace_function`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reload {
    /// The new definition's generation: the first definition is 1, each replacement adds one.
    pub generation: u64,
    /// How many environments of the old definition are being retired (idle ones spin down at
    /// once, busy ones when their invocation ends).
    pub retiring: usize,
}

impl Emulator {
    /// Replaces the definition of the function named `cfg.name`. From now on new environments
    /// are made from `cfg`; every current one is retired through the same sequence as a
    /// spin-down (SIGTERM → SHUTDOWN → SIGKILL, with the budgets): the idle ones now, the busy
    /// ones (and ones still in init for an invoke) once their invocation ends, so an invoke in
    /// flight finishes on the code it started with. Records a `reload` event for the function,
    /// then `retired` (reason `reload`) for each environment.
    ///
    /// Returns without waiting for the old environments to be gone.
    pub async fn replace_function(&self, cfg: FunctionConfig) -> Result<Reload, Error> {
        if cfg.command.is_empty() {
            return Err(Error::EmptyCommand(cfg.name));
        }
        let pool = self
            .inner
            .pools
            .get(&cfg.name)
            .ok_or_else(|| Error::UnknownFunction(cfg.name.clone()))?;
        if self.inner.closing.load(Ordering::SeqCst) {
            return Err(Error::Closing);
        }
        let replaced = pool.replace(cfg).await.ok_or(Error::Closing)?;
        Ok(Reload {
            generation: replaced.generation,
            retiring: replaced.retiring,
        })
    }

    /// Records that a new definition of `function` could not be made (`error`: what the build
    /// said), as a `reload_failed` event; the current definition keeps serving.
    pub fn reload_failed(&self, function: &str, error: impl Into<String>) -> Result<(), Error> {
        let (name, _) = self
            .inner
            .pools
            .get_key_value(function)
            .ok_or_else(|| Error::UnknownFunction(function.to_owned()))?;
        let kind = EventKind::ReloadFailed {
            error: error.into(),
        };
        self.inner
            .events
            .record(&Arc::from(name.as_str()), FUNCTION_EVENT, kind);
        Ok(())
    }
}
