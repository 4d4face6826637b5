//! End-to-end backpropagation through a stack of stages (upstream-gradient stages under a
//! supervised top) must give the same weights as backpropagation on one stage holding the
//! whole network.

use locus_core::{seeded_rng, Activation, AdamConfig, Loss, OptimizerConfig, SgdConfig, Tensor};
use locus_data::InMemoryDataset;
use locus_models::{MlpConfig, StageLayout};
use locus_objectives::{LocalObjective, SupervisedLoss, UpstreamGradient};
use locus_sched::{EpochPlan, Error, Lockstep, NoObserver, Scheduler, Stage};
use locus_train::evaluate;
use rand_distr::{Distribution, StandardNormal};

fn backprop(i: usize, n: usize) -> Box<dyn LocalObjective<f64>> {
    if i + 1 == n {
        Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
    } else {
        Box::new(UpstreamGradient)
    }
}

fn toy_data(n: usize, seed: u64) -> InMemoryDataset {
    let mut rng = seeded_rng(seed);
    let features: Vec<f32> = (0..n * 6)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    // A label that depends on the features, so there is something to learn.
    let labels = features
        .chunks(6)
        .map(|x| usize::from(x[0] + x[1] > 0.0) + usize::from(x[2] > 0.5))
        .collect();
    InMemoryDataset::new("toy", features, vec![2, 3], labels, 3).unwrap()
}

fn all_params(stages: &[Stage<f64>]) -> Vec<Tensor<f64>> {
    stages
        .iter()
        .flat_map(|s| s.module().params().into_iter().map(|p| p.value.clone()))
        .collect()
}

fn train_both(optimizer: OptimizerConfig, activation: Activation) -> (f64, usize) {
    let config = MlpConfig::new(vec![6, 7, 5, 3]).with_activation(activation);
    let mut split = config
        .clone()
        .with_layout(StageLayout::PerLayer)
        .build::<f64>(3, &optimizer, backprop)
        .unwrap();
    let mut single = config
        .with_layout(StageLayout::Single)
        .build::<f64>(3, &optimizer, backprop)
        .unwrap();
    assert_eq!(split.len(), 3);
    assert_eq!(single.len(), 1);
    assert_eq!(
        all_params(&split),
        all_params(&single),
        "same seed, same initial weights"
    );
    let data = toy_data(50, 9);
    for epoch in 0..3 {
        let plan = EpochPlan {
            batch_size: 8,
            seed: 1,
            epoch,
        };
        let a = Lockstep
            .train_epoch(&mut split, &data, plan, &mut NoObserver)
            .unwrap();
        let b = Lockstep
            .train_epoch(&mut single, &data, plan, &mut NoObserver)
            .unwrap();
        assert!(
            (a.loss - b.loss).abs() < 1e-12,
            "epoch {epoch}: {} vs {}",
            a.loss,
            b.loss
        );
    }
    let (pa, pb) = (all_params(&split), all_params(&single));
    let mut worst: f64 = 0.0;
    for (x, y) in pa.iter().zip(&pb) {
        for (u, v) in x.iter().zip(y.iter()) {
            worst = worst.max((u - v).abs());
        }
    }
    let initial = MlpConfig::new(vec![6, 7, 5, 3])
        .build::<f64>(3, &optimizer, backprop)
        .unwrap();
    let moved = all_params(&initial)
        .iter()
        .zip(&pa)
        .filter(|(a, b)| a != b)
        .count();
    (worst, moved)
}

#[test]
fn stagewise_backprop_equals_single_stage_sgd_momentum() {
    let opt = OptimizerConfig::Sgd(
        SgdConfig::new(0.1)
            .with_momentum(0.9)
            .with_weight_decay(1e-3),
    );
    let (worst, moved) = train_both(opt, Activation::Tanh);
    assert!(worst < 1e-12, "weights differ by {worst}");
    assert_eq!(
        moved, 6,
        "every weight and bias tensor must have been trained"
    );
}

#[test]
fn stagewise_backprop_equals_single_stage_adam_relu() {
    let (worst, moved) = train_both(
        OptimizerConfig::Adam(AdamConfig::new(0.01)),
        Activation::Relu,
    );
    assert!(worst < 1e-12, "weights differ by {worst}");
    assert_eq!(moved, 6);
}

#[test]
fn training_reduces_loss_and_evaluates() {
    let opt = OptimizerConfig::Sgd(SgdConfig::new(0.2).with_momentum(0.5));
    let mut stages = MlpConfig::new(vec![6, 16, 3])
        .build::<f32>(0, &opt, |i, n| {
            if i + 1 == n {
                Box::new(SupervisedLoss::default()) as Box<dyn LocalObjective<f32>>
            } else {
                Box::new(UpstreamGradient)
            }
        })
        .unwrap();
    let data = toy_data(400, 2);
    let before = evaluate(&mut stages, &data, 64).unwrap();
    for epoch in 0..20 {
        let plan = EpochPlan {
            batch_size: 32,
            seed: 5,
            epoch,
        };
        Lockstep
            .train_epoch(&mut stages, &data, plan, &mut NoObserver)
            .unwrap();
    }
    let after = evaluate(&mut stages, &data, 64).unwrap();
    assert!(after.loss < 0.5 * before.loss, "{before:?} → {after:?}");
    assert!(after.accuracy > 0.9, "{after:?}");
    assert!(stages.iter().all(|s| s.steps() == 20 * 13));
}

#[test]
fn a_top_stage_waiting_for_a_message_is_rejected() {
    let opt = OptimizerConfig::Sgd(SgdConfig::new(0.1));
    let mut stages = MlpConfig::new(vec![6, 4, 3])
        .build::<f64>(0, &opt, |_, _| Box::new(UpstreamGradient))
        .unwrap();
    let x = Tensor::zeros(vec![2, 6]);
    let err = Lockstep.train_batch(&mut stages, &x, &[0, 1]).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(err.to_string().contains("stage2"), "{err}");
    let err = Lockstep
        .train_batch::<f64>(&mut [], &x, &[0, 1])
        .unwrap_err();
    assert!(err.to_string().contains("no stages"), "{err}");
}

#[test]
fn wrong_input_width_names_the_stage() {
    let opt = OptimizerConfig::Sgd(SgdConfig::new(0.1));
    let mut stages = MlpConfig::new(vec![6, 4, 3])
        .build::<f64>(0, &opt, backprop)
        .unwrap();
    let x = Tensor::zeros(vec![2, 5]);
    let err = Lockstep
        .train_batch(&mut stages, &x, &[0, 1])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("stage1") && err.contains("Linear(6→4)"),
        "{err}"
    );
    let err = Lockstep
        .train_batch(&mut stages, &Tensor::zeros(vec![2, 6]), &[0, 7])
        .unwrap_err()
        .to_string();
    assert!(err.contains("stage2") && err.contains("label 7"), "{err}");
}
