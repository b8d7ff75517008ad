//! The function's configuration, read from the variables the platform sets (§4.6) through an
//! injectable lookup, so that tests (and unusual hosts) need not touch the process environment.

use std::fmt;

/// A missing or malformed configuration variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The platform always sets this variable; without it the process is not running as a
    /// Lambda function.
    #[error(
        "{var} is not set (the Lambda platform sets it; run the function on Lambda or under `grace serve`)"
    )]
    Missing {
        /// The variable's name.
        var: &'static str,
    },
    /// The variable is set to something the runtime cannot use.
    #[error("{var}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// `AWS_LAMBDA_RUNTIME_API`: where the Runtime and Extensions APIs are served.
///
/// Lambda sets `host:port`; `http://host:port` and a path prefix (`http://host:port/prefix`,
/// as `cargo lambda watch` uses) are accepted too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`, to connect to and to send as `Host`.
    authority: String,
    /// Prepended to every API path; empty or `/something` without a trailing slash.
    base_path: String,
}

impl Endpoint {
    const VAR: &'static str = "AWS_LAMBDA_RUNTIME_API";

    /// Parses the variable's value.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        let invalid = |reason| ConfigError::Invalid {
            var: Self::VAR,
            value: value.to_owned(),
            reason,
        };
        if value.starts_with("https://") {
            return Err(invalid("the Runtime API is plain HTTP"));
        }
        let rest = value.strip_prefix("http://").unwrap_or(value);
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| invalid("expected host:port"))?;
        let visible = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
        if host.is_empty()
            || !visible(host)
            || !visible(path)
            || port.parse::<u16>().map_or(true, |p| p == 0)
        {
            return Err(invalid("expected host:port"));
        }
        Ok(Self {
            authority: authority.to_owned(),
            base_path: path.trim_end_matches('/').to_owned(),
        })
    }

    /// `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The path of an API resource (`/2018-06-01/...`) below this endpoint.
    pub(crate) fn path(&self, resource: &str) -> String {
        self.path_of(&[resource])
    }

    /// The path of a resource given in pieces (one allocation, on the invoke path).
    pub(crate) fn path_of(&self, pieces: &[&str]) -> String {
        let len = self.base_path.len() + pieces.iter().map(|p| p.len()).sum::<usize>();
        let mut p = String::with_capacity(len);
        p.push_str(&self.base_path);
        for piece in pieces {
            p.push_str(piece);
        }
        p
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}{}", self.authority, self.base_path)
    }
}

/// The function's configuration: what the platform tells every runtime through its
/// environment (`AWS_LAMBDA_*`, §4.6).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// `AWS_LAMBDA_RUNTIME_API`.
    pub runtime_api: Endpoint,
    /// `AWS_LAMBDA_FUNCTION_NAME`.
    pub function_name: String,
    /// `AWS_LAMBDA_FUNCTION_VERSION`, e.g. `$LATEST`.
    pub function_version: String,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub memory_size_mb: u32,
    /// `AWS_LAMBDA_LOG_GROUP_NAME` (empty when not set).
    pub log_group_name: String,
    /// `AWS_LAMBDA_LOG_STREAM_NAME` (empty when not set).
    pub log_stream_name: String,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env_lookup)
    }

    /// Reads the configuration through `lookup` (a variable's name → its value).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let runtime_api = Endpoint::parse(&required(&lookup, Endpoint::VAR)?)?;
        Self::with_endpoint(runtime_api, &lookup)
    }

    /// Everything but the endpoint (which is needed first: to report the other errors).
    pub(crate) fn with_endpoint(
        runtime_api: Endpoint,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        const MEMORY: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
        let function_name = required(lookup, "AWS_LAMBDA_FUNCTION_NAME")?;
        let function_version = required(lookup, "AWS_LAMBDA_FUNCTION_VERSION")?;
        let memory = required(lookup, MEMORY)?;
        let memory_size_mb = match memory.trim().parse::<u32>() {
            Ok(mb) if mb > 0 => mb,
            _ => {
                return Err(ConfigError::Invalid {
                    var: MEMORY,
                    value: memory,
                    reason: "expected a positive number of megabytes",
                });
            }
        };
        Ok(Self {
            runtime_api,
            function_name,
            function_version,
            memory_size_mb,
            log_group_name: lookup("AWS_LAMBDA_LOG_GROUP_NAME").unwrap_or_default(),
            log_stream_name: lookup("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_default(),
        })
    }
}

/// The lookup of [`Config::from_env`]: a variable that is not valid UTF-8 is passed on lossily,
/// so that it is reported as malformed rather than as missing.
pub(crate) fn env_lookup(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

fn required(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
) -> Result<String, ConfigError> {
    match lookup(var) {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(v) => Err(ConfigError::Invalid {
            var,
            value: v,
            reason: "it is empty",
        }),
        None => Err(ConfigError::Missing { var }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const GOOD: &[(&str, &str)] = &[
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
        ("AWS_LAMBDA_FUNCTION_NAME", "f"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/f"),
    ];

    fn with(var: &str, value: Option<&str>) -> Vec<(&'static str, String)> {
        let mut v: Vec<(&'static str, String)> = GOOD
            .iter()
            .filter(|(k, _)| *k != var)
            .map(|(k, v)| (*k, v.to_string()))
            .collect();
        if let Some(value) = value {
            let k = GOOD.iter().find(|(k, _)| *k == var).unwrap().0;
            v.push((k, value.to_owned()));
        }
        v
    }

    fn parse(vars: Vec<(&'static str, String)>) -> Result<Config, ConfigError> {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Config::from_lookup(lookup(&pairs))
    }

    #[test]
    fn a_complete_environment_parses() {
        let c = Config::from_lookup(lookup(GOOD)).unwrap();
        assert_eq!(c.function_name, "f");
        assert_eq!(c.function_version, "$LATEST");
        assert_eq!(c.memory_size_mb, 128);
        assert_eq!(c.log_group_name, "/aws/lambda/f");
        assert_eq!(c.log_stream_name, "");
        assert_eq!(c.runtime_api.authority(), "127.0.0.1:9001");
        assert_eq!(
            c.runtime_api.path("/2018-06-01/runtime/invocation/next"),
            "/2018-06-01/runtime/invocation/next"
        );
    }

    #[test]
    fn missing_variables_are_named() {
        for var in [
            "AWS_LAMBDA_RUNTIME_API",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_VERSION",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        ] {
            let err = parse(with(var, None)).unwrap_err();
            assert!(
                matches!(err, ConfigError::Missing { var: v } if v == var),
                "{err:?}"
            );
            assert!(err.to_string().starts_with(var), "{err}");
        }
        // Negative control: the optional log variables may be missing.
        assert!(parse(with("AWS_LAMBDA_LOG_GROUP_NAME", None)).is_ok());
    }

    #[test]
    fn malformed_variables_are_errors_not_panics() {
        for (var, value) in [
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "abc"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "-1"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0"),
            ("AWS_LAMBDA_FUNCTION_NAME", " "),
            ("AWS_LAMBDA_RUNTIME_API", "localhost"),
            ("AWS_LAMBDA_RUNTIME_API", "localhost:notaport"),
            ("AWS_LAMBDA_RUNTIME_API", ":9001"),
            ("AWS_LAMBDA_RUNTIME_API", "https://h:1"),
        ] {
            let err = parse(with(var, Some(value))).unwrap_err();
            assert!(
                matches!(&err, ConfigError::Invalid { var: v, value: got, .. } if *v == var && got == value),
                "{var}={value}: {err:?}"
            );
        }
        let err = parse(with("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", Some("abc"))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=\"abc\" is invalid: expected a positive number of megabytes"
        );
    }

    #[test]
    fn endpoints_accept_a_scheme_and_a_path_prefix() {
        let e = Endpoint::parse("http://127.0.0.1:9100/.rt/").unwrap();
        assert_eq!(e.authority(), "127.0.0.1:9100");
        assert_eq!(
            e.path("/2018-06-01/runtime/invocation/next"),
            "/.rt/2018-06-01/runtime/invocation/next"
        );
        assert_eq!(e.to_string(), "http://127.0.0.1:9100/.rt");
        let e = Endpoint::parse("[::1]:9001").unwrap();
        assert_eq!(e.authority(), "[::1]:9001");
    }
}
