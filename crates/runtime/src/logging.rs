//! An opt-in `tracing` subscriber set up the way Lambda's advanced logging controls ask:
//! `AWS_LAMBDA_LOG_FORMAT` (`JSON` or `TEXT`) and `AWS_LAMBDA_LOG_LEVEL`
//! (`TRACE`…`ERROR`, `FATAL`), §4.6. Functions that bring their own subscriber do not call it.
//!
//! Every line logged during an invocation carries its request id: the runtime runs each
//! handler inside an `invoke` span with a `requestId` field, which the text format prints as
//! `invoke{requestId=…}:` and the JSON format as `"span":{"requestId":…}`.
//!
//! Lines go to stdout, without colours, and in text format without a timestamp (CloudWatch
//! stamps every line).

use tracing::level_filters::LevelFilter;

use crate::config::env_lookup;

/// `AWS_LAMBDA_LOG_FORMAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// Plain text lines (the default).
    Text,
    /// One JSON object per line.
    Json,
}

/// Format and level of the subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogSettings {
    /// The line format.
    pub format: LogFormat,
    /// The most verbose level shown.
    pub level: LevelFilter,
}

impl LogSettings {
    /// Reads `AWS_LAMBDA_LOG_FORMAT` and `AWS_LAMBDA_LOG_LEVEL` through `lookup`. Without a
    /// usable level, `RUST_LOG` is used if it is a plain level name; otherwise `INFO`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let format = match lookup("AWS_LAMBDA_LOG_FORMAT") {
            Some(f) if f.trim().eq_ignore_ascii_case("json") => LogFormat::Json,
            _ => LogFormat::Text,
        };
        let level = lookup("AWS_LAMBDA_LOG_LEVEL")
            .and_then(|l| parse_level(&l))
            .or_else(|| lookup("RUST_LOG").and_then(|l| parse_level(&l)))
            .unwrap_or(LevelFilter::INFO);
        Self { format, level }
    }
}

fn parse_level(text: &str) -> Option<LevelFilter> {
    match text.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some(LevelFilter::TRACE),
        "DEBUG" => Some(LevelFilter::DEBUG),
        "INFO" => Some(LevelFilter::INFO),
        "WARN" | "WARNING" => Some(LevelFilter::WARN),
        "ERROR" | "FATAL" => Some(LevelFilter::ERROR),
        "OFF" => Some(LevelFilter::OFF),
        _ => None,
    }
}

/// Installs the subscriber configured by the process environment, unless one is already
/// installed (then it does nothing).
pub fn init() {
    init_with(LogSettings::from_lookup(env_lookup));
}

/// Installs a subscriber with these settings, unless one is already installed.
pub fn init_with(settings: LogSettings) {
    let builder = tracing_subscriber::fmt()
        .with_max_level(settings.level)
        .with_writer(std::io::stdout)
        .with_ansi(false);
    // `try_init` fails only if a global subscriber is already set, which is fine.
    let _ = match settings.format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder.with_target(false).without_time().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> LogSettings {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LogSettings::from_lookup(move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
    }

    #[test]
    fn format_and_level_come_from_the_lambda_variables() {
        assert_eq!(
            settings(&[]),
            LogSettings {
                format: LogFormat::Text,
                level: LevelFilter::INFO
            }
        );
        let s = settings(&[
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "debug"),
        ]);
        assert_eq!((s.format, s.level), (LogFormat::Json, LevelFilter::DEBUG));
        let s = settings(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]);
        assert_eq!(s.level, LevelFilter::ERROR);
    }

    #[test]
    fn rust_log_is_a_fallback_only_when_it_is_a_plain_level() {
        assert_eq!(settings(&[("RUST_LOG", "warn")]).level, LevelFilter::WARN);
        assert_eq!(
            settings(&[("RUST_LOG", "my_crate=debug")]).level,
            LevelFilter::INFO
        );
        assert_eq!(
            settings(&[("AWS_LAMBDA_LOG_LEVEL", "bogus"), ("RUST_LOG", "trace")]).level,
            LevelFilter::TRACE
        );
        assert_eq!(
            settings(&[("AWS_LAMBDA_LOG_LEVEL", "ERROR"), ("RUST_LOG", "trace")]).level,
            LevelFilter::ERROR
        );
    }
}
