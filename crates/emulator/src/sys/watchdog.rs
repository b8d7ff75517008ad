//! The orphan watchdog: a tiny `sh` process that outlives the emulator by a moment and kills the
//! process groups of every environment when the emulator dies, however it dies (SIGKILL
//! included).
//!
//! It reads `add PGID` / `del PGID` lines on its stdin. When the emulator exits, the kernel
//! closes the write end of that pipe; `read` sees end-of-file and the watchdog sends SIGKILL to
//! every group still listed. It sits in its own process group and ignores the terminal's
//! signals, so a Ctrl-C reaches the emulator (which shuts down gracefully) and not the watchdog.
//! This needs no `unsafe` `pre_exec` (`PR_SET_PDEATHSIG`) and also catches grandchildren, which
//! a parent-death signal would miss.
//!
//! The script must run under every `/bin/sh`: Debian's is dash, whose `kill` builtin reads
//! `kill -KILL -- -PGID` as "signal `-`" and fails (silently, its stderr is discarded), so
//! the kill is written in the POSIX form `kill -s KILL -- -PGID`, which dash and bash both take.

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;

use super::Pid;

const SCRIPT: &str = r#"trap '' INT TERM HUP QUIT
groups=' '
while read -r op pg; do
  case $op in
    add) groups="$groups$pg " ;;
    del) case $groups in *" $pg "*) groups="${groups%% $pg *} ${groups#* $pg }" ;; esac ;;
  esac
done
for pg in $groups; do kill -s KILL -- "-$pg" 2>/dev/null; done
"#;

/// Handle on the watchdog process; dropping it (or the emulator dying) fires it.
#[derive(Debug)]
pub(crate) struct Watchdog {
    stdin: Mutex<Option<ChildStdin>>,
    child: Mutex<Child>,
}

impl Watchdog {
    pub(crate) fn start() -> std::io::Result<Self> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()?;
        let stdin = child.stdin.take();
        Ok(Self {
            stdin: Mutex::new(stdin),
            child: Mutex::new(child),
        })
    }

    /// Puts a process group under watch.
    pub(crate) fn add(&self, pgid: Pid) {
        self.send(&format!("add {pgid}\n"));
    }

    /// Takes a group off the list once it is known to be gone (so a reused id is never hit).
    pub(crate) fn remove(&self, pgid: Pid) {
        self.send(&format!("del {pgid}\n"));
    }

    fn send(&self, line: &str) {
        let mut guard = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(stdin) = guard.as_mut() {
            // A short line into a pipe the watchdog keeps draining does not block; if the
            // watchdog is gone there is nothing better to do than carry on.
            if stdin.write_all(line.as_bytes()).is_err() {
                tracing::warn!(
                    "orphan watchdog is gone; environment processes may outlive a crash"
                );
                *guard = None;
            }
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        // Closing stdin fires the watchdog for whatever is still listed, then reap it.
        self.stdin.lock().unwrap_or_else(|e| e.into_inner()).take();
        let _ = self.child.lock().unwrap_or_else(|e| e.into_inner()).wait();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::SCRIPT;

    /// The script as it was before the dash fix: the negative control.
    const OLD_SCRIPT: &str = r#"trap '' INT TERM HUP QUIT
groups=' '
while read -r op pg; do
  case $op in
    add) groups="$groups$pg " ;;
    del) case $groups in *" $pg "*) groups="${groups%% $pg *} ${groups#* $pg }" ;; esac ;;
  esac
done
for pg in $groups; do kill -KILL -- "-$pg" 2>/dev/null; done
"#;

    fn shell_exists(shell: &str) -> bool {
        Command::new(shell)
            .args(["-c", "exit 0"])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A `sleep` in its own process group, as an environment's process is.
    fn victim() -> Child {
        Command::new("sleep")
            .arg("300")
            .process_group(0)
            .spawn()
            .expect("spawn sleep")
    }

    /// Runs `script` under `shell`, lists the victims' groups (and one deleted again), closes
    /// its stdin as the emulator's death does, and waits for the watchdog to finish.
    fn fire(shell: &str, script: &str, victims: &[&Child]) -> std::process::ExitStatus {
        let mut wd = Command::new(shell)
            .args(["-c", script])
            .stdin(Stdio::piped())
            .spawn()
            .expect("spawn watchdog");
        let mut stdin = wd.stdin.take().expect("stdin");
        for v in victims {
            writeln!(stdin, "add {}", v.id()).expect("write");
        }
        // A deleted group is spared; the others stay listed.
        writeln!(stdin, "add 999999999\ndel 999999999").expect("write");
        drop(stdin);
        wd.wait().expect("wait watchdog")
    }

    /// Waits up to `limit` for `child` to end; its status if it did.
    fn ended_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn kills_every_listed_group_under_dash_and_bash() {
        for shell in ["dash", "bash", "/bin/sh"] {
            if !shell_exists(shell) {
                eprintln!("skipping {shell}: not installed");
                continue;
            }
            let (mut a, mut b) = (victim(), victim());
            let status = fire(shell, SCRIPT, &[&a, &b]);
            assert!(status.success(), "{shell}: watchdog exited with {status}");
            for v in [&mut a, &mut b] {
                let status = ended_within(v, Duration::from_secs(10));
                let _ = v.kill();
                let _ = v.wait();
                assert_eq!(
                    status.and_then(|s| s.signal()),
                    Some(9),
                    "{shell}: a listed group survived the watchdog"
                );
            }
        }
    }

    /// Negative control: the old `kill -KILL -- -PGID` kills nothing under dash.
    #[test]
    fn old_script_left_groups_alive_under_dash() {
        if !shell_exists("dash") {
            eprintln!("skipping: dash not installed");
            return;
        }
        let mut v = victim();
        fire("dash", OLD_SCRIPT, &[&v]);
        let status = ended_within(&mut v, Duration::from_millis(500));
        let _ = v.kill();
        let _ = v.wait();
        assert_eq!(status, None, "the old script did kill under dash");
    }
}
