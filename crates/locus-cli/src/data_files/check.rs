//! Whether the file the loader would read for one entry of a data set is the published one.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::catalog::FileSpec;

/// What is in a directory for one [`FileSpec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The file the loader reads holds the published data.
    Good {
        /// The file.
        path: PathBuf,
        /// How that was established.
        how: &'static str,
    },
    /// Neither `<name>` nor `<name>.gz` is there.
    Missing {
        /// The size of an unfinished download `<name>.gz.part`, if one is there.
        partial: Option<u64>,
    },
    /// The file the loader reads does not hold the published data.
    Wrong {
        /// The file.
        path: PathBuf,
        /// What differs.
        detail: String,
    },
    /// A decompressed file for which no checksum is built in.
    Unverifiable {
        /// The file.
        path: PathBuf,
    },
}

impl Found {
    /// Whether the data set can be used as it is.
    pub fn is_good(&self) -> bool {
        matches!(self, Found::Good { .. })
    }

    /// The file it is about: the one the loader reads, or `<name>.gz` when none is there.
    pub fn file_name(&self, spec: &FileSpec) -> String {
        match self {
            Found::Good { path, .. } | Found::Wrong { path, .. } | Found::Unverifiable { path } => {
                path.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            }
            Found::Missing { .. } => spec.gz_name(),
        }
    }

    /// The verdict and its reason, for `locus data verify` after [`Found::file_name`].
    pub fn describe(&self) -> String {
        match self {
            Found::Good { how, .. } => format!("ok: {how}"),
            Found::Missing { partial: None } => "MISSING".to_string(),
            Found::Missing {
                partial: Some(bytes),
            } => format!(
                "MISSING (an unfinished download of {bytes} bytes is there; `locus data fetch` \
                 goes on with it)"
            ),
            Found::Wrong { detail, .. } => format!("WRONG: {detail}"),
            Found::Unverifiable { .. } => "UNCHECKED: decompressed, and no checksum of the \
                decompressed file is built in; use the .gz instead"
                .to_string(),
        }
    }
}

/// The path of the unfinished download of `spec` in `dir`.
pub fn part_path(dir: &Path, spec: &FileSpec) -> PathBuf {
    dir.join(format!("{}.part", spec.gz_name()))
}

/// Checks the file the loader reads for `spec` in `dir`: `<name>` when it exists (the
/// loader prefers it), else `<name>.gz`. A `.gz` is good when its SHA-256 is the published
/// one, or when it decompresses to the published data (a recompressed copy); a
/// decompressed file is good when its SHA-256 is the one built in for the data.
///
/// # Errors
/// A file that exists but cannot be read.
pub fn inspect(dir: &Path, spec: &FileSpec) -> io::Result<Found> {
    let raw = dir.join(&spec.name);
    if raw.is_file() {
        let Some(expected) = &spec.raw_sha256 else {
            return Ok(Found::Unverifiable { path: raw });
        };
        let actual = sha256_of(File::open(&raw)?)?;
        return Ok(if &actual == expected {
            Found::Good {
                path: raw,
                how: "decompressed; SHA-256 of the data matches",
            }
        } else {
            Found::Wrong {
                path: raw,
                detail: format!("SHA-256 {actual}, expected {expected}"),
            }
        });
    }
    inspect_gz(dir, spec)
}

/// Checks `<name>.gz` in `dir` alone, as [`inspect`] does when no decompressed file is
/// there.
///
/// # Errors
/// A file that exists but cannot be read.
pub fn inspect_gz(dir: &Path, spec: &FileSpec) -> io::Result<Found> {
    let gz = dir.join(spec.gz_name());
    if !gz.is_file() {
        let partial = part_path(dir, spec).metadata().ok().map(|m| m.len());
        return Ok(Found::Missing { partial });
    }
    let actual = sha256_of(File::open(&gz)?)?;
    if actual == spec.gz_sha256 {
        return Ok(Found::Good {
            path: gz,
            how: "SHA-256 matches",
        });
    }
    if let Some(expected) = &spec.raw_sha256 {
        let decoded = MultiGzDecoder::new(BufReader::new(File::open(&gz)?));
        if sha256_of(decoded).is_ok_and(|data| &data == expected) {
            return Ok(Found::Good {
                path: gz,
                how: "recompressed copy; SHA-256 of the decompressed data matches",
            });
        }
    }
    Ok(Found::Wrong {
        path: gz,
        detail: format!("SHA-256 {actual}, expected {}", spec.gz_sha256),
    })
}

/// SHA-256 of everything `reader` yields, lower-case hex.
///
/// # Errors
/// What reading fails with.
pub fn sha256_of(mut reader: impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    use super::*;

    fn spec(gz: &[u8], raw: &[u8]) -> FileSpec {
        FileSpec {
            name: "train-labels-idx1-ubyte".to_string(),
            gz_sha256: sha256_of(gz).unwrap(),
            gz_size: None,
            raw_sha256: Some(sha256_of(raw).unwrap()),
        }
    }

    fn gzip(data: &[u8], level: u32) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::new(level));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn sha256_of_the_empty_input_is_the_standard_one() {
        assert_eq!(
            sha256_of(&b""[..]).unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn published_recompressed_and_decompressed_copies_are_good_others_are_not() {
        let dir = std::env::temp_dir().join(format!("locus-check-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let published = gzip(&data, 9);
        let s = spec(&published, &data);
        let gz = dir.join(s.gz_name());

        assert_eq!(inspect(&dir, &s).unwrap(), Found::Missing { partial: None });
        std::fs::write(part_path(&dir, &s), [1, 2, 3]).unwrap();
        assert_eq!(
            inspect(&dir, &s).unwrap(),
            Found::Missing { partial: Some(3) }
        );

        std::fs::write(&gz, &published).unwrap();
        assert!(matches!(
            inspect(&dir, &s).unwrap(),
            Found::Good {
                how: "SHA-256 matches",
                ..
            }
        ));

        let recompressed = gzip(&data, 1);
        assert_ne!(recompressed, published);
        std::fs::write(&gz, &recompressed).unwrap();
        let found = inspect(&dir, &s).unwrap();
        assert!(
            found.is_good() && found.describe().contains("recompressed"),
            "{found:?}"
        );

        let mut other = data.clone();
        other[100] ^= 1;
        std::fs::write(&gz, gzip(&other, 9)).unwrap();
        let found = inspect(&dir, &s).unwrap();
        assert!(matches!(found, Found::Wrong { .. }), "{found:?}");
        assert!(
            found.describe().contains(&s.gz_sha256),
            "{}",
            found.describe()
        );
        std::fs::write(&gz, b"not gzip").unwrap();
        assert!(matches!(inspect(&dir, &s).unwrap(), Found::Wrong { .. }));

        // The decompressed file wins, as in the loader.
        let raw = dir.join(&s.name);
        std::fs::write(&raw, &data).unwrap();
        assert!(inspect(&dir, &s).unwrap().is_good());
        std::fs::write(&raw, &other).unwrap();
        assert!(matches!(inspect(&dir, &s).unwrap(), Found::Wrong { .. }));
        let unknown = FileSpec {
            raw_sha256: None,
            ..s.clone()
        };
        assert!(matches!(
            inspect(&dir, &unknown).unwrap(),
            Found::Unverifiable { .. }
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
