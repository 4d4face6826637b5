//! Feedback alignment, direct feedback alignment and sign symmetry on MNIST-1D, side by
//! side with backpropagation, through the library API.
//!
//! The layer-wise rules change only the backward rule of each `Linear` (`FeedbackRule`):
//! the stages still wait for a message from above, but it travels through a random or
//! sign-only matrix instead of `Wᵀ`. Direct feedback alignment changes the objective
//! instead: every hidden stage learns from the output error projected by its own fixed
//! random matrix (`DirectFeedback`), so no message crosses the layers at all. After
//! training, `measure_alignment` gives the angle between each stage's update and the true
//! gradient on a batch.
//!
//! Run: `cargo run --release --example feedback_alignment`

use locus::data::gather;
use locus::data::mnist1d::{generate, Mnist1dConfig};
use locus::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = generate(&Mnist1dConfig::default())?;
    let probe = gather::<f32>(&data.train, &(0..500).collect::<Vec<_>>())?;
    let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.01).with_momentum(0.9));

    let rules = [
        ("bp", FeedbackRule::Transpose, false),
        ("fa", FeedbackRule::FixedRandom, false),
        ("dfa", FeedbackRule::Transpose, true),
        ("usf", FeedbackRule::SignSymmetry, false),
        ("brsf", FeedbackRule::BatchRandomSign, false),
        ("frsf", FeedbackRule::FixedRandomSign, false),
    ];
    println!("rule   test acc   update angle per hidden stage (degrees)");
    for (name, feedback, direct) in rules {
        let mlp = MlpConfig::new(vec![40, 256, 256, 10])
            .with_activation(Activation::Tanh)
            .with_feedback(feedback);
        let mut stages =
            mlp.build::<f32>(0, &optimizer, |i, n| -> Box<dyn LocalObjective<f32>> {
                if i + 1 == n {
                    Box::new(SupervisedLoss::default())
                } else if direct {
                    Box::new(DirectFeedback::<f32>::new(1000 + i as u64))
                } else {
                    Box::new(UpstreamGradient)
                }
            })?;
        for epoch in 0..30 {
            let plan = EpochPlan {
                batch_size: 32,
                seed: 0,
                epoch,
            };
            Lockstep.train_epoch(&mut stages, &data.train, plan, &mut NoObserver)?;
        }
        let test = evaluate(&mut stages, &data.test, 1000)?;
        let angles = measure_alignment(&mut stages, &probe.inputs, &probe.labels)?;
        let hidden: Vec<String> = angles[..angles.len() - 1]
            .iter()
            .map(|a| format!("{:5.1}", a.update_angle_deg))
            .collect();
        println!("{name:<6} {:8.3}   {}", test.accuracy, hidden.join("  "));
    }
    Ok(())
}
