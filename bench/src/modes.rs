//! The modes besides the matrix that share its setup: `--floor` ([`crate::floor`]) and
//! `--lifecycle` ([`crate::lifecycle`]); and the scratch directory every mode works in.

use std::fs;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::systems::Paths;
use crate::wrk::{self, Wrk};
use crate::{Args, existing};

/// Runs `--floor` or `--lifecycle`.
pub(crate) fn drive(args: &Args, command: String) -> Result<(), String> {
    let work = WorkDir::create(args.keep_logs)?;
    let wrk = Wrk {
        bin: args.wrk.clone(),
        script: wrk::write_script(&work.0)?,
        threads: 1,
    };
    let paths = Paths {
        grace: existing(&args.grace, "grace (cargo build --release -p grace)")?,
        cargo_lambda: existing(
            &args.cargo_lambda,
            "cargo-lambda (scripts/setup-test-deps.sh)",
        )?,
        rie: existing(&args.rie, "aws-lambda-rie (scripts/setup-test-deps.sh)")?,
        work: work.0.clone(),
    };
    let out = (!args.no_write).then_some(args.out.as_path());
    if args.floor {
        let nginx = existing(
            &args.nginx,
            "nginx (scripts/setup-test-deps.sh installs it)",
        )?;
        crate::floor::drive(
            args.rounds,
            args.duration,
            &nginx,
            &paths,
            &wrk,
            out,
            command.clone(),
        )?;
    }
    if args.lifecycle {
        let plan = crate::lifecycle::Plan {
            rounds: args.rounds,
            cold_starts: args.cold_starts,
            invokes: args.invokes,
            pause_ms: args.pause_ms,
            total_invokes: 100_000,
            shutdowns: args.shutdowns,
        };
        crate::lifecycle_report::drive(&plan, &paths, &wrk, out, command)?;
    }
    Ok(())
}

/// A scratch directory (wrk script, logs, cargo lambda's stub project), removed on drop unless
/// kept.
#[derive(Debug)]
pub(crate) struct WorkDir(pub(crate) PathBuf, bool);

impl WorkDir {
    pub(crate) fn create(keep: bool) -> Result<Self, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("grace-bench-{}-{nanos}", std::process::id()));
        fs::create_dir_all(dir.join("logs"))
            .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(Self(dir, keep))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.1 {
            eprintln!(
                "grace-bench: logs kept in {}",
                self.0.join("logs").display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}
