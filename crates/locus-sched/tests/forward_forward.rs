//! Forward-Forward end to end: supervised FF learns to tell true labels from wrong ones
//! (and so to classify) on a slice of MNIST and on generated MNIST-1D, unsupervised FF
//! learns to separate images from hybrids, and a seed reproduces a run.

use locus_core::{OptimizerConfig, SgdConfig};
use locus_data::forward_forward::{LabelEmbedding, LabelPlacement, MaskConfig, NegativeData};
use locus_data::mnist1d::{generate, Mnist1dConfig};
use locus_data::{idx, Dataset, InMemoryDataset, Split};
use locus_models::ForwardForwardMlp;
use locus_objectives::{ForwardForwardConfig, Goodness, LocalObjective};
use locus_sched::{EpochPlan, ForwardForwardTrainer, NoObserver, ReadoutConfig, Scheduler, Stage};
use locus_testing::shared_data::shared_data_dir;
use locus_train::{evaluate_forward_forward, ForwardForwardEvaluation};

/// The first `train` and `test` samples of MNIST, when the data is there.
fn mnist_slice(train: usize, test: usize) -> Option<Split> {
    let dir = shared_data_dir("mnist")?;
    let split = idx::load_idx_dir(&dir).unwrap();
    Some(Split {
        train: split.train.subset(&(0..train).collect::<Vec<_>>()).unwrap(),
        test: split.test.subset(&(0..test).collect::<Vec<_>>()).unwrap(),
    })
}

fn sgd(lr: f64) -> OptimizerConfig {
    OptimizerConfig::Sgd(SgdConfig::new(lr).with_momentum(0.9))
}

fn stages(sizes: Vec<usize>, lr: f64, seed: u64) -> Vec<Stage<f32>> {
    ForwardForwardMlp::new(sizes)
        .build(seed, &sgd(lr), |_, _| -> Box<dyn LocalObjective<f32>> {
            Box::new(ForwardForwardConfig::default().build().unwrap())
        })
        .unwrap()
}

/// Trains for `epochs` and evaluates after each; returns the evaluations.
fn train(
    stages: &mut [Stage<f32>],
    trainer: &mut ForwardForwardTrainer<f32>,
    data: &Split,
    epochs: u64,
    batch_size: usize,
) -> Vec<ForwardForwardEvaluation> {
    (0..epochs)
        .map(|epoch| {
            let plan = EpochPlan {
                batch_size,
                seed: 1,
                epoch,
            };
            trainer
                .train_epoch(stages, &data.train, plan, &mut NoObserver)
                .unwrap();
            evaluate_forward_forward(stages, trainer, &data.test, Goodness::SumOfSquares, 500)
                .unwrap()
        })
        .collect()
}

fn supervised(placement: LabelPlacement, classes: usize) -> ForwardForwardTrainer<f32> {
    let embedding = LabelEmbedding::new(placement, classes).unwrap();
    ForwardForwardTrainer::new(NegativeData::WrongLabel(embedding))
        .with_readout(ReadoutConfig::new(0).with_optimizer(sgd(0.01)))
}

#[test]
fn supervised_ff_classifies_a_slice_of_mnist() {
    let Some(data) = mnist_slice(3000, 1000) else {
        return;
    };
    // At rate 0.003 this run ends anywhere between 0.45 and 0.75 over seeds 0-5, and a
    // change of rounding (the bias added before the product rather than after) moved
    // seed 0 from 0.64 to 0.53; at 0.001 seeds 0-4 end between 0.59 and 0.67.
    let mut stages = stages(vec![784, 256, 256], 0.001, 0);
    let mut trainer = supervised(LabelPlacement::FirstPixels, 10);
    let evaluations = train(&mut stages, &mut trainer, &data, 4, 50);
    let (first, last) = (&evaluations[0], evaluations.last().unwrap());
    eprintln!("supervised FF on 3000 MNIST images: {last:?}");
    // Chance is 0.1.
    let goodness = last.goodness_accuracy.unwrap();
    assert!(goodness > 0.5, "goodness accuracy {goodness}");
    assert!(last.readout_accuracy.unwrap() > 0.5, "{last:?}");
    for s in 0..2 {
        let a = last.stage_accuracy(s).unwrap();
        assert!(a > 0.4, "stage {s}: {a}");
    }
    assert!(last.loss < first.loss, "{} → {}", first.loss, last.loss);
    // Both stages learned to separate positive from negative data.
    for stage in &stages {
        let m: std::collections::BTreeMap<_, _> = stage.objective().metrics().into_iter().collect();
        assert!(m["goodness_positive"] > m["goodness_negative"], "{m:?}");
    }
}

#[test]
fn supervised_ff_beats_chance_on_generated_mnist1d() {
    // MNIST-1D's every value matters, so the label goes in front of the signal.
    let data = generate(&Mnist1dConfig::default()).unwrap();
    let mut stages = stages(vec![50, 256, 256], 0.003, 0);
    let mut trainer = supervised(LabelPlacement::Prepend, 10);
    let evaluations = train(&mut stages, &mut trainer, &data, 20, 50);
    let best = evaluations
        .iter()
        .map(|e| e.goodness_accuracy.unwrap())
        .fold(0.0, f64::max);
    eprintln!("supervised FF on MNIST-1D: best goodness accuracy {best}");
    // Chance is 0.1; backprop's MLP reaches about 0.7 on this set.
    assert!(best > 0.2, "best goodness accuracy {best}");
}

#[test]
fn unsupervised_ff_separates_images_from_hybrids() {
    let Some(data) = mnist_slice(2000, 500) else {
        return;
    };
    let mut stages = stages(vec![784, 256, 256], 0.003, 0);
    let mut trainer = ForwardForwardTrainer::new(NegativeData::Hybrid(MaskConfig::default()))
        .with_readout(ReadoutConfig::new(0).with_optimizer(sgd(0.01)));
    let before = evaluate_forward_forward(
        &mut stages,
        &trainer,
        &data.test,
        Goodness::SumOfSquares,
        500,
    );
    assert!(before.is_err(), "the read-out has not been trained yet");
    // On this slice the test-set FF loss against fresh hybrids wanders from epoch to
    // epoch (it rose over 3 epochs for seed 0), so learning is judged by the read-out
    // and the separation. Seeds 0-3, 5 epochs: read-out accuracy rose from 0.50-0.59
    // after the first epoch to 0.65-0.72, and every stage separated images from hybrids
    // on 62-75% of its last batch.
    let evaluations = train(&mut stages, &mut trainer, &data, 5, 50);
    let (first, last) = (&evaluations[0], evaluations.last().unwrap());
    eprintln!("unsupervised FF on 2000 MNIST images: {last:?}");
    assert!(last.goodness_accuracy.is_none());
    assert!(last.stage_goodness_accuracy.is_empty());
    assert_eq!(last.accuracy, last.readout_accuracy.unwrap());
    assert!(last.accuracy > 0.5, "read-out accuracy {}", last.accuracy);
    assert!(
        last.accuracy > first.accuracy,
        "{} → {}",
        first.accuracy,
        last.accuracy
    );
    assert!(last.loss.is_finite(), "{last:?}");
    for stage in &stages {
        let m: std::collections::BTreeMap<_, _> = stage.objective().metrics().into_iter().collect();
        eprintln!("{}: {m:?}", stage.name());
        assert!(m["separation_accuracy"] > 0.55, "{m:?}");
    }
    // Without a read-out nothing can name a class.
    let bare = ForwardForwardTrainer::<f32>::new(NegativeData::Hybrid(MaskConfig::default()));
    let e = evaluate_forward_forward(&mut stages, &bare, &data.test, Goodness::SumOfSquares, 500)
        .unwrap_err();
    assert!(e.to_string().contains("read-out"), "{e}");
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let data = generate(&Mnist1dConfig {
        num_samples: 400,
        ..Mnist1dConfig::default()
    })
    .unwrap();
    let run = || {
        let mut stages = stages(vec![50, 32, 32], 0.003, 5);
        let mut trainer = supervised(LabelPlacement::Prepend, 10);
        let e = train(&mut stages, &mut trainer, &data, 2, 32);
        let weights: Vec<f32> = stages
            .iter()
            .flat_map(|s| {
                s.module()
                    .params()
                    .into_iter()
                    .flat_map(|p| p.value.iter().copied().collect::<Vec<_>>())
            })
            .collect();
        (e.last().unwrap().clone(), weights)
    };
    let (a, b) = (run(), run());
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
}

#[test]
fn bad_data_is_refused_with_a_clear_error() {
    // Labels beyond the embedding's classes.
    let data = InMemoryDataset::new(
        "three classes",
        vec![0.5; 3 * 12],
        vec![12],
        vec![0, 1, 2],
        3,
    )
    .unwrap();
    let mut stages = stages(vec![12, 4], 0.01, 0);
    let mut trainer = supervised(LabelPlacement::FirstPixels, 2);
    let plan = EpochPlan {
        batch_size: 3,
        seed: 0,
        epoch: 0,
    };
    let e = trainer
        .train_epoch(&mut stages, &data, plan, &mut NoObserver)
        .unwrap_err();
    assert!(e.to_string().contains("label 2"), "{e}");
    // Samples of the wrong width for the network.
    let wide = InMemoryDataset::new("wide", vec![0.5; 2 * 20], vec![20], vec![0, 1], 2).unwrap();
    let mut trainer = supervised(LabelPlacement::FirstPixels, 2);
    let e = trainer
        .train_epoch(&mut stages, &wide, plan, &mut NoObserver)
        .unwrap_err();
    assert!(e.to_string().contains("stage1"), "{e}");
    assert_eq!(wide.num_classes(), 2);
}

/// Counts what a scheduler tells its observer.
#[derive(Default)]
struct Heard {
    steps: usize,
    stage_steps: Vec<(usize, u64)>,
    epoch_ends: Vec<usize>,
}

impl locus_sched::Observer for Heard {
    fn on_step(&mut self, _: &locus_sched::StepInfo) {
        self.steps += 1;
    }
    fn on_stage_step(&mut self, info: &locus_sched::StageStep) {
        assert!(info.loss.is_finite());
        self.stage_steps.push((info.stage, info.batch));
    }
    fn on_epoch_end(&mut self, info: &locus_sched::EpochEnd<'_>) {
        let mut params = 0;
        info.params.visit_params(&mut |_| params += 1);
        self.epoch_ends.push(params);
        assert!(
            info.stages.iter().all(|s| s.updates == 4),
            "{:?}",
            info.stages
        );
    }
}

/// Observers (progress, statistics, checkpoints) hear of every stage's step and of the
/// epoch's end under the Forward-Forward trainer, as under Lockstep.
#[test]
fn the_forward_forward_trainer_tells_observers_every_step_and_epoch() {
    let data = generate(&Mnist1dConfig {
        num_samples: 50,
        train_split: 0.8,
        ..Mnist1dConfig::default()
    })
    .unwrap();
    let mut stages = stages(vec![50, 16, 16], 0.003, 0);
    let mut trainer = supervised(LabelPlacement::Prepend, 10);
    let mut heard = Heard::default();
    let plan = EpochPlan {
        batch_size: 10,
        seed: 1,
        epoch: 0,
    };
    trainer
        .train_epoch(&mut stages, &data.train, plan, &mut heard)
        .unwrap();
    assert_eq!(heard.steps, 4);
    let expected: Vec<(usize, u64)> = (0..4).flat_map(|b| [(0, b), (1, b)]).collect();
    let mut got = heard.stage_steps.clone();
    got.sort_by_key(|&(stage, batch)| (batch, stage));
    assert_eq!(got, expected);
    assert_eq!(
        heard.epoch_ends,
        [4],
        "one epoch end, two weights and two biases"
    );
}

/// Every parameter of the stages, in order.
fn weights(stages: &[Stage<f32>]) -> Vec<f32> {
    stages
        .iter()
        .flat_map(|s| s.module().params())
        .flat_map(|p| p.value.iter().copied().collect::<Vec<_>>())
        .collect()
}

/// Forward-Forward stages need nothing from above, so they run under the asynchronous
/// schedulers. Each stage learns right after its own forward pass, and the stage above
/// gets the output of that pass, so whatever the batches in flight the updates are
/// lockstep's: pipelined and simulated end bit for bit where lockstep does. The read-out
/// learns in its own pass after each epoch.
#[test]
fn ff_stages_run_under_the_asynchronous_schedulers() {
    use locus_sched::{AsyncConfig, Pipelined, Simulated, SimulatedConfig};
    let data = generate(&Mnist1dConfig {
        num_samples: 600,
        ..Mnist1dConfig::default()
    })
    .unwrap();
    let run = |trainer: ForwardForwardTrainer<f32>| {
        let mut trainer = trainer;
        let mut stages = stages(vec![50, 64, 64, 64], 0.01, 4);
        let evaluations = train(&mut stages, &mut trainer, &data, 2, 32);
        (weights(&stages), evaluations, trainer.name())
    };
    let (lockstep, _, name) = run(supervised(LabelPlacement::Prepend, 10));
    assert!(name.ends_with("lockstep)"), "{name}");
    for flow in [
        AsyncConfig::default().with_in_flight(1),
        AsyncConfig::default(),
    ] {
        let pipelined = Pipelined::new(flow.clone()).unwrap();
        let (weights, evaluations, name) =
            run(supervised(LabelPlacement::Prepend, 10).with_pipelined(pipelined));
        assert!(
            weights == lockstep,
            "pipelined with {flow:?} differs from lockstep"
        );
        assert!(name.ends_with("pipelined)"), "{name}");
        // The read-out, trained after each epoch here, learned something (chance: 0.1).
        let last = &evaluations[1];
        assert!(last.readout_accuracy.unwrap() > 0.15, "{last:?}");
        let simulated = Simulated::new(SimulatedConfig {
            flow: flow.clone(),
            ..SimulatedConfig::default()
        })
        .unwrap();
        let (weights, _, name) =
            run(supervised(LabelPlacement::Prepend, 10).with_simulated(simulated));
        assert!(
            weights == lockstep,
            "simulated with {flow:?} differs from lockstep"
        );
        assert!(name.ends_with("simulated)"), "{name}");
    }
}
