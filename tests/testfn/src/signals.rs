//! SIGTERM behaviour (`TESTFN_SIGTERM`), through `signal_hook`'s safe iterator API.
//!
//! [`install`] registers the handler at once, in the calling thread, and only then hands the
//! iterator to a dedicated thread: a SIGTERM that arrives between the two is queued, not lost.
//! `main` calls it before registering the extension and before the first `/next`.

use crate::config::SigtermMode;
use crate::say::say;
use signal_hook::consts::SIGTERM;
use signal_hook::iterator::Signals;
use std::io;
use std::thread;
use std::time::Duration;

/// Installs the SIGTERM behaviour; `Default` installs nothing, so the default action applies.
pub(crate) fn install(mode: SigtermMode, cleanup: Duration) -> io::Result<()> {
    if mode == SigtermMode::Default {
        return Ok(());
    }
    let mut signals = Signals::new([SIGTERM])?;
    thread::Builder::new()
        .name("sigterm".into())
        .spawn(move || {
            for _ in signals.forever() {
                if mode == SigtermMode::Ignore {
                    say!("SIGTERM received (ignored)");
                    continue;
                }
                if mode == SigtermMode::Crash {
                    say!("SIGTERM received (crashing)");
                    std::process::abort();
                }
                say!("SIGTERM received");
                thread::sleep(cleanup);
                say!("cleanup done");
                crate::say::flush_buffered();
                std::process::exit(0);
            }
        })?;
    Ok(())
}
