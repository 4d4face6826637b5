//! With one batch in flight per stage, every stage waits for its batch's signal before it
//! takes the next, so the asynchronous schedulers must do exactly what Lockstep does, bit
//! for bit, for every learning rule and whatever the channel capacity and (simulated)
//! delays. And the schedulers that promise reproducibility must keep it.

mod support;

use locus_sched::{
    AsyncConfig, EpochPlan, EpochReport, Lockstep, NoObserver, Pipelined, Scheduler, Simulated,
    SimulatedConfig, Stage, StageTime,
};
use support::{objective_metrics, product_data, stack, weights, Rule, RULES};

fn train(
    scheduler: &mut dyn Scheduler<f64>,
    stages: &mut [Stage<f64>],
    epochs: u64,
) -> Vec<EpochReport> {
    let data = product_data(90, 1);
    (0..epochs)
        .map(|epoch| {
            let plan = EpochPlan {
                batch_size: 16,
                seed: 5,
                epoch,
            };
            scheduler
                .train_epoch(stages, &data, plan, &mut NoObserver)
                .unwrap()
        })
        .collect()
}

fn losses(reports: &[EpochReport]) -> Vec<(f64, Vec<f64>, usize)> {
    reports
        .iter()
        .map(|r| (r.loss, r.stage_losses.clone(), r.samples))
        .collect()
}

/// Trains `rule` under `scheduler` and under Lockstep and asserts the same weights,
/// objective state and losses.
fn assert_like_lockstep(rule: Rule, scheduler: &mut dyn Scheduler<f64>, what: &str) {
    let mut reference = stack(rule, &[12, 10], 3);
    let expected = train(&mut Lockstep, &mut reference, 2);
    let mut stages = stack(rule, &[12, 10], 3);
    let got = train(scheduler, &mut stages, 2);
    assert_eq!(
        weights(&stages),
        weights(&reference),
        "{rule:?} under {what}"
    );
    assert_eq!(
        objective_metrics(&stages),
        objective_metrics(&reference),
        "{rule:?} under {what}"
    );
    assert_eq!(losses(&got), losses(&expected), "{rule:?} under {what}");
    for (a, b) in stages.iter().zip(&reference) {
        assert_eq!(a.steps(), b.steps());
    }
}

#[test]
fn pipelined_with_one_batch_in_flight_is_lockstep() {
    for rule in RULES {
        for capacity in [1, 3] {
            let config = AsyncConfig::default()
                .with_in_flight(1)
                .with_capacity(capacity);
            assert_like_lockstep(
                rule,
                &mut Pipelined::new(config).unwrap(),
                &format!("pipelined, capacity {capacity}"),
            );
        }
    }
}

#[test]
fn simulated_with_one_batch_in_flight_is_lockstep_whatever_the_delays() {
    for rule in RULES {
        for (delay, times) in [
            (0.0, vec![StageTime::dense(1.0)]),
            (
                2.5,
                vec![
                    StageTime::dense(3.0),
                    StageTime::dense(0.5),
                    StageTime::dense(1.0),
                ],
            ),
        ] {
            let config = SimulatedConfig::default()
                .with_flow(AsyncConfig::default().with_in_flight(1))
                .with_link_delay(delay)
                .with_broadcast_delay(delay * 2.0)
                .with_stage_times(times);
            assert_like_lockstep(
                rule,
                &mut Simulated::new(config).unwrap(),
                &format!("simulated, delay {delay}"),
            );
        }
    }
}

/// More batches in flight do change the result (the stages see stale signals), or the
/// tests above would prove little.
#[test]
fn more_batches_in_flight_change_the_result() {
    for rule in [Rule::Backprop, Rule::DirectFeedback, Rule::Dni] {
        let config = SimulatedConfig::default()
            .with_flow(AsyncConfig::default().with_in_flight(3))
            .with_link_delay(1.0);
        let mut reference = stack(rule, &[12, 10], 3);
        train(&mut Lockstep, &mut reference, 1);
        let mut stages = stack(rule, &[12, 10], 3);
        train(&mut Simulated::new(config).unwrap(), &mut stages, 1);
        assert_ne!(weights(&stages), weights(&reference), "{rule:?}");
    }
}

#[test]
fn lockstep_and_simulated_runs_are_bit_identical_across_runs() {
    let config = SimulatedConfig::default()
        .with_flow(AsyncConfig::default().with_in_flight(4).with_capacity(2))
        .with_link_delay(0.7)
        .with_broadcast_delay(1.3)
        .with_stage_times(vec![
            StageTime::dense(1.0),
            StageTime::dense(2.0),
            StageTime::dense(0.5),
        ]);
    for rule in RULES {
        let run = |scheduler: &mut dyn Scheduler<f64>| {
            let mut stages = stack(rule, &[12, 10], 9);
            let reports = train(scheduler, &mut stages, 2);
            (
                weights(&stages),
                objective_metrics(&stages),
                losses(&reports),
            )
        };
        let simulated = || Simulated::new(config.clone()).unwrap();
        assert_eq!(run(&mut simulated()), run(&mut simulated()), "{rule:?}");
        assert_eq!(run(&mut Lockstep), run(&mut Lockstep), "{rule:?}");
    }
}

/// Edge cases of the protocol: a single stage (the first stage is the top one), and an
/// epoch without batches.
#[test]
fn a_single_stage_and_an_empty_epoch() {
    let single = || {
        locus_models::MlpConfig::new(vec![8, 6, 3])
            .with_layout(locus_models::StageLayout::Single)
            .build::<f64>(
                1,
                &locus_core::OptimizerConfig::Sgd(locus_core::SgdConfig::new(0.1)),
                |_, _| Box::new(locus_objectives::SupervisedLoss::default()),
            )
            .unwrap()
    };
    let mut reference = single();
    let expected = train(&mut Lockstep, &mut reference, 2);
    for scheduler in [
        &mut Pipelined::default() as &mut dyn Scheduler<f64>,
        &mut Simulated::default(),
    ] {
        let mut stages = single();
        assert_eq!(losses(&train(scheduler, &mut stages, 2)), losses(&expected));
        assert_eq!(weights(&stages), weights(&reference));
    }
    let empty = locus_data::InMemoryDataset::new("empty", vec![], vec![8], vec![], 3).unwrap();
    let plan = EpochPlan {
        batch_size: 4,
        seed: 0,
        epoch: 0,
    };
    for scheduler in [
        &mut Pipelined::default() as &mut dyn Scheduler<f64>,
        &mut Simulated::default(),
        &mut Lockstep,
    ] {
        let mut stages = stack(Rule::DirectFeedback, &[4], 0);
        let report = scheduler
            .train_epoch(&mut stages, &empty, plan, &mut NoObserver)
            .unwrap();
        assert_eq!((report.samples, report.loss), (0, 0.0));
    }
}
