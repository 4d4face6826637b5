//! A learning rule of your own, run by the whole `locus` command: every hidden stage
//! learns to make its output predict the label through a **fixed random read-out** (the
//! "local errors" of Mostafa, Ramesh & Cauwenberghs 2018), registered as `--algo
//! local-errors`. Everything else — data sets, optimizers, every scheduler the objective
//! allows, results.json, plots, `locus list` — comes with the command.
//!
//! Run: `cargo run --release --example custom_rule -- train --algo local-errors`
//! (or `-- list`, or any other `locus` arguments).

use locus::core::loss::Loss;
use locus::core::{as_matrix, init::Init, matmul, seeded_rng, FeedbackRule};
use locus::ndarray::{Array2, Ix2};
use locus::prelude::*;
use locus_cli::{Algorithm, HiddenSignal, ObjectiveSettings, StageSlot};

/// Loss `CE(h R, y)` with a fixed random matrix `R` (Xavier-uniform, drawn from the
/// stage's seed when the first batch shows the stage's width); gradient
/// `∂L/∂h = (∂L/∂z) Rᵀ`. No gradient crosses the stage boundary.
pub struct LocalErrors<F: Float> {
    classes: usize,
    seed: u64,
    readout: Option<Array2<F>>, // [width, classes], never trained
}

impl<F: Float> LocalErrors<F> {
    /// The objective of a stage of a network with `classes` classes.
    pub fn new(classes: usize, seed: u64) -> Self {
        LocalErrors {
            classes,
            seed,
            readout: None,
        }
    }
}

impl<F: Float> LocalObjective<F> for LocalErrors<F> {
    fn name(&self) -> String {
        "local-errors".into()
    }

    fn needs_labels(&self) -> bool {
        true
    }

    fn signal(
        &mut self,
        ctx: &StageContext<'_, F>,
        _mode: Mode,
    ) -> locus::core::Result<LocalSignal<F>> {
        let labels = ctx
            .labels
            .ok_or_else(|| locus::core::Error::invalid("context", "should carry labels", "none"))?;
        let h = as_matrix(ctx.output, None, "local-errors")?;
        let width = h.ncols();
        if self.readout.as_ref().is_none_or(|r| r.nrows() != width) {
            let r = Init::XavierUniform.sample::<F>(
                &[width, self.classes],
                width,
                self.classes,
                &mut seeded_rng(self.seed),
            )?;
            self.readout = Some(r.into_dimensionality::<Ix2>().expect("drawn as 2-D"));
        }
        let readout = self.readout.as_ref().expect("drawn above");
        let logits = matmul(&h, &readout.view()).into_dyn();
        let (loss, grad_logits) = Loss::SoftmaxCrossEntropy.evaluate(&logits, labels)?;
        let grad_logits = as_matrix(&grad_logits, None, "local-errors")?;
        let grad_output = matmul(&grad_logits, &readout.t()).into_dyn();
        Ok(LocalSignal { loss, grad_output })
    }
}

/// The registry row: the name `--algo` takes, what `locus list` says, and how each hidden
/// stage's objective is built.
pub fn local_errors() -> Algorithm {
    Algorithm {
        name: "local-errors",
        summary: "every hidden stage predicts the label through a fixed random read-out",
        paper: "Mostafa, Ramesh & Cauwenberghs 2018",
        feedback: FeedbackRule::Transpose,
        hidden: HiddenSignal::Custom(|slot: &StageSlot, settings: &ObjectiveSettings| {
            Box::new(LocalErrors::<f32>::new(settings.classes, slot.seed))
        }),
    }
}

#[allow(dead_code)] // also compiled into tests/custom_rule.rs, which has its own main
fn main() {
    locus_cli::main_with(vec![local_errors()]);
}
