//! Truncated BPTT and synthetic gradients at the truncation boundary on the copy tasks.

use locus_core::{seeded_rng, AdamConfig, Module, OptimizerConfig};
use locus_data::{CopyTask, SequenceBatch};
use locus_objectives::SyntheticGradientConfig;
use locus_sched::Error;
use locus_train::{run_curriculum, CurriculumConfig, RecurrentConfig, RecurrentTrainer};

fn adam(lr: f64) -> OptimizerConfig {
    OptimizerConfig::Adam(AdamConfig::new(lr))
}

fn trainer(task: CopyTask, hidden: usize, truncation: usize, dni: bool) -> RecurrentTrainer<f32> {
    let mut config = RecurrentConfig::new(
        task.input_width(),
        hidden,
        task.target_width(),
        truncation,
        adam(3e-3),
    )
    .with_seed(1);
    if dni {
        config = config
            .with_synthetic_gradient(SyntheticGradientConfig::new(2).with_optimizer(adam(1e-3)));
    }
    config.build().unwrap()
}

#[test]
fn bptt_solves_short_copies_in_seconds() {
    let task = CopyTask::copy(8);
    let mut t = RecurrentConfig::new(9, 32, 8, 100, adam(1e-2))
        .with_seed(1)
        .build::<f32>()
        .unwrap();
    let config = CurriculumConfig {
        start_length: 2,
        max_length: 3,
        batch_size: 32,
        batches_per_round: 25,
        rounds: 100,
        eval_size: 128,
        ..CurriculumConfig::new(task)
    };
    let start = std::time::Instant::now();
    let report = run_curriculum(&mut t, &config, |r| {
        eprintln!(
            "round {} N={} train {:.3} eval {:.3} bits/step, bit error {:.3}",
            r.round, r.length, r.train_bits, r.eval_bits, r.eval_bit_error
        )
    })
    .unwrap();
    eprintln!("{:.1}s", start.elapsed().as_secs_f64());
    assert_eq!(report.longest_solved, 3, "{:?}", report.solved_at);
    let last = report.rounds.last().unwrap();
    assert!(last.solved && last.eval_bits < 0.15);
    assert!(
        last.alignment_deg.is_none(),
        "BPTT has no synthetic gradient"
    );
    assert!(last.sg_relative_error.is_none());
    // The first round, before any learning, is near chance: 1 bit per bit, 8 per step.
    assert!(report.rounds[0].train_bits > 4.0, "{:?}", report.rounds[0]);
}

#[test]
fn dni_predicts_non_zero_gradients_and_its_regression_loss_falls() {
    // The network is held still (a learning rate of 1e-9) so that the true gradients at
    // the boundaries stay put: the gradient model alone learns, from the bootstrapped
    // targets at 3 boundaries and the exact one at the last.
    let task = CopyTask::copy(8);
    let mut t = RecurrentConfig::new(9, 32, 8, 2, adam(1e-9))
        .with_seed(1)
        .with_synthetic_gradient(SyntheticGradientConfig::new(2).with_optimizer(adam(1e-3)))
        .build::<f32>()
        .unwrap();
    let batch: SequenceBatch<f32> = task.batch(4, 16, &mut seeded_rng(9)).unwrap();
    // A fresh gradient model is all zeros: no angle, and the error of predicting zero.
    let fresh = t.boundary_alignment(&batch).unwrap().unwrap();
    assert_eq!(fresh.boundaries, 4, "9 steps in chunks of 2");
    assert!(
        fresh.angle_deg.is_nan() && fresh.relative_error == 1.0,
        "{fresh:?}"
    );
    let mut losses = Vec::new();
    for _ in 0..200 {
        let r = t.train_batch(&batch).unwrap();
        assert_eq!(r.chunks, 5);
        losses.push(
            r.sg_loss
                .expect("DNI learns at every boundary but the last"),
        );
    }
    assert!(
        losses[199] < 0.75 * losses[0],
        "regression loss {} → {}",
        losses[0],
        losses[199]
    );
    let model = t.synthetic_gradient().unwrap().model().unwrap();
    assert!(model.params()[0].value.iter().any(|&w| w != 0.0));
    // Against the true gradients from full BPTT, M now points the right way and its
    // regression error is well below the zero model's.
    let trained = t.boundary_alignment(&batch).unwrap().unwrap();
    assert!(trained.angle_deg < 50.0, "{trained:?}");
    assert!(trained.relative_error < 0.5, "{trained:?}");
}

#[test]
fn without_boundaries_dni_is_bptt() {
    // With T at least the sequence length there is no boundary: DNI(T) must train
    // exactly like BPTT.
    let task = CopyTask::copy(8);
    let mut bptt = trainer(task, 8, 64, false);
    let mut dni = trainer(task, 8, 64, true);
    let mut rng = seeded_rng(3);
    for _ in 0..3 {
        let batch: SequenceBatch<f32> = task.batch(3, 4, &mut rng).unwrap();
        let a = bptt.train_batch(&batch).unwrap();
        let b = dni.train_batch(&batch).unwrap();
        assert_eq!(a.bits_per_step, b.bits_per_step);
        assert_eq!(b.sg_loss, None);
    }
    let weights = |t: &RecurrentTrainer<f32>| t.cell().params()[0].value.clone();
    assert_eq!(weights(&bptt), weights(&dni));
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let task = CopyTask::repeat_copy(8, 2);
    let config = CurriculumConfig {
        batch_size: 8,
        batches_per_round: 3,
        rounds: 2,
        eval_size: 8,
        seed: 4,
        ..CurriculumConfig::new(task)
    };
    let run = || {
        let mut t = trainer(task, 8, 3, true);
        let mut report = run_curriculum(&mut t, &config, |_| {}).unwrap();
        for r in &mut report.rounds {
            r.train_s = 0.0;
        }
        report.train_s = 0.0;
        report
    };
    assert_eq!(run(), run());
}

#[test]
fn bad_settings_and_batches_are_clear_errors() {
    let task = CopyTask::copy(8);
    let e = RecurrentConfig::new(9, 16, 8, 0, adam(1e-3))
        .build::<f32>()
        .unwrap_err();
    assert!(e.to_string().contains("truncation length T"), "{e}");
    let e = RecurrentConfig::new(9, 0, 8, 2, adam(1e-3))
        .build::<f32>()
        .unwrap_err();
    assert!(e.to_string().contains("hidden width"), "{e}");
    let e = RecurrentConfig::new(9, 4, 8, 2, adam(1e-3))
        .with_synthetic_gradient(SyntheticGradientConfig::new(0).with_labels(3))
        .build::<f32>()
        .unwrap_err();
    assert!(e.to_string().contains("conditional"), "{e}");
    // A batch of another task's widths.
    let mut t = trainer(task, 4, 2, false);
    let wrong: SequenceBatch<f32> = CopyTask::repeat_copy(8, 2)
        .batch(2, 3, &mut seeded_rng(0))
        .unwrap();
    let e = t.train_batch(&wrong).unwrap_err();
    assert!(matches!(e, Error::Stage { .. }), "{e}");
    assert!(e.to_string().contains("[time >= 1, batch >= 1, 9]"), "{e}");
    let mut nan: SequenceBatch<f32> = task.batch(2, 3, &mut seeded_rng(0)).unwrap();
    nan.inputs[[0, 1, 2]] = f32::NAN;
    let e = t.train_batch(&nan).unwrap_err();
    assert!(e.to_string().contains("non-finite"), "{e}");
    let mut short = task.batch::<f32>(2, 3, &mut seeded_rng(0)).unwrap();
    short.mask = ndarray::Array2::zeros((4, 3));
    let e = t.evaluate(&short).unwrap_err();
    assert!(e.to_string().contains("mask"), "{e}");
    // Curriculum settings.
    for (config, needle) in [
        (
            CurriculumConfig {
                start_length: 0,
                ..CurriculumConfig::new(task)
            },
            "start length",
        ),
        (
            CurriculumConfig {
                threshold_bits: f64::NAN,
                ..CurriculumConfig::new(task)
            },
            "threshold",
        ),
        (
            CurriculumConfig {
                batch_size: 0,
                ..CurriculumConfig::new(task)
            },
            "batch size",
        ),
        (CurriculumConfig::new(CopyTask::copy(0)), "bits per vector"),
    ] {
        let e = run_curriculum(&mut t, &config, |_| {}).unwrap_err();
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
}
