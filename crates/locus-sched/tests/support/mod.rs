//! Shared by the scheduler tests: a small task, the algorithms as stage stacks, and
//! comparisons of trained weights.
#![allow(dead_code)]

use locus_core::{seeded_rng, Activation, AdamConfig, FeedbackRule, OptimizerConfig, SgdConfig};
use locus_core::{Loss, Tensor};
use locus_data::InMemoryDataset;
use locus_models::MlpConfig;
use locus_objectives::{
    DirectFeedback, HsicBottleneckConfig, LocalObjective, SupervisedLoss, SyntheticGradientConfig,
    UpstreamGradient,
};
use locus_sched::Stage;
use rand_distr::{Distribution, StandardNormal};

/// Gaussian features labelled by which of three pairwise products is largest (a task the
/// hidden stages must learn for, see `synthetic_gradients.rs`).
pub fn product_data(n: usize, seed: u64) -> InMemoryDataset {
    let mut rng = seeded_rng(seed);
    let features: Vec<f32> = (0..n * 8)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let labels = features
        .chunks(8)
        .map(|x| {
            let scores = [x[0] * x[1], x[2] * x[3], x[4] * x[5]];
            (0..3)
                .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                .unwrap()
        })
        .collect();
    InMemoryDataset::new("products", features, vec![8], labels, 3).unwrap()
}

/// The learning rules the schedulers must run unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rule {
    Backprop,
    FeedbackAlignment,
    DirectFeedback,
    Dni,
    Cdni,
    /// Synthetic gradients mixed with the true one: backward-locked.
    BpLambda,
    /// Every stage learns from its own supervised loss (its output is class scores).
    Local,
    /// The hidden stages learn from the HSIC bottleneck: they need the network input.
    Hsic,
}

pub const RULES: [Rule; 8] = [
    Rule::Backprop,
    Rule::FeedbackAlignment,
    Rule::DirectFeedback,
    Rule::Dni,
    Rule::Cdni,
    Rule::BpLambda,
    Rule::Local,
    Rule::Hsic,
];

/// The objective of hidden stage `i` under `rule`.
pub fn hidden(rule: Rule, i: usize) -> Box<dyn LocalObjective<f64>> {
    let adam = OptimizerConfig::Adam(AdamConfig::new(1e-2));
    match rule {
        Rule::Backprop | Rule::FeedbackAlignment => Box::new(UpstreamGradient),
        Rule::DirectFeedback => Box::new(DirectFeedback::<f64>::new(20 + i as u64)),
        Rule::Dni => Box::new(
            SyntheticGradientConfig::new(30 + i as u64)
                .with_optimizer(adam)
                .build::<f64>()
                .unwrap(),
        ),
        Rule::Cdni => Box::new(
            SyntheticGradientConfig::new(40 + i as u64)
                .with_labels(3)
                .with_optimizer(adam)
                .build::<f64>()
                .unwrap(),
        ),
        Rule::BpLambda => Box::new(
            SyntheticGradientConfig::new(50 + i as u64)
                .with_lambda(0.5)
                .with_optimizer(adam)
                .build::<f64>()
                .unwrap(),
        ),
        Rule::Local => Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy)),
        Rule::Hsic => Box::new(HsicBottleneckConfig::new(3).build().unwrap()),
    }
}

/// A tanh MLP `8 → widths… → 3`, one stage per layer, trained with `rule`; SGD with
/// momentum (Adam for the synthetic-gradient rules, as their tests use).
pub fn stack(rule: Rule, widths: &[usize], seed: u64) -> Vec<Stage<f64>> {
    let mut sizes = vec![8];
    sizes.extend_from_slice(widths);
    sizes.push(3);
    if rule == Rule::Local {
        sizes = std::iter::once(8)
            .chain(widths.iter().map(|_| 3))
            .chain([3])
            .collect();
    }
    let optimizer = match rule {
        Rule::Dni | Rule::Cdni | Rule::BpLambda => OptimizerConfig::Adam(AdamConfig::new(3e-3)),
        _ => OptimizerConfig::Sgd(SgdConfig::new(0.05).with_momentum(0.9)),
    };
    let feedback = if rule == Rule::FeedbackAlignment {
        FeedbackRule::FixedRandom
    } else {
        FeedbackRule::Transpose
    };
    MlpConfig::new(sizes)
        .with_activation(Activation::Tanh)
        .with_feedback(feedback)
        .build::<f64>(seed, &optimizer, |i, n| {
            if i + 1 == n {
                Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
            } else {
                hidden(rule, i)
            }
        })
        .unwrap()
}

/// Every parameter of every stage, bottom first.
pub fn weights(stages: &[Stage<f64>]) -> Vec<Tensor<f64>> {
    stages
        .iter()
        .flat_map(|s| s.module().params().into_iter().map(|p| p.value.clone()))
        .collect()
}

/// Every stage's objective metrics (a synthetic-gradient model's last loss, …).
pub fn objective_metrics(stages: &[Stage<f64>]) -> Vec<Vec<(String, f64)>> {
    stages.iter().map(|s| s.objective().metrics()).collect()
}
