//! Debouncing bursts of changes: editors write several files (and a file several times) for one
//! save, and `git checkout` rewrites many; a function is reloaded once the changes to it have
//! been quiet for a while, or at the latest a while after the first (a file rewritten every
//! 100 ms still gets reloaded). No I/O and no clock of its own: the time is passed in.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

/// Changes waiting for a quiet period, per function.
#[derive(Debug)]
pub(super) struct Debounce {
    quiet: Duration,
    max_wait: Duration,
    pending: BTreeMap<String, Burst>,
}

#[derive(Debug)]
struct Burst {
    first: Instant,
    last: Instant,
    /// The last path changed, to name in messages.
    path: PathBuf,
}

impl Burst {
    fn due(&self, quiet: Duration, max_wait: Duration) -> Instant {
        (self.last + quiet).min(self.first + max_wait)
    }
}

impl Debounce {
    /// Waits for `quiet` after the last change, and at most `max_wait` after the first.
    pub(super) fn new(quiet: Duration, max_wait: Duration) -> Self {
        Self {
            quiet,
            max_wait,
            pending: BTreeMap::new(),
        }
    }

    /// `path` of `function` changed at `now`.
    pub(super) fn changed(&mut self, function: &str, path: PathBuf, now: Instant) {
        match self.pending.get_mut(function) {
            Some(burst) => {
                burst.last = now;
                burst.path = path;
            }
            None => {
                let burst = Burst {
                    first: now,
                    last: now,
                    path,
                };
                self.pending.insert(function.to_owned(), burst);
            }
        }
    }

    /// When the next function is due, if any is pending.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.pending
            .values()
            .map(|b| b.due(self.quiet, self.max_wait))
            .min()
    }

    /// The functions due at `now`, each with the last path changed; they are no longer pending.
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<(String, PathBuf)> {
        let (quiet, max_wait) = (self.quiet, self.max_wait);
        let due: Vec<String> = self
            .pending
            .iter()
            .filter(|(_, b)| b.due(quiet, max_wait) <= now)
            .map(|(f, _)| f.clone())
            .collect();
        due.into_iter()
            .filter_map(|f| self.pending.remove(&f).map(|b| (f, b.path)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_millis(300);
    const MAX: Duration = Duration::from_secs(3);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_burst_of_saves_is_one_reload_after_the_quiet_period() {
        let t0 = Instant::now();
        let mut d = Debounce::new(QUIET, MAX);
        assert_eq!(d.deadline(), None);
        d.changed("f", "a.rs".into(), t0);
        d.changed("f", "b.rs".into(), t0 + ms(50));
        d.changed("f", "c.rs".into(), t0 + ms(120));
        // Quiet is counted from the last change.
        assert_eq!(d.deadline(), Some(t0 + ms(420)));
        assert!(d.take_due(t0 + ms(419)).is_empty());
        assert_eq!(d.take_due(t0 + ms(420)), [("f".into(), "c.rs".into())]);
        // Once taken, nothing is pending.
        assert_eq!(d.deadline(), None);
        assert!(d.take_due(t0 + ms(10_000)).is_empty());
    }

    #[test]
    fn changes_that_never_pause_are_reloaded_after_the_longest_wait() {
        let t0 = Instant::now();
        let mut d = Debounce::new(QUIET, MAX);
        let mut t = t0;
        while t < t0 + ms(5_000) {
            d.changed("f", "log.txt".into(), t);
            if t >= t0 + MAX {
                break;
            }
            assert!(d.take_due(t).is_empty(), "due too early at {:?}", t - t0);
            t += ms(100);
        }
        assert_eq!(d.deadline(), Some(t0 + MAX));
        assert_eq!(d.take_due(t0 + MAX).len(), 1);
    }

    #[test]
    fn functions_are_debounced_apart() {
        let t0 = Instant::now();
        let mut d = Debounce::new(QUIET, MAX);
        d.changed("a", "a.py".into(), t0);
        d.changed("b", "b.py".into(), t0 + ms(200));
        assert_eq!(d.deadline(), Some(t0 + ms(300)));
        assert_eq!(d.take_due(t0 + ms(300)), [("a".into(), "a.py".into())]);
        assert_eq!(d.deadline(), Some(t0 + ms(500)));
        // A new change of `a` starts a new burst.
        d.changed("a", "a.py".into(), t0 + ms(400));
        let due: Vec<String> = d
            .take_due(t0 + ms(700))
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(due, ["a", "b"]);
    }
}
