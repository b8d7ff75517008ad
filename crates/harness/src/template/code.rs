//! Where a function's code or a layer's content is on this machine: `CodeUri` and `ContentUri`
//! as local paths relative to the template's directory, either a directory or a `.zip` (unpacked
//! once into the temporary directory, as Lambda unpacks it into `/var/task` or `/opt`).
//! S3 locations and anything not resolvable are [`Location::Remote`]: the caller names them in a
//! warning.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use crate::error::{Context, Result, bail};

use super::resolve::Resolver;
use super::yaml::Node;

/// A code location.
#[derive(Debug)]
pub(crate) enum Location {
    /// A local directory (a zip is unpacked first).
    Dir(PathBuf),
    /// Not on this machine: S3, an ARN, an unresolvable intrinsic; with what the template says.
    Remote(String),
}

/// Resolves `node` (a `CodeUri` or `ContentUri` value) against `base`, the template's directory.
/// A local path that does not exist is an error: the template asks for it.
pub(crate) fn locate(node: &Node, base: &Path, resolver: &Resolver) -> Result<Location> {
    let text = match resolver.string(node) {
        Ok(text) => text,
        Err(unresolved) => return Ok(Location::Remote(unresolved.to_string())),
    };
    if text.starts_with("s3://") || text.starts_with("arn:") || text.contains("://") {
        return Ok(Location::Remote(format!("'{text}' (not a local path)")));
    }
    let path =
        std::path::absolute(base.join(&text)).with_context(|| format!("bad path '{text}'"))?;
    let meta = std::fs::metadata(&path).with_context(|| {
        format!(
            "'{text}' (relative to the template: {}) does not exist",
            path.display()
        )
    })?;
    if meta.is_dir() {
        return Ok(Location::Dir(path));
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
    {
        return unpack(&path, &meta).map(Location::Dir);
    }
    bail!(
        "'{text}' ({}) is a file, not a directory or a .zip",
        path.display()
    )
}

/// Unpacks `zip` into `$TMPDIR/grace-unzipped/NAME-HASH`, keyed by the zip's path, size and
/// modification time: an unchanged zip is unpacked once, a rebuilt one again.
fn unpack(zip: &Path, meta: &std::fs::Metadata) -> Result<PathBuf> {
    let mut hasher = std::hash::DefaultHasher::new();
    zip.hash(&mut hasher);
    meta.len().hash(&mut hasher);
    meta.modified().ok().hash(&mut hasher);
    let stem = zip
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let root = std::env::temp_dir().join("grace-unzipped");
    let dest = root.join(format!("{stem}-{:016x}", hasher.finish()));
    if dest.is_dir() {
        return Ok(dest);
    }
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    // Unpack beside the destination, then rename: a concurrent run never sees half a tree.
    let partial = root.join(format!(".partial-{}-{stem}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    let file = File::open(zip).with_context(|| format!("cannot open {}", zip.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).with_context(|| format!("{} is not a zip", zip.display()))?;
    archive
        .extract(&partial)
        .with_context(|| format!("cannot unpack {}", zip.display()))?;
    if let Err(e) = std::fs::rename(&partial, &dest) {
        let _ = std::fs::remove_dir_all(&partial);
        if !dest.is_dir() {
            return Err(e).with_context(|| format!("cannot move the unpacked {}", zip.display()));
        }
    }
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("grace-code-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn local_dirs_zips_and_remote_locations() {
        let base = scratch("locate");
        std::fs::create_dir_all(base.join("fn")).unwrap();
        let zip_path = base.join("layer.zip");
        let mut w = zip::ZipWriter::new(File::create(&zip_path).unwrap());
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        w.start_file("extensions/tool", opts).unwrap();
        w.write_all(b"#!/bin/sh\n").unwrap();
        w.finish().unwrap();
        let r = Resolver::default();

        let s = |t: &str| Node::Str(t.to_owned());
        assert!(
            matches!(locate(&s("fn"), &base, &r).unwrap(), Location::Dir(d) if d == base.join("fn"))
        );
        let Location::Dir(unpacked) = locate(&s("layer.zip"), &base, &r).unwrap() else {
            panic!("zip not unpacked");
        };
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(unpacked.join("extensions/tool"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        // Unchanged: the same directory, not unpacked again.
        let again = locate(&s("layer.zip"), &base, &r).unwrap();
        assert!(matches!(again, Location::Dir(d) if d == unpacked));
        std::fs::remove_dir_all(&unpacked).unwrap();
        assert!(matches!(
            locate(&s("s3://bucket/key.zip"), &base, &r).unwrap(),
            Location::Remote(w) if w.contains("s3://bucket")
        ));
        let getatt = Node::Fn("Fn::GetAtt".into(), Box::new(s("B.Arn")));
        assert!(matches!(
            locate(&getatt, &base, &r).unwrap(),
            Location::Remote(_)
        ));
        let err = locate(&s("missing"), &base, &r).unwrap_err().to_string();
        assert!(
            err.contains("'missing'") && err.contains("does not exist"),
            "{err}"
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
