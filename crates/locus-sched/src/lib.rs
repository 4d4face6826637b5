//! Stages and schedulers.
//!
//! A [`Stage`] is a gradient-isolated piece of a network: a module, the local objective it
//! learns from, and its own optimizer. A [`Scheduler`] decides in which order stages see
//! batches and signals. [`Lockstep`] trains every stage on every batch, top-down, so
//! end-to-end backpropagation (stages with
//! [`UpstreamGradient`](locus_objectives::UpstreamGradient)) and purely local rules run
//! through the same code.
#![warn(missing_docs)]

mod alignment;
mod bit_loss;
mod curriculum;
mod evaluate;
mod lenet;
mod lockstep;
mod mlp;
mod observe;
mod recurrent;
mod schedule;
mod scheduler;
mod stage;

pub use alignment::{measure_alignment, StageAlignment};
pub use bit_loss::{masked_bit_loss, BitLoss};
pub use curriculum::{run_curriculum, CurriculumConfig, CurriculumReport, CurriculumRound};
pub use evaluate::{evaluate, predict, Evaluation};
pub use lenet::LeNetConfig;
pub use lockstep::Lockstep;
pub use mlp::{MlpConfig, StageLayout};
pub use observe::{NoObserver, Observer, StepInfo};
pub use recurrent::{
    BoundaryAlignment, BoundaryGradient, RecurrentBatchReport, RecurrentConfig,
    RecurrentEvaluation, RecurrentTrainer,
};
pub use schedule::LrSchedule;
pub use scheduler::{BatchReport, EpochPlan, EpochReport, Scheduler};
pub use stage::{Signals, Stage, StageUpdate};

/// Errors of the schedulers: the core error, or a data error while loading a batch.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A module, loss or optimizer failed; `stage` names where.
    Stage {
        /// The stage's name.
        stage: String,
        /// What went wrong.
        source: locus_core::Error,
    },
    /// A batch could not be gathered from the data set.
    Data(locus_data::DataError),
    /// The stack of stages is unusable as configured.
    Config(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Stage { stage, source } => write!(f, "stage '{stage}': {source}"),
            Error::Data(e) => write!(f, "data: {e}"),
            Error::Config(msg) => write!(f, "invalid stage stack: {msg}"),
        }
    }
}

/// The message already contains the underlying error, so it is not offered again as a
/// `source`: reporters that print the chain (`anyhow`'s `{:#}`) would repeat it.
impl std::error::Error for Error {}

impl From<locus_data::DataError> for Error {
    fn from(e: locus_data::DataError) -> Self {
        Error::Data(e)
    }
}

/// Result type of locus-sched.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn the_message_names_the_stage_and_the_cause_once() {
        let e = Error::Stage {
            stage: "stage2".into(),
            source: locus_core::Error::NonFinite {
                context: "Adam step".into(),
            },
        };
        let text = e.to_string();
        assert_eq!(text.matches("non-finite").count(), 1, "{text}");
        assert!(
            text.contains("stage2") && text.contains("Adam step"),
            "{text}"
        );
        assert!(std::error::Error::source(&e).is_none());
    }
}
