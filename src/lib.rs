//! # locus
//!
//! Composable research crates for **local learning**: training deep networks without
//! end-to-end backpropagation. A network is split into gradient-isolated *stages*; each
//! learns from a signal it can compute locally.
//!
//! This crate gathers the workspace under one name:
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`core`] | `locus-core` | `Float`, tensors, the `Module` trait, layers, losses, optimizers |
//! | [`objectives`] | `locus-objectives` | the `LocalObjective` trait and its implementations |
//! | [`sched`] | `locus-sched` | stages, schedulers, observers, checkpoints |
//! | [`models`] | `locus-models` | network builders: MLP, LeNet, Forward-Forward MLP, patch and sequence encoders |
//! | [`train`] | `locus-train` | the `Trainer`, evaluations, the recurrent trainer and its curriculum |
//! | [`data`] | `locus-data` | the `Dataset` trait, MNIST/IDX and `.npy` readers, the MNIST-1D generator |
//! | [`eval`] | `locus-eval` | metrics and run reports |
//!
//! `use locus::prelude::*;` brings the names most programs need.
//!
//! Tensors are [`ndarray`] arrays and every random draw comes from a [`rand`] generator
//! ([`core::SeededRng`]), so both crates are re-exported: `locus::ndarray` and
//! `locus::rand` are the very versions locus is built with, and a program needs no
//! `ndarray` or `rand` line of its own in Cargo.toml (one of another version would give
//! types that do not match locus's).
//!
//! ```
//! use locus::ndarray::array;
//! use locus::prelude::*;
//! use locus::rand::RngExt;
//!
//! // A tensor for a module's input, built with ndarray's macro.
//! let x: Tensor<f32> = array![[0.5, -1.0], [2.0, 0.0]].into_dyn();
//! assert_eq!(x.shape(), &[2, 2]);
//! // The seeded generator locus draws from; rand's methods work on it.
//! let mut rng = seeded_rng(7);
//! let k = rng.random_range(0..10usize);
//! assert_eq!(k, seeded_rng(7).random_range(0..10usize));
//! ```
//!
//! ```
//! use locus::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Backpropagation on a tiny MLP, one stage per layer.
//! let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.1));
//! let mut stages = MlpConfig::new(vec![4, 8, 3]).build::<f32>(0, &optimizer, |i, n| {
//!     if i + 1 == n {
//!         Box::new(SupervisedLoss::default()) as Box<dyn LocalObjective<f32>>
//!     } else {
//!         Box::new(UpstreamGradient)
//!     }
//! })?;
//! let x = Tensor::<f32>::zeros(vec![2, 4]);
//! let report = Lockstep.train_batch(&mut stages, &x, &[0, 2])?;
//! assert!((report.loss - 3f64.ln()).abs() < 0.5);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub use locus_core as core;
pub use locus_data as data;
pub use locus_eval as eval;
pub use locus_models as models;
pub use locus_objectives as objectives;
pub use locus_sched as sched;
pub use locus_train as train;
/// The `ndarray` crate that locus's tensors ([`core::Tensor`]) are built on.
pub use ndarray;
/// The `rand` crate whose traits draw from locus's generator ([`core::SeededRng`]), e.g.
/// `locus::rand::RngExt` for `random_range`.
pub use rand;

/// The names most programs need, in one import.
pub mod prelude {
    pub use locus_core::init::Init;
    pub use locus_core::{
        seeded_rng, Activation, AdamConfig, AvgPool2d, Cache, Conv1d, Conv1dConfig, Conv2d,
        Conv2dConfig, FeedbackRule, Flatten, Float, Gradients, LayerNorm, LayerNormConfig, Linear,
        LinearConfig, Loss, MaxPool2d, Module, Optimizer, OptimizerConfig, Patches, Pool2dConfig,
        Sequential, SgdConfig, SparseCoding, SparseCodingConfig, Tensor,
    };
    pub use locus_data::{Dataset, InMemoryDataset, Split};
    pub use locus_eval::{FeaturePooling, LinearProbe, ProbeConfig, RunReport, StageReport};
    pub use locus_models::{
        ForwardForwardMlp, MlpConfig, PatchEncoderConfig, SequenceEncoderConfig, StageLayout,
    };
    pub use locus_objectives::{
        ClassifierHead, Corruption, Decoder, DirectFeedback, ForwardForward, ForwardForwardConfig,
        Goodness, HeadKind, InfoNce, InfoNceConfig, LocalClassifier, LocalClassifierConfig,
        LocalObjective, LocalSignal, Mode, NegativeSampling, Reconstruction, ReconstructionConfig,
        ReconstructionLoss, SgModel, SgTarget, StageContext, SupervisedLoss, SyntheticGradient,
        SyntheticGradientConfig, UpstreamGradient,
    };
    pub use locus_sched::{
        predict, AsyncConfig, EpochPlan, ForwardForwardTrainer, ForwardUnlocked, Greedy,
        GreedyConfig, GreedyLayerWise, InputModel, Lockstep, NoObserver, Phase, Pipelined,
        ReadoutConfig, Scheduler, Simulated, SimulatedConfig, Stage, StageBudget, StageTime,
        SyntheticInputConfig,
    };
    pub use locus_train::{
        evaluate, evaluate_forward_forward, measure_alignment, probe_stages, stage_accuracies,
        stage_features, Classification, Evaluate, StageAlignment, Trainer,
    };
}

/// The book's chapters, compiled and run as doctests by `cargo test` so that every code
/// block in `book/` stays correct.
#[cfg(doctest)]
mod book {
    #[doc = include_str!("../book/src/quickstart.md")]
    struct Quickstart;
    #[doc = include_str!("../book/src/concepts/modules.md")]
    struct Modules;
    #[doc = include_str!("../book/src/concepts/objectives.md")]
    struct Objectives;
    #[doc = include_str!("../book/src/concepts/stages.md")]
    struct Stages;
    #[doc = include_str!("../book/src/concepts/schedulers.md")]
    struct Schedulers;
    #[doc = include_str!("../book/src/concepts/datasets.md")]
    struct Datasets;
    #[doc = include_str!("../book/src/concepts/training.md")]
    struct Training;
    #[doc = include_str!("../book/src/write-your-own-rule.md")]
    struct WriteYourOwnRule;
    #[doc = include_str!("../book/src/feedback-alignment.md")]
    struct FeedbackAlignment;
    #[doc = include_str!("../book/src/synthetic-gradients.md")]
    struct SyntheticGradients;
    #[doc = include_str!("../book/src/schedulers.md")]
    struct SchedulersAndAsynchrony;
    #[doc = include_str!("../book/src/cluster.md")]
    struct RunningStagesOnACluster;
    #[doc = include_str!("../book/src/forward-forward.md")]
    struct ForwardForward;
    #[doc = include_str!("../book/src/reconstruction.md")]
    struct Reconstruction;
    #[doc = include_str!("../book/src/contrastive.md")]
    struct Contrastive;
    #[doc = include_str!("../book/src/recurrent-synthetic-gradients.md")]
    struct RecurrentSyntheticGradients;
    #[doc = include_str!("../book/src/hsic.md")]
    struct Hsic;
    #[doc = include_str!("../book/src/estimators.md")]
    struct EstimatorsAndHowToTestThem;
}
