//! Forward-Forward (Hinton 2022) from the crates: every layer is a stage that learns, from
//! two forward passes, to give high goodness to images with their true label written in
//! and low goodness to the same images with a wrong label; the network predicts the label
//! whose goodness is highest.
//!
//! Uses MNIST when it finds it (`$LOCUS_DATA/mnist`, or a directory given as the first
//! argument), otherwise the embedded MNIST-1D, on which Forward-Forward is much weaker.
//!
//! Run: `cargo run --release --example forward_forward [MNIST_DIR]`

use locus::data::forward_forward::{LabelEmbedding, LabelPlacement, NegativeData};
use locus::data::mnist1d::{generate, Mnist1dConfig};
use locus::data::{idx, resolve_data_dir, Split};
use locus::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Data, and where the label goes: over the black first pixels of an MNIST image,
    //    in front of an MNIST-1D signal (whose every value matters).
    let dir = std::env::args().nth(1).map(std::path::PathBuf::from);
    let (data, placement): (Split, _) = match resolve_data_dir(dir.as_deref(), "mnist") {
        Ok(dir) => (idx::load_idx_dir(&dir)?, LabelPlacement::FirstPixels),
        Err(e) => {
            println!("{e}\nUsing the generated MNIST-1D instead.");
            let mnist1d = generate(&Mnist1dConfig::default())?;
            (mnist1d, LabelPlacement::Prepend)
        }
    };
    let negatives = NegativeData::WrongLabel(LabelEmbedding::new(placement, 10)?);
    let inputs = negatives
        .sample_shape(data.train.sample_shape())
        .iter()
        .product();

    // 2. Stages: length normalisation, dense layer, ReLU; each learns from its own goodness.
    let goodness = ForwardForwardConfig::default(); // sum of squares, θ = width
    let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.001).with_momentum(0.9));
    let mut stages = ForwardForwardMlp::new(vec![inputs, 500, 500]).build::<f32>(
        0,
        &optimizer,
        |_, _| -> Box<dyn LocalObjective<f32>> {
            Box::new(goodness.build().expect("valid threshold"))
        },
    )?;

    // 3. The trainer doubles every batch into positive and negative data; a softmax
    //    read-out on the normalised activities learns alongside.
    let mut trainer = ForwardForwardTrainer::new(negatives).with_readout(ReadoutConfig::new(0));
    for epoch in 0..5 {
        let plan = EpochPlan {
            batch_size: 100,
            seed: 0,
            epoch,
        };
        let report = trainer.train_epoch(&mut stages, &data.train, plan, &mut NoObserver)?;
        let test =
            evaluate_forward_forward(&mut stages, &trainer, &data.test, goodness.goodness, 1000)?;
        println!(
            "epoch {}: loss {:.3}, test accuracy by goodness {:.4}, by read-out {:.4}, \
             per layer {:?}",
            epoch + 1,
            report.loss,
            test.accuracy,
            test.readout_accuracy.unwrap_or(f64::NAN),
            test.stage_goodness_accuracy
        );
    }
    Ok(())
}
