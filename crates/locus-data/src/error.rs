use std::path::{Path, PathBuf};

use thiserror::Error;

/// Errors raised while reading, validating, generating or batching data.
///
/// Every variant about a file carries its path, and every message says what was wrong
/// (and where: the row, the index, the header field), so a user can act on it alone.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataError {
    /// The operating system could not open or read a file.
    #[error("cannot read {}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error. It is part of the message and deliberately not a
        /// `source()`, so chain-printing reporters do not say it twice.
        cause: std::io::Error,
    },
    /// A file does not follow its format (bad magic, truncated header, wrong size, ...).
    #[error("malformed file {}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        reason: String,
    },
    /// A well-formed file uses a feature this crate does not read (a type code, a dtype,
    /// Fortran order, big-endian data).
    #[error("unsupported file {}: {reason}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is not supported.
        reason: String,
    },
    /// Two files that belong together disagree (image and label counts, sample shapes).
    #[error("{} and {} do not match: {reason}", first.display(), second.display())]
    Inconsistent {
        /// The first file.
        first: PathBuf,
        /// The second file.
        second: PathBuf,
        /// What differs.
        reason: String,
    },
    /// A file a loader needs is missing from its directory.
    #[error("missing file in {}: tried {}", dir.display(), list_paths(tried))]
    MissingFile {
        /// The directory searched.
        dir: PathBuf,
        /// Every file name tried, in order.
        tried: Vec<PathBuf>,
    },
    /// No directory holds the named data set.
    #[error(
        "data directory for {dataset:?} not found; looked in: {}. {hint}",
        list_or_nowhere(tried)
    )]
    DataDirNotFound {
        /// The data set asked for (`"mnist"`, ...).
        dataset: String,
        /// Every directory looked at, in order (empty when there was nowhere to look).
        tried: Vec<PathBuf>,
        /// What to do about it.
        hint: String,
    },
    /// In-memory data that does not make a valid data set (lengths, labels, NaNs).
    #[error("invalid data set {dataset:?}: {reason}")]
    InvalidData {
        /// The data set's name.
        dataset: String,
        /// What is wrong, and where (the first bad index).
        reason: String,
    },
    /// A sample index past the end of a data set.
    #[error("index {index} is out of range for data set {dataset:?} of {len} samples")]
    IndexOutOfRange {
        /// The data set's name.
        dataset: String,
        /// The index asked for.
        index: usize,
        /// The number of samples.
        len: usize,
    },
    /// An error from locus-core (invalid configuration values, ...).
    #[error(transparent)]
    Core(#[from] locus_core::Error),
}

/// Result type of locus-data.
pub type Result<T> = std::result::Result<T, DataError>;

impl DataError {
    /// Shorthand for [`DataError::Malformed`].
    pub(crate) fn malformed(path: &Path, reason: impl Into<String>) -> Self {
        DataError::Malformed {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`DataError::Unsupported`].
    pub(crate) fn unsupported(path: &Path, reason: impl Into<String>) -> Self {
        DataError::Unsupported {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`DataError::Io`].
    pub(crate) fn io(path: &Path, cause: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }

    /// Shorthand for [`DataError::Inconsistent`].
    pub(crate) fn inconsistent(first: &Path, second: &Path, reason: impl Into<String>) -> Self {
        DataError::Inconsistent {
            first: first.to_path_buf(),
            second: second.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`DataError::InvalidData`].
    pub(crate) fn invalid(dataset: &str, reason: impl Into<String>) -> Self {
        DataError::InvalidData {
            dataset: dataset.to_string(),
            reason: reason.into(),
        }
    }
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn list_or_nowhere(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        "nowhere".to_string()
    } else {
        list_paths(paths)
    }
}
