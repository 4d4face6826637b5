//! The data sets `locus data` knows: their four files, the checksums that identify them and
//! the public mirrors that serve them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::ValueEnum;

/// A data set `locus data fetch` and `locus data verify` know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DataSetName {
    /// MNIST handwritten digits (LeCun, Cortes & Burges): `--dataset mnist`.
    Mnist,
    /// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017), Zalando's article images in MNIST's
    /// format: `--dataset idx --data-dir DIR`.
    FashionMnist,
}

/// One file of a data set as its mirrors publish it: gzip-compressed, `<name>.gz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// The IDX file's name without `.gz`, as the loader looks for it.
    pub name: String,
    /// SHA-256 of the published `.gz` file, lower-case hex.
    pub gz_sha256: String,
    /// Size of the published `.gz` file in bytes, when known.
    pub gz_size: Option<u64>,
    /// SHA-256 of the decompressed IDX file, when known: it identifies the data in a copy
    /// that was decompressed, or recompressed with other gzip settings.
    pub raw_sha256: Option<String>,
}

impl FileSpec {
    /// The name of the published file, `<name>.gz`.
    pub fn gz_name(&self) -> String {
        format!("{}.gz", self.name)
    }
}

/// (name, SHA-256 of the .gz, size of the .gz, SHA-256 of the decompressed file).
type Row = (&'static str, &'static str, u64, Option<&'static str>);

// SHA-256 and sizes of the .gz files: tensorflow-datasets, url_checksums/mnist.txt (the
// files of storage.googleapis.com/cvdf-datasets/mnist, which torchvision's ossci-datasets
// mirror serves byte for byte: torchvision checks the same files by MD5). SHA-256 of the
// decompressed files: ../shared/data/mnist/README.md, recomputed there from the copy it
// holds (a recompressed one) and the same as other projects list for the originals.
const MNIST: [Row; 4] = [
    (
        "train-images-idx3-ubyte",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        9_912_422,
        Some("ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
    ),
    (
        "train-labels-idx1-ubyte",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        28_881,
        Some("65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
    ),
    (
        "t10k-images-idx3-ubyte",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        1_648_877,
        Some("0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
    ),
    (
        "t10k-labels-idx1-ubyte",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        4_542,
        Some("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
    ),
];

// SHA-256 and sizes of the .gz files: tensorflow-datasets, url_checksums/fashion_mnist.txt;
// the same files as the MD5 sums in the README of github.com/zalandoresearch/fashion-mnist
// (and torchvision's). No published SHA-256 of the decompressed files was found, so a
// decompressed copy cannot be checked.
const FASHION_MNIST: [Row; 4] = [
    (
        "train-images-idx3-ubyte",
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        26_421_880,
        None,
    ),
    (
        "train-labels-idx1-ubyte",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        29_515,
        None,
    ),
    (
        "t10k-images-idx3-ubyte",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        4_422_102,
        None,
    ),
    (
        "t10k-labels-idx1-ubyte",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        5_148,
        None,
    ),
];

impl DataSetName {
    /// The directory name under `$LOCUS_DATA` (and the command-line spelling).
    pub fn dir_name(self) -> &'static str {
        match self {
            DataSetName::Mnist => "mnist",
            DataSetName::FashionMnist => "fashion-mnist",
        }
    }

    /// The name people write.
    pub fn title(self) -> &'static str {
        match self {
            DataSetName::Mnist => "MNIST",
            DataSetName::FashionMnist => "Fashion-MNIST",
        }
    }

    /// The public mirrors, tried in this order after the user's `--mirror`s. Plain HTTP is
    /// safe enough here: every file is checked against its SHA-256 before it is kept.
    pub fn mirrors(self) -> &'static [&'static str] {
        match self {
            // yann.lecun.com itself refuses anonymous downloads nowadays.
            DataSetName::Mnist => &[
                "https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/",
            ],
            DataSetName::FashionMnist => &[
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
            ],
        }
    }

    /// The four files with their built-in checksums, in the loader's order (train images,
    /// train labels, test images, test labels).
    pub fn files(self) -> Vec<FileSpec> {
        let rows = match self {
            DataSetName::Mnist => &MNIST,
            DataSetName::FashionMnist => &FASHION_MNIST,
        };
        rows.iter()
            .map(|&(name, gz, size, raw)| FileSpec {
                name: name.to_string(),
                gz_sha256: gz.to_string(),
                gz_size: Some(size),
                raw_sha256: raw.map(str::to_string),
            })
            .collect()
    }

    /// The `locus train` flags that read this data set from `dir`; `dir` is left out for
    /// MNIST when the loader finds it there on its own (`$LOCUS_DATA/mnist`).
    pub fn train_flags(self, dir: &Path, env_root: Option<&Path>) -> String {
        let shown = dir.display();
        match self {
            DataSetName::Mnist if env_root.is_some_and(|r| r.join("mnist") == dir) => {
                "--dataset mnist".to_string()
            }
            DataSetName::Mnist => format!("--dataset mnist --data-dir {shown}"),
            DataSetName::FashionMnist => format!("--dataset idx --data-dir {shown}"),
        }
    }
}

/// The directory of a data set: `--dir` when given, else `$LOCUS_DATA/<name>` (as the
/// loader looks), else `./data/<name>`.
pub fn default_dir(flag: Option<&Path>, set: DataSetName, env_root: Option<&Path>) -> PathBuf {
    match (flag, env_root) {
        (Some(dir), _) => dir.to_path_buf(),
        (None, Some(root)) => root.join(set.dir_name()),
        (None, None) => Path::new("data").join(set.dir_name()),
    }
}

/// `$LOCUS_DATA`, unless unset or empty (which the loader treats as unset too).
pub fn env_root() -> Option<PathBuf> {
    std::env::var_os(locus_data::DATA_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Test-only checksums (`--checksums FILE`) in place of the built-in ones: a file in the
/// format `sha256sum` writes, `<64 hex digits>  <name>.gz` per line, naming each of the data
/// set's four files. Sizes and checksums of decompressed files are then unknown.
///
/// # Errors
/// A file that cannot be read, a line that is not `<hash>  <name>`, a hash that is not 64
/// hex digits, a name that is not one of the four, or one of the four missing; each names
/// the file (and the line).
pub fn checksums_from_file(path: &Path, set: DataSetName) -> anyhow::Result<Vec<FileSpec>> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the checksums file --checksums {shown}"))?;
    let mut files = set.files();
    let mut given = vec![false; files.len()];
    for (number, line) in text.lines().enumerate().map(|(i, l)| (i + 1, l.trim())) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((hash, name)) = line.split_once(char::is_whitespace) else {
            bail!("{shown}:{number}: expected `<sha256>  <file name>`, found {line:?}");
        };
        let name = name.trim_start().trim_start_matches('*');
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            bail!("{shown}:{number}: {hash:?} is not a SHA-256 (64 hex digits)");
        }
        let Some(i) = files.iter().position(|f| f.gz_name() == name) else {
            let names: Vec<String> = files.iter().map(FileSpec::gz_name).collect();
            bail!(
                "{shown}:{number}: {name:?} is not a file of {}: expected one of {}",
                set.title(),
                names.join(", ")
            );
        };
        files[i] = FileSpec {
            name: files[i].name.clone(),
            gz_sha256: hash.to_ascii_lowercase(),
            gz_size: None,
            raw_sha256: None,
        };
        given[i] = true;
    }
    let missing: Vec<String> = (files.iter().zip(&given))
        .filter(|(_, &g)| !g)
        .map(|(f, _)| f.gz_name())
        .collect();
    if !missing.is_empty() {
        bail!("{shown} gives no checksum for {}", missing.join(", "));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_checksums_are_sha256_hex() {
        for set in [DataSetName::Mnist, DataSetName::FashionMnist] {
            for f in set.files() {
                for hash in std::iter::once(&f.gz_sha256).chain(&f.raw_sha256) {
                    assert_eq!(hash.len(), 64, "{}", f.name);
                    assert!(hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
                }
            }
            let names: Vec<String> = set.files().into_iter().map(|f| f.name).collect();
            assert_eq!(names, locus_data::idx::MNIST_FILES);
        }
    }

    #[test]
    fn default_dir_prefers_the_flag_then_locus_data() {
        let set = DataSetName::FashionMnist;
        let root = Path::new("/srv/data");
        let flag = Path::new("/x");
        assert_eq!(default_dir(Some(flag), set, Some(root)), flag);
        assert_eq!(
            default_dir(None, set, Some(root)),
            Path::new("/srv/data/fashion-mnist")
        );
        assert_eq!(
            default_dir(None, set, None),
            Path::new("data/fashion-mnist")
        );
    }

    #[test]
    fn train_flags_leave_out_the_directory_the_loader_finds() {
        let root = Path::new("/srv/data");
        let m = DataSetName::Mnist;
        assert_eq!(
            m.train_flags(&root.join("mnist"), Some(root)),
            "--dataset mnist"
        );
        assert_eq!(
            m.train_flags(Path::new("d"), Some(root)),
            "--dataset mnist --data-dir d"
        );
        assert_eq!(
            DataSetName::FashionMnist.train_flags(Path::new("d"), None),
            "--dataset idx --data-dir d"
        );
    }

    #[test]
    fn checksums_file_must_name_all_four_files_with_valid_hashes() {
        let dir = std::env::temp_dir().join(format!("locus-checksums-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("SHA256SUMS");
        let hash = "ab".repeat(32);
        let all: String = locus_data::idx::MNIST_FILES
            .iter()
            .map(|n| format!("{hash}  {n}.gz\n"))
            .collect();
        std::fs::write(&file, &all).unwrap();
        let files = checksums_from_file(&file, DataSetName::Mnist).unwrap();
        assert!(files
            .iter()
            .all(|f| f.gz_sha256 == hash && f.gz_size.is_none() && f.raw_sha256.is_none()));

        let three: String = all.lines().skip(1).map(|l| format!("{l}\n")).collect();
        std::fs::write(&file, three).unwrap();
        let e = checksums_from_file(&file, DataSetName::Mnist).unwrap_err();
        assert!(e.to_string().contains("train-images-idx3-ubyte.gz"), "{e}");

        std::fs::write(&file, "xyz  train-images-idx3-ubyte.gz\n").unwrap();
        let e = checksums_from_file(&file, DataSetName::Mnist).unwrap_err();
        assert!(e.to_string().contains(":1:"), "{e}");

        std::fs::write(&file, format!("{hash}  cifar.tar.gz\n")).unwrap();
        let e = checksums_from_file(&file, DataSetName::Mnist).unwrap_err();
        assert!(e.to_string().contains("cifar.tar.gz"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
