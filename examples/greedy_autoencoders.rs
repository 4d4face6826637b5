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
    let mut fine_tuning_started = false;
    let log = greedy.run(
        &mut stages,
        &data.train,
        &mut NoObserver,
        &mut |stages, e| {
            if e.phase == Phase::FineTune && !fine_tuning_started {
                fine_tuning_started = true;
                let probes = probe_stages(stages, &data.train, &data.test, &ProbeConfig::new(0))?;
                println!("before fine-tuning, probe accuracy per stage: {probes:.3?}");
                let test = evaluate(stages, &data.test, 500)?;
                println!(
                    "greedy + supervised top: test accuracy {:.3}",
                    test.accuracy
                );
            }
            Ok(())
        },
    )?;
    for e in log.iter().filter(|e| e.epoch + 1 == e.epochs) {
        println!("{:?}: last-epoch loss {:.4}", e.phase, e.loss);
    }
    let test = evaluate(&mut stages, &data.test, 500)?;
    println!("after fine-tuning: test accuracy {:.3}", test.accuracy);
    Ok(())
}
