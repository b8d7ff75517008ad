//! The fixture's knobs, read once at start through a lookup function (the process environment in
//! `main`, a map in the tests). See the crate docs for what each knob does.

use std::path::PathBuf;
use std::time::Duration;

/// What the fixture does between start and its first `/next`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitMode {
    /// Go straight to the loop.
    Ok,
    /// POST `/runtime/init/error`, print the answer, exit 1.
    Error,
    /// Exit 3.
    Crash,
    /// Sleep forever.
    Hang,
    /// Sleep, then go to the loop.
    Sleep(Duration),
}

/// How the fixture reacts to SIGTERM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigtermMode {
    /// No handler: the default action ends the process.
    Default,
    /// Print, sleep the cleanup time, print, exit 0.
    Handle,
    /// Print and keep running.
    Ignore,
    /// Print and abort at once (a crash during shutdown).
    Crash,
}

/// Everything read from the environment at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Config {
    /// `AWS_LAMBDA_RUNTIME_API`: `host:port`.
    pub(crate) runtime_api: String,
    /// `TESTFN_INIT`.
    pub(crate) init: InitMode,
    /// `TESTFN_INIT_FAIL_ONCE`: marker file; init fails while it does not exist.
    pub(crate) init_fail_once: Option<PathBuf>,
    /// `TESTFN_INIT_FAIL_ONCE_MODE`: how that one init fails (`error`, `crash` or `hang`).
    pub(crate) init_fail_once_mode: InitMode,
    /// `TESTFN_EXTENSION`: name of the internal extension to register.
    pub(crate) extension: Option<String>,
    /// `TESTFN_SIGTERM`.
    pub(crate) sigterm: SigtermMode,
    /// `TESTFN_CLEANUP_MS`: how long the `handle` SIGTERM mode "cleans up".
    pub(crate) cleanup: Duration,
    /// `TESTFN_CLEANUP_CPU_MS`: CPU time the `handle` mode burns after its sleep.
    pub(crate) cleanup_cpu: Duration,
}

impl Config {
    /// Reads the configuration; an empty variable counts as unset.
    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let get = |key: &str| lookup(key).filter(|v| !v.is_empty());

        let runtime_api =
            get("AWS_LAMBDA_RUNTIME_API").ok_or("AWS_LAMBDA_RUNTIME_API is not set")?;
        // The variable is `host:port`; tolerate a scheme so a hand-run test does not trip on it.
        let runtime_api = runtime_api
            .strip_prefix("http://")
            .unwrap_or(&runtime_api)
            .trim_end_matches('/')
            .to_owned();

        let init = match get("TESTFN_INIT").as_deref() {
            None | Some("ok") => InitMode::Ok,
            Some("error") => InitMode::Error,
            Some("crash") => InitMode::Crash,
            Some("hang") => InitMode::Hang,
            Some(other) => match other.strip_prefix("sleep:").map(str::parse) {
                Some(Ok(ms)) => InitMode::Sleep(Duration::from_millis(ms)),
                _ => {
                    return Err(format!(
                        "TESTFN_INIT={other:?}: expected ok, error, crash, hang or sleep:MS"
                    ));
                }
            },
        };

        let sigterm = match get("TESTFN_SIGTERM").as_deref() {
            None | Some("default") => SigtermMode::Default,
            Some("handle") => SigtermMode::Handle,
            Some("ignore") => SigtermMode::Ignore,
            Some("crash") => SigtermMode::Crash,
            Some(other) => {
                return Err(format!(
                    "TESTFN_SIGTERM={other:?}: expected default, handle, ignore or crash"
                ));
            }
        };

        let cleanup = match get("TESTFN_CLEANUP_MS") {
            None => Duration::ZERO,
            Some(ms) => Duration::from_millis(
                ms.parse()
                    .map_err(|_| format!("TESTFN_CLEANUP_MS={ms:?}: expected milliseconds"))?,
            ),
        };

        let init_fail_once_mode = match get("TESTFN_INIT_FAIL_ONCE_MODE").as_deref() {
            None | Some("error") => InitMode::Error,
            Some("crash") => InitMode::Crash,
            Some("hang") => InitMode::Hang,
            Some(other) => {
                return Err(format!(
                    "TESTFN_INIT_FAIL_ONCE_MODE={other:?}: expected error, crash or hang"
                ));
            }
        };

        let cleanup_cpu = match get("TESTFN_CLEANUP_CPU_MS") {
            None => Duration::ZERO,
            Some(ms) => Duration::from_millis(
                ms.parse()
                    .map_err(|_| format!("TESTFN_CLEANUP_CPU_MS={ms:?}: expected milliseconds"))?,
            ),
        };

        Ok(Config {
            runtime_api,
            init_fail_once_mode,
            init,
            init_fail_once: get("TESTFN_INIT_FAIL_ONCE").map(PathBuf::from),
            extension: get("TESTFN_EXTENSION"),
            sigterm,
            cleanup,
            cleanup_cpu,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Config, InitMode, SigtermMode};
    use std::collections::HashMap;
    use std::time::Duration;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = parse(&[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")]).expect("config");
        assert_eq!(c.runtime_api, "127.0.0.1:9001");
        assert_eq!(
            (c.init, c.sigterm, c.cleanup),
            (InitMode::Ok, SigtermMode::Default, Duration::ZERO)
        );
        assert_eq!((c.init_fail_once, c.extension), (None, None));
    }

    #[test]
    fn every_knob() {
        let c = parse(&[
            ("AWS_LAMBDA_RUNTIME_API", "http://localhost:1234/"),
            ("TESTFN_INIT", "sleep:250"),
            ("TESTFN_INIT_FAIL_ONCE", "/tmp/marker"),
            ("TESTFN_EXTENSION", "probe"),
            ("TESTFN_SIGTERM", "handle"),
            ("TESTFN_CLEANUP_MS", "40"),
            ("TESTFN_INIT_FAIL_ONCE_MODE", "hang"),
        ])
        .expect("config");
        assert_eq!(c.init_fail_once_mode, InitMode::Hang);
        assert_eq!(c.runtime_api, "localhost:1234");
        assert_eq!(c.init, InitMode::Sleep(Duration::from_millis(250)));
        assert_eq!(
            c.init_fail_once.as_deref(),
            Some(std::path::Path::new("/tmp/marker"))
        );
        assert_eq!(c.extension.as_deref(), Some("probe"));
        assert_eq!(
            (c.sigterm, c.cleanup),
            (SigtermMode::Handle, Duration::from_millis(40))
        );
    }

    #[test]
    fn fault_knobs() {
        let base = ("AWS_LAMBDA_RUNTIME_API", "h:1");
        let c = parse(&[base]).expect("config");
        assert_eq!(c.init_fail_once_mode, InitMode::Error);
        let c = parse(&[base, ("TESTFN_SIGTERM", "crash")]).expect("config");
        assert_eq!(c.sigterm, SigtermMode::Crash);
        let c = parse(&[base, ("TESTFN_INIT_FAIL_ONCE_MODE", "crash")]).expect("config");
        assert_eq!(c.init_fail_once_mode, InitMode::Crash);
        assert!(parse(&[base, ("TESTFN_INIT_FAIL_ONCE_MODE", "sleep:1")]).is_err());
    }

    #[test]
    fn empty_means_unset_and_bad_values_are_refused() {
        let c = parse(&[
            ("AWS_LAMBDA_RUNTIME_API", "h:1"),
            ("TESTFN_EXTENSION", ""),
            ("TESTFN_INIT", ""),
        ])
        .expect("config");
        assert_eq!((c.extension, c.init), (None, InitMode::Ok));
        assert!(parse(&[]).is_err());
        assert!(
            parse(&[
                ("AWS_LAMBDA_RUNTIME_API", "h:1"),
                ("TESTFN_INIT", "sleep:x")
            ])
            .is_err()
        );
        assert!(
            parse(&[
                ("AWS_LAMBDA_RUNTIME_API", "h:1"),
                ("TESTFN_SIGTERM", "kill")
            ])
            .is_err()
        );
        assert!(
            parse(&[
                ("AWS_LAMBDA_RUNTIME_API", "h:1"),
                ("TESTFN_CLEANUP_MS", "-1")
            ])
            .is_err()
        );
    }
}
