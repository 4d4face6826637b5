#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod batch;
mod copy_task;
mod correlated_gaussians;
mod dataset;
mod error;
pub mod forward_forward;
pub mod idx;
mod locate;
pub mod mnist1d;
pub mod npy;
mod shape;
mod source;

pub use batch::{epoch_batches, gather, Batch};
pub use copy_task::{CopyTask, CopyTaskKind, SequenceBatch};
pub use correlated_gaussians::CorrelatedGaussians;
pub use dataset::{Dataset, InMemoryDataset, Split, Standardization};
pub use error::{DataError, Result};
pub use locate::{resolve_data_dir, DATA_ENV};
pub use shape::DatasetShape;
