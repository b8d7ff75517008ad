//! `grace-bench lifecycle`: what an environment costs under `grace serve`, from its own events
//! (`GET /grace/v1/events`) and /proc. Each figure runs on fresh `grace serve` processes; the
//! report is [`crate::lifecycle_report`].
//!
//! 1. **Cold start**: `echo` (lambda-grace) and `lr-echo` (lambda_runtime) alternating, K cold
//!    starts per round each (`POST /grace/v1/shutdown`, then an invoke); per environment
//!    `init_done − init_start` and `runtime_ready − process_start`.
//! 2. **Freeze/thaw per invoke**: `lr-echo` with and without `--no-freeze` alternating, N
//!    sequential invokes (a new connection each) with a pause before each, so the environment
//!    freezes between invokes (freezes are counted from the events); latency per invoke, and
//!    CPU per invoke of grace (all its threads) and of the runtime, from
//!    /proc/PID/task/*/schedstat (nanoseconds).
//! 3. **Memory per idle environment**: grace's VmRSS with 0, 10 and 20 idle environments
//!    (`--concurrency 20 --no-freeze`, `hello` answering `{"sleep_ms":400}` to 10 then 20
//!    simultaneous invokes; the environment count is checked).
//! 4. **100,000 invokes**: grace's VmRSS after a warm-up and after ≥ 100k `echo` invokes
//!    (`wrk -c 4` in 10 s runs, `--concurrency 4 --no-freeze`).
//! 5. **Shutdown**: `sigterm` → `process_exit` of the runtime, `hello` (three shutdown hooks:
//!    `HELLO_SLOW_HOOK_MS=0`) against `echo` (none), alternating, one spin-down each time.

use crate::error::{Result, chain, unexpected};
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{self, EVENT};
use crate::procs::{self, Interrupt};
use crate::results::median;
use crate::runtimes::{current_env, get_json};
use crate::systems::{self, Paths, Running};
use crate::wrk::Wrk;

/// The runtime binaries used (under the repository root).
pub(crate) const ECHO: &str = "target/release/echo";
pub(crate) const LR_ECHO: &str = "target/release/lr-echo";
pub(crate) const HELLO: &str = "target/release/hello";

/// How much of each figure to measure.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) rounds: u32,
    pub(crate) cold_starts: u32,
    pub(crate) invokes: u32,
    pub(crate) pause_ms: u64,
    pub(crate) total_invokes: u64,
    pub(crate) shutdowns: u32,
}

/// Everything measured (per-sample vectors; the report takes medians).
#[derive(Debug, Clone, Default)]
pub(crate) struct Figures {
    /// (runtime label, init_done − init_start µs, runtime_ready − process_start µs).
    pub(crate) cold: Vec<(String, Vec<f64>, Vec<f64>)>,
    /// Per round: (freeze on?, median latency µs, grace CPU µs/invoke, runtime CPU µs/invoke,
    /// freezes seen).
    pub(crate) freeze: Vec<(bool, f64, f64, f64, usize)>,
    /// Per round: grace VmRSS kB with 0, 10, 20 idle environments.
    pub(crate) idle_rss: Vec<[u64; 3]>,
    /// (VmRSS kB before, after, 2xx invokes in between).
    pub(crate) long_run: Option<(u64, u64, u64)>,
    /// (runtime label, sigterm → process_exit µs per spin-down).
    pub(crate) shutdown: Vec<(String, Vec<f64>)>,
    pub(crate) notes: Vec<String>,
}

/// Runs every figure; a failing figure becomes a note, an interrupt an `Err`.
pub(crate) fn run(plan: &Plan, paths: &Paths, wrk: &Wrk) -> Result<Figures> {
    let mut f = Figures::default();
    let steps: [(&str, StepFn); 5] = [
        ("cold starts", cold_starts),
        ("freeze/thaw", freeze),
        ("idle environments", idle_memory),
        ("100k invokes", long_run),
        ("shutdown", shutdown),
    ];
    for (name, step) in steps {
        eprint!("grace-bench lifecycle: {name} … ");
        let r = step(plan, paths, wrk, &mut f);
        Interrupt::check()?;
        match r {
            Ok(()) => eprintln!("done"),
            Err(e) => {
                let e = chain(&e);
                eprintln!("FAILED: {e}");
                f.notes.push(format!("{name}: {e}"));
            }
        }
        for o in procs::sweep_orphans() {
            f.notes.push(format!("{name}: left behind and killed: {o}"));
        }
    }
    Ok(f)
}

type StepFn = fn(&Plan, &Paths, &Wrk, &mut Figures) -> Result<()>;

fn abs(p: &str) -> Result<std::path::PathBuf> {
    crate::setup::existing(std::path::Path::new(p), p, "scripts/bench.sh builds it")
}

fn grace(paths: &Paths, runtime: &str, args: &[&str], tag: &str) -> Result<Running> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    systems::start_grace_with(paths, &abs(runtime)?, &args, tag)
}

/// One invoke that must answer 200.
fn invoke(url: &str, body: &str) -> Result<()> {
    let r = http::post(url, body, Duration::from_secs(10))?;
    if r.status != 200 {
        return Err(unexpected!(
            "HTTP {}: {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        ));
    }
    Ok(())
}

fn spin_down(base: &str) -> Result<()> {
    let r = http::post(
        &format!("{base}/grace/v1/shutdown"),
        "",
        Duration::from_secs(10),
    )?;
    (r.status == 200)
        .then_some(())
        .ok_or_else(|| unexpected!("POST /grace/v1/shutdown: HTTP {}", r.status))
}

/// Stops `running`, turning what went wrong into notes.
fn stop(running: Running, what: &str, f: &mut Figures) {
    f.notes
        .extend(running.stop().into_iter().map(|n| format!("{what}: {n}")));
}

/// `time_us` of the first event of `env` of type `kind` matching `also`.
fn event_time(events: &Value, env: u64, kind: &str, also: impl Fn(&Value) -> bool) -> Option<i64> {
    events.as_array()?.iter().find_map(|e| {
        (e["env"].as_u64() == Some(env) && e["type"] == kind && also(e))
            .then(|| e["time_us"].as_i64())
            .flatten()
    })
}

fn span(events: &Value, env: u64, from: &str, to: &str) -> Option<f64> {
    let runtime = |e: &Value| e.get("role").is_none_or(|r| r == "runtime");
    Some((event_time(events, env, to, runtime)? - event_time(events, env, from, runtime)?) as f64)
}

fn cold_starts(plan: &Plan, paths: &Paths, _: &Wrk, f: &mut Figures) -> Result<()> {
    let labels = ["echo", "lr-echo"];
    f.cold = labels
        .iter()
        .map(|l| ((*l).to_owned(), vec![], vec![]))
        .collect();
    for round in 0..plan.rounds {
        for i in [0, 1].map(|i| (i + round as usize) % 2) {
            let bin = [ECHO, LR_ECHO][i];
            let g = grace(paths, bin, &["--no-freeze"], &format!("cold-{round}-{i}"))?;
            let base = g.base();
            let mut envs = Vec::new();
            let r = (0..plan.cold_starts).try_for_each(|_| {
                spin_down(&base)?;
                invoke(&g.url, EVENT)?;
                envs.push(current_env(&base)?.0);
                Interrupt::check()
            });
            let events = r.and_then(|()| get_json(&format!("{base}/grace/v1/events")));
            stop(g, labels[i], f);
            let events = events?;
            for env in envs {
                let (init, ready) = (
                    span(&events, env, "init_start", "init_done"),
                    span(&events, env, "process_start", "runtime_ready"),
                );
                f.cold[i].1.extend(init);
                f.cold[i].2.extend(ready);
            }
        }
    }
    Ok(())
}

/// CPU nanoseconds used so far by every live thread of `pid` (/proc/PID/task/*/schedstat).
pub(crate) fn cpu_ns(pid: i32) -> u64 {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A field of /proc/PID/status in kB (`VmRSS`, `VmHWM`).
pub(crate) fn status_kb(pid: i32, field: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn freeze(plan: &Plan, paths: &Paths, _: &Wrk, f: &mut Figures) -> Result<()> {
    for round in 0..plan.rounds * 2 {
        let frozen = (round % 2 == 0) == (round / 2 % 2 == 0);
        let args: &[&str] = if frozen { &[] } else { &["--no-freeze"] };
        let g = grace(paths, LR_ECHO, args, &format!("freeze-{round}"))?;
        let r = freeze_cell(plan, &g);
        stop(g, "freeze/thaw", f);
        let (lat, grace_us, rt_us, freezes) = r?;
        f.freeze.push((frozen, lat, grace_us, rt_us, freezes));
    }
    Ok(())
}

fn freeze_cell(plan: &Plan, g: &Running) -> Result<(f64, f64, f64, usize)> {
    let base = g.base();
    for _ in 0..20 {
        invoke(&g.url, EVENT)?;
    }
    let (env, rt) = current_env(&base)?;
    let emu = *g.pids().0.first().ok_or("no grace pid")?;
    let events_before = count_freezes(&base, env)?;
    let (e0, r0) = (cpu_ns(emu), cpu_ns(rt));
    let mut lat = Vec::new();
    for _ in 0..plan.invokes {
        procs::sleep(Duration::from_millis(plan.pause_ms))?;
        let t = Instant::now();
        invoke(&g.url, EVENT)?;
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let (e1, r1) = (cpu_ns(emu), cpu_ns(rt));
    let freezes = count_freezes(&base, env)? - events_before;
    let n = f64::from(plan.invokes);
    Ok((
        median(lat).unwrap_or(0.0),
        e1.saturating_sub(e0) as f64 / 1e3 / n,
        r1.saturating_sub(r0) as f64 / 1e3 / n,
        freezes,
    ))
}

fn count_freezes(base: &str, env: u64) -> Result<usize> {
    let events = get_json(&format!("{base}/grace/v1/events"))?;
    Ok(events.as_array().map_or(0, |l| {
        l.iter()
            .filter(|e| e["env"].as_u64() == Some(env) && e["type"] == "freeze")
            .count()
    }))
}

fn idle_memory(plan: &Plan, paths: &Paths, _: &Wrk, f: &mut Figures) -> Result<()> {
    for round in 0..plan.rounds {
        let args = ["--no-freeze", "--concurrency", "20"];
        let g = grace(paths, HELLO, &args, &format!("idle-{round}"))?;
        let r = idle_cell(&g);
        stop(g, "idle environments", f);
        f.idle_rss.push(r?);
    }
    Ok(())
}

fn idle_cell(g: &Running) -> Result<[u64; 3]> {
    let pid = *g.pids().0.first().ok_or("no grace pid")?;
    let base = g.base();
    let mut out = [0; 3];
    for (i, n) in [0usize, 10, 20].into_iter().enumerate() {
        let threads: Vec<_> = (0..n)
            .map(|_| {
                let url = g.url.clone();
                thread::spawn(move || invoke(&url, r#"{"sleep_ms":400}"#))
            })
            .collect();
        for t in threads {
            t.join().map_err(|_| "invoke thread panicked")??;
        }
        let envs = get_json(&format!("{base}/grace/v1/environments"))?;
        let count = envs.as_array().map_or(0, Vec::len);
        if count != n {
            return Err(unexpected!("expected {n} environments, found {count}"));
        }
        procs::sleep(Duration::from_millis(300))?;
        out[i] = status_kb(pid, "VmRSS").ok_or("no VmRSS")?;
    }
    Ok(out)
}

fn long_run(plan: &Plan, paths: &Paths, wrk: &Wrk, f: &mut Figures) -> Result<()> {
    let args = ["--no-freeze", "--concurrency", "4"];
    let g = grace(paths, ECHO, &args, "long-run")?;
    let r = long_cell(plan, &g, wrk);
    stop(g, "100k invokes", f);
    f.long_run = Some(r?);
    Ok(())
}

fn long_cell(plan: &Plan, g: &Running, wrk: &Wrk) -> Result<(u64, u64, u64)> {
    let pid = *g.pids().0.first().ok_or("no grace pid")?;
    http::wait_echo(&g.url, Duration::from_secs(10))?;
    wrk.run(&g.url, 4, 1)?;
    procs::sleep(Duration::from_millis(300))?;
    let before = status_kb(pid, "VmRSS").ok_or("no VmRSS")?;
    let mut ok = 0;
    for _ in 0..30 {
        if ok >= plan.total_invokes {
            break;
        }
        let s = wrk.run(&g.url, 4, 10)?;
        if s.errors() > 0 {
            return Err(unexpected!("{} errors under wrk", s.errors()));
        }
        ok += s.requests;
    }
    procs::sleep(Duration::from_millis(300))?;
    let after = status_kb(pid, "VmRSS").ok_or("no VmRSS")?;
    Ok((before, after, ok))
}

fn shutdown(plan: &Plan, paths: &Paths, _: &Wrk, f: &mut Figures) -> Result<()> {
    let hello = grace(
        paths,
        HELLO,
        &["--env", "HELLO_SLOW_HOOK_MS=0"],
        "shutdown-hello",
    )?;
    let echo = grace(paths, ECHO, &[], "shutdown-echo")?;
    let sides = [(&hello, r#"{"name":"Ada"}"#), (&echo, EVENT)];
    let mut envs = [Vec::new(), Vec::new()];
    let r = (0..plan.shutdowns).try_for_each(|i| {
        for s in [0, 1].map(|s| (s + i as usize) % 2) {
            let (g, body) = sides[s];
            invoke(&g.url, body)?;
            envs[s].push(current_env(&g.base())?.0);
            spin_down(&g.base())?;
        }
        Interrupt::check()
    });
    let events = r.and_then(|()| {
        Ok([
            get_json(&format!("{}/grace/v1/events", hello.base()))?,
            get_json(&format!("{}/grace/v1/events", echo.base()))?,
        ])
    });
    stop(hello, "shutdown hello", f);
    stop(echo, "shutdown echo", f);
    let events = events?;
    for (i, label) in ["hello (3 hooks)", "echo (no hooks)"].iter().enumerate() {
        let times: Vec<f64> = envs[i]
            .iter()
            .filter_map(|&e| span(&events[i], e, "sigterm", "process_exit"))
            .collect();
        for &e in &envs[i] {
            if event_time(&events[i], e, "sigkill", |_| true).is_some() {
                f.notes
                    .push(format!("{label}: environment {e} was SIGKILLed"));
            }
        }
        f.shutdown.push(((*label).to_owned(), times));
    }
    Ok(())
}
