//! The feedback-alignment family through the stage machinery: random and sign-based
//! backward rules (FA, uSF, brSF, frSF), direct feedback alignment, and the alignment
//! measurement that compares each with backpropagation.

use locus_core::init::Init;
use locus_core::{seeded_rng, Activation, FeedbackRule, Loss, OptimizerConfig, SgdConfig, Tensor};
use locus_data::{gather, InMemoryDataset};
use locus_models::MlpConfig;
use locus_objectives::{DirectFeedback, LocalObjective, SupervisedLoss, UpstreamGradient};
use locus_sched::{EpochPlan, Lockstep, NoObserver, Scheduler, Stage};
use locus_train::{evaluate, measure_alignment};
use rand_distr::{Distribution, StandardNormal};

/// Gaussian features whose label is which of three directions they point along most.
fn toy_data(n: usize, seed: u64) -> InMemoryDataset {
    let mut rng = seeded_rng(seed);
    let features: Vec<f32> = (0..n * 8)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let labels = features
        .chunks(8)
        .map(|x| {
            let scores = [x[0] + x[1], x[2] - x[3], x[4] + x[5] - x[6]];
            (0..3)
                .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                .unwrap()
        })
        .collect();
    InMemoryDataset::new("toy", features, vec![8], labels, 3).unwrap()
}

fn layerwise(i: usize, n: usize) -> Box<dyn LocalObjective<f64>> {
    if i + 1 == n {
        Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
    } else {
        Box::new(UpstreamGradient)
    }
}

fn direct(i: usize, n: usize) -> Box<dyn LocalObjective<f64>> {
    if i + 1 == n {
        Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
    } else {
        Box::new(DirectFeedback::<f64>::new(100 + i as u64))
    }
}

fn mlp(feedback: FeedbackRule) -> MlpConfig {
    MlpConfig::new(vec![8, 32, 32, 3])
        .with_activation(Activation::Tanh)
        .with_feedback(feedback)
}

fn sgd() -> OptimizerConfig {
    OptimizerConfig::Sgd(SgdConfig::new(0.05).with_momentum(0.9))
}

fn train(stages: &mut [Stage<f64>], data: &InMemoryDataset, epochs: u64) -> f64 {
    for epoch in 0..epochs {
        let plan = EpochPlan {
            batch_size: 20,
            seed: 1,
            epoch,
        };
        Lockstep
            .train_epoch(stages, data, plan, &mut NoObserver)
            .unwrap();
    }
    evaluate(stages, data, 1000).unwrap().accuracy
}

fn weights(stages: &[Stage<f64>]) -> Vec<Tensor<f64>> {
    stages
        .iter()
        .flat_map(|s| s.module().params().into_iter().map(|p| p.value.clone()))
        .collect()
}

const RULES: [FeedbackRule; 4] = [
    FeedbackRule::FixedRandom,
    FeedbackRule::SignSymmetry,
    FeedbackRule::BatchRandomSign,
    FeedbackRule::FixedRandomSign,
];

#[test]
fn every_rule_learns_the_toy_task() {
    let train_set = toy_data(600, 1);
    let test_set = toy_data(300, 2);
    for rule in RULES {
        let mut stages = mlp(rule).build::<f64>(4, &sgd(), layerwise).unwrap();
        train(&mut stages, &train_set, 15);
        let acc = evaluate(&mut stages, &test_set, 1000).unwrap().accuracy;
        assert!(acc > 0.8, "{rule:?}: test accuracy {acc} (chance is 1/3)");
    }
    let mut stages = mlp(FeedbackRule::Transpose)
        .build::<f64>(4, &sgd(), direct)
        .unwrap();
    train(&mut stages, &train_set, 15);
    let acc = evaluate(&mut stages, &test_set, 1000).unwrap().accuracy;
    assert!(acc > 0.8, "DFA: test accuracy {acc}");
}

#[test]
fn backprop_is_perfectly_aligned_with_itself() {
    let data = toy_data(64, 3);
    let batch = gather::<f64>(&data, &(0..64).collect::<Vec<_>>()).unwrap();
    let mut stages = mlp(FeedbackRule::Transpose)
        .build::<f64>(4, &sgd(), layerwise)
        .unwrap();
    let before = weights(&stages);
    let report = measure_alignment(&mut stages, &batch.inputs, &batch.labels).unwrap();
    assert_eq!(report.len(), 3);
    for s in &report {
        assert!(s.update_angle_deg < 1e-4, "{s:?}");
        assert!(s.module_diagnostics.is_empty(), "{s:?}");
    }
    assert_eq!(weights(&stages), before, "measuring must not train");
    assert!(stages.iter().all(|s| s.steps() == 0));
}

#[test]
fn random_feedback_is_misaligned_at_first_and_aligns_with_training() {
    let data = toy_data(600, 1);
    let probe = gather::<f64>(&data, &(0..200).collect::<Vec<_>>()).unwrap();
    let mut stages = mlp(FeedbackRule::FixedRandom)
        .build::<f64>(4, &sgd(), layerwise)
        .unwrap();
    let first = measure_alignment(&mut stages, &probe.inputs, &probe.labels).unwrap();
    // The top stage learns from the true loss; the one below gets a random message, and
    // its first-layer weight is unrelated to its feedback matrix.
    assert!(first[2].update_angle_deg < 1e-4, "{:?}", first[2]);
    assert!(first[1].update_angle_deg > 60.0, "{:?}", first[1]);
    let weight_angle = |a: &locus_train::StageAlignment| {
        a.module_diagnostics
            .iter()
            .find(|(k, _)| k == "weight_alignment_deg")
            .map(|&(_, v)| v)
            .unwrap()
    };
    assert!(weight_angle(&first[2]) > 70.0, "{:?}", first[2]);
    train(&mut stages, &data, 15);
    let after = measure_alignment(&mut stages, &probe.inputs, &probe.labels).unwrap();
    // "The network learns to learn": the forward weights come to align with B.
    assert!(
        after[1].update_angle_deg < first[1].update_angle_deg - 10.0,
        "update angle {} → {}",
        first[1].update_angle_deg,
        after[1].update_angle_deg
    );
    assert!(
        after[1].update_angle_deg < 90.0,
        "{}",
        after[1].update_angle_deg
    );
    assert!(
        weight_angle(&after[2]) < weight_angle(&first[2]) - 5.0,
        "weight angle {} → {}",
        weight_angle(&first[2]),
        weight_angle(&after[2])
    );
}

#[test]
fn sign_symmetry_starts_aligned() {
    let data = toy_data(64, 3);
    let batch = gather::<f64>(&data, &(0..64).collect::<Vec<_>>()).unwrap();
    for rule in [FeedbackRule::SignSymmetry, FeedbackRule::FixedRandomSign] {
        let mut stages = mlp(rule).build::<f64>(4, &sgd(), layerwise).unwrap();
        let report = measure_alignment(&mut stages, &batch.inputs, &batch.labels).unwrap();
        assert!(
            report[1].update_angle_deg < 60.0,
            "{rule:?}: {:?}",
            report[1]
        );
        let w = report[2].module_diagnostics[0].1;
        assert!(w < 60.0, "{rule:?}: weight alignment {w}");
    }
}

/// Nøkland (2016) trains from all-zero weights: the hidden layers get `e B`, which does
/// not depend on the weights above. (Biases keep PyTorch's default initialisation.)
#[test]
fn dfa_learns_from_zero_weights() {
    let train_set = toy_data(600, 1);
    let mut dfa = mlp(FeedbackRule::Transpose)
        .with_init(Init::Zeros)
        .build::<f64>(4, &sgd(), direct)
        .unwrap();
    for stage in &dfa {
        let w = stage.module().params()[0].value.clone();
        assert!(w.iter().all(|&v| v == 0.0), "{}", stage.name());
    }
    let dfa_acc = train(&mut dfa, &train_set, 10);
    assert!(dfa_acc > 0.8, "DFA from zero weights: {dfa_acc}");
}

#[test]
fn dfa_hidden_stages_need_no_message() {
    let stages = mlp(FeedbackRule::Transpose)
        .build::<f64>(4, &sgd(), direct)
        .unwrap();
    assert!(stages.iter().all(|s| !s.objective().needs_message()));
    assert_eq!(stages[0].objective().name(), "direct-feedback");
}

#[test]
fn same_seed_same_weights_for_every_rule() {
    let data = toy_data(200, 5);
    for rule in RULES {
        let run = || {
            let mut stages = mlp(rule).build::<f64>(9, &sgd(), layerwise).unwrap();
            train(&mut stages, &data, 2);
            weights(&stages)
        };
        assert_eq!(run(), run(), "{rule:?}");
    }
}

#[test]
fn the_module_reports_its_rule() {
    let stages = mlp(FeedbackRule::FixedRandom)
        .build::<f64>(4, &sgd(), layerwise)
        .unwrap();
    let names: Vec<String> = stages[1]
        .module()
        .diagnostics()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(names, ["weight_alignment_deg"]);
}
