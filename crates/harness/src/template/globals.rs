//! SAM's `Globals` section, merged into each function's `Properties` by SAM's own rules
//! (samtranslator's `GlobalProperties`):
//!
//! - a primitive (string, number, boolean) or an intrinsic function: the function's value wins;
//! - values of different kinds: the function's value wins;
//! - two lists: concatenated, globals first (no de-duplication);
//! - two mappings: merged key by key with these same rules (so `Environment.Variables` of the
//!   function add to and override the global ones).

use super::yaml::Node;

/// `Globals.Function` merged under `local` (a function's `Properties`).
pub(crate) fn merge(global: &Node, local: &Node) -> Node {
    match (global, local) {
        (Node::Map(g), Node::Map(l)) => {
            let mut merged = g.clone();
            for (key, value) in l {
                match merged.iter_mut().find(|(k, _)| k == key) {
                    Some(slot) => slot.1 = merge(&slot.1, value),
                    None => merged.push((key.clone(), value.clone())),
                }
            }
            Node::Map(merged)
        }
        (Node::Seq(g), Node::Seq(l)) => Node::Seq(g.iter().chain(l).cloned().collect()),
        _ => local.clone(),
    }
}

/// The `Globals` sections this module does not apply (all but `Function`), for a warning.
pub(crate) fn ignored_sections(template: &Node) -> Vec<String> {
    template
        .get("Globals")
        .map(|g| {
            g.entries()
                .iter()
                .filter(|(k, _)| k != "Function")
                .map(|(k, _)| format!("Globals.{k}"))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::yaml::parse;
    use super::*;

    #[test]
    fn follows_sams_rules() {
        let t = parse(
            "Globals:\n  Function:\n    Runtime: python3.12\n    MemorySize: 256\n    Timeout: 10\n\
             \x20   Layers: [g1]\n    Environment: {Variables: {A: ga, B: gb}}\n    CodeUri: !Ref Code\n\
             Local:\n    MemorySize: 512\n    Layers: [l1]\n    Environment: {Variables: {B: lb, C: lc}}\n\
             \x20   CodeUri: {Bucket: b, Key: k}\n",
        )
        .unwrap();
        let global = t.get("Globals").unwrap().get("Function").unwrap();
        let merged = merge(global, t.get("Local").unwrap());
        assert_eq!(merged.get("Runtime"), Some(&Node::Str("python3.12".into())));
        assert_eq!(merged.get("MemorySize"), Some(&Node::Int(512)));
        assert_eq!(merged.get("Timeout"), Some(&Node::Int(10)));
        assert_eq!(
            merged.get("Layers"),
            Some(&Node::Seq(vec![
                Node::Str("g1".into()),
                Node::Str("l1".into())
            ]))
        );
        let vars = merged.get("Environment").unwrap().get("Variables").unwrap();
        let text: Vec<(String, String)> = vars
            .entries()
            .iter()
            .map(|(k, v)| (k.clone(), v.scalar_text().unwrap()))
            .collect();
        assert_eq!(
            text,
            [("A", "ga"), ("B", "lb"), ("C", "lc")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        // An intrinsic is a primitive: the function's mapping replaces it, no merge.
        assert_eq!(
            merged.get("CodeUri").unwrap().to_string(),
            "a mapping (Bucket, Key)"
        );
    }

    #[test]
    fn names_the_sections_it_ignores() {
        let t = parse("Globals:\n  Function: {Timeout: 3}\n  Api: {Cors: '*'}\n").unwrap();
        assert_eq!(ignored_sections(&t), ["Globals.Api"]);
    }
}
