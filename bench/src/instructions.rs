//! Instructions per invoke of a runtime process, counted by valgrind's callgrind. Unlike CPU
//! time, the count does not move with the machine's load (the same binary, inputs and
//! environment give the same total), so it is the steady figure for comparing runtime clients.
//!
//! The runtime runs as `valgrind --tool=callgrind RUNTIME` under `grace serve` (or under
//! `cargo lambda watch`, a neutral emulator), serves [`FEW`] invokes, then gets SIGTERM (grace's
//! spin-down, or the harness's own signal under cargo lambda: both clients exit by themselves,
//! and callgrind writes its totals at exit); a second run serves [`MORE`]. The difference divided by
//! `MORE − FEW` is what one more invoke costs, with start-up and shutdown taken out. The count is
//! user-space instructions only: system calls count as the instructions that make them.

use crate::error::{Error, Result, unexpected};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::http;
use crate::procs;
use crate::systems::{self, Paths, Running, System};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Invokes of the shorter run.
pub(crate) const FEW: u32 = 20;
/// Invokes of the longer run.
pub(crate) const MORE: u32 = 520;

/// How long callgrind may take to write its totals after the spin-down.
const DUMP_LIMIT: Duration = Duration::from_secs(60);

/// The valgrind binary on PATH, if any.
pub(crate) fn valgrind() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join("valgrind"))
            .find(|p| p.is_file())
    })
}

/// Instructions per invoke of `runtime` under `under` (grace or cargo lambda; see the module
/// documentation).
pub(crate) fn per_invoke(
    paths: &Paths,
    valgrind: &Path,
    runtime: &Path,
    tag: &str,
    under: System,
) -> Result<f64> {
    let few = count(paths, valgrind, runtime, FEW, tag, under)?;
    let more = count(paths, valgrind, runtime, MORE, tag, under)?;
    if more <= few {
        return Err(unexpected!(
            "callgrind: {MORE} invokes counted {more} instructions, {FEW} counted {few}"
        ));
    }
    Ok((more - few) as f64 / f64::from(MORE - FEW))
}

/// Total instructions of one run of `invokes` invokes.
fn count(
    paths: &Paths,
    valgrind: &Path,
    runtime: &Path,
    invokes: u32,
    tag: &str,
    under: System,
) -> Result<u64> {
    let out = paths.work.join(format!("callgrind-{tag}-{invokes}.out"));
    let _ = fs::remove_file(&out);
    let out_arg = format!("--callgrind-out-file={}", out.display());
    let command: [&OsStr; 4] = [
        valgrind.as_os_str(),
        OsStr::new("--tool=callgrind"),
        OsStr::new(&out_arg),
        runtime.as_os_str(),
    ];
    if under == System::CargoLambda {
        let tag = format!("{tag}-cl-cg{invokes}");
        let running = systems::start_cargo_lambda_command(1, &command, paths, &tag)?;
        let result = drive_cargo_lambda(&running, &out, invokes);
        let notes = running.stop();
        let total = result?;
        // The runtime exited on the harness's SIGTERM before stop(): only other notes matter.
        let notes: Vec<_> = notes
            .into_iter()
            .filter(|n| !n.starts_with("runtime process"))
            .collect();
        if !notes.is_empty() {
            return Err(unexpected!("{}", notes.join("; ")));
        }
        return Ok(total);
    }
    // Generous limits: under valgrind everything runs some 50 times slower. Unpinned, as the
    // other runtime-client figures (each client sees every CPU, as on Lambda).
    let args: Vec<String> = [
        "--no-freeze",
        "--cpu-affinity",
        "off",
        "--concurrency",
        "1",
        "--init-timeout",
        "60s",
        "--timeout",
        "60s",
        "--runtime-budget",
        "30s",
    ]
    .map(str::to_owned)
    .to_vec();
    let running =
        systems::start_grace_command(paths, &command, &args, &format!("{tag}-cg{invokes}"))?;
    let result = drive(&running.url, &running.base(), &out, invokes);
    let notes = running.stop();
    let total = result?;
    if !notes.is_empty() {
        return Err(unexpected!("{}", notes.join("; ")));
    }
    Ok(total)
}

fn drive(url: &str, base: &str, out: &Path, invokes: u32) -> Result<u64> {
    invoke(url, invokes)?;
    let r = http::post(&format!("{base}/grace/v1/shutdown"), "", DUMP_LIMIT)?;
    if r.status != 200 {
        return Err(unexpected!("POST /grace/v1/shutdown: HTTP {}", r.status));
    }
    wait_totals(out)
}

/// Under cargo lambda, which never stops the runtime by itself: SIGTERM from the harness.
fn drive_cargo_lambda(running: &Running, out: &Path, invokes: u32) -> Result<u64> {
    invoke(&running.url, invokes)?;
    let pid = *running
        .pids()
        .1
        .first()
        .ok_or_else(|| unexpected!("no runtime process under cargo lambda"))?;
    kill(Pid::from_raw(pid), Signal::SIGTERM).map_err(|source| Error::Os {
        context: format!("SIGTERM to the runtime process {pid}"),
        source,
    })?;
    wait_totals(out)
}

/// `invokes` sequential invokes, the first of them waiting for the runtime to be ready.
fn invoke(url: &str, invokes: u32) -> Result<()> {
    http::wait_echo(url, Duration::from_secs(60))?;
    for _ in 1..invokes {
        let r = http::post(url, http::EVENT, Duration::from_secs(60))?;
        if r.status != 200 {
            return Err(unexpected!("invoke under callgrind: HTTP {}", r.status));
        }
    }
    Ok(())
}

/// Waits for callgrind's totals in `out` (written when the runtime exits).
fn wait_totals(out: &Path) -> Result<u64> {
    let end = Instant::now() + DUMP_LIMIT;
    loop {
        if let Some(total) = fs::read_to_string(out).ok().as_deref().and_then(totals) {
            return Ok(total);
        }
        if Instant::now() >= end {
            return Err(unexpected!(
                "callgrind wrote no totals to {}",
                out.display()
            ));
        }
        procs::sleep(Duration::from_millis(100))?;
    }
}

/// The `totals:` (or `summary:`) line of a callgrind output file.
fn totals(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_totals_line() {
        let text = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfn=main\n5 10\nsummary: 1234\ntotals: 1234\n";
        assert_eq!(totals(text), Some(1234));
        assert_eq!(totals("events: Ir\n"), None);
    }
}
