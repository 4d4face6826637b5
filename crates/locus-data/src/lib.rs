#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod batch;
mod copy_task;
mod dataset;
mod error;
pub mod idx;
mod locate;
pub mod mnist1d;
pub mod npy;
mod source;

pub use batch::{epoch_batches, gather, Batch};
pub use copy_task::{CopyTask, CopyTaskKind, SequenceBatch};
pub use dataset::{Dataset, InMemoryDataset, Split};
pub use error::{DataError, Result};
pub use locate::{resolve_data_dir, DATA_ENV};
