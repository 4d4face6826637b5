//! Backpropagation on MNIST-1D, through the library API.
//!
//! The data set is generated in memory (no files), the network is a 40-256-256-10 MLP
//! split into one stage per layer, and every stage but the top learns from the gradient
//! message of the stage above: end-to-end backpropagation, written as local stages.
//!
//! Run: `cargo run --release --example quickstart`

use locus::data::mnist1d::{generate, Mnist1dConfig};
use locus::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Data: the standard 4000/1000 MNIST-1D split, made by the embedded generator.
    let data = generate(&Mnist1dConfig::default())?;
    println!(
        "MNIST-1D: {} train, {} test samples of shape {:?}",
        data.train.len(),
        data.test.len(),
        data.train.sample_shape()
    );

    // 2. Stages: one per dense layer. The top stage learns from the supervised loss; the
    //    others wait for the gradient message from above (backprop).
    let optimizer = OptimizerConfig::Adam(AdamConfig::new(1e-3));
    let mlp = MlpConfig::new(vec![40, 256, 256, 10]).with_activation(Activation::Relu);
    let mut stages = mlp.build::<f32>(0, &optimizer, |stage, count| {
        if stage + 1 == count {
            Box::new(SupervisedLoss::default()) as Box<dyn LocalObjective<f32>>
        } else {
            Box::new(UpstreamGradient)
        }
    })?;

    // 3. Train with the lockstep scheduler, evaluating on the test set after each epoch.
    let mut scheduler = Lockstep;
    for epoch in 0..30 {
        let plan = EpochPlan {
            batch_size: 100,
            seed: 0,
            epoch,
        };
        let train = scheduler.train_epoch(&mut stages, &data.train, plan, &mut NoObserver)?;
        if (epoch + 1) % 5 == 0 {
            let test = evaluate(&mut stages, &data.test, 1000)?;
            println!(
                "epoch {:>2}: train loss {:.3}, test accuracy {:.3}",
                epoch + 1,
                train.loss,
                test.accuracy
            );
        }
    }
    Ok(())
}
