//! The algorithms `--algo` accepts: each is a backward rule for the layers and a choice of
//! what the hidden stages learn from.

use std::sync::OnceLock;

use crate::args::{DatasetKind, OptimizerKind, ScheduleKind, SgTargetKind};
use crate::contrastive_model::Family;
use locus_core::{FeedbackRule, Loss};
use locus_objectives::{
    DfaFeedbackInit, DirectFeedback, ForwardForwardConfig, HsicBottleneckConfig,
    LocalClassifierConfig, LocalObjective, SupervisedLoss, SyntheticGradient,
    SyntheticGradientConfig, UpstreamGradient,
};

/// What the hidden stages (all but the top) learn from.
#[derive(Debug, Clone, Copy)]
pub enum HiddenSignal {
    /// The message from the stage above, sent through each layer's backward rule.
    Message,
    /// The output error projected by a fixed random matrix (direct feedback alignment).
    DirectFeedback,
    /// A learned prediction of the stage's gradient (decoupled neural interfaces); the
    /// flag conditions it on the label (cDNI).
    SyntheticGradient {
        /// Whether the gradient model also sees the one-hot label.
        conditional: bool,
    },
    /// The cross-entropy of an auxiliary classifier head on the stage's output (decoupled
    /// greedy learning); the top stage stays an ordinary supervised layer.
    LocalClassifier,
    /// Forward-Forward goodness on positive and negative data, for *every* stage: the
    /// network has no output layer (see `crate::forward_forward`). The flag says whether
    /// negatives carry wrong labels (supervised) or are hybrid images (unsupervised).
    ForwardForward {
        /// Whether the label is written into the input.
        supervised: bool,
    },
    /// Contrastive learning on an encoder, probed linearly (gim, cpc, bp-encoder), run by
    /// `crate::contrastive`; its stand-alone objective is InfoNCE.
    Contrastive(Family),
    /// Reconstruction of each stage's input, stage by stage, before a supervised top
    /// (sae, sarm), run by `crate::greedy`. The flag says whether the stages are
    /// sparse-coding (unrolled ISTA) layers.
    Reconstruction {
        /// Sparse-coding stages (SARM) rather than dense ones (stacked autoencoders).
        sparse: bool,
    },
    /// The HSIC bottleneck: every hidden stage minimises `λx·nHSIC(Z, X) − λy·nHSIC(Z, Y)`
    /// of its output `Z` against the network's input `X` and the one-hot labels `Y`; the top
    /// stage is a supervised linear read-out learning at the same time.
    HsicBottleneck,
    /// A rule from outside this crate: every hidden stage of the MLP or LeNet learns from
    /// the objective the factory builds (the top stage keeps the supervised loss), and
    /// trains like the built-in rules of its kind, under every scheduler its objective
    /// allows.
    Custom(ObjectiveFactory),
}

/// An algorithm's defaults for the flags of its training besides the optimizer
/// ([`Algorithm::training_defaults`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainingDefaults {
    /// `--lr-schedule`.
    pub lr_schedule: ScheduleKind,
    /// `--batch-norm` (an MLP without `--layer-norm` only).
    pub batch_norm: bool,
    /// `--sg-target` (under the schedulers that allow a true target only).
    pub sg_target: SgTargetKind,
    /// `--format-epochs` (under lockstep only).
    pub format_epochs: u64,
}

/// What an objective factory is told of the stage it builds for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageSlot {
    /// The stage's index, bottom first.
    pub index: usize,
    /// How many stages the network has (the top one is `count - 1`).
    pub count: usize,
    /// A seed of the stage's own, distinct per stage and per run seed.
    pub seed: u64,
}

/// Builds the objective of one hidden stage of a [`HiddenSignal::Custom`] rule.
pub type ObjectiveFactory = fn(&StageSlot, &ObjectiveSettings) -> Box<dyn LocalObjective<f32>>;

impl HiddenSignal {
    /// The family's name in `locus list`.
    pub fn family(self) -> &'static str {
        match self {
            HiddenSignal::Message => "feedback",
            HiddenSignal::DirectFeedback => "feedback",
            HiddenSignal::SyntheticGradient { .. } => "synthetic gradients",
            HiddenSignal::LocalClassifier => "local classifiers",
            HiddenSignal::HsicBottleneck => "dependence",
            HiddenSignal::ForwardForward { .. } => "forward-forward",
            HiddenSignal::Contrastive(_) => "contrastive",
            HiddenSignal::Reconstruction { .. } => "reconstruction",
            HiddenSignal::Custom(_) => "custom",
        }
    }
}

/// One learning algorithm the CLI can run: a row of the registry.
#[derive(Debug, Clone, Copy)]
pub struct Algorithm {
    /// The `--algo` value.
    pub name: &'static str,
    /// One line for `--help` and error messages.
    pub summary: &'static str,
    /// The paper it follows.
    pub paper: &'static str,
    /// The backward rule of every weight layer.
    pub feedback: FeedbackRule,
    /// What the hidden stages learn from.
    pub hidden: HiddenSignal,
}

/// The built-in algorithms, in the order `--help` lists them.
pub const BUILTIN: &[Algorithm] = &[
    Algorithm {
        name: "bp",
        summary: "end-to-end backpropagation (the baseline)",
        paper: "Rumelhart, Hinton & Williams 1986",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::Message,
    },
    Algorithm {
        name: "fa",
        summary: "feedback alignment: errors sent down through fixed random matrices",
        paper: "Lillicrap et al. 2016",
        feedback: FeedbackRule::FixedRandom,
        hidden: HiddenSignal::Message,
    },
    Algorithm {
        name: "dfa",
        summary: "direct feedback alignment: the output error projected to every stage",
        paper: "Nøkland 2016",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::DirectFeedback,
    },
    Algorithm {
        name: "dni",
        summary: "synthetic gradients: every hidden stage learns from a learned gradient model",
        paper: "Jaderberg et al. 2017",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::SyntheticGradient { conditional: false },
    },
    Algorithm {
        name: "cdni",
        summary: "synthetic gradients conditioned on the label (cDNI)",
        paper: "Jaderberg et al. 2017",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::SyntheticGradient { conditional: true },
    },
    Algorithm {
        name: "dgl",
        summary: "decoupled greedy learning: every hidden stage trains its own classifier head",
        paper: "Belilovsky, Eickenberg & Oyallon 2020",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::LocalClassifier,
    },
    Algorithm {
        name: "ff",
        summary: "Forward-Forward: goodness of images with true vs wrong labels written in",
        paper: "Hinton 2022",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::ForwardForward { supervised: true },
    },
    Algorithm {
        name: "ff-unsup",
        summary: "Forward-Forward, unsupervised: images vs hybrids, softmax read-out",
        paper: "Hinton 2022",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::ForwardForward { supervised: false },
    },
    Algorithm {
        name: "gim",
        summary: "Greedy InfoMax: every encoder stage learns from its own InfoNCE loss",
        paper: "Löwe, O'Connor & Veeling 2019",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::Contrastive(Family::Gim),
    },
    Algorithm {
        name: "cpc",
        summary: "end-to-end CPC: one InfoNCE loss at the top of the encoder",
        paper: "van den Oord, Li & Vinyals 2018",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::Contrastive(Family::Cpc),
    },
    Algorithm {
        name: "bp-encoder",
        summary: "the gim/cpc encoder trained end to end through a supervised linear head",
        paper: "Löwe, O'Connor & Veeling 2019 (their supervised baseline)",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::Contrastive(Family::BpEncoder),
    },
    Algorithm {
        name: "usf",
        summary: "sign symmetry: errors sent down through sign(W)",
        paper: "Liao, Leibo & Poggio 2016",
        feedback: FeedbackRule::SignSymmetry,
        hidden: HiddenSignal::Message,
    },
    Algorithm {
        name: "brsf",
        summary: "sign symmetry with random magnitudes redrawn every batch",
        paper: "Liao, Leibo & Poggio 2016",
        feedback: FeedbackRule::BatchRandomSign,
        hidden: HiddenSignal::Message,
    },
    Algorithm {
        name: "frsf",
        summary: "sign symmetry with fixed random magnitudes",
        paper: "Liao, Leibo & Poggio 2016",
        feedback: FeedbackRule::FixedRandomSign,
        hidden: HiddenSignal::Message,
    },
    Algorithm {
        name: "sae",
        summary: "stacked autoencoders: dense stages pretrained greedily by reconstruction",
        paper: "Bengio et al. 2007",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::Reconstruction { sparse: false },
    },
    Algorithm {
        name: "sarm",
        summary:
            "sparse-coding (unrolled ISTA) stages pretrained greedily by reconstruction (SARM)",
        paper: "arXiv 1608.04062 (withdrawn)",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::Reconstruction { sparse: true },
    },
    Algorithm {
        name: "hsic",
        summary: "HSIC bottleneck: every hidden stage keeps what its output shares with the labels, not the input",
        paper: "Ma, Lewis & Kleijn 2020",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::HsicBottleneck,
    },
];

/// The registry: the built-in algorithms, then those a crate added ([`install`]).
static REGISTRY: OnceLock<Vec<Algorithm>> = OnceLock::new();

/// Every algorithm the command knows, built-in first.
pub fn registry() -> &'static [Algorithm] {
    REGISTRY.get_or_init(|| BUILTIN.to_vec())
}

/// Adds `extra` to the registry, once per process, before the command line is read.
///
/// # Errors
/// A name that is empty, has characters other than lowercase letters, digits and `-`, or
/// is taken; a second call with other algorithms than the first.
pub fn install(extra: Vec<Algorithm>) -> anyhow::Result<()> {
    let mut all = BUILTIN.to_vec();
    for a in extra {
        let valid = !a.name.is_empty()
            && a.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            anyhow::bail!(
                "algorithm name {:?} should be lowercase letters, digits and '-'",
                a.name
            );
        }
        if all.iter().any(|b| b.name == a.name) {
            anyhow::bail!("algorithm name {:?} is taken: choose another", a.name);
        }
        all.push(a);
    }
    let names = |list: &[Algorithm]| list.iter().map(|a| a.name).collect::<Vec<_>>();
    let installed = REGISTRY.get_or_init(|| all.clone());
    if names(installed) != names(&all) {
        anyhow::bail!(
            "the algorithm registry is already fixed for this process ({}); add algorithms once, \
             before the first command",
            names(installed).join(", ")
        );
    }
    Ok(())
}

/// Looks an algorithm up by its `--algo` name.
pub fn find(name: &str) -> anyhow::Result<&'static Algorithm> {
    registry().iter().find(|a| a.name == name).ok_or_else(|| {
        let known: Vec<String> = registry()
            .iter()
            .map(|a| format!("{} ({})", a.name, a.summary))
            .collect();
        anyhow::anyhow!(
            "unknown --algo {name:?}; known algorithms: {}",
            known.join(", ")
        )
    })
}

/// The names of the algorithms `which` holds for, comma-separated ("ff, ff-unsup"): the
/// flag refusals name the algorithms a flag applies to from here, so the lists cannot go
/// stale when an algorithm is added.
pub fn names_where(which: impl Fn(&Algorithm) -> bool) -> String {
    registry()
        .iter()
        .filter(|a| which(a))
        .map(|a| a.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--algo`'s values with their summaries, for `locus train --help` and clap's own
/// error on an unknown name.
pub fn names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        registry()
            .iter()
            .map(|a| clap::builder::PossibleValue::new(a.name).help(a.summary)),
    )
}

/// The optimizer a family of algorithms trains with when `--optimizer` and `--lr` are not
/// given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizerDefaults {
    /// The optimizer.
    pub kind: OptimizerKind,
    /// The learning rate under SGD (with `--momentum`, 0.9 by default).
    pub sgd_lr: f64,
    /// The learning rate under Adam.
    pub adam_lr: f64,
}

impl OptimizerDefaults {
    /// SGD at 0.05, or Adam at 1e-3.
    pub const SGD: OptimizerDefaults = OptimizerDefaults {
        kind: OptimizerKind::Sgd,
        sgd_lr: 0.05,
        adam_lr: 1e-3,
    };

    /// The learning rate of `kind`.
    pub fn lr(self, kind: OptimizerKind) -> f64 {
        match kind {
            OptimizerKind::Sgd => self.sgd_lr,
            OptimizerKind::Adam => self.adam_lr,
        }
    }

    /// `"sgd 0.05"` or `"adam 0.001"`.
    pub fn describe(self) -> String {
        match self.kind {
            OptimizerKind::Sgd => format!("sgd {}", self.sgd_lr),
            OptimizerKind::Adam => format!("adam {}", self.adam_lr),
        }
    }
}

impl Algorithm {
    /// The stages' optimizer when none is given: Adam for synthetic gradients (a learned
    /// gradient model that SGD at its default rate drives to overflow) and for the
    /// contrastive encoders (whose upper InfoNCE stages collapse under SGD); SGD for the
    /// rest, at 0.05 except for Forward-Forward. Its sum-of-squares goodness of a wide layer
    /// has large gradients: at 0.05 every unit of a 784-500-500 network died within one
    /// epoch on 10,000 MNIST images (loss stuck at θ/2, chance accuracy); 0.001 with
    /// momentum 0.9 is the rate of Löwe's public reimplementation.
    pub fn optimizer_defaults(&self) -> OptimizerDefaults {
        match self.hidden {
            // The rate of every run on the synthetic-gradients results page.
            HiddenSignal::SyntheticGradient { .. } => OptimizerDefaults {
                kind: OptimizerKind::Adam,
                adam_lr: 3e-4,
                ..OptimizerDefaults::SGD
            },
            // HSIC stages under SGD at 0.05 blow up (training loss 68 after five MNIST-1D
            // epochs); Adam at 1e-3 trains them.
            HiddenSignal::Contrastive(_) | HiddenSignal::HsicBottleneck => OptimizerDefaults {
                kind: OptimizerKind::Adam,
                ..OptimizerDefaults::SGD
            },
            HiddenSignal::ForwardForward { .. } => OptimizerDefaults {
                sgd_lr: 1e-3,
                ..OptimizerDefaults::SGD
            },
            _ => OptimizerDefaults::SGD,
        }
    }

    /// Its defaults besides the optimizer, for the flags not given: the best
    /// configuration its results page reports. dni and cdni: a cosine schedule and batch
    /// normalisation (784-1000-1000-10, 20 epochs: dni 1.70% test error with true targets,
    /// cdni 1.23%; `reproduce/synthetic_gradients_batch_norm.sh`), and true targets for
    /// dni. hsic: a cosine schedule in each phase on IDX images (a constant rate on
    /// MNIST-1D and .npy data), batch normalisation and twenty epochs of the read-out
    /// alone after the hidden stages (`reproduce/hsic.sh`,
    /// `reproduce/hsic_mnist_defaults.sh`).
    /// The others: a constant rate, no normalisation, bootstrapped targets, the read-out
    /// learning alongside.
    pub fn training_defaults(&self, dataset: DatasetKind) -> TrainingDefaults {
        match self.hidden {
            HiddenSignal::SyntheticGradient { conditional } => TrainingDefaults {
                lr_schedule: ScheduleKind::Cosine,
                batch_norm: true,
                sg_target: if conditional {
                    SgTargetKind::Bootstrapped
                } else {
                    SgTargetKind::True
                },
                format_epochs: 0,
            },
            // The reference network normalises every layer (without a learned scale and
            // shift); on MNIST-1D, five epochs, batch normalisation takes the test accuracy
            // from 0.31 to 0.60. The reference's format step (five epochs of the read-out
            // alone) then takes MNIST from 3.90% to 3.36% error (5 + 5 epochs, seed 0). A
            // cosine schedule in each phase settles the read-out, whose test accuracy
            // swings by a point from epoch to epoch at a constant rate: MNIST, 10 + 5
            // epochs, seed 0, 3.59% → 2.80% (`reproduce/hsic_mnist_defaults.sh`). Not on
            // MNIST-1D, where it cost a point (20 + 5 epochs, seeds 0 and 1: 38.2% and
            // 37.5% constant, 39.1% and 38.7% cosine): cosine for the IDX image files
            // (MNIST and its kind), constant for MNIST-1D and .npy directories (most
            // often MNIST-1D's reference split). The read-out, a linear layer on the
            // frozen last hidden stage, still learns after the reference's five epochs:
            // twenty take MNIST (10 + 20, seed 0) from 2.80% to 2.59% and MNIST-1D
            // (20 + 20, seeds 0, 1, 2) from 37.9% to 36.8% on average, at about 4 s per
            // MNIST epoch of the read-out alone.
            HiddenSignal::HsicBottleneck => TrainingDefaults {
                lr_schedule: match dataset {
                    DatasetKind::Mnist | DatasetKind::Idx => ScheduleKind::Cosine,
                    _ => ScheduleKind::Constant,
                },
                batch_norm: true,
                sg_target: SgTargetKind::Bootstrapped,
                format_epochs: 20,
            },
            _ => TrainingDefaults {
                lr_schedule: ScheduleKind::Constant,
                batch_norm: false,
                sg_target: SgTargetKind::Bootstrapped,
                format_epochs: 0,
            },
        }
    }

    /// The values `--scheduler` may take for it. The families that run a loop of their
    /// own take lockstep only (Forward-Forward's positive and negative passes), or lockstep
    /// and greedy, both naming their own phases (greedy reconstruction). The others take every scheduler, except greedy
    /// layer-wise when a hidden stage's objective waits for the gradient message of the
    /// stage above or the global error, which that scheduler never sends (its own check,
    /// `GreedyLayerWise::check_stack`, decides).
    pub fn schedulers(&self) -> Vec<&'static str> {
        if self.is_forward_forward() {
            // Its stages are local, but its trainer makes the positive and negative
            // batches and feeds them to these schedulers only (and to mpi, which, as for
            // every algorithm, goes with pipelined: the same protocol across processes).
            return vec!["lockstep", "pipelined", "simulated"];
        }
        if self.greedy() {
            // Its own trainer is greedy layer-wise; `--scheduler greedy` names it too.
            return vec!["lockstep", "greedy"];
        }
        let settings = ObjectiveSettings {
            seed: 0,
            classes: 10,
            synthetic: SyntheticGradientConfig::new(0),
            local_classifier: LocalClassifierConfig::new(10, 0),
            forward_forward: ForwardForwardConfig::default(),
            dfa_feedback: DfaFeedbackInit::Uniform,
            hsic: HsicBottleneckConfig::new(10),
        };
        // A hidden stage with a stand-in module: the greedy scheduler's own check reads
        // only the objective.
        let hidden = locus_sched::Stage::new(
            "stage1",
            Box::new(locus_core::Flatten),
            self.objective(0, 2, &settings),
            locus_core::OptimizerConfig::Sgd(locus_core::SgdConfig::new(0.1))
                .build()
                .expect("a valid SGD rate"),
        );
        let mut all = vec!["lockstep", "pipelined", "simulated", "forward-unlocked"];
        if locus_sched::GreedyLayerWise::check_stack(&[hidden]).is_ok() {
            all.push("greedy");
        }
        all
    }

    /// The contrastive family it belongs to, if any (gim, cpc, bp-encoder).
    pub fn contrastive(&self) -> Option<Family> {
        match self.hidden {
            HiddenSignal::Contrastive(family) => Some(family),
            _ => None,
        }
    }

    /// Whether it reads every stage out with linear probes (`--probe-epochs`): the
    /// contrastive encoders and the greedy reconstruction stacks.
    pub fn probed(&self) -> bool {
        self.contrastive().is_some() || self.greedy()
    }

    /// Whether it is a Forward-Forward algorithm (ff, ff-unsup).
    pub fn is_forward_forward(&self) -> bool {
        self.forward_forward().is_some()
    }

    /// Whether its hidden stages learn from synthetic gradients (dni, cdni).
    pub fn synthetic(&self) -> bool {
        matches!(self.hidden, HiddenSignal::SyntheticGradient { .. })
    }

    /// Whether it trains the plain MLP or LeNet through `crate::train` (every rule but
    /// the contrastive, Forward-Forward and reconstruction families).
    pub fn plain(&self) -> bool {
        !self.is_forward_forward() && self.contrastive().is_none() && !self.greedy()
    }

    /// Whether its stages pretrain greedily by reconstruction (sae, sarm).
    pub fn greedy(&self) -> bool {
        matches!(self.hidden, HiddenSignal::Reconstruction { .. })
    }
}

/// Per-stage settings an algorithm's objectives take from the command line.
#[derive(Debug, Clone, Copy)]
pub struct ObjectiveSettings {
    /// Seeds any random state an objective draws; each stage derives its own stream.
    pub seed: u64,
    /// Number of classes (for label-conditioned objectives).
    pub classes: usize,
    /// The synthetic-gradient model and optimizer (for `dni` and `cdni`).
    pub synthetic: SyntheticGradientConfig,
    /// The auxiliary heads (for `dgl`); its seed is replaced per stage.
    pub local_classifier: LocalClassifierConfig,
    /// Goodness and threshold (for `ff` and `ff-unsup`).
    pub forward_forward: ForwardForwardConfig,
    /// How DFA draws its feedback matrices (for `dfa`).
    pub dfa_feedback: DfaFeedbackInit,
    /// Weights, kernels and estimator of the HSIC bottleneck (for `hsic`); its `classes`
    /// is this struct's.
    pub hsic: HsicBottleneckConfig,
}

impl Algorithm {
    /// Checks the settings this algorithm will use, before any stage is built.
    ///
    /// # Errors
    /// The synthetic-gradient configuration's error, naming the bad value.
    pub fn check(&self, settings: &ObjectiveSettings) -> anyhow::Result<()> {
        match self.hidden {
            HiddenSignal::SyntheticGradient { conditional } => self
                .synthetic_config(settings, 0, conditional)
                .check()
                .map_err(|e| anyhow::anyhow!("invalid synthetic-gradient settings: {e}")),
            HiddenSignal::LocalClassifier => settings
                .local_classifier
                .check()
                .map_err(|e| anyhow::anyhow!("invalid local-classifier settings: {e}")),
            HiddenSignal::ForwardForward { .. } => settings
                .forward_forward
                .check()
                .map_err(|e| anyhow::anyhow!("invalid Forward-Forward settings: {e}")),
            HiddenSignal::HsicBottleneck => settings
                .hsic
                .check()
                .map_err(|e| anyhow::anyhow!("invalid HSIC-bottleneck settings: {e}")),
            _ => Ok(()),
        }
    }

    /// `Some(supervised)` for the Forward-Forward algorithms, which train and predict
    /// their own way (`crate::forward_forward`).
    pub fn forward_forward(&self) -> Option<bool> {
        match self.hidden {
            HiddenSignal::ForwardForward { supervised } => Some(supervised),
            _ => None,
        }
    }

    fn synthetic_config(
        &self,
        settings: &ObjectiveSettings,
        index: usize,
        conditional: bool,
    ) -> SyntheticGradientConfig {
        let mut config = settings.synthetic;
        config.seed = stage_seed(settings.seed, index);
        if conditional {
            config = config.with_labels(settings.classes);
        }
        config
    }

    /// The objective of stage `index` out of `count`.
    ///
    /// # Panics
    /// Never for settings that passed [`Algorithm::check`].
    pub fn objective(
        &self,
        index: usize,
        count: usize,
        settings: &ObjectiveSettings,
    ) -> Box<dyn LocalObjective<f32>> {
        let top = index + 1 == count;
        match self.hidden {
            // Every Forward-Forward stage, the top one too, learns from its goodness.
            HiddenSignal::ForwardForward { .. } => Box::new(
                settings
                    .forward_forward
                    .build()
                    .expect("Forward-Forward settings are checked before stages are built"),
            ),
            _ if top => Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy)),
            HiddenSignal::Message => Box::new(UpstreamGradient),
            HiddenSignal::DirectFeedback => Box::new(
                DirectFeedback::<f32>::new(stage_seed(settings.seed, index))
                    .with_init(settings.dfa_feedback),
            ),
            HiddenSignal::SyntheticGradient { conditional } => {
                let objective: SyntheticGradient<f32> = self
                    .synthetic_config(settings, index, conditional)
                    .build()
                    .expect("synthetic-gradient settings are checked before stages are built");
                Box::new(objective)
            }
            HiddenSignal::LocalClassifier => {
                let config = LocalClassifierConfig {
                    seed: stage_seed(settings.seed, index),
                    ..settings.local_classifier
                };
                Box::new(
                    config
                        .build::<f32>()
                        .expect("local-classifier settings are checked before stages are built"),
                )
            }
            HiddenSignal::HsicBottleneck => Box::new(
                settings
                    .hsic
                    .build()
                    .expect("HSIC-bottleneck settings are checked before stages are built"),
            ),
            // End-to-end CPC and the supervised encoder backpropagate below the top.
            HiddenSignal::Contrastive(Family::Cpc | Family::BpEncoder) => {
                Box::new(UpstreamGradient)
            }
            HiddenSignal::Contrastive(Family::Gim) => Box::new(
                locus_objectives::InfoNceConfig::new(stage_seed(settings.seed, index))
                    .build::<f32>()
                    .expect("the default InfoNCE settings are valid"),
            ),
            HiddenSignal::Custom(factory) => factory(
                &StageSlot {
                    index,
                    count,
                    seed: stage_seed(settings.seed, index),
                },
                settings,
            ),
            HiddenSignal::Reconstruction { .. } => Box::new(
                locus_objectives::ReconstructionConfig::new(locus_objectives::Decoder::Tied)
                    .with_seed(stage_seed(settings.seed, index))
                    .build::<f32>()
                    .expect("the default reconstruction settings are valid"),
            ),
        }
    }
}

/// A seed for stage `index`'s objective, distinct per stage and per run seed.
fn stage_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64 + 1)
}
