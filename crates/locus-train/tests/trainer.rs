//! The engine's loop: the same run as a hand-written epoch loop, learning rates applied per
//! epoch, divergence and bad settings refused by name.

use locus_core::{Loss, OptimizerConfig, SgdConfig};
use locus_data::mnist1d::{generate, Mnist1dConfig};
use locus_data::Split;
use locus_models::MlpConfig;
use locus_objectives::{LocalObjective, SupervisedLoss, UpstreamGradient};
use locus_sched::{EpochPlan, Lockstep, NoObserver, Scheduler, Stage};
use locus_train::evaluate;
use locus_train::{keep_going, Classification, Error, Flow, Trained, Trainer};

fn data() -> Split {
    generate(&Mnist1dConfig {
        num_samples: 400,
        ..Mnist1dConfig::default()
    })
    .unwrap()
}

fn backprop(lr: f64) -> Vec<Stage<f32>> {
    let optimizer = OptimizerConfig::Sgd(SgdConfig::new(lr).with_momentum(0.9));
    MlpConfig::new(vec![40, 24, 24, 10])
        .build::<f32>(3, &optimizer, |i, n| -> Box<dyn LocalObjective<f32>> {
            if i + 1 == n {
                Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
            } else {
                Box::new(UpstreamGradient)
            }
        })
        .unwrap()
}

fn weights(stages: &[Stage<f32>]) -> Vec<f32> {
    stages
        .iter()
        .flat_map(|s| s.module().params())
        .flat_map(|p| p.value.iter().copied().collect::<Vec<_>>())
        .collect()
}

/// `trainer` on the data's training split under Lockstep, evaluated on its test split.
fn run(trainer: &Trainer, stages: &mut [Stage<f32>], data: &Split) -> locus_train::Result<Trained> {
    trainer.run(
        stages,
        &mut Lockstep,
        &data.train,
        &mut Classification::new(&data.test),
        &mut NoObserver,
        &mut keep_going,
    )
}

#[test]
fn the_trainer_runs_the_same_loop_as_a_hand_written_one() {
    let data = data();
    let mut by_hand = backprop(0.05);
    let mut accuracies = Vec::new();
    for epoch in 0..3 {
        let plan = EpochPlan {
            batch_size: 32,
            seed: 7,
            epoch,
        };
        Lockstep
            .train_epoch(&mut by_hand, &data.train, plan, &mut NoObserver)
            .unwrap();
        accuracies.push(evaluate(&mut by_hand, &data.test, 1000).unwrap().accuracy);
    }
    let mut stages = backprop(0.05);
    let mut lines = 0;
    let trained = Trainer::new(3, 32, 7)
        .run(
            &mut stages,
            &mut Lockstep,
            &data.train,
            &mut Classification::new(&data.test),
            &mut NoObserver,
            &mut |_| {
                lines += 1;
                Ok(Flow::Continue)
            },
        )
        .unwrap();
    assert_eq!(weights(&stages), weights(&by_hand));
    let curve: Vec<f64> = trained.history.iter().map(|r| r.test_accuracy).collect();
    assert_eq!(curve, accuracies);
    assert_eq!(lines, 3);
    assert_eq!(trained.test_accuracy, accuracies[2]);
    let reports = trained.stage_reports(&stages);
    assert_eq!(reports.len(), 3);
    assert_eq!(reports[2].final_loss, trained.train_loss);
    // The scheduler's figures reach every stage's report.
    assert!(reports
        .iter()
        .all(|r| r.metrics.contains_key("busy_fraction")));
}

#[test]
fn every_epoch_gets_its_learning_rate() {
    let data = data();
    let train_at = |lr: f64, rates: Option<Vec<f64>>| {
        let mut stages = backprop(lr);
        let mut trainer = Trainer::new(2, 32, 0);
        if let Some(rates) = rates {
            trainer = trainer.with_learning_rates(rates);
        }
        run(&trainer, &mut stages, &data).unwrap();
        weights(&stages)
    };
    // Stages built at 0.5 but given 0.05 for every epoch train as stages built at 0.05.
    let at_low_rate = train_at(0.05, None);
    assert_eq!(train_at(0.5, Some(vec![0.05, 0.05])), at_low_rate);
    assert_ne!(train_at(0.5, None), at_low_rate);
}

#[test]
fn divergence_stops_the_run_with_a_named_error() {
    let data = data();
    let mut stages = backprop(1e38);
    let err = run(&Trainer::new(3, 32, 0), &mut stages, &data).unwrap_err();
    // Caught where it shows first: the loss's input, or else the epoch's loss.
    let text = err.to_string();
    match err {
        Error::Diverged { epoch, .. } => assert!(epoch >= 1 && text.contains("diverged")),
        _ => assert!(
            text.contains("non-finite") && text.contains("stage"),
            "{text}"
        ),
    }
}

#[test]
fn bad_settings_are_refused_by_name() {
    let cases = [
        (Trainer::new(0, 32, 0), "epochs should be >= 1"),
        (Trainer::new(2, 0, 0), "batch size should be >= 1"),
        (
            Trainer::new(2, 32, 0).with_learning_rates(vec![0.1]),
            "1 learning rates for 2 epochs",
        ),
        (
            Trainer::new(2, 32, 0).with_learning_rates(vec![0.1, f64::NAN]),
            "learning rate of epoch 2",
        ),
        (
            Trainer::new(2, 32, 0).with_learning_rates(vec![0.0, 0.1]),
            "learning rate of epoch 1",
        ),
        (
            Trainer::new(2, 32, 0).resume(locus_train::Progress {
                epochs_done: 2,
                ..Default::default()
            }),
            "done 2 of its 2 epochs",
        ),
    ];
    for (trainer, needle) in cases {
        let err = trainer.check().unwrap_err().to_string();
        assert!(err.contains(needle), "expected {needle:?} in {err}");
    }
}

/// `output_std` is zero for a stage that gives every input the same output (all-zero
/// weights) and positive for one that does not; the report carries it per stage.
#[test]
fn the_output_spread_tells_a_constant_stage_from_a_working_one() {
    let data = data();
    let probe = locus_data::gather::<f32>(&data.train, &(0..64).collect::<Vec<_>>()).unwrap();
    let zeros = MlpConfig::new(vec![40, 16, 10])
        .with_init(locus_core::init::Init::Zeros)
        .build::<f32>(0, &OptimizerConfig::Sgd(SgdConfig::new(0.1)), |_, _| {
            Box::new(SupervisedLoss::default()) as Box<dyn LocalObjective<f32>>
        })
        .unwrap();
    let spreads = locus_train::output_spread(&zeros, &probe.inputs).unwrap();
    assert_eq!(spreads, [0.0, 0.0]);
    let working = backprop(0.05);
    let spreads = locus_train::output_spread(&working, &probe.inputs).unwrap();
    assert!(spreads.iter().all(|&s| s > 1e-3), "{spreads:?}");
    let mut stages = backprop(0.05);
    let mut evaluation = Classification::new(&data.test)
        .with_alignment_on(&data.train)
        .unwrap();
    let trained = Trainer::new(1, 32, 0)
        .run(
            &mut stages,
            &mut Lockstep,
            &data.train,
            &mut evaluation,
            &mut NoObserver,
            &mut keep_going,
        )
        .unwrap();
    assert!(trained
        .stage_metrics
        .iter()
        .all(|m| m["output_std"] > 0.0 && m.contains_key("alignment_deg")));
}

/// Evaluated every second epoch of five: epochs 2, 4 and the last, 5, are in the learning
/// curve, and training is the same as when every epoch is evaluated.
#[test]
fn an_evaluation_cadence_leaves_the_training_as_it_was() {
    let data = data();
    let mut every = backprop(0.05);
    let all = run(&Trainer::new(5, 32, 1), &mut every, &data).unwrap();
    let mut some = backprop(0.05);
    let mut evaluated = Vec::new();
    let cadenced = Trainer::new(5, 32, 1)
        .evaluate_every(2)
        .run(
            &mut some,
            &mut Lockstep,
            &data.train,
            &mut Classification::new(&data.test),
            &mut NoObserver,
            &mut |done| {
                evaluated.push((done.epoch, done.record.is_some()));
                Ok(Flow::Continue)
            },
        )
        .unwrap();
    assert_eq!(weights(&some), weights(&every));
    let epochs: Vec<u64> = cadenced.history.iter().map(|r| r.epoch).collect();
    assert_eq!(epochs, [2, 4, 5]);
    assert_eq!(
        evaluated,
        [(1, false), (2, true), (3, false), (4, true), (5, true)]
    );
    let figures =
        |r: &locus_eval::EpochRecord| (r.epoch, r.train_loss, r.test_accuracy, r.test_loss);
    assert_eq!(figures(&cadenced.history[2]), figures(&all.history[4]));
    assert_eq!(cadenced.test_accuracy, all.test_accuracy);
    assert_eq!(cadenced.epochs_done, 5);
}

/// A run stopped after its second epoch and resumed from there ends with the weights,
/// learning curve and epoch count of one run of four epochs.
#[test]
fn a_run_stopped_and_resumed_is_one_run() {
    let data = data();
    let trainer = Trainer::new(4, 32, 2);
    let mut whole = backprop(0.05);
    let one = run(&trainer, &mut whole, &data).unwrap();
    assert!(one.finished);

    let mut parts = backprop(0.05);
    let first = trainer
        .run(
            &mut parts,
            &mut Lockstep,
            &data.train,
            &mut Classification::new(&data.test),
            &mut NoObserver,
            &mut |done| {
                Ok(if done.epoch == 2 {
                    Flow::Stop
                } else {
                    Flow::Continue
                })
            },
        )
        .unwrap();
    assert!(!first.finished);
    assert_eq!(first.epochs_done, 2);
    let progress = locus_train::Progress {
        epochs_done: first.epochs_done,
        history: first.history,
        train_s: first.train_s,
        final_losses: first.final_losses.clone(),
    };
    let second = run(&trainer.clone().resume(progress), &mut parts, &data).unwrap();
    assert!(second.finished);
    assert_eq!(weights(&parts), weights(&whole));
    assert_eq!(second.epochs_done, 4);
    let curve = |t: &Trained| -> Vec<(u64, f64, f64)> {
        t.history
            .iter()
            .map(|r| (r.epoch, r.train_loss, r.test_accuracy))
            .collect()
    };
    assert_eq!(curve(&second), curve(&one));
}

/// An error in `on_epoch` ends the run with the epoch named.
#[test]
fn a_failing_on_epoch_is_reported_with_its_epoch() {
    let data = data();
    let err = Trainer::new(3, 32, 0)
        .run(
            &mut backprop(0.05),
            &mut Lockstep,
            &data.train,
            &mut Classification::new(&data.test),
            &mut NoObserver,
            &mut |done| {
                if done.epoch == 2 {
                    Err(Error::AfterEpoch {
                        epoch: done.epoch,
                        source: "disk full".into(),
                    })
                } else {
                    Ok(Flow::Continue)
                }
            },
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "after epoch 2: disk full");
}
