//! Stages, the schedulers that train them, and the schedulers' actor protocol.
//!
//! A [`Stage`] is a gradient-isolated piece of a network: a module, the local objective it
//! learns from, and its own optimizer. A [`Scheduler`] decides in which order stages see
//! batches and signals. [`Lockstep`] trains every stage on every batch, top-down, so
//! end-to-end backpropagation (stages with
//! [`UpstreamGradient`](locus_objectives::UpstreamGradient)) and purely local rules run
//! through the same code. [`Pipelined`] runs each stage on its own thread, so that stages
//! work on different batches at once and update as soon as their signal is ready;
//! [`Simulated`] runs the same protocol on a virtual clock with set stage times and
//! delays, reproducibly. [`Observer`]s hear of every step and epoch under any of them.
//! [`GreedyLayerWise`] trains one stage at a time, each for its budget of epochs, on the
//! frozen stages below it. [`Greedy`] runs greedy layer-wise pretraining as phases of
//! their own: the stages one at a time, then a supervised top, then optionally end-to-end
//! fine-tuning. [`ForwardUnlocked`] trains every stage on a synthetic input predicted
//! from the network's input; [`ForwardForwardTrainer`] turns every batch into positive
//! and negative data and trains its own [`Readout`]. [`predict`] runs a stack forward,
//! as the schedulers that train on frozen stages do. A stack's whole training state
//! ([`Stage::save_state`], [`Scheduler::save_state`]) goes into one safetensors file
//! ([`write_state_file`], [`read_state_file`]); snapshots of the weights alone can be
//! written as `.npy` files ([`save_checkpoint`], the [`Checkpoints`] observer).
//!
//! What is about a training run rather than about scheduling stages lives in the
//! `locus-train` crate, which builds on this one: the epoch loop, the evaluations (test
//! accuracy, alignment with backpropagation, per-stage accuracies, linear probes on
//! frozen features, Forward-Forward's evaluation), and the recurrent trainer with its
//! copy-task curriculum. The network builders that turn a configuration into a stack of
//! stages (MLP, LeNet, Forward-Forward's network, the contrastive encoders) live in the
//! `locus-models` crate, which builds on this one too.
#![warn(missing_docs)]

mod actor;
mod async_config;
mod checkpoint;
mod distributed;
mod ff_readout;
mod ff_trainer;
mod forward_unlocked;
mod frozen_inputs;
mod greedy;
mod greedy_layer_wise;
mod lockstep;
mod observe;
mod observers;
mod pipelined;
mod predict;
mod readout_last;
mod replay;
mod schedule;
mod scheduler;
mod simulated;
mod stack_params;
mod stage;
mod state_file;
mod stats;
mod synthetic_input;

pub use async_config::{AsyncConfig, ReplayConfig};
pub use checkpoint::{load_checkpoint, save_checkpoint, Checkpoints};
pub use distributed::stage_placement;
#[cfg(feature = "mpi")]
pub use distributed::Mpi;
pub use ff_readout::{Readout, ReadoutConfig, ReadoutScores};
pub use ff_trainer::ForwardForwardTrainer;
pub use forward_unlocked::ForwardUnlocked;
pub use frozen_inputs::{cache_stage_inputs, train_epoch_on_frozen};
pub use greedy::{FeatureSource, Greedy, GreedyConfig, GreedyEpoch, Phase};
pub use greedy_layer_wise::{GreedyLayerWise, StageBudget};
pub use lockstep::Lockstep;
pub use observe::{EpochEnd, NoObserver, Observer, StageStep, StepInfo, StepKind};
pub use observers::{Every, StatsLog, StepLog};
pub use pipelined::Pipelined;
pub use predict::predict;
pub use readout_last::ReadoutLast;
pub use replay::ReplayBuffer;
pub use schedule::LrSchedule;
pub use scheduler::{BatchReport, EpochPlan, EpochReport, Scheduler};
pub use simulated::{Simulated, SimulatedConfig, StageTime};
pub use stack_params::{ParamRecord, StackParams};
pub use stage::{Signals, Stage, StageUpdate};
pub use state_file::{
    read_state_file, state_from_bytes, state_to_bytes, write_atomically, write_state_file,
    STATE_FORMAT,
};
pub(crate) use stats::StatsRecorder;
pub use stats::{StageStats, WireBytes};
pub use synthetic_input::{InputModel, SyntheticInput, SyntheticInputConfig};

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
    /// A stage failed while an asynchronous scheduler ran it; the run was stopped.
    StageFailed {
        /// The stage's name.
        stage: String,
        /// The epoch, from 0.
        epoch: u64,
        /// The batch it was working on (its identifier in the epoch), if any.
        batch: Option<u64>,
        /// The stage's step count (updates made before the failure).
        step: u64,
        /// What went wrong: the error's message, or the panic's.
        reason: String,
    },
    /// A checkpoint file could not be written, or does not fit the stages.
    Checkpoint {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A scheduler broke its own message protocol: a bug in locus, never bad input.
    Protocol(String),
    /// Another process of a run over MPI ranks failed; this one stopped.
    RankFailed {
        /// The rank that failed.
        rank: u32,
        /// The stage it ran.
        stage: String,
        /// What went wrong there.
        reason: String,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Stage { stage, source } => write!(f, "stage '{stage}': {source}"),
            Error::Data(e) => write!(f, "data: {e}"),
            Error::Config(msg) => write!(f, "invalid stage stack: {msg}"),
            Error::StageFailed {
                stage,
                epoch,
                batch,
                step,
                reason,
            } => {
                write!(f, "stage '{stage}' failed at step {step} (epoch {epoch}")?;
                if let Some(b) = batch {
                    write!(f, ", batch {b}")?;
                }
                write!(f, "): {reason}")
            }
            Error::Checkpoint { path, reason } => {
                write!(f, "checkpoint file {}: {reason}", path.display())
            }
            Error::Protocol(msg) => write!(f, "internal scheduler error (a bug): {msg}"),
            Error::RankFailed {
                rank,
                stage,
                reason,
            } => write!(f, "rank {rank} (stage '{stage}') failed: {reason}"),
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
