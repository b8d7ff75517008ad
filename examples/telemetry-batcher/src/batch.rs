//! Records held in memory until they are written, and the file they are appended to.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

/// Telemetry records received and not yet written; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub(crate) struct Pending(Arc<Mutex<Vec<Value>>>);

impl Pending {
    fn lock(&self) -> MutexGuard<'_, Vec<Value>> {
        // A panic while holding the lock leaves a plain Vec behind: still usable.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a delivered batch.
    pub(crate) fn extend(&self, records: Vec<Value>) {
        self.lock().extend(records);
    }

    /// Takes everything held so far.
    fn take(&self) -> Vec<Value> {
        std::mem::take(&mut *self.lock())
    }

    /// Puts records that could not be written back in front, to be tried again.
    fn restore(&self, mut records: Vec<Value>) {
        let mut held = self.lock();
        records.append(&mut held);
        *held = records;
    }
}

/// Appends batches to one file, one record per line (JSON Lines).
#[derive(Debug, Clone)]
pub(crate) struct Sink {
    path: PathBuf,
}

impl Sink {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes everything `pending` holds as one append; on failure the records stay pending.
    /// Returns how many were written.
    ///
    /// A local append of a few kilobytes: done in place rather than on a blocking thread.
    pub(crate) fn flush(&self, pending: &Pending) -> io::Result<usize> {
        let records = pending.take();
        if records.is_empty() {
            return Ok(0);
        }
        match self.append(&records) {
            Ok(()) => Ok(records.len()),
            Err(e) => {
                pending.restore(records);
                Err(e)
            }
        }
    }

    fn append(&self, records: &[Value]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(records.len() * 256);
        for record in records {
            serde_json::to_writer(&mut buf, record)?;
            buf.push(b'\n');
        }
        // One write of the whole batch: a reader never sees half of it.
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?
            .write_all(&buf)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn batches_are_appended_as_json_lines_and_kept_when_writing_fails() {
        let dir = std::env::temp_dir().join(format!("batcher-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pending = Pending::default();
        pending.extend(vec![json!({"type": "function", "record": "a"})]);
        pending.extend(vec![json!({"type": "platform.start"})]);

        let broken = Sink::new(dir.join("no-such-dir/out.jsonl"));
        assert!(broken.flush(&pending).is_err());
        pending.extend(vec![json!({"type": "platform.report"})]);

        let sink = Sink::new(dir.join("out.jsonl"));
        assert_eq!(
            sink.flush(&pending).unwrap(),
            3,
            "nothing lost by the failure"
        );
        assert_eq!(sink.flush(&pending).unwrap(), 0);
        let text = std::fs::read_to_string(sink.path()).unwrap();
        let types: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].clone())
            .collect();
        assert_eq!(types, ["function", "platform.start", "platform.report"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
