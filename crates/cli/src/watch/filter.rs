//! Which changed paths count: everything under a watched root except build output, version
//! control, caches, hidden files and folders, and the scratch files editors write while saving.
//! Checked on the path relative to the root, so a root that itself lies under `target/` (say)
//! is still watched.

use std::ffi::OsStr;
use std::path::Path;

/// Folders never descended into nor counted: build output, version control, caches.
const SKIPPED_DIRS: &[&str] = &["target", "node_modules", "__pycache__"];

/// Whether a folder named `name` is left out (also every hidden one: `.git`, `.venv`, `.idea`…).
pub(super) fn skips_dir(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.') || SKIPPED_DIRS.contains(&name.as_ref())
}

/// Whether a file named `name` is an editor's or a tool's scratch file rather than source: vim's
/// swap files and its `4913` probe, backups ending in `~`, emacs's `#autosave#` (and `.#lock`,
/// hidden anyway), JetBrains' safe-write copies, compiled Python.
pub(super) fn is_scratch(name: &OsStr) -> bool {
    let name = name.to_string_lossy();
    const SUFFIXES: &[&str] = &[
        "~",
        ".swp",
        ".swo",
        ".swx",
        ".tmp",
        ".pyc",
        ".pyo",
        "___jb_tmp___",
        "___jb_old___",
    ];
    name == "4913"
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
        || SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// Whether a change of `path` counts for the watched `root`.
pub(super) fn counts(root: &Path, path: &Path) -> bool {
    let Ok(relative) = path.strip_prefix(root) else {
        return false;
    };
    let mut names = relative.iter().peekable();
    while let Some(name) = names.next() {
        if skips_dir(name) {
            return false;
        }
        if names.peek().is_none() && is_scratch(name) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts_in_project(relative: &str) -> bool {
        counts(Path::new("/p/fn"), &Path::new("/p/fn").join(relative))
    }

    #[test]
    fn sources_count() {
        for path in [
            "src/main.rs",
            "src/handlers/mod.rs",
            "Cargo.toml",
            "Cargo.lock",
            "app.py",
            "lib/helpers.py",
            "templates",
        ] {
            assert!(counts_in_project(path), "{path}");
        }
        // The root itself (a folder event on it).
        assert!(counts(Path::new("/p/fn"), Path::new("/p/fn")));
    }

    #[test]
    fn build_output_version_control_and_caches_do_not() {
        for path in [
            "target/debug/fn",
            "target",
            "target/lambda/fn/bootstrap",
            ".git/index",
            ".git",
            "__pycache__/app.cpython-312.pyc",
            "lib/__pycache__/x.pyc",
            "node_modules/a/index.js",
            ".venv/lib/site.py",
            ".idea/workspace.xml",
            ".DS_Store",
        ] {
            assert!(!counts_in_project(path), "{path}");
        }
    }

    #[test]
    fn editor_scratch_files_do_not() {
        for path in [
            "src/.main.rs.swp",
            "src/main.rs.swp",
            "src/main.rs~",
            "src/4913",
            "src/#main.rs#",
            "src/.#main.rs",
            "src/main.rs___jb_tmp___",
            "src/main.rs___jb_old___",
            "app.pyc",
            "src/main.rs.tmp",
        ] {
            assert!(!counts_in_project(path), "{path}");
        }
        // Only the last name is checked for scratch patterns: a folder may end in `~`.
        assert!(counts_in_project("src~/main.rs"));
        // `#` alone is a name, not an emacs autosave.
        assert!(counts_in_project("src/#"));
    }

    #[test]
    fn the_root_may_itself_lie_under_a_skipped_folder() {
        let root = Path::new("/p/target/lambda/fn");
        assert!(counts(root, &root.join("bootstrap")));
        assert!(!counts(root, Path::new("/p/target/lambda/other/bootstrap")));
        assert!(!counts(root, Path::new("/elsewhere/bootstrap")));
    }
}
