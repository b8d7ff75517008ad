//! What the numbers were measured on: the machine (CPU, cores, kernel, memory, load) and the
//! version of every system, tool and runtime binary involved.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

/// The machine, as read from /proc.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) kernel: String,
    pub(crate) memory: String,
}

impl Machine {
    /// Reads /proc/cpuinfo, /proc/sys/kernel/osrelease and /proc/meminfo.
    pub(crate) fn describe() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .and_then(|r| r.split_once(':'))
                    .map(|(_, v)| v.trim())
            })
            .unwrap_or("unknown")
            .to_owned();
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| format!("Linux {}", s.trim()))
            .unwrap_or_else(|_| "unknown".into());
        let memory = fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kb: f64 = m
                    .lines()
                    .find(|l| l.starts_with("MemTotal:"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()?;
                Some(format!("{:.1} GiB", kb / 1024.0 / 1024.0))
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            cpu,
            cores,
            kernel,
            memory,
        }
    }

    /// One line: `Intel(R) Xeon(R) Processor, 2 cores, Linux 6.18, 23.5 GiB RAM`.
    pub(crate) fn line(&self) -> String {
        format!(
            "{}, {} cores, {}, {} RAM",
            self.cpu, self.cores, self.kernel, self.memory
        )
    }
}

/// The 1-minute load average, from /proc/loadavg.
pub(crate) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// First line of `program args…`'s standard output (whatever its exit status: `wrk --version`
/// exits 1), or a note saying why there is none.
pub(crate) fn command_line(program: &Path, args: &[&str]) -> String {
    match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
    {
        Ok(out) => match String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .map(str::trim)
        {
            Some(line) if !line.is_empty() => line.to_owned(),
            _ => format!(
                "unknown ({} {args:?} printed nothing; {})",
                program.display(),
                out.status
            ),
        },
        Err(e) => format!("unknown ({}: {e})", program.display()),
    }
}

/// wrk's version without its copyright: "wrk debian/4.1.0-3+b2 [epoll] Copyright (C) 2012 Will
/// Glozer" becomes "wrk debian/4.1.0-3+b2 [epoll]".
pub(crate) fn wrk_version(wrk: &Path) -> String {
    command_line(wrk, &["--version"])
        .split(" Copyright")
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// RIE has no `--version` (it starts, binds 0.0.0.0:8080 and panics); `setup-test-deps.sh`
/// leaves a stamp next to it: `1.170.0 x86_64`.
pub(crate) fn rie_version(rie: &Path) -> String {
    let stamp = rie.with_extension("version");
    match fs::read_to_string(&stamp) {
        Ok(s) => format!("aws-lambda-rie from aws-sam-cli {}", s.trim()),
        Err(_) => format!("aws-lambda-rie (version unknown: no {})", stamp.display()),
    }
}

/// The version of crate `name` in `Cargo.lock` (first match), if locked.
pub(crate) fn locked_version(lock: &str, name: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == format!("name = \"{name}\"") {
            let v = lines
                .next()?
                .trim()
                .strip_prefix("version = \"")?
                .strip_suffix('"')?;
            return Some(v.to_owned());
        }
    }
    None
}

/// `git describe`-like identification of the working tree: short commit, plus `-dirty`.
pub(crate) fn git_commit(root: &Path) -> String {
    let git = Path::new("git");
    let commit = command_line(
        git,
        &[
            "-C",
            &root.display().to_string(),
            "rev-parse",
            "--short=10",
            "HEAD",
        ],
    );
    let dirty = Command::new("git")
        .args([
            "-C",
            &root.display().to_string(),
            "status",
            "--porcelain",
            "--untracked-files=no",
        ])
        .stderr(Stdio::null())
        .output()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    if dirty {
        format!("{commit} (working tree has uncommitted changes)")
    } else {
        commit
    }
}

/// Size of a file in MB (for runtime binaries).
pub(crate) fn size_mb(path: &Path) -> String {
    fs::metadata(path).map_or_else(
        |_| "?".into(),
        |m| format!("{:.2} MB", m.len() as f64 / 1e6),
    )
}

/// `YYYY-MM-DD HH:MM UTC`, from the system clock.
pub(crate) fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_lookup() {
        let lock = "[[package]]\nname = \"lambda_runtime\"\nversion = \"1.5.0\"\nsource = \"x\"\n";
        assert_eq!(
            locked_version(lock, "lambda_runtime").as_deref(),
            Some("1.5.0")
        );
        assert_eq!(locked_version(lock, "tokio"), None);
    }

    #[test]
    fn machine_is_described() {
        let m = Machine::describe();
        assert!(m.cores > 0);
        assert!(m.line().contains("cores"));
    }
}
