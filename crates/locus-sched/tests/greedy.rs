//! Greedy layer-wise training: each stage learns alone on the frozen stages below it, then
//! a supervised top, then optionally end-to-end fine-tuning; and the tied-weight
//! reconstruction objective through `Stage::learn`.

use std::sync::{Arc, Mutex};

use locus_core::{
    seeded_rng, Activation, LinearConfig, Loss, OptimizerConfig, Result, Sequential, SgdConfig,
    Tensor,
};
use locus_data::mnist1d::{generate, Mnist1dConfig};
use locus_data::{Dataset, Split};
use locus_models::MlpConfig;
use locus_objectives::{
    Corruption, Decoder, LocalObjective, LocalSignal, Mode, ReconstructionConfig, StageContext,
    SupervisedLoss, UpstreamGradient,
};
use locus_sched::{
    EpochPlan, FeatureSource, Greedy, GreedyConfig, GreedyEpoch, NoObserver, Phase, Scheduler,
    Signals, Stage,
};
use locus_train::{evaluate, probe_stages};

fn data() -> Split {
    generate(&Mnist1dConfig {
        num_samples: 500,
        ..Mnist1dConfig::default()
    })
    .unwrap()
}

fn sgd(lr: f64) -> OptimizerConfig {
    OptimizerConfig::Sgd(SgdConfig::new(lr).with_momentum(0.9))
}

/// A 40-32-16-10 ReLU stack: two reconstruction stages (tied decoders) under a supervised
/// top.
fn stack(seed: u64) -> Vec<Stage<f64>> {
    MlpConfig::new(vec![40, 32, 16, 10])
        .with_activation(Activation::Relu)
        .build::<f64>(seed, &sgd(0.01), |i, n| -> Box<dyn LocalObjective<f64>> {
            if i + 1 == n {
                Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
            } else {
                Box::new(
                    ReconstructionConfig::new(Decoder::Tied)
                        .with_seed(i as u64)
                        .build::<f64>()
                        .unwrap(),
                )
            }
        })
        .unwrap()
}

fn config() -> GreedyConfig {
    GreedyConfig {
        top_epochs: 4,
        batch_size: 32,
        top_optimizer: sgd(0.05),
        ..GreedyConfig::new(3, sgd(0.002))
    }
}

fn weights(stage: &Stage<f64>) -> Vec<Tensor<f64>> {
    stage
        .module()
        .params()
        .into_iter()
        .map(|p| p.value.clone())
        .collect()
}

/// Every stage's parameters at one moment.
type Snapshot = Vec<Vec<Tensor<f64>>>;

/// Every epoch of a greedy run on `stages`, as a scheduler: the plan's epoch picks the
/// phase. Stops at the first error.
fn train_all(
    greedy: &mut Greedy,
    stages: &mut [Stage<f64>],
    train: &dyn locus_data::Dataset,
    mut after: impl FnMut(&[Stage<f64>]),
) -> locus_sched::Result<()> {
    for epoch in 0..greedy.epochs(stages.len()) {
        let plan = EpochPlan {
            batch_size: 1,
            seed: 99,
            epoch,
        };
        greedy.train_epoch(stages, train, plan, &mut NoObserver)?;
        after(stages);
    }
    Ok(())
}

/// Runs greedy training, recording every stage's weights after every epoch.
fn run(
    stages: &mut [Stage<f64>],
    config: GreedyConfig,
    split: &Split,
) -> (Vec<GreedyEpoch>, Vec<Snapshot>) {
    let mut snapshots = Vec::new();
    let mut greedy = Greedy::new(config).unwrap();
    train_all(&mut greedy, stages, &split.train, |s| {
        snapshots.push(s.iter().map(weights).collect());
    })
    .unwrap();
    (greedy.log().to_vec(), snapshots)
}

#[test]
fn each_stage_trains_alone_then_stays_frozen() {
    let split = data();
    let mut stages = stack(0);
    let initial: Vec<_> = stages.iter().map(weights).collect();
    let (log, snapshots) = run(&mut stages, config(), &split);
    let phases: Vec<Phase> = log.iter().map(|e| e.phase).collect();
    let p = |index| Phase::Pretrain { index };
    assert_eq!(
        phases,
        [
            p(0),
            p(0),
            p(0),
            p(1),
            p(1),
            p(1),
            Phase::Top,
            Phase::Top,
            Phase::Top,
            Phase::Top
        ]
    );
    // While stage 1 trains, stages 2 and 3 are untouched; afterwards stage 1 never moves.
    for (e, snapshot) in log.iter().zip(&snapshots) {
        for (k, stage) in snapshot.iter().enumerate() {
            let trained_so_far = match e.phase {
                Phase::Pretrain { index } => k <= index,
                Phase::Top => true,
                Phase::FineTune => unreachable!("no fine-tuning configured"),
            };
            if !trained_so_far {
                assert_eq!(stage, &initial[k], "stage {k} moved during {:?}", e.phase);
            }
        }
    }
    let after_stage1 = &snapshots[2][0];
    assert_ne!(after_stage1, &initial[0], "stage 1 never learned");
    assert_eq!(
        &snapshots[9][0], after_stage1,
        "stage 1 moved after its phase"
    );
    assert_eq!(
        &snapshots[9][1], &snapshots[5][1],
        "stage 2 moved after its phase"
    );
}

#[test]
fn reconstruction_loss_falls_and_the_top_learns() {
    let split = data();
    let mut stages = stack(1);
    let (log, _) = run(&mut stages, config(), &split);
    for index in 0..2 {
        let losses: Vec<f64> = log
            .iter()
            .filter(|e| e.phase == Phase::Pretrain { index })
            .map(|e| e.loss)
            .collect();
        assert!(
            losses[2] < 0.8 * losses[0],
            "stage {index} reconstruction losses {losses:?}"
        );
    }
    let accuracy = evaluate(&mut stages, &split.test, 100).unwrap().accuracy;
    assert!(accuracy > 0.2, "test accuracy {accuracy} (chance 0.1)");
    // The objectives still report their last reconstruction loss.
    let metrics = stages[0].objective().metrics();
    assert_eq!(metrics[0].0, "reconstruction_loss");
}

#[test]
fn the_same_seed_gives_the_same_run_and_cache_equals_stream() {
    let split = data();
    let (mut a, mut b, mut c) = (stack(2), stack(2), stack(2));
    let (log_a, _) = run(&mut a, config(), &split);
    let (log_b, _) = run(&mut b, config(), &split);
    assert_eq!(
        log_a.iter().map(|e| e.loss).collect::<Vec<_>>(),
        log_b.iter().map(|e| e.loss).collect::<Vec<_>>()
    );
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(weights(x), weights(y));
    }
    let stream = GreedyConfig {
        features: FeatureSource::Stream,
        ..config()
    };
    run(&mut c, stream, &split);
    for (x, y) in a.iter().zip(&c) {
        for (p, q) in weights(x).iter().zip(weights(y)) {
            let diff = (p - &q).iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(diff < 1e-9, "cached and streamed features differ by {diff}");
        }
    }
}

#[test]
fn fine_tuning_moves_every_stage_and_restores_the_objectives() {
    let split = data();
    let mut stages = stack(3);
    let config = GreedyConfig {
        finetune_epochs: 2,
        finetune_optimizer: sgd(0.02),
        ..config()
    };
    let (log, snapshots) = run(&mut stages, config, &split);
    assert_eq!(log.iter().filter(|e| e.phase == Phase::FineTune).count(), 2);
    let before = &snapshots[snapshots.len() - 3];
    let after = &snapshots[snapshots.len() - 1];
    for k in 0..3 {
        assert_ne!(before[k], after[k], "stage {k} did not fine-tune");
    }
    for stage in &stages[..2] {
        assert!(stage.objective().name().starts_with("reconstruction"));
    }
    let probes = probe_stages(&stages, &split.train, &split.test, &Default::default()).unwrap();
    assert_eq!(probes.len(), 3);
    assert!(probes.iter().all(|p| (0.0..=1.0).contains(p)));
}

#[test]
fn pretraining_uses_a_seeded_fraction_of_the_rows() {
    let fraction = |f: f64, seed: u64| {
        Greedy::new(GreedyConfig {
            pretrain_fraction: f,
            seed,
            ..config()
        })
        .unwrap()
        .pretrain_rows(1000)
    };
    let rows = fraction(0.05, 0);
    assert_eq!(rows.len(), 50);
    assert!(rows.windows(2).all(|w| w[0] < w[1]) && rows[49] < 1000);
    assert_eq!(rows, fraction(0.05, 0));
    assert_ne!(rows, fraction(0.05, 1));
    assert_eq!(fraction(0.0001, 0).len(), 1);
    assert_eq!(fraction(1.0, 0), (0..1000).collect::<Vec<_>>());
    // The epochs of the pretraining phases see only those rows.
    let split = data();
    let mut stages = stack(4);
    let config = GreedyConfig {
        pretrain_fraction: 0.1,
        ..config()
    };
    let (log, _) = run(&mut stages, config, &split);
    let n = split.train.len();
    assert_eq!(log[0].samples, (n as f64 * 0.1).round() as usize);
    assert_eq!(log.last().unwrap().samples, n);
}

/// Records the inputs its stage is asked to learn from, and learns nothing.
struct Recorder(Arc<Mutex<Vec<Tensor<f64>>>>);

impl LocalObjective<f64> for Recorder {
    fn name(&self) -> String {
        "recorder".into()
    }
    fn signal(&mut self, ctx: &StageContext<'_, f64>, mode: Mode) -> Result<LocalSignal<f64>> {
        if mode == Mode::Learn {
            self.0.lock().unwrap().push(ctx.input.clone());
        }
        Ok(LocalSignal {
            loss: 0.0,
            grad_output: ctx.output.mapv(|_| 0.0),
        })
    }
}

#[test]
fn denoising_corrupts_what_the_module_sees_not_what_the_objective_reconstructs() {
    let split = data();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut stages = MlpConfig::new(vec![40, 8, 10])
        .build::<f64>(0, &sgd(0.01), |i, _| -> Box<dyn LocalObjective<f64>> {
            if i == 0 {
                Box::new(Recorder(seen.clone()))
            } else {
                Box::new(SupervisedLoss::default())
            }
        })
        .unwrap();
    let config = GreedyConfig {
        stage_epochs: 1,
        top_epochs: 1,
        corruption: Corruption::Masking(0.5),
        ..config()
    };
    run(&mut stages, config, &split);
    // Every row the objective saw is a clean training row (half the values of a masked
    // row would be zero, and MNIST-1D rows have no zeros).
    let rows = seen.lock().unwrap();
    assert!(!rows.is_empty());
    for batch in rows.iter() {
        assert!(
            batch.iter().all(|&v| v != 0.0),
            "the objective saw a corrupted input"
        );
    }
}

#[test]
fn zero_stage_epochs_leave_the_stages_untrained() {
    let split = data();
    let mut stages = stack(5);
    let initial: Vec<_> = stages.iter().map(weights).collect();
    let config = GreedyConfig {
        stage_epochs: 0,
        ..config()
    };
    let (log, _) = run(&mut stages, config, &split);
    assert!(log.iter().all(|e| e.phase == Phase::Top));
    assert_eq!(weights(&stages[0]), initial[0]);
    assert_eq!(weights(&stages[1]), initial[1]);
    assert_ne!(weights(&stages[2]), initial[2]);
}

#[test]
fn any_local_objective_can_be_trained_greedily() {
    // A hidden stage with a local classifier (a supervised loss on its own 10 outputs).
    let split = data();
    let mut stages = MlpConfig::new(vec![40, 10, 10])
        .build::<f64>(0, &sgd(0.05), |_, _| -> Box<dyn LocalObjective<f64>> {
            Box::new(SupervisedLoss::default())
        })
        .unwrap();
    let (log, _) = run(&mut stages, config(), &split);
    assert!(log[2].loss < log[0].loss, "{log:?}");
}

#[test]
fn unusable_stacks_and_settings_are_refused_by_name() {
    let split = data();
    let mut greedy = Greedy::new(config()).unwrap();
    let mut one = stack(0);
    let mut only_top = one.split_off(2);
    let e = train_all(&mut greedy, &mut only_top, &split.train, |_| {}).unwrap_err();
    assert!(e.to_string().contains("at least one stage below"), "{e}");
    let mut bp = MlpConfig::new(vec![40, 8, 10])
        .build::<f64>(0, &sgd(0.01), |i, n| -> Box<dyn LocalObjective<f64>> {
            if i + 1 == n {
                Box::new(SupervisedLoss::default())
            } else {
                Box::new(UpstreamGradient)
            }
        })
        .unwrap();
    let e = train_all(&mut greedy, &mut bp, &split.train, |_| {}).unwrap_err();
    assert!(
        e.to_string().contains("stage1") && e.to_string().contains("message"),
        "{e}"
    );
    for (bad, name) in [
        (
            GreedyConfig {
                pretrain_fraction: 0.0,
                ..config()
            },
            "fraction",
        ),
        (
            GreedyConfig {
                pretrain_fraction: 1.5,
                ..config()
            },
            "fraction",
        ),
        (
            GreedyConfig {
                top_epochs: 0,
                ..config()
            },
            "top epochs",
        ),
        (
            GreedyConfig {
                batch_size: 0,
                ..config()
            },
            "batch size",
        ),
        (
            GreedyConfig {
                corruption: Corruption::Masking(2.0),
                ..config()
            },
            "masking",
        ),
    ] {
        let e = Greedy::new(bad).unwrap_err();
        assert!(e.to_string().contains(name), "{e}");
    }
    // An epoch past the end of the run is refused by name.
    let mut greedy = Greedy::new(config()).unwrap();
    let mut stages = stack(0);
    let past = greedy.epochs(stages.len());
    let plan = EpochPlan {
        batch_size: 1,
        seed: 0,
        epoch: past,
    };
    let e = greedy
        .train_epoch(&mut stages, &split.train, plan, &mut NoObserver)
        .unwrap_err();
    assert!(e.to_string().contains("past the end"), "{e}");
}

/// The phases map onto the run's epochs: each stage below the top for its budget, the
/// top, then fine-tuning; fine-tuning lends the lower stages' objectives to backprop and
/// gives them back after its last epoch.
#[test]
fn the_plan_epoch_picks_the_phase() {
    let split = data();
    let config = GreedyConfig {
        stage_epochs: 2,
        top_epochs: 1,
        finetune_epochs: 2,
        ..config()
    };
    let greedy = Greedy::new(config).unwrap();
    let mut stages = stack(0);
    let n = stages.len();
    assert_eq!(greedy.epochs(n), 2 * (n as u64 - 1) + 1 + 2);
    let phases: Vec<(Phase, u64)> = (0..greedy.epochs(n))
        .map(|e| {
            let (p, within, _) = greedy.phase_of(n, e).unwrap();
            (p, within)
        })
        .collect();
    assert_eq!(phases[0], (Phase::Pretrain { index: 0 }, 0));
    assert_eq!(phases[3], (Phase::Pretrain { index: 1 }, 1));
    assert_eq!(phases[2 * (n - 1)], (Phase::Top, 0));
    assert_eq!(*phases.last().unwrap(), (Phase::FineTune, 1));
    let own: Vec<String> = stages.iter().map(|s| s.objective().name()).collect();
    let mut greedy = greedy;
    let mut during = Vec::new();
    train_all(&mut greedy, &mut stages, &split.train, |s| {
        during.push(s[0].objective().name());
    })
    .unwrap();
    assert_eq!(during[during.len() - 2], "upstream-gradient");
    let after: Vec<String> = stages.iter().map(|s| s.objective().name()).collect();
    assert_eq!(after, own);
}

/// `½/B Σ‖x − act(xW + b)Wᵀ − c‖²` for a tied autoencoder with c = 0.
fn tied_loss(w: &Tensor<f64>, b: &Tensor<f64>, x: &Tensor<f64>) -> f64 {
    let w2 = w.view().into_dimensionality::<ndarray::Ix2>().unwrap();
    let x2 = x.view().into_dimensionality::<ndarray::Ix2>().unwrap();
    let b1 = b.view().into_dimensionality::<ndarray::Ix1>().unwrap();
    let h = (x2.dot(&w2) + b1).mapv(f64::tanh);
    let r = h.dot(&w2.t()) - x2;
    r.iter().map(|v| v * v).sum::<f64>() * 0.5 / x2.nrows() as f64
}

#[test]
fn a_tied_stage_follows_the_exact_gradient_of_its_autoencoder() {
    // Plain SGD at rate 1 makes the update minus the gradient the stage applied, which must
    // be the full gradient of the tied loss: through the encoder and through the decoder.
    let module = Sequential::new()
        .push(
            LinearConfig::new(5, 3)
                .init::<f64>(&mut seeded_rng(7))
                .unwrap(),
        )
        .push(Activation::Tanh);
    let objective = ReconstructionConfig::new(Decoder::Tied)
        .build::<f64>()
        .unwrap();
    let mut stage = Stage::new(
        "tied",
        Box::new(module),
        Box::new(objective),
        OptimizerConfig::Sgd(SgdConfig::new(1.0)).build().unwrap(),
    );
    let x = Tensor::from_shape_fn(vec![4, 5], |i| ((i[0] * 5 + i[1]) as f64 * 0.37).sin());
    let before = weights(&stage);
    let (y, cache) = stage.forward(&x).unwrap();
    stage
        .learn(&x, &y, &cache, Signals::default(), false)
        .unwrap();
    let after = weights(&stage);
    let applied = &before[0] - &after[0];
    let eps = 1e-6;
    for (i, j) in [(0, 0), (1, 2), (4, 1), (3, 0)] {
        let mut plus = before[0].clone();
        plus[[i, j]] += eps;
        let mut minus = before[0].clone();
        minus[[i, j]] -= eps;
        let numeric =
            (tied_loss(&plus, &before[1], &x) - tied_loss(&minus, &before[1], &x)) / (2.0 * eps);
        assert!(
            (applied[[i, j]] - numeric).abs() < 1e-6,
            "W[{i},{j}]: applied {} vs numeric {numeric}",
            applied[[i, j]]
        );
    }
    // Mode::Evaluate leaves no decoder-side gradient behind for the next step.
    let mut objective = ReconstructionConfig::new(Decoder::Tied)
        .build::<f64>()
        .unwrap();
    objective.attach_module(stage.module()).unwrap();
    objective
        .signal(&StageContext::new(&x, &y), Mode::Evaluate)
        .unwrap();
    assert!(objective.take_module_gradients().is_none());
    objective
        .signal(&StageContext::new(&x, &y), Mode::Learn)
        .unwrap();
    assert!(objective.take_module_gradients().is_some());
}
