//! `locus data fetch` and `locus data verify`: getting the files of a data set from public
//! mirrors, checked against built-in SHA-256 sums, and checking a directory of them.

mod catalog;
mod check;
mod download;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use catalog::{checksums_from_file, default_dir, env_root, DataSetName, FileSpec};
use check::{inspect, inspect_gz, part_path, Found};
use download::Downloader;

/// Flags of `locus data`.
#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download the four gzip files of a data set from public mirrors, each checked
    /// against its built-in SHA-256 before it is kept.
    ///
    /// Mirrors are tried in order, --mirror's first. A download goes into FILE.part, is
    /// resumed there when interrupted (run the command again), and is renamed only once
    /// its checksum is right; one with a wrong checksum is deleted and the next mirror
    /// tried. Files already there with the right data are left alone. Fails, naming each
    /// file and what every mirror did, when some file could not be had.
    Fetch(FetchArgs),
    /// Check the files of a data set in a directory: one line per file, failing when one
    /// is missing or not the published data.
    ///
    /// A .gz file passes when its SHA-256 is the published one, or (MNIST) when it holds
    /// the published data compressed differently; a decompressed file passes when (MNIST)
    /// the SHA-256 of its data is right. The loader reads a decompressed file before the
    /// .gz, so that is the one checked when both are there.
    Verify(VerifyArgs),
}

/// Flags of `locus data fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The data set.
    #[arg(value_enum)]
    pub name: DataSetName,
    /// Where the files go [default: $LOCUS_DATA/NAME, else ./data/NAME].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// A mirror to try before the built-in ones: the base URL under which the four .gz
    /// files are (e.g. a proxy or a local copy). Repeat for several, tried in order.
    #[arg(long = "mirror", value_name = "URL", value_parser = parse_mirror)]
    pub mirrors: Vec<String>,
    #[command(flatten)]
    pub checksums: TestChecksums,
}

/// Flags of `locus data verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The data set.
    #[arg(value_enum)]
    pub name: DataSetName,
    /// The directory to check [default: $LOCUS_DATA/NAME, else ./data/NAME].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub checksums: TestChecksums,
}

/// For tests only, and hidden from `--help`: a file of SHA-256 sums (as `sha256sum`
/// writes them) that replaces the built-in ones, so that tests can serve small stand-in
/// files. The built-in mirrors, whose real files cannot match such sums, are then not
/// tried: only `--mirror`s are. A flag rather than an environment variable: it shows in
/// the command that uses it, and cannot weaken a real download from a variable left set in
/// a shell or CI.
#[derive(Debug, Args)]
pub struct TestChecksums {
    /// Test only: SHA-256 sums of stand-in files, in place of the built-in ones.
    #[arg(long = "checksums", value_name = "FILE", hide = true)]
    pub file: Option<PathBuf>,
}

impl TestChecksums {
    fn files(&self, set: DataSetName) -> anyhow::Result<Vec<FileSpec>> {
        match &self.file {
            Some(file) => checksums_from_file(file, set),
            None => Ok(set.files()),
        }
    }
}

fn parse_mirror(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() => Ok(url.to_string()),
        _ => Err(format!(
            "{url:?} is not an http:// or https:// URL (the base under which the .gz files are)"
        )),
    }
}

/// Runs `locus data ...`.
pub fn run(args: &DataArgs) -> anyhow::Result<()> {
    match &args.command {
        DataCommand::Fetch(a) => fetch(a),
        DataCommand::Verify(a) => verify(a),
    }
}

fn fetch(args: &FetchArgs) -> anyhow::Result<()> {
    let set = args.name;
    let files = args.checksums.files(set)?;
    let root = env_root();
    let dir = default_dir(args.dir.as_deref(), set, root.as_deref());
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let mut mirrors = args.mirrors.clone();
    if args.checksums.file.is_none() {
        mirrors.extend(set.mirrors().iter().map(|m| m.to_string()));
    }
    if mirrors.is_empty() {
        bail!("no mirror to fetch from: --checksums (test only) needs at least one --mirror URL");
    }
    println!("{} into {}", set.title(), dir.display());
    let downloader = Downloader::new();
    let mut failed = Vec::new();
    for spec in &files {
        let name = spec.gz_name();
        let mut found = inspect(&dir, spec).with_context(|| format!("cannot read {name}"))?;
        if !found.is_good() {
            // A bad decompressed file is reported at the end; the .gz may still be good.
            found = inspect_gz(&dir, spec).with_context(|| format!("cannot read {name}"))?;
        }
        if let Found::Good { how, .. } = &found {
            let stale = part_path(&dir, spec);
            if stale.is_file() {
                std::fs::remove_file(&stale)
                    .with_context(|| format!("cannot delete {}", stale.display()))?;
            }
            let shown = found.file_name(spec);
            println!("  {name}: skipped, {shown} is already there ({how})");
            continue;
        }
        let report = |f: &download::MirrorFailure| eprintln!("  {name}: failed: {f}");
        match downloader.fetch(&dir, spec, &mirrors, report) {
            Ok(got) => {
                let resumed = match got.resumed_from {
                    0 => String::new(),
                    n => format!(", going on after the {n} bytes of an earlier attempt"),
                };
                println!(
                    "  {name}: {} bytes from {}{resumed}, SHA-256 ok",
                    got.bytes, got.url
                );
            }
            Err(failures) => failed.push((name, failures)),
        }
    }
    if !failed.is_empty() {
        let mut message = format!(
            "{} of the {} files of {} could not be fetched into {}; no mirror gave a good \
             file:",
            failed.len(),
            files.len(),
            set.title(),
            dir.display()
        );
        for (name, failures) in &failed {
            message.push_str(&format!("\n  {name}:"));
            for f in failures {
                message.push_str(&format!("\n    {f}"));
            }
        }
        let unfinished = files.iter().any(|spec| part_path(&dir, spec).is_file());
        if unfinished {
            message.push_str("\nRun the command again to go on with the unfinished downloads.");
        }
        message.push_str("\nA mirror that has the files can be given with --mirror URL.");
        bail!(message);
    }
    // What the loader will read, checked as `verify` does: a decompressed file left there
    // before would be read instead of the .gz just fetched.
    let bad = bad_files(&dir, &files)?;
    if !bad.is_empty() {
        bail!(
            "the files were fetched, but the loader reads these before them: {}; remove them",
            bad.join("; ")
        );
    }
    println!(
        "{} is ready in {}. Train on it with:\n  locus train {}",
        set.title(),
        dir.display(),
        set.train_flags(&dir, root.as_deref())
    );
    Ok(())
}

fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let set = args.name;
    let files = args.checksums.files(set)?;
    let dir = default_dir(args.dir.as_deref(), set, env_root().as_deref());
    let missing_dir = if dir.is_dir() {
        ""
    } else {
        " (the directory does not exist)"
    };
    println!("{} in {}{missing_dir}", set.title(), dir.display());
    let width = files.iter().map(|f| f.gz_name().len()).max().unwrap_or(0);
    let mut bad = 0;
    for spec in &files {
        let found = inspect(&dir, spec).with_context(|| format!("cannot read {}", spec.name))?;
        println!("  {:width$}  {}", found.file_name(spec), found.describe());
        if !found.is_good() {
            bad += 1;
        }
    }
    if bad > 0 {
        bail!(
            "{bad} of the {} files of {} in {} are missing or not the published data; \
             `locus data fetch {} --dir {}` downloads them",
            files.len(),
            set.title(),
            dir.display(),
            set.dir_name(),
            dir.display()
        );
    }
    Ok(())
}

/// The files the loader would read that are not the published data, each with what is
/// wrong.
fn bad_files(dir: &Path, files: &[FileSpec]) -> anyhow::Result<Vec<String>> {
    let mut bad = Vec::new();
    for spec in files {
        let found = inspect(dir, spec).with_context(|| format!("cannot read {}", spec.name))?;
        if !found.is_good() {
            bad.push(format!("{} {}", found.file_name(spec), found.describe()));
        }
    }
    Ok(bad)
}
