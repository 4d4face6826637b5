//! Greedy InfoMax and end-to-end CPC on MNIST-1D, built from the crates, with InfoNCE
//! also used on its own as a mutual-information estimator.
//!
//! 1. InfoNCE estimates the mutual information of correlated Gaussians with a trained
//!    bilinear critic (a lower bound, at most log N).
//! 2. The same three-stage Conv1d encoder is trained by GIM (an InfoNCE loss per stage, no
//!    gradient between stages) and by CPC (one InfoNCE loss at the top, backpropagated),
//!    and every stage is read out by a linear probe on its mean-pooled features.
//!
//! Run: `cargo run --release --example greedy_infomax`

use locus::core::init::Init;
use locus::data::mnist1d::{generate, Mnist1dConfig};
use locus::data::CorrelatedGaussians;
use locus::eval::ProbeConfig;
use locus::objectives::{info_nce_estimate, BilinearCritic, Critic};
use locus::prelude::*;
use locus::train::probe_stages_pooled;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. The estimator: 4-d Gaussians sharing 1 nat, a bilinear critic trained by Adam.
    let pairs = CorrelatedGaussians::with_mutual_information(4, 1.0)?;
    let mut critic = BilinearCritic::<f64>::init(4, 4, Init::Zeros, &mut seeded_rng(0))?;
    let mut adam = AdamConfig::new(0.05).build::<f64>()?;
    for step in 0..300 {
        let (x, y) = pairs.sample(128, step);
        let estimate = info_nce_estimate(x.view(), y.view(), &critic)?;
        adam.step(critic.params_mut(), &estimate.grad_critic)?;
    }
    let (x, y) = pairs.sample(1024, 10_000);
    let estimate = info_nce_estimate(x.view(), y.view(), &critic)?;
    println!(
        "InfoNCE with a trained bilinear critic: {:.3} nats (true {:.3}, at most log N = {:.3})",
        estimate.bound,
        pairs.mutual_information(),
        estimate.log_n
    );

    // 2. GIM and CPC on the same encoder.
    let data = generate(&Mnist1dConfig::default())?;
    let encoder = SequenceEncoderConfig::mnist1d();
    let optimizer = OptimizerConfig::Adam(AdamConfig::new(1e-3));
    // Each stage predicts past the offsets its receptive field shares with the context.
    let skips = encoder.overlapping_offsets();
    let infonce = |i: usize| -> Box<dyn LocalObjective<f32>> {
        Box::new(
            InfoNceConfig::new(i as u64)
                .with_prediction_steps(3)
                .with_skip_steps(skips[i])
                .build()
                .expect("valid"),
        )
    };
    let gim = encoder.build::<f32>(0, &optimizer, |i, _| infonce(i))?;
    let cpc = encoder.build::<f32>(0, &optimizer, |i, n| {
        if i + 1 == n {
            infonce(i)
        } else {
            Box::new(UpstreamGradient) as Box<dyn LocalObjective<f32>>
        }
    })?;
    let probe = ProbeConfig::new(0).with_lr(1e-2).with_epochs(100);
    let pool = FeaturePooling::Mean;
    let untrained = probe_stages_pooled(&gim, &data.train, &data.test, &probe, pool)?;
    println!("random init: probe accuracy per stage {untrained:.3?}");
    for (name, mut stages) in [("gim", gim), ("cpc", cpc)] {
        for epoch in 0..10 {
            let plan = EpochPlan {
                batch_size: 64,
                seed: 0,
                epoch,
            };
            Lockstep.train_epoch(&mut stages, &data.train, plan, &mut NoObserver)?;
        }
        let accuracy = probe_stages_pooled(&stages, &data.train, &data.test, &probe, pool)?;
        let bounds: Vec<String> = stages
            .iter()
            .flat_map(|s| s.objective().metrics())
            .map(|(_, b)| format!("{b:.2}"))
            .collect();
        println!(
            "{name}: probe accuracy per stage {accuracy:.3?}, InfoNCE bounds {} nats",
            bounds.join(", ")
        );
    }
    Ok(())
}
