//! One `AWS::Serverless::Function` (its `Properties` already merged with `Globals.Function`)
//! → [`SamFunction`]: the runtime, code directory, handler, memory, timeout, variables and layers
//! it asks for. What cannot be emulated is collected as warnings; a function that cannot run
//! here at all (an image, inline code, a runtime other than `provided.*`/`python3.x`/
//! `nodejs20.x`/`nodejs22.x`, code in S3) is skipped with a warning; a local path that does not
//! exist is an error.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Context, Result, bail};

use super::code::{Location, locate};
use super::resolve::Resolver;
use super::yaml::Node;

/// Properties read by this module; every other one is named in a warning.
const READ: &[&str] = &[
    "CodeUri",
    "Handler",
    "Runtime",
    "MemorySize",
    "Timeout",
    "Environment",
    "Layers",
    "Architectures",
    "PackageType",
    // `Api`/`HttpApi` events and function URLs: read by `events` for `grace serve`; other
    // event types are named in a warning here.
    "Events",
    "FunctionUrlConfig",
    // No local effect.
    "Description",
    // Named in a warning of its own: functions are served under their logical ids.
    "FunctionName",
];

/// How the function's runtime is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Runtime {
    /// `provided.al2023`, `provided.al2`, `provided`: `CodeUri/bootstrap`.
    Custom,
    /// `python3.X`: the official runtime interface client, `python -m awslambdaric HANDLER`;
    /// holds `3.X`.
    Python(String),
    /// `nodejs20.x`, `nodejs22.x`: the official runtime interface client, `aws-lambda-ric`
    /// (module `node`); holds the major version, `20`.
    Node(String),
}

/// What the template says about one function.
#[derive(Debug)]
pub(crate) struct SamFunction {
    pub(crate) name: String,
    pub(crate) runtime: Runtime,
    pub(crate) code_dir: PathBuf,
    pub(crate) handler: Option<String>,
    pub(crate) memory_mb: Option<u32>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) layers: Vec<PathBuf>,
}

/// What reading needs: the template, its directory, the resolver, and where warnings go.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    pub(crate) template: &'a Node,
    pub(crate) base: &'a std::path::Path,
    pub(crate) resolver: &'a Resolver,
    pub(crate) warnings: Vec<String>,
}

impl Reader<'_> {
    fn warn(&mut self, name: &str, text: String) {
        self.warnings.push(format!("{name}: {text}"));
    }

    /// Reads function `name` from its merged `props`; `None` when it cannot run here.
    pub(crate) fn read(&mut self, name: &str, props: &Node) -> Result<Option<SamFunction>> {
        let ignored: Vec<&str> = props
            .entries()
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !READ.contains(k))
            .collect();
        if !ignored.is_empty() {
            self.warn(
                name,
                format!("not emulated, ignored: {}", ignored.join(", ")),
            );
        }
        for warning in super::events::unsupported(props) {
            self.warn(name, warning);
        }
        if let Some(f) = props.get("FunctionName") {
            self.warn(name, format!("FunctionName {f} ignored: served as {name}"));
        }
        if props.get("InlineCode").is_some() {
            self.warn(name, "skipped: InlineCode (only CodeUri is served)".into());
            return Ok(None);
        }
        if let Some(p) = props.get("PackageType")
            && self.resolver.string(p).as_deref() != Ok("Zip")
        {
            self.warn(
                name,
                format!("skipped: PackageType {p} (only Zip is served)"),
            );
            return Ok(None);
        }
        let runtime = match props.get("Runtime").map(|r| self.resolver.string(r)) {
            None => {
                self.warn(name, "skipped: no Runtime".into());
                return Ok(None);
            }
            Some(Err(e)) => {
                self.warn(name, format!("skipped: Runtime {e}"));
                return Ok(None);
            }
            Some(Ok(r))
                if matches!(r.as_str(), "provided.al2023" | "provided.al2" | "provided") =>
            {
                Runtime::Custom
            }
            Some(Ok(r)) if r.starts_with("python3.") => Runtime::Python(r["python".len()..].into()),
            Some(Ok(r)) if super::node::major(&r).is_some() => {
                Runtime::Node(super::node::major(&r).unwrap_or_default().into())
            }
            Some(Ok(r)) => {
                self.warn(
                    name,
                    format!(
                        "skipped: Runtime {r} (served: provided.al2023, provided.al2, python3.x, \
                         {})",
                        super::node::SERVED.join(", ")
                    ),
                );
                return Ok(None);
            }
        };
        // SAM CLI's default when CodeUri is absent: the template's directory.
        let code = props
            .get("CodeUri")
            .cloned()
            .unwrap_or(Node::Str(".".into()));
        let hint = match runtime {
            Runtime::Custom => " (build it first: `cargo lambda build` writes target/lambda/BIN)",
            Runtime::Python(_) | Runtime::Node(_) => "",
        };
        let code_dir = match locate(&code, self.base, self.resolver)
            .with_context(|| format!("{name}: CodeUri{hint}"))?
        {
            Location::Dir(dir) => dir,
            Location::Remote(what) => {
                self.warn(name, format!("skipped: CodeUri {what}"));
                return Ok(None);
            }
        };
        let handler = match props.get("Handler").map(|h| self.resolver.string(h)) {
            Some(Ok(h)) => Some(h),
            Some(Err(e)) => {
                self.warn(name, format!("Handler {e}: not set"));
                None
            }
            None => None,
        };
        if matches!(runtime, Runtime::Python(_)) && handler.is_none() {
            self.warn(
                name,
                "skipped: a python function needs a Handler (module.function)".into(),
            );
            return Ok(None);
        }
        if matches!(runtime, Runtime::Node(_)) && handler.is_none() {
            self.warn(
                name,
                "skipped: a nodejs function needs a Handler (file.export)".into(),
            );
            return Ok(None);
        }
        if runtime == Runtime::Custom {
            self.check_architecture(name, props.get("Architectures"));
        }
        Ok(Some(SamFunction {
            name: name.to_owned(),
            runtime,
            code_dir,
            handler,
            memory_mb: self
                .number(name, props, "MemorySize", 128..=10240)?
                .map(|m| m as u32),
            timeout: self
                .number(name, props, "Timeout", 1..=900)?
                .map(Duration::from_secs),
            env: self.variables(name, props.get("Environment")),
            layers: self.layers(name, props.get("Layers"))?,
        }))
    }

    /// A whole number within `range`; an intrinsic that does not resolve is a warning.
    fn number(
        &mut self,
        name: &str,
        props: &Node,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Option<u64>> {
        let Some(node) = props.get(key) else {
            return Ok(None);
        };
        let text = match self.resolver.string(node) {
            Ok(text) => text,
            Err(e) => {
                self.warn(name, format!("{key} {e}: Lambda's default used"));
                return Ok(None);
            }
        };
        let n: u64 = text
            .trim()
            .parse()
            .with_context(|| format!("{name}: {key} '{text}' is not a whole number"))?;
        if !range.contains(&n) {
            bail!(
                "{name}: {key} {n} is outside Lambda's range {}..={}",
                range.start(),
                range.end()
            );
        }
        Ok(Some(n))
    }

    /// `Environment.Variables`; a value that does not resolve is left unset, with a warning.
    fn variables(&mut self, name: &str, environment: Option<&Node>) -> Vec<(String, String)> {
        let Some(environment) = environment else {
            return Vec::new();
        };
        let mut vars = Vec::new();
        for (key, value) in environment.entries() {
            if key != "Variables" {
                self.warn(name, format!("Environment.{key}: not emulated, ignored"));
                continue;
            }
            for (var, v) in value.entries() {
                match self.resolver.string(v) {
                    Ok(text) => vars.push((var.clone(), text)),
                    Err(e) => self.warn(
                        name,
                        format!("Environment.Variables.{var} = {e}: not set (pass --env {var}=…)"),
                    ),
                }
            }
        }
        vars
    }

    /// `Layers`: local directories (or zips), directly or through a `!Ref` to an
    /// `AWS::Serverless::LayerVersion` of this template; anything else is skipped with a warning.
    fn layers(&mut self, name: &str, layers: Option<&Node>) -> Result<Vec<PathBuf>> {
        let items = match layers {
            None => return Ok(Vec::new()),
            Some(Node::Seq(items)) => items.clone(),
            Some(other) => {
                self.warn(name, format!("Layers {other}: not a list, ignored"));
                return Ok(Vec::new());
            }
        };
        let mut dirs = Vec::new();
        for item in &items {
            let (content, label) = match self.layer_resource(item) {
                Some(Ok((resource, content))) => {
                    (content.clone(), format!("layer {resource} (ContentUri)"))
                }
                Some(Err(why)) => {
                    self.warn(name, format!("layer {item} skipped: {why}"));
                    continue;
                }
                None => (item.clone(), "layer".to_owned()),
            };
            match locate(&content, self.base, self.resolver)
                .with_context(|| format!("{name}: {label}"))?
            {
                Location::Dir(dir) => dirs.push(dir),
                Location::Remote(what) => self.warn(
                    name,
                    format!(
                        "{label} {what} skipped: only local layers run (its extensions will not start)"
                    ),
                ),
            }
        }
        Ok(dirs)
    }

    /// For `!Ref X` where X is a resource: its content, or why it cannot be used.
    fn layer_resource<'n>(&'n self, item: &Node) -> Option<Result<(String, &'n Node), String>> {
        let Node::Fn(f, arg) = item else { return None };
        let target = arg.as_str().filter(|_| f == "Ref")?;
        let resource = self.template.get("Resources")?.get(target)?;
        let kind = resource.get("Type").and_then(Node::as_str).unwrap_or("?");
        if kind != "AWS::Serverless::LayerVersion" {
            return Some(Err(format!(
                "{target} is a {kind}, not an AWS::Serverless::LayerVersion"
            )));
        }
        match resource.get("Properties").and_then(|p| p.get("ContentUri")) {
            Some(content) => Some(Ok((target.to_owned(), content))),
            None => Some(Err(format!("{target} has no ContentUri"))),
        }
    }

    /// A `provided.*` bootstrap built for another architecture cannot start here: say so.
    fn check_architecture(&mut self, name: &str, architectures: Option<&Node>) {
        let Some(Node::Seq(list)) = architectures else {
            return;
        };
        let host = match std::env::consts::ARCH {
            "aarch64" => "arm64",
            other => other,
        };
        for arch in list.iter().filter_map(|a| self.resolver.string(a).ok()) {
            if arch != host {
                self.warn(
                    name,
                    format!("Architectures {arch}: this machine is {host}; a bootstrap built for {arch} will not start here"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;

    #[test]
    fn functions_that_cannot_run_here_are_skipped_with_the_reason() {
        let t = parse(
            "Resources: {}\n\
             Node: {Runtime: nodejs18.x, Handler: index.handler, CodeUri: .}\n\
             NodeNoHandler: {Runtime: nodejs20.x, CodeUri: .}\n\
             S3: {Runtime: python3.12, Handler: app.handler, CodeUri: 's3://bucket/code.zip'}\n\
             Image: {PackageType: Image, ImageUri: 'repo:tag'}\n\
             Inline: {Runtime: python3.12, Handler: index.handler, InlineCode: 'def handler(e, c): pass'}\n\
             NoHandler: {Runtime: python3.12, CodeUri: .}\n\
             Ok: {Runtime: provided.al2023, CodeUri: ., FunctionName: real-name}\n",
        )
        .unwrap();
        let resolver = Resolver::new(&t, "us-east-1", "123456789012", &[]).unwrap();
        let base = std::env::temp_dir();
        let mut reader = Reader {
            template: &t,
            base: &base,
            resolver: &resolver,
            warnings: Vec::new(),
        };
        for name in [
            "Node",
            "NodeNoHandler",
            "S3",
            "Image",
            "Inline",
            "NoHandler",
        ] {
            let f = reader.read(name, t.get(name).unwrap()).unwrap();
            assert!(f.is_none(), "{name} was not skipped");
            let said = reader
                .warnings
                .iter()
                .any(|w| w.starts_with(&format!("{name}: skipped")));
            assert!(said, "{name}: {:?}", reader.warnings);
        }
        // Negative control: a function that can run is read, its FunctionName named.
        let f = reader.read("Ok", t.get("Ok").unwrap()).unwrap().unwrap();
        assert_eq!((f.runtime, f.code_dir), (Runtime::Custom, base.clone()));
        assert!(
            reader
                .warnings
                .iter()
                .any(|w| w == "Ok: FunctionName 'real-name' ignored: served as Ok")
        );
    }
}
