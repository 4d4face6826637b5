//! The engine's errors.

/// What can go wrong while training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting of the trainer is unusable; the message names it and its value.
    #[error("invalid trainer settings: {0}")]
    Config(String),
    /// A loss became NaN or infinite.
    #[error("training diverged at epoch {epoch} (loss {loss}); try a smaller learning rate")]
    Diverged {
        /// The epoch, from 1.
        epoch: u64,
        /// The epoch's training loss.
        loss: f64,
    },
    /// The scheduler, a stage or an evaluation failed.
    #[error(transparent)]
    Sched(#[from] locus_sched::Error),
    /// A linear probe could not be fitted or scored.
    #[error("linear probe: {0}")]
    Probe(locus_core::Error),
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] locus_data::DataError),
    /// The caller's `on_epoch` failed (e.g. saving the run's state).
    #[error("after epoch {epoch}: {source}")]
    AfterEpoch {
        /// The epoch, from 1.
        epoch: u64,
        /// What went wrong.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, Error>;
