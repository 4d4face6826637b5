//! The algorithms `--algo` accepts: each is a backward rule for the layers and a choice of
//! what the hidden stages learn from.

use locus_core::{FeedbackRule, Float, Loss};
use locus_objectives::{
    DirectFeedback, LocalObjective, SupervisedLoss, SyntheticGradient, SyntheticGradientConfig,
    UpstreamGradient,
};

/// What the hidden stages (all but the top) learn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Contrastive learning on an encoder, probed linearly (gim, cpc, bp-encoder), run by
    /// `crate::contrastive`; its stand-alone objective is InfoNCE.
    Contrastive,
}

/// One learning algorithm the CLI can run.
pub struct Algorithm {
    /// The `--algo` value.
    pub name: &'static str,
    /// One line for `--help` and error messages.
    pub summary: &'static str,
    /// The backward rule of every weight layer.
    pub feedback: FeedbackRule,
    /// What the hidden stages learn from.
    pub hidden: HiddenSignal,
}

/// Every algorithm, in the order `--help` lists them.
pub const ALGORITHMS: &[Algorithm] = &[
    Algorithm {
        name: "bp",
        summary: "end-to-end backpropagation (the baseline)",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::Message,
    },
    Algorithm {
        name: "fa",
        summary: "feedback alignment: errors sent down through fixed random matrices",
        feedback: FeedbackRule::FixedRandom,
        hidden: HiddenSignal::Message,
    },
    Algorithm {
        name: "dfa",
        summary: "direct feedback alignment: the output error projected to every stage",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::DirectFeedback,
    },
    Algorithm {
        name: "dni",
        summary: "synthetic gradients: every hidden stage learns from a learned gradient model",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::SyntheticGradient { conditional: false },
    },
    Algorithm {
        name: "cdni",
        summary: "synthetic gradients conditioned on the label (cDNI)",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::SyntheticGradient { conditional: true },
    },
    Algorithm {
        name: "gim",
        summary: "Greedy InfoMax: every encoder stage learns from its own InfoNCE loss",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::Contrastive,
    },
    Algorithm {
        name: "cpc",
        summary: "end-to-end CPC: one InfoNCE loss at the top of the encoder",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::Contrastive,
    },
    Algorithm {
        name: "bp-encoder",
        summary: "the gim/cpc encoder trained end to end through a supervised linear head",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::Contrastive,
    },
    Algorithm {
        name: "usf",
        summary: "sign symmetry: errors sent down through sign(W)",
        feedback: FeedbackRule::SignSymmetry,
        hidden: HiddenSignal::Message,
    },
    Algorithm {
        name: "brsf",
        summary: "sign symmetry with random magnitudes redrawn every batch",
        feedback: FeedbackRule::BatchRandomSign,
        hidden: HiddenSignal::Message,
    },
    Algorithm {
        name: "frsf",
        summary: "sign symmetry with fixed random magnitudes",
        feedback: FeedbackRule::FixedRandomSign,
        hidden: HiddenSignal::Message,
    },
];

/// Looks an algorithm up by its `--algo` name.
pub fn find(name: &str) -> anyhow::Result<&'static Algorithm> {
    ALGORITHMS.iter().find(|a| a.name == name).ok_or_else(|| {
        let known: Vec<String> = ALGORITHMS
            .iter()
            .map(|a| format!("{} ({})", a.name, a.summary))
            .collect();
        anyhow::anyhow!(
            "unknown --algo {name:?}; known algorithms: {}",
            known.join(", ")
        )
    })
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
}

impl Algorithm {
    /// Checks the settings this algorithm will use, before any stage is built.
    ///
    /// # Errors
    /// The synthetic-gradient configuration's error, naming the bad value.
    pub fn check(&self, settings: &ObjectiveSettings) -> anyhow::Result<()> {
        if let HiddenSignal::SyntheticGradient { conditional } = self.hidden {
            self.synthetic_config(settings, 0, conditional)
                .check()
                .map_err(|e| anyhow::anyhow!("invalid synthetic-gradient settings: {e}"))?;
        }
        Ok(())
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
    pub fn objective<F: Float>(
        &self,
        index: usize,
        count: usize,
        settings: &ObjectiveSettings,
    ) -> Box<dyn LocalObjective<F>> {
        if index + 1 == count {
            return Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy));
        }
        match self.hidden {
            HiddenSignal::Message => Box::new(UpstreamGradient),
            HiddenSignal::DirectFeedback => {
                Box::new(DirectFeedback::<F>::new(stage_seed(settings.seed, index)))
            }
            HiddenSignal::SyntheticGradient { conditional } => {
                let objective: SyntheticGradient<F> = self
                    .synthetic_config(settings, index, conditional)
                    .build()
                    .expect("synthetic-gradient settings are checked before stages are built");
                Box::new(objective)
            }
            HiddenSignal::Contrastive => Box::new(
                locus_objectives::InfoNceConfig::new(stage_seed(settings.seed, index))
                    .build::<F>()
                    .expect("the default InfoNCE settings are valid"),
            ),
        }
    }
}

/// A seed for stage `index`'s objective, distinct per stage and per run seed.
fn stage_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64 + 1)
}
