//! Intrinsic functions that can be resolved without a deployed stack: `Ref` to a parameter
//! with a `Default` or to a pseudo parameter that has a local value, `Fn::Sub` and `Fn::Join`
//! over those, and plain scalars. Everything else (`Fn::GetAtt`, `Fn::ImportValue`, `Fn::If`, a
//! `Ref` to a resource, a parameter without a default, …) is [`Unresolved`], and the caller names
//! it in a warning.

use std::collections::HashMap;

use crate::error::{Result, bail};

use super::yaml::Node;

/// Values for `Ref`: parameters' defaults and pseudo parameters.
#[derive(Debug, Default)]
pub(crate) struct Resolver {
    values: HashMap<String, String>,
    /// Names that a `Ref` may point to but that have no local value, with the reason.
    unknown: HashMap<String, &'static str>,
}

/// Why a value could not be resolved: the expression, as written, and the reason.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Unresolved(pub(crate) String);

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Resolver {
    /// From the template's `Parameters` (their `Default`, or a value in `overrides`) and
    /// `Resources`, for functions in `region`/`account`. An override of a parameter the template
    /// does not declare is an error.
    pub(crate) fn new(
        template: &Node,
        region: &str,
        account: &str,
        overrides: &[(String, String)],
    ) -> Result<Self> {
        let mut r = Resolver::default();
        for (k, v) in [
            ("AWS::Region", region),
            ("AWS::AccountId", account),
            ("AWS::Partition", "aws"),
            ("AWS::URLSuffix", "amazonaws.com"),
        ] {
            r.values.insert(k.to_owned(), v.to_owned());
        }
        for k in ["AWS::StackName", "AWS::StackId", "AWS::NotificationARNs"] {
            r.unknown
                .insert(k.to_owned(), "exists only in a deployed stack");
        }
        if let Some(params) = template.get("Parameters") {
            for (name, param) in params.entries() {
                match param.get("Default").and_then(Node::scalar_text) {
                    Some(default) => {
                        r.values.insert(name.clone(), default);
                    }
                    None => {
                        r.unknown
                            .insert(name.clone(), "a parameter without a Default");
                    }
                }
            }
        }
        for (name, value) in overrides {
            let declared = template
                .get("Parameters")
                .and_then(|p| p.get(name))
                .is_some();
            if !declared {
                bail!("--parameter {name}: the template declares no parameter {name}");
            }
            r.unknown.remove(name);
            r.values.insert(name.clone(), value.clone());
        }
        if let Some(resources) = template.get("Resources") {
            for (name, _) in resources.entries() {
                r.unknown
                    .entry(name.clone())
                    .or_insert("a resource: its id exists only once deployed");
            }
        }
        Ok(r)
    }

    /// A node as a string: a scalar as text, or a resolvable intrinsic.
    pub(crate) fn string(&self, node: &Node) -> Result<String, Unresolved> {
        if let Some(text) = node.scalar_text() {
            return Ok(text);
        }
        match node {
            Node::Fn(name, arg) => match name.as_str() {
                "Ref" => self.reference(node, arg),
                "Fn::Sub" => self.sub(node, arg),
                "Fn::Join" => self.join(node, arg),
                _ => Err(Unresolved(format!("{node} (not evaluated locally)"))),
            },
            other => Err(Unresolved(format!("{other} (expected a string)"))),
        }
    }

    fn reference(&self, node: &Node, arg: &Node) -> Result<String, Unresolved> {
        let name = arg.as_str().unwrap_or_default();
        if let Some(v) = self.values.get(name) {
            return Ok(v.clone());
        }
        let why = self.unknown.get(name).copied().unwrap_or("unknown name");
        Err(Unresolved(format!("{node} ({why})")))
    }

    /// `!Sub 'text ${Name} ${!Literal}'` or `!Sub ['text ${Var}', {Var: value}]`.
    fn sub(&self, node: &Node, arg: &Node) -> Result<String, Unresolved> {
        let (text, vars) = match arg {
            Node::Str(s) => (s.as_str(), None),
            Node::Seq(items) => match items.as_slice() {
                [Node::Str(s), vars @ Node::Map(_)] => (s.as_str(), Some(vars)),
                _ => return Err(Unresolved(format!("{node} (malformed)"))),
            },
            _ => return Err(Unresolved(format!("{node} (malformed)"))),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(Unresolved(format!("{node} (unclosed ${{)")));
            };
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = vars.and_then(|v| v.get(name)) {
                out.push_str(&self.string(value)?);
            } else if name.contains('.') {
                return Err(Unresolved(format!(
                    "{node} (${{{name}}} is an attribute: not evaluated locally)"
                )));
            } else {
                let reference = Node::Fn("Ref".into(), Box::new(Node::Str(name.to_owned())));
                out.push_str(&self.reference(&reference, &Node::Str(name.to_owned()))?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `!Join [delimiter, [parts…]]`.
    fn join(&self, node: &Node, arg: &Node) -> Result<String, Unresolved> {
        let Node::Seq(items) = arg else {
            return Err(Unresolved(format!("{node} (malformed)")));
        };
        let [delimiter, Node::Seq(parts)] = items.as_slice() else {
            return Err(Unresolved(format!("{node} (malformed)")));
        };
        let delimiter = self.string(delimiter)?;
        let parts = parts
            .iter()
            .map(|p| self.string(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(parts.join(&delimiter))
    }
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;

    fn resolver() -> (Resolver, Node) {
        let t = parse(
            "Parameters:\n  Stage: {Type: String, Default: dev}\n  Secret: {Type: String}\n\
             Resources:\n  Db: {Type: AWS::RDS::DBInstance}\n\
             Values:\n\
             \x20 a: !Ref Stage\n\
             \x20 b: !Sub 'app-${Stage}-${AWS::Region}-${!Keep}'\n\
             \x20 c: !Sub ['${Name}.${Stage}', {Name: !Ref AWS::AccountId}]\n\
             \x20 d: !Join ['/', [x, !Ref Stage, 3]]\n\
             \x20 e: !Ref Secret\n\
             \x20 f: !GetAtt Db.Endpoint.Address\n\
             \x20 g: !Ref Db\n\
             \x20 h: !Sub '${Db.Endpoint.Address}:5432'\n\
             \x20 i: !Join [',', [a, !Ref Secret]]\n\
             \x20 j: !Ref AWS::StackName\n",
        )
        .unwrap();
        let r = Resolver::new(&t, "eu-west-1", "123456789012", &[]).unwrap();
        (r, t)
    }

    #[test]
    fn resolves_defaults_pseudo_parameters_sub_and_join() {
        let (r, t) = resolver();
        let v = t.get("Values").unwrap();
        let s = |k: &str| r.string(v.get(k).unwrap());
        assert_eq!(s("a").unwrap(), "dev");
        assert_eq!(s("b").unwrap(), "app-dev-eu-west-1-${Keep}");
        assert_eq!(s("c").unwrap(), "123456789012.dev");
        assert_eq!(s("d").unwrap(), "x/dev/3");
    }

    #[test]
    fn overrides_replace_defaults_and_fill_missing_values() {
        let (_, t) = resolver();
        let set = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        let r = Resolver::new(
            &t,
            "r",
            "a",
            &[set("Stage", "prod"), set("Secret", "s3cr3t")],
        )
        .unwrap();
        let v = t.get("Values").unwrap();
        assert_eq!(r.string(v.get("a").unwrap()).unwrap(), "prod");
        assert_eq!(r.string(v.get("e").unwrap()).unwrap(), "s3cr3t");
        let err = Resolver::new(&t, "r", "a", &[set("Nope", "x")]).unwrap_err();
        assert!(err.to_string().contains("no parameter Nope"), "{err}");
    }

    #[test]
    fn names_what_cannot_be_resolved() {
        let (r, t) = resolver();
        let v = t.get("Values").unwrap();
        let s = |k: &str| r.string(v.get(k).unwrap()).unwrap_err().0;
        assert_eq!(s("e"), "!Ref Secret (a parameter without a Default)");
        assert_eq!(
            s("f"),
            "!GetAtt Db.Endpoint.Address (not evaluated locally)"
        );
        assert!(s("g").starts_with("!Ref Db (a resource"), "{}", s("g"));
        assert!(s("h").contains("${Db.Endpoint.Address} is an attribute"));
        assert!(s("i").starts_with("!Ref Secret"), "{}", s("i"));
        assert!(s("j").contains("deployed stack"));
    }
}
