//! Loading the data set a run asks for.

use anyhow::Context;
use locus_data::mnist1d::{generate, Mnist1dConfig};
use locus_data::{idx, npy, resolve_data_dir, Dataset, DatasetShape, Split, Standardization};

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

/// A run's data as this process holds it.
#[derive(Debug)]
pub enum RunData {
    /// The samples: in every run but on the ranks above 0 of `--scheduler mpi`.
    Held(Split),
    /// Under `--scheduler mpi`, on a rank above 0: the description of the two splits rank
    /// 0 read (length, sample shape, classes), which is all the rank needs to build the
    /// network and count the batches; its stages get their inputs from rank 0, and only
    /// rank 0 evaluates.
    Described {
        /// The training split's description.
        train: DatasetShape,
        /// The test split's description.
        test: DatasetShape,
    },
}

impl RunData {
    /// The training split (its description only on an MPI rank above 0).
    pub fn train(&self) -> &dyn Dataset {
        match self {
            RunData::Held(split) => &split.train,
            RunData::Described { train, .. } => train,
        }
    }

    /// The test split (its description only on an MPI rank above 0).
    pub fn test(&self) -> &dyn Dataset {
        match self {
            RunData::Held(split) => &split.test,
            RunData::Described { test, .. } => test,
        }
    }

    /// The classes of the run: the larger count of the two splits.
    pub fn classes(&self) -> usize {
        self.train().num_classes().max(self.test().num_classes())
    }
}

/// [`load`] for a run under the scheduler its arguments name. Under `--scheduler mpi`
/// only rank 0 reads (or generates) the data: it sends the other ranks the splits'
/// descriptions, or the reason it could not load them, so that they stop with it rather
/// than wait.
///
/// # Errors
/// [`load`]'s; on the other ranks of an MPI run, rank 0's failure to load, or a
/// description that does not decode.
pub fn load_for_run(args: &TrainArgs) -> anyhow::Result<RunData> {
    if !crate::scheduler::is_mpi_run() {
        return Ok(RunData::Held(load(args)?));
    }
    type Description = Result<(DatasetShape, DatasetShape), String>;
    let loaded = crate::scheduler::reports().then(|| load(args));
    let description: Description = match &loaded {
        Some(Ok(split)) => Ok((
            DatasetShape::of(&split.train),
            DatasetShape::of(&split.test),
        )),
        Some(Err(e)) => Err(format!("{e:#}")),
        None => Err(String::new()),
    };
    let shared = crate::scheduler::share_from_rank0(serde_json::to_vec(&description)?)?;
    if let Some(split) = loaded {
        return Ok(RunData::Held(split?));
    }
    let description: Description = serde_json::from_slice(&shared)
        .context("the description of the data set that MPI rank 0 sent")?;
    match description {
        Ok((train, test)) => Ok(RunData::Described {
            train: train.check()?,
            test: test.check()?,
        }),
        Err(reason) => anyhow::bail!("MPI rank 0 could not load the data: {reason}"),
    }
}

/// The statistics `--standardize` measured on the training split of this process's run.
static STANDARDIZATION: std::sync::OnceLock<Standardization> = std::sync::OnceLock::new();

/// The statistics `--standardize` used, for results.json (`None` without it).
pub fn standardization() -> Option<Standardization> {
    STANDARDIZATION.get().copied()
}
