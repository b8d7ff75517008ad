//! `--cpu-affinity`: environments pinned next to the emulator's thread (auto, the default) or
//! placed by the kernel (off). Read from /proc, where the kernel keeps each thread's allowed CPUs.

use std::thread;

use crate::util::Serve;

/// `Cpus_allowed_list` of a process (or of one of its threads, with `task`), as CPU numbers.
fn allowed(pid: u32, task: Option<u32>) -> Vec<usize> {
    let path = match task {
        Some(t) => format!("/proc/{pid}/task/{t}/status"),
        None => format!("/proc/{pid}/status"),
    };
    let status = std::fs::read_to_string(&path).unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// The CPUs this test process may use; the tests need two.
fn enough_cpus() -> bool {
    let n = allowed(std::process::id(), None).len();
    if n < 2 {
        eprintln!("skipped: placement needs 2 CPUs, this machine gives {n}");
    }
    n >= 2
}

fn cpus_of(env: &serde_json::Value) -> Vec<usize> {
    env["cpus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap() as usize)
        .collect()
}

/// Two invokes at once, so that the pool holds two environments; returns them by id.
fn two_environments(s: &Serve) -> Vec<serde_json::Value> {
    thread::scope(|scope| {
        let a = scope.spawn(|| s.invoke("f", r#"{"sleep_ms":300}"#));
        let b = scope.spawn(|| s.invoke("f", r#"{"sleep_ms":300}"#));
        assert_eq!(a.join().unwrap().status, 200);
        assert_eq!(b.join().unwrap().status, 200);
    });
    let mut envs = s.environments();
    envs.sort_by_key(|e| e["id"].as_u64());
    assert_eq!(envs.len(), 2, "{envs:?}");
    envs
}

fn runtime_pid(env: &serde_json::Value) -> u32 {
    env["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["role"] == "runtime")
        .and_then(|p| p["pid"].as_u64())
        .unwrap() as u32
}

#[test]
fn environments_are_pinned_next_to_the_emulator_and_spread_over_cpus() {
    if !enough_cpus() {
        return;
    }
    let s = Serve::testfn("f", &["--concurrency", "2", "--no-freeze"], &[]);
    let envs = two_environments(&s);
    let (first, second) = (cpus_of(&envs[0]), cpus_of(&envs[1]));
    assert_eq!(first.len(), 1, "128 MB buys one CPU: {envs:?}");
    assert_eq!(second.len(), 1);
    assert_ne!(
        first, second,
        "the second environment goes to the other CPU"
    );
    // The kernel's view: each runtime may run only on its environment's CPU, and the emulator's
    // thread (its main thread, whose id is the process id) sits on the first one's.
    assert_eq!(allowed(runtime_pid(&envs[0]), None), first);
    assert_eq!(allowed(runtime_pid(&envs[1]), None), second);
    let grace = s.child.id();
    assert_eq!(allowed(grace, Some(grace)), first);
}

#[test]
fn memory_buys_cpus_as_on_lambda() {
    if !enough_cpus() {
        return;
    }
    // 1,769 MB is one vCPU's worth on Lambda; 1,770 MB needs a second.
    let s = Serve::testfn("f", &["--memory", "1770", "--no-freeze"], &[]);
    assert_eq!(s.invoke("f", "{}").status, 200);
    let env = &s.environments()[0];
    assert_eq!(cpus_of(env).len(), 2, "{env}");
    assert_eq!(allowed(runtime_pid(env), None).len(), 2);
}

#[test]
fn off_leaves_placement_to_the_kernel() {
    if !enough_cpus() {
        return;
    }
    let mine = allowed(std::process::id(), None);
    let s = Serve::testfn(
        "f",
        &["--concurrency", "2", "--no-freeze", "--cpu-affinity", "off"],
        &[],
    );
    let envs = two_environments(&s);
    for env in &envs {
        assert!(cpus_of(env).is_empty(), "{env}");
        assert_eq!(allowed(runtime_pid(env), None), mine, "every CPU, as ours");
    }
    let grace = s.child.id();
    assert_eq!(allowed(grace, Some(grace)), mine);
}
