//! "Max Memory Used": the peak resident memory (VmHWM) of an environment's processes and their
//! descendants. Read at the end of every invocation, so it is kept cheap: each process's
//! `/proc/PID/status` stays open and is re-read with one `pread`, and the process tree is walked
//! again at most once a second (a child started meanwhile is counted from the next walk on).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use super::Pid;

const TREE_EVERY: Duration = Duration::from_secs(1);

/// Measures the peak memory of process trees.
#[derive(Debug, Default)]
pub(crate) struct MemoryMeter {
    roots: Vec<Pid>,
    tracked: Vec<Tracked>,
    walked: Option<Instant>,
    buf: Vec<u8>,
}

#[derive(Debug)]
struct Tracked {
    pid: Pid,
    status: Option<File>,
    /// The last VmHWM read, in KiB (kept once the process is gone).
    peak_kib: u64,
}

impl MemoryMeter {
    /// The summed peak of the trees rooted at `roots`, in KiB.
    pub(crate) fn peak_kib(&mut self, roots: &[Pid]) -> u64 {
        let stale = self.walked.is_none_or(|t| t.elapsed() >= TREE_EVERY) || self.roots != roots;
        if stale {
            self.walk(roots);
        }
        self.buf.resize(4096, 0);
        let mut total = 0;
        for t in &mut self.tracked {
            if let Some(file) = &t.status {
                match file.read_at(&mut self.buf, 0) {
                    Ok(n) if n > 0 => {
                        if let Some(kib) = vm_hwm(&self.buf[..n]) {
                            t.peak_kib = t.peak_kib.max(kib);
                        }
                    }
                    _ => t.status = None,
                }
            }
            total += t.peak_kib;
        }
        total
    }

    fn walk(&mut self, roots: &[Pid]) {
        self.roots = roots.to_vec();
        self.walked = Some(Instant::now());
        let mut stack = roots.to_vec();
        let mut seen = Vec::new();
        while let Some(p) = stack.pop() {
            if seen.len() >= 256 || seen.contains(&p) {
                continue;
            }
            seen.push(p);
            if let Ok(children) = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")) {
                stack.extend(
                    children
                        .split_ascii_whitespace()
                        .filter_map(|c| c.parse::<Pid>().ok()),
                );
            }
        }
        for pid in seen {
            if !self.tracked.iter().any(|t| t.pid == pid) {
                let status = File::open(format!("/proc/{pid}/status")).ok();
                self.tracked.push(Tracked {
                    pid,
                    status,
                    peak_kib: 0,
                });
            }
        }
    }
}

/// The `VmHWM:` value of a status file, in KiB.
fn vm_hwm(status: &[u8]) -> Option<u64> {
    let line = status
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"VmHWM:"))?;
    let digits = line.trim_ascii().strip_suffix(b"kB")?.trim_ascii();
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_this_process_and_keeps_the_peak() {
        let mut m = MemoryMeter::default();
        let me = std::process::id();
        let first = m.peak_kib(&[me]);
        assert!(first > 0);
        let block = vec![1u8; 32 * 1024 * 1024];
        std::hint::black_box(&block);
        assert!(m.peak_kib(&[me]) >= first);
        assert_eq!(vm_hwm(b"Name:\tx\nVmHWM:\t  1234 kB\n"), Some(1234));
    }
}
