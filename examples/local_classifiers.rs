//! Decoupled greedy learning (Belilovsky et al. 2019, 2020) from the crates: every hidden
//! stage trains a small classifier head on its own output and learns from that head's
//! loss alone, so no gradient crosses the stages. Side by side with backprop on the same
//! network, with the accuracy of every stage's head.
//!
//! Run: `cargo run --release --example local_classifiers`

use locus::data::mnist1d::{generate, Mnist1dConfig};
use locus::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = generate(&Mnist1dConfig::default())?;
    let optimizer = OptimizerConfig::Adam(AdamConfig::new(1e-3));
    let mlp = MlpConfig::new(vec![40, 256, 256, 256, 10]).with_activation(Activation::Relu);
    for greedy in [false, true] {
        let mut stages =
            mlp.build::<f32>(0, &optimizer, |i, n| -> Box<dyn LocalObjective<f32>> {
                if i + 1 == n {
                    // The top stage is an ordinary supervised layer in both networks.
                    Box::new(SupervisedLoss::default())
                } else if greedy {
                    let head = LocalClassifierConfig::new(10, i as u64)
                        .with_head(HeadKind::Mlp { hidden: 128 })
                        .with_optimizer(optimizer);
                    Box::new(head.build::<f32>().expect("valid head"))
                } else {
                    Box::new(UpstreamGradient)
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
        let heads = stage_accuracies(&stages, &data.test, 1000)?;
        let heads: Vec<String> = heads
            .iter()
            .map(|a| a.map_or("-".into(), |a| format!("{a:.3}")))
            .collect();
        println!(
            "{}: test accuracy {:.3}; heads of the hidden stages {}",
            if greedy { "dgl" } else { "bp " },
            test.accuracy,
            heads.join(" ")
        );
    }
    Ok(())
}
