//! The greedy layer-wise scheduler: one stage learns per epoch, from its own objective,
//! on the frozen stages below it; the turn moves at the budget's epochs; runs repeat bit
//! for bit; stacks that need a message or the global error are refused; and greedy DGL
//! learns.

mod support;

use locus_core::{Activation, AdamConfig, Loss, OptimizerConfig, SgdConfig, Tensor};
use locus_data::mnist1d::{generate, Mnist1dConfig};
use locus_data::Dataset;
use locus_models::MlpConfig;
use locus_objectives::{LocalClassifierConfig, LocalObjective, SupervisedLoss};
use locus_sched::{
    EpochPlan, EpochReport, GreedyLayerWise, NoObserver, Scheduler, Stage, StageBudget, StatsLog,
    StepLog,
};
use locus_train::{evaluate, stage_accuracies};
use support::{product_data, stack, weights, Rule};

/// A `sizes` ReLU MLP whose hidden stages learn from linear classifier heads (DGL) under
/// a supervised top.
fn dgl<F: locus_core::Float>(
    sizes: Vec<usize>,
    classes: usize,
    optimizer: OptimizerConfig,
    seed: u64,
) -> Vec<Stage<F>> {
    MlpConfig::new(sizes)
        .with_activation(Activation::Relu)
        .build::<F>(seed, &optimizer, |i, n| -> Box<dyn LocalObjective<F>> {
            if i + 1 == n {
                Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
            } else {
                Box::new(
                    LocalClassifierConfig::new(classes, 100 + i as u64)
                        .with_optimizer(optimizer)
                        .build::<F>()
                        .unwrap(),
                )
            }
        })
        .unwrap()
}

fn sgd() -> OptimizerConfig {
    OptimizerConfig::Sgd(SgdConfig::new(0.05).with_momentum(0.9))
}

fn plan(epoch: u64) -> EpochPlan {
    EpochPlan {
        batch_size: 25,
        seed: 3,
        epoch,
    }
}

/// Everything a stage learns: its module's parameters and, for a stage whose head has
/// been built (on its first batch), the head's scores of a fixed output (they change
/// exactly when the head's weights do).
fn learned(stages: &[Stage<f64>]) -> Vec<Vec<Tensor<f64>>> {
    stages
        .iter()
        .map(|s| {
            let mut all: Vec<Tensor<f64>> = s
                .module()
                .params()
                .into_iter()
                .map(|p| p.value.clone())
                .collect();
            let width = s.module().params().last().map_or(0, |p| p.value.len());
            let probe = Tensor::from_shape_fn(vec![4, width], |i| (i[0] + 2 * i[1]) as f64 / 7.0);
            if let Some(Ok(scores)) = s.objective().class_scores(&probe) {
                all.push(scores);
            }
            all
        })
        .collect()
}

#[test]
fn only_the_active_stage_learns_and_only_it_is_reported() {
    let data = product_data(200, 1);
    let mut stages = dgl::<f64>(vec![8, 12, 10, 3], 3, sgd(), 0);
    let mut greedy = GreedyLayerWise::new(StageBudget::Each(2)).unwrap();
    let batches = 200 / 25;
    for epoch in 0..7 {
        let active = [0, 0, 1, 1, 2, 2, 2][epoch as usize];
        let before = learned(&stages);
        let steps: Vec<u64> = stages.iter().map(Stage::steps).collect();
        let (mut stats, mut log) = (StatsLog::default(), StepLog::default());
        let report = greedy
            .train_epoch(&mut stages, &data, plan(epoch), &mut (&mut stats, &mut log))
            .unwrap();
        let after = learned(&stages);
        for i in 0..3 {
            assert_eq!(
                before[i] != after[i],
                i == active,
                "epoch {epoch}: stage {i} changed = {}, active stage {active}",
                before[i] != after[i]
            );
            let expected = steps[i] + if i == active { batches } else { 0 };
            assert_eq!(stages[i].steps(), expected, "epoch {epoch}, stage {i}");
        }
        // The report: the active stage's loss, 0 (never NaN) for the others.
        assert!(report.loss.is_finite() && report.loss > 0.0, "{report:?}");
        assert_eq!(report.stage_losses[active], report.loss);
        for (i, &l) in report.stage_losses.iter().enumerate() {
            assert!(i == active || l == 0.0, "{report:?}");
        }
        // Observers hear of the active stage's updates only.
        assert_eq!(log.steps.len(), batches as usize);
        assert!(log
            .steps
            .iter()
            .all(|s| s.stage == active && s.staleness == 0));
        // Per-stage figures: frozen stages below ran forward, stages above did nothing.
        let figures = stats.last().unwrap();
        for (i, f) in figures.iter().enumerate() {
            let ran = i <= active;
            assert_eq!(f.inputs, if ran { batches } else { 0 }, "{f:?}");
            assert_eq!(f.updates, if i == active { batches } else { 0 }, "{f:?}");
            assert_eq!((f.staleness_mean, f.staleness_max), (0.0, 0), "{f:?}");
            assert!(
                f.busy_fraction().is_finite() && f.busy_fraction() <= 1.0,
                "{f:?}"
            );
            assert_eq!(f.busy > 0.0, ran, "{f:?}");
        }
    }
}

#[test]
fn the_turn_moves_at_the_budget_epochs() {
    let turns = |budget: StageBudget, stages: usize, epochs: u64| -> Vec<usize> {
        (0..epochs)
            .map(|e| budget.active_stage(stages, e).unwrap())
            .collect()
    };
    assert_eq!(turns(StageBudget::Each(2), 3, 8), [0, 0, 1, 1, 2, 2, 2, 2]);
    assert_eq!(
        turns(StageBudget::PerStage(vec![1, 3]), 3, 6),
        [0, 1, 1, 1, 2, 2]
    );
    // Ten epochs over four stages: 2 each below the top, the top the other 4.
    let split = StageBudget::Split(10);
    assert_eq!(
        turns(split.clone(), 4, 11),
        [0, 0, 1, 1, 2, 2, 3, 3, 3, 3, 3]
    );
    assert_eq!(split.epochs_per_stage(4, 10).unwrap(), [2, 2, 2, 4]);
    assert_eq!(
        StageBudget::Each(3).epochs_per_stage(3, 7).unwrap(),
        [3, 3, 1]
    );

    // The scheduler follows it: the stage whose step count grows is the active one.
    let data = product_data(100, 2);
    let mut stages = dgl::<f64>(vec![8, 6, 6, 3], 3, sgd(), 1);
    let mut greedy = GreedyLayerWise::new(StageBudget::PerStage(vec![1, 3])).unwrap();
    let mut learners = Vec::new();
    for epoch in 0..6 {
        let before: Vec<u64> = stages.iter().map(Stage::steps).collect();
        greedy
            .train_epoch(&mut stages, &data, plan(epoch), &mut NoObserver)
            .unwrap();
        let grew: Vec<usize> = (0..3).filter(|&i| stages[i].steps() > before[i]).collect();
        learners.extend(grew);
    }
    assert_eq!(learners, [0, 1, 1, 1, 2, 2]);
}

#[test]
fn each_epoch_knows_its_place_in_its_stage_turn() {
    // 12 epochs over 4 stages: turns of 3, 3, 3 and 3.
    let split = StageBudget::Split(12);
    assert_eq!(split.turn_position(4, 12, 0).unwrap(), (0, 3));
    assert_eq!(split.turn_position(4, 12, 4).unwrap(), (1, 3));
    assert_eq!(split.turn_position(4, 12, 11).unwrap(), (2, 3));
    assert!(split.turn_position(4, 12, 12).is_err());
    // 2 epochs each below the top, the top the rest of a 7-epoch run: 2, 2, 3.
    let each = StageBudget::Each(2);
    assert_eq!(each.turn_position(3, 7, 1).unwrap(), (1, 2));
    assert_eq!(each.turn_position(3, 7, 5).unwrap(), (1, 3));
    assert!(
        each.turn_position(3, 4, 0).is_err(),
        "the top would get no epoch"
    );
}

#[test]
fn budgets_that_leave_a_stage_without_epochs_are_refused() {
    let message = |e: locus_sched::Error| e.to_string();
    for budget in [
        StageBudget::Each(0),
        StageBudget::PerStage(vec![2, 0]),
        StageBudget::Split(0),
    ] {
        let text = message(GreedyLayerWise::new(budget.clone()).unwrap_err());
        assert!(text.contains(">= 1 epoch") && text.contains("0"), "{text}");
    }
    // Known only with the stack: a split of fewer epochs than stages, a list of the wrong
    // length, a run too short for the top.
    let text = message(StageBudget::Split(3).active_stage(4, 0).unwrap_err());
    assert!(text.contains("3 epochs split over 4 stages"), "{text}");
    let text = message(
        StageBudget::PerStage(vec![1, 1])
            .active_stage(4, 0)
            .unwrap_err(),
    );
    assert!(
        text.contains("2 entries") && text.contains("3 below the top"),
        "{text}"
    );
    let text = message(StageBudget::Each(4).epochs_per_stage(4, 12).unwrap_err());
    assert!(text.contains("top stage (stage 4) none"), "{text}");

    let data = product_data(50, 3);
    let mut stages = dgl::<f64>(vec![8, 6, 6, 3], 3, sgd(), 1);
    let mut greedy = GreedyLayerWise::new(StageBudget::PerStage(vec![1])).unwrap();
    let err = greedy
        .train_epoch(&mut stages, &data, plan(0), &mut NoObserver)
        .unwrap_err();
    assert!(err.to_string().contains("1 entries"), "{err}");
    assert!(stages.iter().all(|s| s.steps() == 0));
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let data = product_data(150, 4);
    let run = || -> (Vec<EpochReport>, Vec<Tensor<f64>>) {
        let mut stages = dgl::<f64>(vec![8, 10, 10, 3], 3, sgd(), 7);
        let mut greedy = GreedyLayerWise::new(StageBudget::Each(1)).unwrap();
        let reports = (0..4)
            .map(|e| {
                let mut r = greedy
                    .train_epoch(&mut stages, &data, plan(e), &mut NoObserver)
                    .unwrap();
                r.wall_s = 0.0;
                r
            })
            .collect();
        (reports, weights(&stages))
    };
    let (first, second) = (run(), run());
    assert_eq!(first, second);
}

#[test]
fn stages_that_wait_for_a_message_or_the_global_error_are_refused_by_name() {
    let data = product_data(50, 5);
    for (rule, objective, needs) in [
        (Rule::Backprop, "upstream", "gradient message"),
        (Rule::Dni, "synthetic", "gradient message"),
        (Rule::DirectFeedback, "direct", "global error"),
    ] {
        let mut stages = stack(rule, &[6, 6], 0);
        let before = weights(&stages);
        let mut greedy = GreedyLayerWise::new(StageBudget::Each(1)).unwrap();
        let err = greedy
            .train_epoch(&mut stages, &data, plan(0), &mut NoObserver)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stage 'stage1'")
                && err.to_lowercase().contains(objective)
                && err.contains(needs),
            "{rule:?}: {err}"
        );
        assert_eq!(weights(&stages), before, "{rule:?}: nothing may run");
    }
    let mut none: Vec<Stage<f64>> = Vec::new();
    let err = GreedyLayerWise::new(StageBudget::Each(1))
        .unwrap()
        .train_epoch(&mut none, &data, plan(0), &mut NoObserver)
        .unwrap_err();
    assert!(err.to_string().contains("no stages"), "{err}");
}

#[test]
fn greedy_dgl_learns_mnist1d() {
    let data = generate(&Mnist1dConfig::default()).unwrap();
    let adam = OptimizerConfig::Adam(AdamConfig::new(1e-3));
    let mut stages = dgl::<f32>(vec![40, 128, 128, 10], 10, adam, 1);
    let mut greedy = GreedyLayerWise::new(StageBudget::Split(12)).unwrap();
    for epoch in 0..12 {
        let plan = EpochPlan {
            batch_size: 50,
            seed: 0,
            epoch,
        };
        let report = greedy
            .train_epoch(&mut stages, &data.train, plan, &mut NoObserver)
            .unwrap();
        assert!(report.loss.is_finite(), "{report:?}");
    }
    let test = evaluate(&mut stages, &data.test, 1000).unwrap();
    let accuracies = stage_accuracies(&stages, &data.test, 1000).unwrap();
    eprintln!("greedy DGL on MNIST-1D: {test:?}, per stage {accuracies:?}");
    // Chance is 0.1 over the ten classes.
    assert!(test.accuracy > 0.3, "{test:?}");
    for (i, a) in accuracies[..2].iter().enumerate() {
        let a = a.expect("hidden stages have heads");
        assert!(a > 0.25, "stage {i}: {a}");
    }
    assert_eq!(data.test.num_classes(), 10);
}

/// With cached inputs each stage trains on the frozen stages' stored outputs instead of
/// recomputing them on every batch: in f32, whose cache holds the very values the frozen
/// stages give, the run ends bit for bit where the recomputing one does; the largest
/// cache's size is reported, and a batch size of 0 is refused.
#[test]
fn cached_inputs_train_as_recomputed_ones() {
    let data = generate(&Mnist1dConfig {
        num_samples: 300,
        ..Mnist1dConfig::default()
    })
    .unwrap();
    let run = |scheduler: &mut GreedyLayerWise| {
        let mut stages = dgl::<f32>(vec![40, 24, 24, 10], 10, sgd(), 5);
        for epoch in 0..6 {
            scheduler
                .train_epoch(&mut stages, &data.train, plan(epoch), &mut NoObserver)
                .unwrap();
        }
        stages
            .iter()
            .flat_map(|s| s.module().params())
            .flat_map(|p| p.value.iter().copied().collect::<Vec<f32>>())
            .collect::<Vec<f32>>()
    };
    let mut recomputing = GreedyLayerWise::new(StageBudget::Each(2)).unwrap();
    let mut caching = GreedyLayerWise::new(StageBudget::Each(2))
        .unwrap()
        .with_cached_inputs(64)
        .unwrap();
    assert_eq!(run(&mut caching), run(&mut recomputing));
    assert_eq!(recomputing.largest_cache_bytes(), 0);
    // The largest cache: 24 features of every training sample, in f32.
    assert_eq!(
        caching.largest_cache_bytes(),
        data.train.len() * 24 * std::mem::size_of::<f32>()
    );
    let err = GreedyLayerWise::new(StageBudget::Each(2))
        .unwrap()
        .with_cached_inputs(0)
        .unwrap_err();
    assert!(err.to_string().contains("input cache"), "{err}");
}
