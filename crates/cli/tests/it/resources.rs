//! Lambda's resource model (a cgroup per environment): CPU time of one CPU per 1,769 MB, a
//! memory limit of the memory size answered `Runtime.OutOfMemory`, Lambda's CPU count, every
//! process of an environment killed with it, and an honest notice where no cgroup is writable.
//! Each behaviour has its negative control (the model off, or a larger memory size). Where this
//! machine has no writable cgroup the tests that need one say `skipped` and return.

use std::process::Command;
use std::time::Duration;

use crate::util::{Serve, alive, grace_bin, poll_until, temp_dir, testfn_bin};

/// Whether `grace serve`'s banner says the model is on; prints `skipped` when it is not.
fn modelled(s: &Serve) -> bool {
    let on = s.stderr().contains("resource model: on");
    if !on {
        eprintln!("skipped: no writable cgroup here: {}", s.stderr());
    }
    on
}

/// `grace check --json --invokes 1 --memory MB --runtime-budget 1s [FLAGS…]` on a testfn whose
/// SIGTERM cleanup burns `cpu_ms` of CPU time (with an internal extension, so SIGTERM comes, 1 s
/// before SIGKILL).
fn check_cpu_cleanup(memory: &str, cpu_ms: u32, flags: &[&str]) -> serde_json::Value {
    let cpu = format!("TESTFN_CLEANUP_CPU_MS={cpu_ms}");
    let out = Command::new(grace_bin())
        .args(["check", "--json", "--invokes", "1", "--memory", memory])
        .args(["--runtime-budget", "1s"])
        .args(flags)
        .args([
            "--env",
            "TESTFN_SIGTERM=handle",
            "--env",
            "TESTFN_EXTENSION=enabler",
        ])
        .args(["--env", &cpu, "--name", "f", "--"])
        .arg(testfn_bin())
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn verdict<'a>(r: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {r:#}"))
}

/// 100 ms of CPU at 128 MB (7.2 ms per 100 ms) takes at least 1.2 s of wall time, whatever the
/// phase of the quota period SIGTERM lands in: past the 1 s budget. With one CPU's worth
/// (1,769 MB) or no quota it takes ~100 ms, which leaves the budget a wide margin on a loaded
/// machine. (At Lambda's default 500 ms budget the same holds from ~60 ms of CPU.)
#[test]
fn cpu_bound_cleanup_is_sigkilled_at_128_mb_and_finishes_at_1769_mb() {
    let r = check_cpu_cleanup("128", 100, &[]);
    if r["resource_model"]["on"] != true {
        eprintln!("skipped: {}", r["resource_model"]);
        return;
    }
    assert_eq!(r["pass"], false, "{r:#}");
    let exit = verdict(&r, "exit");
    assert_eq!(exit["status"], "fail", "{exit}");
    assert!(
        exit["detail"].as_str().unwrap().contains("SIGKILLed"),
        "{exit}"
    );
    // The check ran the shutdown again at larger sizes: the cleanup fits at one of Lambda's
    // steps no larger than one CPU's worth (where, below, it passes), and the advice says so.
    let fits = r["fits_at_mb"].as_u64().unwrap_or_else(|| panic!("{r:#}"));
    assert!((256..=1769).contains(&fits), "{fits}");
    assert!(
        exit["advice"]
            .as_str()
            .is_some_and(|a| a.contains(&format!("fits at {fits} MB"))),
        "{exit}"
    );
    // Negative control: one CPU's worth of time (1,769 MB) finishes the same cleanup in budget,
    // and nothing is searched.
    let r = check_cpu_cleanup("1769", 100, &[]);
    assert_eq!(verdict(&r, "exit")["status"], "pass", "{r:#}");
    assert!(r.get("fits_at_mb").is_none(), "{r:#}");
}

#[test]
fn without_the_model_cpu_bound_cleanup_finishes_at_128_mb() {
    let r = check_cpu_cleanup("128", 100, &["--no-resource-model"]);
    assert_eq!(r["resource_model"]["on"], false);
    assert_eq!(r["resource_model"]["detail"], "off (not requested)");
    assert_eq!(verdict(&r, "exit")["status"], "pass", "{r:#}");
}

#[test]
fn allocating_past_the_memory_size_is_out_of_memory_and_the_next_invoke_is_fresh() {
    let s = Serve::testfn_modelled("f", &["--memory", "128", "--timeout", "20s"], &[]);
    if !modelled(&s) {
        return;
    }
    assert_eq!(s.invoke("f", "{}").status, 200);
    let before = s.runtime_pids();
    let a = s.invoke("f", r#"{"alloc_mb":200}"#);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-amz-function-error"), Some("Unhandled"));
    let body = a.json();
    assert_eq!(body["errorType"], "Runtime.OutOfMemory", "{body}");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(
        message.ends_with("Error: Runtime exited with error: signal: killed"),
        "{message}"
    );
    assert!(
        s.wait_stdout("Error Type: Runtime.OutOfMemory", Duration::from_secs(5)),
        "{}",
        s.stdout()
    );
    // The environment was reset: the next invoke runs on a fresh one, and succeeds.
    let b = s.invoke("f", r#"{"log":"after"}"#);
    assert_eq!(b.status, 200, "{}", b.text());
    assert_eq!(b.json()["ok"], true);
    let after = s.runtime_pids();
    assert_eq!(after.len(), 1);
    assert!(!before.contains(&after[0]), "{before:?} {after:?}");
}

#[test]
fn allocating_within_the_memory_size_succeeds_and_counts_in_max_memory_used() {
    // Negative control of the test above: the same allocation at 512 MB.
    let s = Serve::testfn_modelled("f", &["--memory", "512", "--timeout", "20s"], &[]);
    if !modelled(&s) {
        return;
    }
    let a = s.invoke("f", r#"{"alloc_mb":200}"#);
    assert_eq!(a.status, 200, "{}", a.text());
    assert_eq!(a.json()["ok"], true);
    let report_line = || {
        s.stdout()
            .lines()
            .find(|l| l.starts_with("REPORT RequestId:"))
            .map(str::to_owned)
    };
    assert!(poll_until(Duration::from_secs(5), || report_line().is_some()));
    let report = report_line().unwrap();
    let used: u64 = report
        .split("Max Memory Used: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!((200..=512).contains(&used), "{report}");
}

/// How many CPUs this process may run on.
fn machine_cpus() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    list.split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        })
        .sum()
}

fn nproc(s: &Serve) -> usize {
    let a = s.invoke("f", r#"{"run":["nproc"]}"#);
    assert_eq!(a.status, 200, "{}", a.text());
    a.json()["stdout"].as_str().unwrap().trim().parse().unwrap()
}

#[test]
fn nproc_inside_a_128_mb_function_is_lambdas_count() {
    let s = Serve::testfn_modelled("f", &["--memory", "128"], &[]);
    if !modelled(&s) {
        return;
    }
    let machine = machine_cpus();
    assert_eq!(
        nproc(&s),
        machine.min(2),
        "Lambda shows 2 CPUs up to 3,008 MB"
    );
    drop(s);
    // Negative control: without the model, placement pins one CPU per 1,769 MB, for speed.
    let s = Serve::testfn("f", &["--memory", "128"], &[]);
    if machine >= 2 {
        assert_eq!(nproc(&s), 1);
    }
}

/// Starts `setsid sleep 1000` from the function (its own session and process group, reparented
/// away from the runtime) and returns its pid.
fn detached_grandchild(s: &Serve) -> u32 {
    let a = s.invoke(
        "f",
        // The shell answers only once its background job has called `setsid` (it leads its
        // own session): answered earlier, the environment is frozen (or SIGSTOPped with the
        // runtime's group) before the job detaches, and a spin-down reaches it as a member
        // of that group.
        r#"{"run":["sh","-c","setsid sleep 1000 >/dev/null 2>&1 & p=$!; while [ \"$(cut -d' ' -f6 /proc/$p/stat)\" != \"$p\" ]; do :; done; echo $p"]}"#,
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let pid: u32 = a.json()["stdout"].as_str().unwrap().trim().parse().unwrap();
    assert_eq!(session_of(pid), Some(pid), "pid {pid} is not detached");
    pid
}

/// The session id of `pid` (`/proc/PID/stat`'s sixth field).
fn session_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    // state, ppid, pgrp, session
    after.split_whitespace().nth(3)?.parse().ok()
}

#[test]
fn a_setsid_grandchild_does_not_outlive_its_environment() {
    let s = Serve::testfn_modelled("f", &[], &[]);
    if !modelled(&s) {
        return;
    }
    let pid = detached_grandchild(&s);
    assert_eq!(s.spin_down(None), 1);
    assert!(
        poll_until(Duration::from_secs(10), || !alive(pid)),
        "pid {pid} outlived its environment"
    );
}

#[test]
fn without_the_model_a_setsid_grandchild_escapes() {
    // Negative control: process groups alone cannot reach it.
    let s = Serve::testfn("f", &[], &[]);
    let pid = detached_grandchild(&s);
    assert_eq!(s.spin_down(None), 1);
    assert!(poll_until(Duration::from_secs(10), || s
        .environments()
        .is_empty()));
    let survived = alive(pid);
    crate::util::signal(pid, "KILL");
    assert!(survived, "pid {pid} died without the model");
}

#[test]
fn without_a_writable_cgroup_the_model_is_off_and_every_output_says_so() {
    let root = temp_dir("no-cgroup");
    let root = root.to_str().unwrap();
    let s = Serve::start_modelled(&[
        "--cgroup-root",
        root,
        "--name",
        "f",
        "--",
        testfn_bin().to_str().unwrap(),
    ]);
    let banner = s.stderr();
    assert!(
        banner.contains("grace serve: resource model: off (no writable cgroup: "),
        "{banner}"
    );
    assert_eq!(s.invoke("f", "{}").status, 200, "it still runs");
    drop(s);
    let check = |json: bool| {
        let mut cmd = Command::new(grace_bin());
        cmd.args(["check", "--invokes", "1", "--cgroup-root", root]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd
            .args([
                "--env",
                "TESTFN_SIGTERM=handle",
                "--env",
                "TESTFN_EXTENSION=e",
            ])
            .args(["--name", "f", "--"])
            .arg(testfn_bin())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let r: serde_json::Value = serde_json::from_str(&check(true)).unwrap();
    assert_eq!(r["resource_model"]["on"], false, "{r:#}");
    let detail = r["resource_model"]["detail"].as_str().unwrap();
    assert!(detail.starts_with("off (no writable cgroup: "), "{detail}");
    let text = check(false);
    assert!(
        text.contains("resource model: off (no writable cgroup: "),
        "{text}"
    );
    // Negative control: with the machine's own cgroups the banner says on (where it can).
    let s = Serve::testfn_modelled("f", &[], &[]);
    let root_user = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false);
    if std::path::Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists() && root_user {
        assert!(modelled(&s), "{}", s.stderr());
    }
}
