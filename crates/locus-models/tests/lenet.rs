//! The LeNet builder: stage shapes, clear errors, and that it learns under backprop and
//! under the feedback-alignment rules.

use locus_core::{seeded_rng, FeedbackRule, Loss, OptimizerConfig, SgdConfig, Tensor};
use locus_data::{gather, InMemoryDataset};
use locus_models::LeNetConfig;
use locus_objectives::{LocalObjective, SupervisedLoss, UpstreamGradient};
use locus_sched::{EpochPlan, Lockstep, NoObserver, Scheduler};
use locus_train::evaluate;
use rand::RngExt;

fn layerwise(i: usize, n: usize) -> Box<dyn LocalObjective<f32>> {
    if i + 1 == n {
        Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
    } else {
        Box::new(UpstreamGradient)
    }
}

/// 16×16 noisy images with a bright 4×4 square in one of four quadrants: the label.
fn quadrants(n: usize, seed: u64) -> InMemoryDataset {
    let mut rng = seeded_rng(seed);
    let mut pixels = Vec::with_capacity(n * 256);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let label = rng.random_range(0..4usize);
        let (top, left) = (
            8 * (label / 2) + rng.random_range(0..4),
            8 * (label % 2) + rng.random_range(0..4),
        );
        for r in 0..16 {
            for c in 0..16 {
                let inside = (top..top + 4).contains(&r) && (left..left + 4).contains(&c);
                pixels.push(if inside { 1.0 } else { 0.0 } + rng.random_range(0.0..0.3f32));
            }
        }
        labels.push(label);
    }
    InMemoryDataset::new("quadrants", pixels, vec![16, 16], labels, 4).unwrap()
}

fn sgd() -> OptimizerConfig {
    OptimizerConfig::Sgd(SgdConfig::new(0.05).with_momentum(0.9))
}

#[test]
fn stages_have_the_lenet_shapes_on_mnist_sized_images() {
    let stages = LeNetConfig::new((1, 28, 28), 10)
        .build::<f32>(0, &sgd(), layerwise)
        .unwrap();
    assert_eq!(stages.len(), 5);
    let mut x = Tensor::<f32>::zeros(vec![3, 28, 28]);
    let mut shapes = Vec::new();
    for s in &stages {
        x = s.forward(&x).unwrap().0;
        shapes.push(x.shape().to_vec());
    }
    assert_eq!(
        shapes,
        [
            vec![3, 6, 14, 14],
            vec![3, 400],
            vec![3, 120],
            vec![3, 84],
            vec![3, 10]
        ]
    );
}

#[test]
fn unusable_inputs_are_named() {
    let err = LeNetConfig::input_of(&[40]).unwrap_err().to_string();
    assert!(err.contains("[40]"), "{err}");
    assert_eq!(LeNetConfig::input_of(&[28, 28]).unwrap(), (1, 28, 28));
    assert_eq!(LeNetConfig::input_of(&[3, 32, 32]).unwrap(), (3, 32, 32));
    let err = LeNetConfig::new((1, 8, 8), 10)
        .build::<f32>(0, &sgd(), layerwise)
        .unwrap_err()
        .to_string();
    assert!(err.contains("12×12") && err.contains("8×8"), "{err}");
    assert!(LeNetConfig::new((0, 28, 28), 10)
        .build::<f32>(0, &sgd(), layerwise)
        .is_err());
}

#[test]
fn lenet_learns_under_backprop_and_feedback_alignment() {
    let train = quadrants(400, 1);
    let test = quadrants(200, 2);
    for rule in [
        FeedbackRule::Transpose,
        FeedbackRule::FixedRandom,
        FeedbackRule::SignSymmetry,
    ] {
        let mut stages = LeNetConfig::new((1, 16, 16), 4)
            .with_feedback(rule)
            .build::<f32>(3, &sgd(), layerwise)
            .unwrap();
        for epoch in 0..8 {
            let plan = EpochPlan {
                batch_size: 20,
                seed: 0,
                epoch,
            };
            Lockstep
                .train_epoch(&mut stages, &train, plan, &mut NoObserver)
                .unwrap();
        }
        let acc = evaluate(&mut stages, &test, 100).unwrap().accuracy;
        assert!(acc > 0.8, "{rule:?}: accuracy {acc} (chance 0.25)");
        // And the alignment measurement runs through the convolutional stages.
        let probe = gather::<f32>(&test, &(0..50).collect::<Vec<_>>()).unwrap();
        let report =
            locus_train::measure_alignment(&mut stages, &probe.inputs, &probe.labels).unwrap();
        assert_eq!(report.len(), 5);
        if rule == FeedbackRule::Transpose {
            assert!(
                report.iter().all(|a| a.update_angle_deg < 1e-2),
                "{report:?}"
            );
        } else {
            assert!(report[0].update_angle_deg > 1e-2, "{report:?}");
        }
    }
}
