//! `grace serve --watch`: hot reload through a real shutdown.
//!
//! Each function's sources are watched (`source`: a Rust function's Cargo project, else its
//! directory), changes that count (`filter`) are debounced per function (`debounce`), and then:
//!
//! 1. a Rust function is rebuilt (`cargo build --bin BIN`, or `cargo lambda build` for a
//!    `target/lambda` output) while the running version keeps serving; a build error is printed
//!    and recorded as a `reload_failed` event, and nothing else changes;
//! 2. the new executable is copied into a snapshot of its own (`build`), so that each version
//!    stays intact whatever the next build writes;
//! 3. [`Emulator::replace_function`] hands the new definition to the function's pool, which
//!    records `reload` and retires every old environment (`retired`, reason `reload`) through the
//!    ordinary spin-down: SIGTERM → SHUTDOWN → SIGKILL with the real budgets, the idle ones at
//!    once, the busy ones when their invocation ends. New invokes start new environments.
//!
//! Interpreted functions skip step 1 and 2: their new environments read the changed files
//! (each version with a bytecode cache of its own, see [`Snapshots::fresh_bytecode`]).
//! Changes that arrive during a build are queued and make the next reload.

mod build;
mod debounce;
mod filter;
mod source;

use std::path::{Path, PathBuf};
use std::time::Duration;

use grace_emulator::{Emulator, FunctionConfig};
use notify::Watcher as _;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::function::FunctionArgs;
use build::Snapshots;
use debounce::Debounce;
use source::{Built, Source};

/// How long the changes to a function must pause before it is reloaded.
const QUIET: Duration = Duration::from_millis(300);
/// The longest a function waits for its changes to pause.
const MAX_WAIT: Duration = Duration::from_secs(3);

/// The first step, before the functions' configurations are read: a PATH (or `--function
/// NAME=PATH`) that is a Cargo project directory is built, and stands for the binary built.
pub(crate) fn prepare(args: &mut FunctionArgs) -> anyhow::Result<Prepared> {
    let mut built = Vec::new();
    if args.command.is_empty()
        && let Some(path) = &args.path
        && source::is_project(path)
    {
        let b = source::build_project(path, args.name.as_deref())?;
        args.path = Some(b.executable.clone());
        built.push(b);
    }
    for spec in &mut args.functions {
        if let Some((name, path)) = spec.split_once('=')
            && source::is_project(Path::new(path))
        {
            let b = source::build_project(Path::new(path), Some(name))?;
            *spec = format!("{name}={}", b.executable.display());
            built.push(b);
        }
    }
    Ok(Prepared { built })
}

/// What [`prepare`] built.
#[derive(Debug)]
pub(crate) struct Prepared {
    built: Vec<Built>,
}

impl Prepared {
    /// The second step, once the configurations are final: each function's source is found,
    /// and a Rust function is served from a snapshot of its executable (`configs` are changed
    /// to run it).
    pub(crate) fn adopt(self, configs: &mut [FunctionConfig]) -> anyhow::Result<Watch> {
        let snapshots = Snapshots::new()?;
        let mut functions = Vec::new();
        for cfg in configs.iter_mut() {
            let source = Source::of(cfg, &self.built);
            match &source {
                Source::Rust { executable, .. } => {
                    let copy = snapshots.take(&cfg.name, 1, executable)?;
                    cfg.command[0] = copy.into_os_string();
                }
                Source::Files { .. } => snapshots.fresh_bytecode(cfg, 1),
            }
            functions.push(Watched {
                cfg: cfg.clone(),
                source,
                version: 1,
            });
        }
        Ok(Watch {
            functions,
            snapshots,
        })
    }
}

/// The watched functions, ready to [`Watch::run`].
#[derive(Debug)]
pub(crate) struct Watch {
    functions: Vec<Watched>,
    snapshots: Snapshots,
}

#[derive(Debug)]
struct Watched {
    /// The definition served now.
    cfg: FunctionConfig,
    source: Source,
    version: u64,
}

impl Watch {
    /// Watches until `stop` is cancelled, reloading `emulator`'s functions as their sources
    /// change.
    pub(crate) async fn run(mut self, emulator: Emulator, stop: CancellationToken) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut tree = match Tree::new(tx) {
            Ok(tree) => tree,
            Err(e) => {
                eprintln!("grace serve: warning: --watch: cannot watch files: {e}");
                return;
            }
        };
        for w in &self.functions {
            let root = w.source.root();
            tree.add(root);
            let how = match w.source.build_command() {
                Some(argv) => format!("rebuilt with `{}`", shown(&argv)),
                None => "reloaded".to_owned(),
            };
            eprintln!(
                "grace serve: watching {} for {} (on change: {how})",
                root.display(),
                w.cfg.name
            );
        }
        let mut debounce = Debounce::new(QUIET, MAX_WAIT);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                event = rx.recv() => {
                    let Some(event) = event else { return };
                    let now = Instant::now();
                    for path in tree.changed(event) {
                        for w in &self.functions {
                            if filter::counts(w.source.root(), &path) {
                                debounce.changed(&w.cfg.name, path.clone(), now);
                            }
                        }
                    }
                }
                () = sleep_until(debounce.deadline()) => {
                    for (name, path) in debounce.take_due(Instant::now()) {
                        tokio::select! {
                            () = stop.cancelled() => return,
                            () = self.reload(&emulator, &name, &path) => {}
                        }
                    }
                }
            }
        }
    }

    /// Makes the new version of `name` and hands it to the emulator.
    async fn reload(&mut self, emulator: &Emulator, name: &str, changed: &Path) {
        let Some(w) = self.functions.iter_mut().find(|w| w.cfg.name == name) else {
            return;
        };
        let shown_path = changed.strip_prefix(w.source.root()).unwrap_or(changed);
        let mut cfg = w.cfg.clone();
        if let (Some(argv), Source::Rust { executable, .. }) = (w.source.build_command(), &w.source)
        {
            eprintln!(
                "grace serve: {name}: {} changed; building (`{}`); the running version keeps serving",
                shown_path.display(),
                shown(&argv)
            );
            let took = match build::run(&argv, w.source.root()).await {
                Ok(took) => took,
                Err(output) => {
                    eprintln!(
                        "grace serve: {name}: the build failed; the running version keeps serving:\n{output}"
                    );
                    let _ = emulator.reload_failed(name, build::tail(&output));
                    return;
                }
            };
            let version = w.version + 1;
            match self.snapshots.take(name, version, executable) {
                Ok(copy) => cfg.command[0] = copy.into_os_string(),
                Err(e) => {
                    let error = format!("{e:#}");
                    eprintln!("grace serve: {name}: {error}; the running version keeps serving");
                    let _ = emulator.reload_failed(name, error);
                    return;
                }
            }
            eprintln!("grace serve: {name}: built in {:.1}s", took.as_secs_f64());
        } else {
            eprintln!("grace serve: {name}: {} changed", shown_path.display());
            self.snapshots.fresh_bytecode(&mut cfg, w.version + 1);
        }
        match emulator.replace_function(cfg.clone()).await {
            Ok(reload) => {
                w.version += 1;
                w.cfg = cfg;
                self.snapshots.prune(name, w.version);
                eprintln!(
                    "grace serve: {name}: reloaded (generation {}); {} old environment(s) retiring through SIGTERM → SHUTDOWN → SIGKILL",
                    reload.generation, reload.retiring
                );
            }
            Err(e) => eprintln!("grace serve: {name}: not reloaded: {e}"),
        }
    }
}

/// A command line as a shell would show it.
fn shown(argv: &[std::ffi::OsString]) -> String {
    argv.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The watched folders: each one watched on its own (not recursively), so that `target/`,
/// `.git/` and the other skipped folders cost no watch, and folders created later are added.
struct Tree {
    watcher: notify::RecommendedWatcher,
}

impl Tree {
    fn new(tx: mpsc::UnboundedSender<notify::Result<notify::Event>>) -> notify::Result<Self> {
        let watcher = notify::recommended_watcher(move |event| {
            let _ = tx.send(event);
        })?;
        Ok(Self { watcher })
    }

    /// Watches `dir` and the folders under it that are not skipped (symbolic links are not
    /// followed).
    fn add(&mut self, dir: &Path) {
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            if let Err(e) = self
                .watcher
                .watch(&dir, notify::RecursiveMode::NonRecursive)
            {
                eprintln!("grace serve: warning: cannot watch {}: {e}", dir.display());
                continue;
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                if is_dir && !filter::skips_dir(&entry.file_name()) {
                    stack.push(entry.path());
                }
            }
        }
    }

    /// The paths an event changed (none for reads); a folder created or moved in is watched.
    fn changed(&mut self, event: notify::Result<notify::Event>) -> Vec<PathBuf> {
        use notify::EventKind;
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                eprintln!("grace serve: warning: --watch: {e}");
                return Vec::new();
            }
        };
        if !matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
        ) {
            return Vec::new();
        }
        if matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(notify::event::ModifyKind::Name(_))
        ) {
            for path in &event.paths {
                let named = path.file_name().is_some_and(|n| !filter::skips_dir(n));
                if named && path.is_dir() {
                    self.add(path);
                }
            }
        }
        event.paths
    }
}
