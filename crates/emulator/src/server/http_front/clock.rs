//! The time of a request as the services write it: `timeEpoch` (milliseconds since the epoch)
//! and `time` in the common log format, `12/Mar/2020:19:03:58 +0000` (always UTC).

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// The text of the last second a stamp was made in: every request of that second reuses it.
static LAST: Mutex<Option<(u64, String)>> = Mutex::new(None);

/// When a request arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub(crate) epoch_ms: u64,
    /// `dd/Mon/yyyy:HH:MM:SS +0000`.
    pub(crate) text: String,
}

impl Stamp {
    pub(crate) fn now() -> Self {
        let now = SystemTime::now();
        let epoch_ms = millis(now);
        let second = epoch_ms / 1000;
        // A poisoned lock only loses the cache.
        let mut last = LAST
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, text)) = last.as_ref().filter(|(s, _)| *s == second) {
            return Self {
                epoch_ms,
                text: text.clone(),
            };
        }
        let stamp = Self::at(now);
        *last = Some((second, stamp.text.clone()));
        stamp
    }

    pub(crate) fn at(time: SystemTime) -> Self {
        let epoch_ms = millis(time);
        // `2020-03-12T19:03:58Z`: humantime does the calendar; only the order changes here.
        let rfc = humantime::format_rfc3339_seconds(time).to_string();
        Self {
            epoch_ms,
            text: common_log(&rfc).unwrap_or(rfc),
        }
    }
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `2020-03-12T19:03:58Z` → `12/Mar/2020:19:03:58 +0000`.
fn common_log(rfc: &str) -> Option<String> {
    let (date, time) = rfc.trim_end_matches('Z').split_once('T')?;
    let mut parts = date.splitn(3, '-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    let month = MONTHS.get(month.parse::<usize>().ok()?.checked_sub(1)?)?;
    Some(format!("{day}/{month}/{year}:{time} +0000"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_services_time_format() {
        // 2020-03-04T19:15:17.135Z, the REST API example's requestTimeEpoch.
        let s = Stamp::at(UNIX_EPOCH + Duration::from_millis(1_583_349_317_135));
        assert_eq!(s.epoch_ms, 1_583_349_317_135);
        assert_eq!(s.text, "04/Mar/2020:19:15:17 +0000");
        // Negative control: a month that is not one gives nothing.
        assert_eq!(common_log("2020-13-01T00:00:00Z"), None);
    }

    #[test]
    fn now_reuses_the_text_of_its_second_only() {
        for _ in 0..3 {
            let s = Stamp::now();
            // The cached text is the one `at` gives for the same second.
            let fresh = Stamp::at(UNIX_EPOCH + Duration::from_millis(s.epoch_ms));
            assert_eq!(s.text, fresh.text);
        }
        // Negative control: another second gets its own text, not the cached one.
        let s = Stamp::now();
        let next = Stamp::at(UNIX_EPOCH + Duration::from_millis(s.epoch_ms + 1000));
        assert_ne!(s.text, next.text);
    }
}
