//! Template text → [`Node`]: YAML (or JSON, a subset of it) parsed by `saphyr`, with
//! CloudFormation's short-form tags (`!Ref X`, `!Sub '…'`, `!GetAtt A.B`) rewritten into the
//! long form they abbreviate (`{Ref: X}`, `{Fn::Sub: '…'}`, `{Fn::GetAtt: A.B}`), so that the rest
//! of the module sees one representation, as SAM and CloudFormation do after parsing.

use std::fmt;

use crate::error::{Context, Result, bail};
use saphyr::{LoadableYamlNode, Scalar, Yaml};

/// One value of a template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// A mapping in document order (keys are scalars, read as text).
    Map(Vec<(String, Node)>),
    /// An intrinsic function in its long-form name (`Ref`, `Condition`, `Fn::Sub`, …) with its
    /// argument: a short-form tag, or a one-key mapping whose key is such a name.
    Fn(String, Box<Node>),
}

impl Node {
    /// The value under `key` of a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The entries of a mapping (none for anything else).
    pub(crate) fn entries(&self) -> &[(String, Node)] {
        match self {
            Node::Map(entries) => entries,
            _ => &[],
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A scalar as CloudFormation would pass it: text (`8080` → `"8080"`, `true` → `"true"`).
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match self {
            Node::Str(s) => Some(s.clone()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// A node as it would be written in a template, shortened, for warnings: `!Ref DbUrl`,
/// `!GetAtt Db.Endpoint.Address`, `'s3://bucket/key'`, `a mapping (Bucket, Key)`.
impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Null => f.write_str("null"),
            Node::Bool(b) => write!(f, "{b}"),
            Node::Int(i) => write!(f, "{i}"),
            Node::Float(x) => write!(f, "{x}"),
            Node::Str(s) if s.chars().count() > 60 => {
                let short: String = s.chars().take(57).collect();
                write!(f, "'{short}…'")
            }
            Node::Str(s) => write!(f, "'{s}'"),
            Node::Seq(items) => write!(f, "a list of {}", items.len()),
            Node::Map(entries) => {
                let keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
                write!(f, "a mapping ({})", keys.join(", "))
            }
            Node::Fn(name, arg) => {
                let short = name.strip_prefix("Fn::").unwrap_or(name);
                match arg.as_ref() {
                    Node::Str(s) => write!(f, "!{short} {s}"),
                    Node::Seq(items) => {
                        let parts: Vec<String> = items.iter().map(Node::to_string).collect();
                        write!(f, "!{short} [{}]", parts.join(", "))
                    }
                    other => write!(f, "!{short} {other}"),
                }
            }
        }
    }
}

/// Parses the first document of a template.
pub(crate) fn parse(text: &str) -> Result<Node> {
    let docs = Yaml::load_from_str(text).context("not valid YAML")?;
    let Some(doc) = docs.first() else {
        bail!("the file is empty");
    };
    convert(doc)
}

fn convert(yaml: &Yaml<'_>) -> Result<Node> {
    Ok(match yaml {
        Yaml::Value(scalar) => scalar_node(scalar),
        // Only produced when scalars are parsed lazily (not the case with `load_from_str`); read
        // as text, which is what CloudFormation does with a scalar it has no schema for.
        Yaml::Representation(text, _, _) => Node::Str(text.to_string()),
        Yaml::Sequence(items) => Node::Seq(items.iter().map(convert).collect::<Result<_, _>>()?),
        Yaml::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = match convert(k)? {
                    Node::Null => "null".to_owned(),
                    other => other
                        .scalar_text()
                        .with_context(|| format!("a mapping key is not a scalar: {other}"))?,
                };
                entries.push((key, convert(v)?));
            }
            match entries.as_slice() {
                [(key, _)] if is_intrinsic_name(key) => {
                    let (key, value) = entries.remove(0);
                    Node::Fn(key, Box::new(value))
                }
                _ => Node::Map(entries),
            }
        }
        Yaml::Tagged(tag, inner) => {
            let inner = convert(inner)?;
            if tag.handle == "!" {
                Node::Fn(long_name(&tag.suffix), Box::new(inner))
            } else {
                // A tag of another handle (`!!` core-schema tags are applied by the parser):
                // CloudFormation ignores it, and so do we.
                inner
            }
        }
        Yaml::Alias(_) => bail!("unresolved YAML alias"),
        Yaml::BadValue => bail!("a value of the wrong type for its YAML tag"),
    })
}

fn scalar_node(scalar: &Scalar<'_>) -> Node {
    match scalar {
        Scalar::Null => Node::Null,
        Scalar::Boolean(b) => Node::Bool(*b),
        Scalar::Integer(i) => Node::Int(*i),
        Scalar::FloatingPoint(x) => Node::Float(x.into_inner()),
        Scalar::String(s) => Node::Str(s.to_string()),
    }
}

/// SAM's `is_intrinsics`: a one-key mapping whose key is `Ref`, `Condition` or `Fn::…`.
fn is_intrinsic_name(key: &str) -> bool {
    key == "Ref" || key == "Condition" || key.starts_with("Fn::")
}

/// `Ref` → `Ref`, `Condition` → `Condition`, `Sub` → `Fn::Sub`.
fn long_name(short: &str) -> String {
    match short {
        "Ref" | "Condition" => short.to_owned(),
        other => format!("Fn::{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fun(name: &str, arg: Node) -> Node {
        Node::Fn(name.to_owned(), Box::new(arg))
    }

    #[test]
    fn short_and_long_forms_read_the_same() {
        let short = parse("a: !Ref Layer\nb: !Sub '${AWS::Region}-x'\nc: !GetAtt Db.Endpoint\nd: !Join ['-', [a, !Ref P]]\n").unwrap();
        let long = parse(
            r#"{"a": {"Ref": "Layer"}, "b": {"Fn::Sub": "${AWS::Region}-x"},
                "c": {"Fn::GetAtt": "Db.Endpoint"},
                "d": {"Fn::Join": ["-", ["a", {"Ref": "P"}]]}}"#,
        )
        .unwrap();
        assert_eq!(short, long);
        assert_eq!(short.get("a"), Some(&fun("Ref", Node::Str("Layer".into()))));
        assert_eq!(
            short.get("d").unwrap().to_string(),
            "!Join ['-', a list of 2]"
        );
        assert_eq!(short.get("c").unwrap().to_string(), "!GetAtt Db.Endpoint");
    }

    #[test]
    fn scalars_keep_their_types_and_read_as_text() {
        let n = parse("m: 512\nt: 3.5\nb: true\ns: '512'\nn: ~\n").unwrap();
        assert_eq!(n.get("m"), Some(&Node::Int(512)));
        assert_eq!(n.get("m").unwrap().scalar_text().as_deref(), Some("512"));
        assert_eq!(n.get("t"), Some(&Node::Float(3.5)));
        assert_eq!(n.get("b").unwrap().scalar_text().as_deref(), Some("true"));
        assert_eq!(n.get("s"), Some(&Node::Str("512".into())));
        assert_eq!(n.get("n"), Some(&Node::Null));
    }

    #[test]
    fn anchors_resolve_and_bad_yaml_is_an_error() {
        let n = parse("a: &x {k: v}\nb: *x\n").unwrap();
        assert_eq!(n.get("a"), n.get("b"));
        assert!(parse("a: [unclosed\n").is_err());
        assert!(parse("").is_err());
    }
}
