//! The algorithms `--algo` accepts: each is a backward rule for the layers and a choice of
//! what the hidden stages learn from.

use locus_core::{FeedbackRule, Float, Loss};
use locus_objectives::{DirectFeedback, LocalObjective, SupervisedLoss, UpstreamGradient};

/// What the hidden stages (all but the top) learn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenSignal {
    /// The message from the stage above, sent through each layer's backward rule.
    Message,
    /// The output error projected by a fixed random matrix (direct feedback alignment).
    DirectFeedback,
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

impl Algorithm {
    /// The objective of stage `index` out of `count`; `seed` seeds any random state the
    /// objective draws (each stage gets its own stream).
    pub fn objective<F: Float>(
        &self,
        index: usize,
        count: usize,
        seed: u64,
    ) -> Box<dyn LocalObjective<F>> {
        if index + 1 == count {
            return Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy));
        }
        match self.hidden {
            HiddenSignal::Message => Box::new(UpstreamGradient),
            HiddenSignal::DirectFeedback => Box::new(DirectFeedback::<F>::new(
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64 + 1),
            )),
        }
    }
}
