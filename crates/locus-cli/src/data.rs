//! Loading the data set a run asks for.

use anyhow::Context;
use locus_data::mnist1d::{generate, Mnist1dConfig};
use locus_data::{idx, npy, resolve_data_dir, Dataset, Split, Standardization};

use crate::args::{DatasetKind, TrainArgs};

/// Loads (or generates) the train/test split named by the arguments.
pub fn load(args: &TrainArgs) -> anyhow::Result<Split> {
    let require_dir = || {
        args.data_dir.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "--dataset {} reads files: pass --data-dir DIR (a directory with {})",
                args.dataset.name(),
                match args.dataset {
                    DatasetKind::Npy => "x_train.npy, y_train.npy, x_test.npy, y_test.npy",
                    _ => "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (raw or .gz)",
                }
            )
        })
    };
    let split = match args.dataset {
        DatasetKind::Mnist1d => {
            let config = Mnist1dConfig {
                seed: args.data_seed,
                ..Mnist1dConfig::default()
            };
            generate(&config).context("generating MNIST-1D")?
        }
        DatasetKind::Mnist => {
            let dir = resolve_data_dir(args.data_dir.as_deref(), "mnist")?;
            idx::load_idx_dir(&dir)?
        }
        DatasetKind::Idx => idx::load_idx_dir(&require_dir()?)?,
        DatasetKind::Npy => npy::load_npy_dir(&require_dir()?)?,
        DatasetKind::Copy | DatasetKind::RepeatCopy => anyhow::bail!(
            "--dataset {} is a sequence task: train it with --model lstm",
            args.dataset.name()
        ),
    };
    let mut split = match args.train_limit {
        None => split,
        Some(0) => anyhow::bail!("--train-limit should be >= 1, but it is 0"),
        Some(n) => {
            let n = n.min(split.train.len());
            let indices: Vec<usize> = (0..n).collect();
            Split {
                train: split.train.subset(&indices)?,
                test: split.test,
            }
        }
    };
    if args.standardize {
        let stats = split.standardize().context("--standardize")?;
        // One process trains one run: the statistics go into its results.json.
        let _ = STANDARDIZATION.set(stats);
    }
    Ok(split)
}

/// The statistics `--standardize` measured on the training split of this process's run.
static STANDARDIZATION: std::sync::OnceLock<Standardization> = std::sync::OnceLock::new();

/// The statistics `--standardize` used, for results.json (`None` without it).
pub fn standardization() -> Option<Standardization> {
    STANDARDIZATION.get().copied()
}
