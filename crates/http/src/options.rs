//! [`HttpOptions`]: how events become requests; today, whether the API Gateway stage stays in
//! the path the service sees ([`StagePath`]).
//!
//! Read from the environment through an injectable lookup (tests pass a closure), or set in
//! code; code wins, because [`HttpOptions::stage_path`] is applied after the lookup.

use crate::error::Error;

/// The variable that sets [`StagePath`]: `strip` (the default) or `keep`.
pub const STAGE_PATH_VAR: &str = "LAMBDA_GRACE_HTTP_STAGE_PATH";

/// Whether the path the service sees keeps the API Gateway stage.
///
/// API Gateway puts the stage in the path of some events and not others (see the crate
/// documentation's "Stage paths" for each case). With `Strip`, a router sees the same paths
/// whatever the stage and whether a custom domain is used; with `Keep`, it sees the path as
/// the event carries it (REST: `requestContext.path`; HTTP API: `rawPath`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StagePath {
    /// Remove `/{stage}` where API Gateway added it (the default).
    #[default]
    Strip,
    /// Leave the path as the event carries it.
    Keep,
}

impl StagePath {
    fn parse(value: &str) -> Result<Self, Error> {
        match value.trim().to_ascii_lowercase().as_str() {
            "strip" | "" => Ok(Self::Strip),
            "keep" => Ok(Self::Keep),
            _ => Err(Error::InvalidOption {
                var: STAGE_PATH_VAR,
                value: value.to_owned(),
                expected: "`strip` or `keep`",
            }),
        }
    }
}

/// How events become requests. `Default` is what an empty environment gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpOptions {
    /// See [`StagePath`].
    pub stage_path: StagePath,
}

impl HttpOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads [`STAGE_PATH_VAR`] from the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the options through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let stage_path = match lookup(STAGE_PATH_VAR) {
            Some(value) => StagePath::parse(&value)?,
            None => StagePath::default(),
        };
        Ok(Self { stage_path })
    }

    /// Sets [`StagePath`].
    pub fn stage_path(mut self, stage_path: StagePath) -> Self {
        self.stage_path = stage_path;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &'static str) -> impl Fn(&str) -> Option<String> {
        move |name| (name == STAGE_PATH_VAR).then(|| value.to_owned())
    }

    #[test]
    fn the_stage_is_stripped_unless_told_otherwise() {
        assert_eq!(
            HttpOptions::from_lookup(|_| None).unwrap().stage_path,
            StagePath::Strip
        );
        assert_eq!(
            HttpOptions::from_lookup(with("KEEP")).unwrap().stage_path,
            StagePath::Keep
        );
        assert_eq!(
            HttpOptions::from_lookup(with("strip")).unwrap().stage_path,
            StagePath::Strip
        );
    }

    #[test]
    fn an_unknown_value_is_an_error_not_a_default() {
        let e = HttpOptions::from_lookup(with("true")).unwrap_err();
        assert!(matches!(e, Error::InvalidOption { .. }), "{e:?}");
    }

    #[test]
    fn code_overrides_the_environment() {
        let o = HttpOptions::from_lookup(with("keep"))
            .unwrap()
            .stage_path(StagePath::Strip);
        assert_eq!(o.stage_path, StagePath::Strip);
    }
}
