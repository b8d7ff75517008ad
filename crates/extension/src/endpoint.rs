//! Where the Extensions API is: `AWS_LAMBDA_RUNTIME_API` (§2, §4.6), and the extension's
//! default name (§2.1: for an external extension, the executable's file name).

use std::ffi::OsString;
use std::path::Path;

use crate::error::Error;

/// The variable the platform sets for the runtime and for every extension.
pub(crate) const RUNTIME_API_VAR: &str = "AWS_LAMBDA_RUNTIME_API";

/// `AWS_LAMBDA_RUNTIME_API`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `host:port`, to connect to and to send as `Host`.
    pub(crate) authority: String,
    /// Prepended to every API path: empty, or `/prefix` without a trailing slash.
    pub(crate) base_path: String,
}

impl Endpoint {
    /// Lambda sets `host:port`; `http://host:port` and `http://host:port/prefix` (as
    /// `cargo lambda watch` uses) are accepted too.
    pub(crate) fn parse(value: &str) -> Result<Self, Error> {
        let invalid = || Error::Config {
            reason: format!("{RUNTIME_API_VAR}={value:?}: expected host:port"),
        };
        let rest = value.trim().strip_prefix("http://").unwrap_or(value.trim());
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = authority.rsplit_once(':').ok_or_else(invalid)?;
        let visible = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
        if host.is_empty() || !visible(authority) || !visible(path) || port.parse::<u16>().is_err()
        {
            return Err(invalid());
        }
        Ok(Self {
            authority: authority.to_owned(),
            base_path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// The path of an API resource (`/2020-01-01/...`) below this endpoint.
    pub(crate) fn path(&self, resource: &str) -> String {
        format!("{}{resource}", self.base_path)
    }
}

/// The file name of the running executable: what Lambda expects as an external extension's
/// name. `argv[0]` comes first because it keeps the name of a symlink in `/opt/extensions`
/// (`current_exe` resolves links).
pub(crate) fn executable_name(argv0: Option<OsString>) -> Option<String> {
    let from = |p: &Path| p.file_name().and_then(|n| n.to_str()).map(str::to_owned);
    argv0
        .as_deref()
        .map(Path::new)
        .and_then(from)
        .or_else(|| std::env::current_exe().ok().as_deref().and_then(from))
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_may_carry_a_scheme_and_a_prefix() {
        let e = Endpoint::parse("127.0.0.1:9001").unwrap();
        assert_eq!(
            (e.authority.as_str(), e.path("/x")),
            ("127.0.0.1:9001", "/x".into())
        );
        let e = Endpoint::parse("http://localhost:9000/.rt/").unwrap();
        assert_eq!(e.authority, "localhost:9000");
        assert_eq!(
            e.path("/2020-01-01/extension/register"),
            "/.rt/2020-01-01/extension/register"
        );
        for bad in ["", "localhost", ":9001", "h:port", "h:70000", "a b:1"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_name_is_the_file_name_of_argv0() {
        let name = |s: &str| executable_name(Some(s.into()));
        assert_eq!(name("/opt/extensions/my-ext").as_deref(), Some("my-ext"));
        assert_eq!(name("my-ext").as_deref(), Some("my-ext"));
        // Without argv[0], the running test binary's own name.
        assert!(executable_name(None).is_some());
    }
}
