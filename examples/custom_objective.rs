//! A new local-learning rule in one trait impl: every hidden stage learns to make its own
//! output linearly predict the label through a **fixed random read-out** (the "local
//! errors" of Mostafa, Ramesh & Cauwenberghs 2018). No gradient crosses a stage boundary.
//!
//! Run: `cargo run --release --example custom_objective`

use locus::core::loss::Loss;
use locus::core::{as_matrix, init::Init, matmul, seeded_rng};
use locus::data::mnist1d::{generate, Mnist1dConfig};
use locus::ndarray::{Array2, Ix2};
use locus::prelude::*;

/// Loss `CE(h R, y)` with a fixed random matrix `R`; gradient `∂L/∂h = (∂L/∂z) Rᵀ`.
struct FixedRandomReadout {
    readout: Array2<f32>, // [width, classes], never trained
}

impl FixedRandomReadout {
    fn new(width: usize, classes: usize, seed: u64) -> Self {
        let r = Init::XavierUniform
            .sample::<f32>(&[width, classes], width, classes, &mut seeded_rng(seed))
            .expect("valid initialisation")
            .into_dimensionality::<Ix2>()
            .expect("2-D");
        FixedRandomReadout { readout: r }
    }
}

impl LocalObjective<f32> for FixedRandomReadout {
    fn name(&self) -> String {
        "fixed-random-readout".into()
    }

    fn needs_labels(&self) -> bool {
        true
    }

    fn signal(
        &mut self,
        ctx: &StageContext<'_, f32>,
        _mode: Mode,
    ) -> locus::core::Result<LocalSignal<f32>> {
        let labels = ctx
            .labels
            .ok_or_else(|| locus::core::Error::invalid("context", "should carry labels", "none"))?;
        let h = as_matrix(
            ctx.output,
            Some(self.readout.nrows()),
            "fixed-random-readout",
        )?;
        let logits = matmul(&h, &self.readout.view()).into_dyn();
        let (loss, grad_logits) = Loss::SoftmaxCrossEntropy.evaluate(&logits, labels)?;
        let grad_logits = as_matrix(&grad_logits, None, "fixed-random-readout")?;
        let grad_output = matmul(&grad_logits, &self.readout.t()).into_dyn();
        Ok(LocalSignal { loss, grad_output })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = generate(&Mnist1dConfig::default())?;
    let widths = [40, 256, 256, 10];
    let optimizer = OptimizerConfig::Adam(AdamConfig::new(1e-3));
    let mlp = MlpConfig::new(widths.to_vec()).with_activation(Activation::Relu);
    // Hidden stages: the new local rule. Top stage: the ordinary supervised loss.
    let mut stages = mlp.build::<f32>(0, &optimizer, |stage, count| {
        if stage + 1 == count {
            Box::new(SupervisedLoss::default()) as Box<dyn LocalObjective<f32>>
        } else {
            Box::new(FixedRandomReadout::new(
                widths[stage + 1],
                10,
                100 + stage as u64,
            ))
        }
    })?;
    for epoch in 0..30 {
        let plan = EpochPlan {
            batch_size: 100,
            seed: 0,
            epoch,
        };
        Lockstep.train_epoch(&mut stages, &data.train, plan, &mut NoObserver)?;
    }
    let test = evaluate(&mut stages, &data.test, 1000)?;
    println!(
        "local fixed-random-readout learning on MNIST-1D: test accuracy {:.3}",
        test.accuracy
    );
    Ok(())
}
