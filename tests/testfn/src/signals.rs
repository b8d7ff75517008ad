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
pub(crate) fn install(mode: SigtermMode, cleanup: Duration, cpu: Duration) -> io::Result<()> {
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
                release_held();
                thread::sleep(cleanup);
                burn_cpu(cpu);
                say!("cleanup done");
                crate::say::flush_buffered();
                std::process::exit(0);
            }
        })?;
    Ok(())
}

/// The connection `TESTFN_HOLD_TCP` opened at init, for [`release_held`].
static HELD: std::sync::Mutex<Option<std::net::TcpStream>> = std::sync::Mutex::new(None);

/// Keeps `stream` open until SIGTERM (or for good).
pub(crate) fn hold(stream: std::net::TcpStream) {
    *HELD.lock().unwrap_or_else(|e| e.into_inner()) = Some(stream);
}

/// What `handle` does with the held connection at SIGTERM (`TESTFN_TCP_AT_SIGTERM`): `keep`
/// (default: left for the exit), `goodbye` (writes `bye\n`, then closes), `close` (closes with
/// nothing written), `shutdown` (writes `bye\n`, then `shutdown(Write)`, and keeps the socket).
fn release_held() {
    use std::io::Write;
    let mode = std::env::var("TESTFN_TCP_AT_SIGTERM").unwrap_or_default();
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    match mode.as_str() {
        "goodbye" => {
            if let Some(mut s) = held.take() {
                let _ = s.write_all(b"bye\n");
                say!("tcp: goodbye sent, closing");
            }
        }
        "close" if held.take().is_some() => say!("tcp: closed without a goodbye"),
        "shutdown" => {
            if let Some(s) = held.as_mut() {
                let _ = s.write_all(b"bye\n");
                let _ = s.shutdown(std::net::Shutdown::Write);
                say!("tcp: goodbye sent, shut down for writing");
            }
        }
        _ => {}
    }
}

/// Spins until this thread has run for `cpu` (its CPU clock, from `/proc/thread-self/schedstat`,
/// whose first field is nanoseconds on a CPU): CPU-bound cleanup, which a CPU quota slows down.
fn burn_cpu(cpu: Duration) {
    if cpu.is_zero() {
        return;
    }
    let on_cpu = || {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map(Duration::from_nanos)
    };
    let Some(start) = on_cpu() else {
        return;
    };
    let mut x = 0_u64;
    while on_cpu().is_some_and(|now| now.saturating_sub(start) < cpu) {
        for i in 0..10_000_u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
}
