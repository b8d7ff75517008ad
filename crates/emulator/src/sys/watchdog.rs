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
for pg in $groups; do kill -KILL -- "-$pg" 2>/dev/null; done
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
