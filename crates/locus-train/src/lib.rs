//! The training engine: [`Trainer`] owns the epoch loop that every stack of stages runs
//! through, whatever its learning rule and scheduler — learning rates per epoch, one
//! epoch under the [`Scheduler`](locus_sched::Scheduler), an [`Evaluate`] after it, each
//! stage's figures, the learning curve, and a check for divergence — and hands back a
//! [`Trained`] from which a run's report is made.
//!
//! Besides the loop it holds what a training run measures, for the evaluations or for
//! any caller: the test accuracy and loss of a stack ([`evaluate`]), each stage's
//! alignment with backpropagation ([`measure_alignment`]), the accuracy of each stage's
//! own classifier ([`stage_accuracies`]), every stage's frozen features and a linear probe
//! on them ([`stage_features`], [`probe_stages`], and pooled over positions
//! [`pooled_stage_features`], [`probe_stages_pooled`]), and a Forward-Forward stack's
//! accuracies by goodness and by read-out ([`evaluate_forward_forward`]). It also holds
//! the one trainer that is not a scheduler of stages: truncated backpropagation through
//! time with synthetic gradients at the boundaries ([`RecurrentTrainer`]) and the copy
//! tasks' curriculum ([`run_curriculum`]). These report locus-sched's
//! [`Error`](locus_sched::Error), which the engine's [`Error::Sched`] carries.
//!
//! ```
//! use locus_core::{Loss, OptimizerConfig, SgdConfig};
//! use locus_data::mnist1d::{generate, Mnist1dConfig};
//! use locus_objectives::{LocalObjective, SupervisedLoss, UpstreamGradient};
//! use locus_models::MlpConfig;
//! use locus_sched::{Lockstep, NoObserver};
//! use locus_train::{Classification, Flow, Trainer};
//!
//! let data = generate(&Mnist1dConfig { num_samples: 300, ..Mnist1dConfig::default() })?;
//! let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.05).with_momentum(0.9));
//! let mut stages = MlpConfig::new(vec![40, 32, 10]).build::<f32>(0, &optimizer, |i, n| {
//!     if i + 1 == n {
//!         Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy)) as Box<dyn LocalObjective<f32>>
//!     } else {
//!         Box::new(UpstreamGradient)
//!     }
//! })?;
//! let mut evaluation = Classification::new(&data.test);
//! let trained = Trainer::new(3, 32, 0).run(
//!     &mut stages,
//!     &mut Lockstep,
//!     &data.train,
//!     &mut evaluation,
//!     &mut NoObserver,
//!     &mut |done| {
//!         println!("epoch {}: training loss {:.3}", done.epoch, done.train_loss);
//!         Ok(Flow::Continue)
//!     },
//! )?;
//! assert_eq!(trained.history.len(), 3);
//! assert!(trained.test_accuracy > 0.1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod alignment;
mod bit_loss;
mod curriculum;
mod error;
mod evaluate;
mod evaluation;
mod features;
mod ff_evaluate;
mod forward_forward;
mod pooled_features;
mod probes;
mod recurrent;
mod run_state;
mod stage_accuracy;
mod stage_figures;
mod trainer;
mod unformatted;

pub use alignment::{measure_alignment, StageAlignment};
pub use bit_loss::{masked_bit_loss, BitLoss};
pub use curriculum::{
    run_curriculum, run_curriculum_from, CurriculumConfig, CurriculumProgress, CurriculumReport,
    CurriculumRound,
};
pub use error::{Error, Result};
pub use evaluate::{
    output_spread, Classification, Evaluate, Evaluated, ALIGNMENT_SAMPLES, EVAL_BATCH,
};
pub use evaluation::{evaluate, Evaluation};
pub use features::{probe_stages, stage_features};
pub use ff_evaluate::{evaluate_forward_forward, ForwardForwardEvaluation};
pub use forward_forward::ForwardForwardTest;
pub use pooled_features::{pooled_stage_features, probe_stages_pooled};
pub use probes::LinearProbes;
pub use recurrent::{
    BoundaryAlignment, BoundaryGradient, RecurrentBatchReport, RecurrentConfig,
    RecurrentEvaluation, RecurrentTrainer,
};
pub use run_state::{
    load_curriculum_state, load_run_state, read_manifest, save_curriculum_state, save_run_state,
    Manifest, CHECKPOINT_FILE, MANIFEST_FILE, MANIFEST_FORMAT,
};
pub use stage_accuracy::stage_accuracies;
pub use stage_figures::stage_metrics;
pub use trainer::{
    keep_going, keep_losses_of_learners, EpochDone, Flow, Progress, Trained, Trainer,
};
pub use unformatted::unformatted_accuracies;
