//! Greedy layer-wise pretraining by reconstruction on MNIST-1D, built from the crates:
//! two dense stages that each learn alone to reconstruct their input through a tied
//! decoder (a denoising autoencoder: masking noise on what the stage encodes), then a
//! supervised top on the frozen features, then end-to-end fine-tuning. A linear probe on
//! each stage's frozen features shows what pretraining alone gave.
//!
//! Run: `cargo run --release --example greedy_autoencoders`

use locus::data::mnist1d::{generate, Mnist1dConfig};
use locus::eval::ProbeConfig;
use locus::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = generate(&Mnist1dConfig::default())?;
    let sgd = |lr| OptimizerConfig::Sgd(SgdConfig::new(lr).with_momentum(0.9));

    // Every stage below the top learns by reconstruction; the top is a classifier.
    let mut stages = MlpConfig::new(vec![40, 256, 256, 10])
        .with_activation(Activation::Relu)
        .build::<f32>(0, &sgd(0.01), |i, n| -> Box<dyn LocalObjective<f32>> {
            if i + 1 == n {
                Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
            } else {
                Box::new(
                    ReconstructionConfig::new(Decoder::Tied)
                        .with_seed(i as u64)
                        .build::<f32>()
                        .expect("valid reconstruction settings"),
                )
            }
        })?;

    // 10 epochs per hidden stage, 20 for the top, then 20 of end-to-end fine-tuning.
    let mut greedy = Greedy::new(GreedyConfig {
        top_epochs: 20,
        finetune_epochs: 20,
        corruption: Corruption::Masking(0.2),
        pretrain_optimizer: sgd(0.002),
        top_optimizer: sgd(0.05),
        finetune_optimizer: sgd(0.01),
        ..GreedyConfig::new(10, sgd(0.01))
    })?;
    // The phases are the greedy scheduler's epochs; the engine's loop runs them and
    // evaluates from the first epoch of the supervised top on.
    let epochs = greedy.epochs(stages.len());
    let before_top = epochs - 20 - 20;
    let before_fine_tuning = epochs - 20;
    Trainer::new(epochs, 64, 0).evaluate_after(before_top).run(
        &mut stages,
        &mut greedy,
        &data.train,
        &mut Classification::new(&data.test),
        &mut NoObserver,
        &mut |done| {
            if done.epoch == before_fine_tuning {
                let probes =
                    probe_stages(done.stages, &data.train, &data.test, &ProbeConfig::new(0))?;
                println!("before fine-tuning, probe accuracy per stage: {probes:.3?}");
                if let Some(record) = done.record {
                    println!(
                        "greedy + supervised top: test accuracy {:.3}",
                        record.test_accuracy
                    );
                }
            }
            Ok(locus::train::Flow::Continue)
        },
    )?;
    for e in greedy.log().iter().filter(|e| e.epoch + 1 == e.epochs) {
        println!("{:?}: last-epoch loss {:.4}", e.phase, e.loss);
    }
    let test = evaluate(&mut stages, &data.test, 500)?;
    println!("after fine-tuning: test accuracy {:.3}", test.accuracy);
    Ok(())
}
