//! The algorithms `--algo` accepts: each maps a stage's position to its objective.

use locus_core::{Float, Loss};
use locus_objectives::{LocalObjective, SupervisedLoss, UpstreamGradient};

/// One learning algorithm the CLI can run.
pub struct Algorithm {
    /// The `--algo` value.
    pub name: &'static str,
    /// One line for `--help` and error messages.
    pub summary: &'static str,
}

/// Every algorithm, in the order `--help` lists them.
pub const ALGORITHMS: &[Algorithm] = &[Algorithm {
    name: "bp",
    summary: "end-to-end backpropagation (the baseline)",
}];

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
    /// The objective of stage `index` out of `count`.
    pub fn objective<F: Float>(&self, index: usize, count: usize) -> Box<dyn LocalObjective<F>> {
        let top = index + 1 == count;
        match self.name {
            // Only "bp" exists so far; every other name is rejected by `find`.
            _ if top => Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy)),
            _ => Box::new(UpstreamGradient),
        }
    }
}
