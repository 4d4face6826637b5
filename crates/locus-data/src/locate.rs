use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::{DataError, Result};

/// The environment variable naming the root that holds one directory per data set.
pub const DATA_ENV: &str = "LOCUS_DATA";

/// Finds the directory of a data set: `flag` (a `--data-dir` option) when given, else
/// `$LOCUS_DATA/<dataset>`.
///
/// # Errors
/// [`DataError::DataDirNotFound`] when that directory does not exist (or neither a flag
/// nor `LOCUS_DATA` was given), listing every place looked at and how to fix it; for
/// `"mnist"` it names the four IDX files to download.
pub fn resolve_data_dir(flag: Option<&Path>, dataset: &str) -> Result<PathBuf> {
    resolve_with(flag, dataset, std::env::var_os(DATA_ENV))
}

/// [`resolve_data_dir`] with the value of `LOCUS_DATA` passed in (for tests).
fn resolve_with(flag: Option<&Path>, dataset: &str, env: Option<OsString>) -> Result<PathBuf> {
    let (candidate, unset_note) = match (flag, env) {
        (Some(dir), _) => (Some(dir.to_path_buf()), ""),
        (None, Some(root)) if !root.is_empty() => (Some(PathBuf::from(root).join(dataset)), ""),
        (None, _) => (None, "No --data-dir was given and LOCUS_DATA is not set. "),
    };
    if let Some(dir) = &candidate {
        if dir.is_dir() {
            return Ok(dir.clone());
        }
    }
    Err(DataError::DataDirNotFound {
        dataset: dataset.to_string(),
        tried: candidate.into_iter().collect(),
        hint: format!("{unset_note}{}", hint(dataset)),
    })
}

fn hint(dataset: &str) -> String {
    match dataset {
        "mnist" => format!(
            "Download MNIST in IDX format (the four files {}, each optionally gzip-compressed \
             with a .gz suffix) into one directory (`locus data fetch mnist` does), and pass \
             --data-dir or set LOCUS_DATA so that $LOCUS_DATA/mnist is that directory.",
            crate::idx::MNIST_FILES.join(", ")
        ),
        "mnist1d" => format!(
            "MNIST-1D needs no files (locus_data::mnist1d::generate makes it); to load a saved \
             copy instead, put {} in one directory and pass --data-dir or set LOCUS_DATA so \
             that $LOCUS_DATA/mnist1d is that directory.",
            crate::npy::NPY_FILES.join(", ")
        ),
        other => format!(
            "Pass --data-dir or set LOCUS_DATA so that $LOCUS_DATA/{other} holds the data set."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_when_it_exists() {
        let here = std::env::temp_dir();
        let got = resolve_with(Some(&here), "mnist", Some("/nonexistent".into())).unwrap();
        assert_eq!(got, here);
    }

    #[test]
    fn env_root_is_joined_with_the_dataset() {
        let root = std::env::temp_dir();
        let name = format!("locus-data-locate-{}", std::process::id());
        std::fs::create_dir_all(root.join(&name)).unwrap();
        let got = resolve_with(None, &name, Some(root.clone().into_os_string()));
        std::fs::remove_dir_all(root.join(&name)).unwrap();
        assert_eq!(got.unwrap(), root.join(&name));
    }

    #[test]
    fn missing_flag_dir_lists_it_and_explains_mnist() {
        let missing = Path::new("/nonexistent/locus/mnist-here");
        let e = resolve_with(Some(missing), "mnist", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/nonexistent/locus/mnist-here"), "{e}");
        for file in crate::idx::MNIST_FILES {
            assert!(e.contains(file), "{e}");
        }
        assert!(e.contains("IDX format") && e.contains("--data-dir") && e.contains("LOCUS_DATA"));
        assert!(!e.contains("http"), "{e}");
    }

    #[test]
    fn missing_env_dir_and_unset_env_are_reported() {
        let e = resolve_with(None, "mnist1d", Some("/nonexistent/root".into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nonexistent/root/mnist1d") && e.contains("x_train.npy"),
            "{e}"
        );
        let e = resolve_with(None, "cifar", None).unwrap_err().to_string();
        assert!(
            e.contains("nowhere") && e.contains("LOCUS_DATA is not set"),
            "{e}"
        );
        assert!(e.contains("$LOCUS_DATA/cifar"), "{e}");
    }
}
