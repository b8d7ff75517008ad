//! `grace package`: the zips Lambda deploys.
//!
//! - `grace package PATH [-o OUT.zip]`: a function's deployment package. PATH is a `cargo lambda
//!   build` output directory holding `bootstrap` (every file in it is packaged, `bootstrap` at
//!   the root), or an executable, packaged as `bootstrap`. Default output: `NAME.zip` in the
//!   current directory, NAME being the directory's (or executable's) name.
//! - `grace package extension [-o OUT.zip] [--binary PATH]`: the layer that makes Lambda send
//!   SIGTERM to any runtime: `extensions/shutdown-enabler`. The binary defaults to
//!   `shutdown-enabler` next to the running `grace`, then on PATH. Default output:
//!   `shutdown-enabler.zip`.
//!
//! Lambda runs what it unpacks with the permissions recorded in the zip, so executables get unix
//! mode 0755 (in the high half of each entry's external attributes), other files 0644. Entries
//! carry a fixed timestamp (1980-01-01), so that the same input gives the same bytes: CloudFormation
//! and SAM compare packages by hash. The `zip` crate writes them (deflate only, pure-Rust zlib-rs
//! backend): deflate is the point of a zip here, and no hand-written encoder is worth its
//! upkeep next to a well-kept crate.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Build the zip files Lambda deploys: a function's package, or the shutdown-enabler layer.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  cargo lambda build --release --arm64 && grace package target/lambda/postgres   # postgres.zip
  grace package ./my-fn -o function.zip          # an executable, packaged as bootstrap
  grace package extension -o layer.zip           # extensions/shutdown-enabler

A directory literally named `extension` is packaged as a function when written ./extension.")]
pub(crate) struct Args {
    /// A directory holding `bootstrap` (a `cargo lambda build` output directory), an executable,
    /// or `extension` for the shutdown-enabler layer.
    #[arg(value_name = "PATH|extension")]
    pub(crate) what: PathBuf,
    /// The zip to write (default: NAME.zip in the current directory).
    #[arg(short, long, value_name = "OUT.zip")]
    pub(crate) output: Option<PathBuf>,
    /// With `extension`: the shutdown-enabler binary (default: next to grace, then on PATH).
    #[arg(long, value_name = "PATH")]
    pub(crate) binary: Option<PathBuf>,
}

const EXTENSION: &str = "shutdown-enabler";

/// One file of a package: its name in the zip, where it comes from, and its mode.
#[derive(Debug)]
struct Entry {
    name: String,
    source: PathBuf,
    mode: u32,
}

pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (entries, default_name) = if args.what.as_os_str() == "extension" {
        let binary = match &args.binary {
            Some(b) => b.clone(),
            None => find_extension()?,
        };
        require_file(&binary)?;
        let entry = Entry {
            name: format!("extensions/{EXTENSION}"),
            source: binary,
            mode: 0o755,
        };
        (vec![entry], EXTENSION.to_owned())
    } else {
        if args.binary.is_some() {
            bail!("--binary is for `grace package extension`");
        }
        function_entries(&args.what)?
    };
    let output = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{default_name}.zip")));
    let entries: Vec<Entry> = entries
        .into_iter()
        .filter(|e| !same_file(&e.source, &output))
        .collect();
    let (raw, packed) = write_zip(&output, &entries)?;
    let main = &entries[0];
    eprintln!(
        "grace package: wrote {} ({} file{}, {} → {} bytes): {} is {}",
        output.display(),
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        raw,
        packed,
        main.name,
        describe(&main.source)
    );
    Ok(ExitCode::SUCCESS)
}

/// A function's files: `bootstrap` first, then the rest of the directory; and its name.
fn function_entries(path: &Path) -> anyhow::Result<(Vec<Entry>, String)> {
    let path = std::path::absolute(path).with_context(|| format!("bad path {}", path.display()))?;
    let meta = std::fs::metadata(&path).with_context(|| {
        format!(
            "{} does not exist (give a `cargo lambda build` output directory holding \
             `bootstrap`, an executable, or `extension`)",
            path.display()
        )
    })?;
    let name_of = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .context("cannot name the package; pass -o OUT.zip")
    };
    if !meta.is_dir() {
        let name = match path.file_name() {
            Some(n) if n == "bootstrap" => name_of(path.parent().unwrap_or(&path))?,
            _ => name_of(&path)?,
        };
        let entry = Entry {
            name: "bootstrap".into(),
            source: path,
            mode: 0o755,
        };
        return Ok((vec![entry], name));
    }
    let bootstrap = path.join("bootstrap");
    if !bootstrap.is_file() {
        bail!(
            "{} has no `bootstrap` file (build it with `cargo lambda build`, whose output is \
             target/lambda/BIN)",
            path.display()
        );
    }
    let mut entries = vec![Entry {
        name: "bootstrap".into(),
        source: bootstrap.clone(),
        mode: 0o755,
    }];
    let mut others = Vec::new();
    collect_files(&path, &mut others)?;
    others.sort();
    for source in others.into_iter().filter(|s| *s != bootstrap) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&source)?.permissions().mode();
        let relative = source.strip_prefix(&path).unwrap_or(&source);
        entries.push(Entry {
            name: relative.to_string_lossy().into_owned(),
            source,
            mode: if mode & 0o111 != 0 { 0o755 } else { 0o644 },
        });
    }
    Ok((entries, name_of(&path)?))
}

/// Every file under `dir` (following symbolic links, as Lambda's packagers do).
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let meta =
            std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            collect_files(&path, out)?;
        } else if meta.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// Writes the zip beside `output`, then renames it into place; returns (raw, packed) sizes.
fn write_zip(output: &Path, entries: &[Entry]) -> anyhow::Result<(u64, u64)> {
    let partial = output.with_extension("zip.partial");
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut zip = ZipWriter::new(file);
    let mut raw = 0;
    let mut dirs: Vec<String> = Vec::new();
    for entry in entries {
        // Directory entries first, as `zip -r` writes them: some unpackers want them.
        let mut prefix = String::new();
        for part in entry
            .name
            .split('/')
            .rev()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            prefix.push_str(part);
            prefix.push('/');
            if !dirs.contains(&prefix) {
                zip.add_directory(prefix.as_str(), options(0o755))?;
                dirs.push(prefix.clone());
            }
        }
        zip.start_file(entry.name.as_str(), options(entry.mode))?;
        let mut source = File::open(&entry.source)
            .with_context(|| format!("cannot read {}", entry.source.display()))?;
        raw += std::io::copy(&mut source, &mut zip)
            .with_context(|| format!("cannot pack {}", entry.source.display()))?;
    }
    let mut file = zip.finish().context("cannot finish the zip")?;
    file.flush()?;
    drop(file);
    std::fs::rename(&partial, output)
        .with_context(|| format!("cannot write {}", output.display()))?;
    Ok((raw, std::fs::metadata(output)?.len()))
}

fn options(mode: u32) -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(mode)
}

/// `shutdown-enabler` next to this executable, then on PATH.
fn find_extension() -> anyhow::Result<PathBuf> {
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name(EXTENSION));
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(EXTENSION))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    beside
        .into_iter()
        .chain(on_path)
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "{EXTENSION} not found next to grace or on PATH: build it (`cargo build --release \
                 -p lambda-grace-extension --bin {EXTENSION}`, or for Lambda `cargo lambda build \
                 --release --extension --bin {EXTENSION}`) and pass --binary PATH"
            )
        })
}

fn require_file(path: &Path) -> anyhow::Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("{} does not exist", path.display()))?;
    if !meta.is_file() {
        bail!("{} is not a file", path.display());
    }
    Ok(())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// What an executable is, from its first bytes: `ELF x86-64`, `ELF arm64`, `a script (#!…)`.
fn describe(path: &Path) -> String {
    let mut head = [0u8; 20];
    let n = File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let head = &head[..n];
    if head.starts_with(b"\x7fELF") && n >= 20 {
        // e_machine, little-endian on both Lambda architectures.
        return match u16::from_le_bytes([head[18], head[19]]) {
            0x3e => "ELF x86-64 (Architectures: x86_64)".into(),
            0xb7 => "ELF arm64 (Architectures: arm64)".into(),
            other => format!("ELF for machine {other:#x}: Lambda runs x86-64 and arm64 only"),
        };
    }
    if head.starts_with(b"#!") {
        let line = String::from_utf8_lossy(head)
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        return format!("a script ({line}…)");
    }
    "not an ELF executable nor a script: Lambda will not start it".into()
}
