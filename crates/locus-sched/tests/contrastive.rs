//! The contrastive building blocks: training one stage at a time on cached or recomputed
//! inputs (locus-sched), and the pooled probes that judge it (locus-train), on a small
//! locus-models sequence encoder.

use locus_core::{AdamConfig, OptimizerConfig};
use locus_data::mnist1d::{generate, Mnist1dConfig};
use locus_data::{gather, Dataset, InMemoryDataset};
use locus_eval::{FeaturePooling, ProbeConfig};
use locus_models::{Conv1dStage, SequenceEncoderConfig};
use locus_objectives::{InfoNceConfig, LocalObjective};
use locus_sched::{
    cache_stage_inputs, predict, train_epoch_on_frozen, EpochPlan, Lockstep, NoObserver, Scheduler,
    Stage,
};
use locus_train::{pooled_stage_features, probe_stages_pooled, stage_features};

fn adam() -> OptimizerConfig {
    OptimizerConfig::Adam(AdamConfig::new(1e-3))
}

fn infonce(i: usize, _: usize) -> Box<dyn LocalObjective<f32>> {
    Box::new(
        InfoNceConfig::new(i as u64)
            .with_prediction_steps(2)
            .build()
            .unwrap(),
    )
}

fn small_encoder() -> SequenceEncoderConfig {
    let stage = |stride| Conv1dStage {
        channels: 6,
        kernel: 5,
        stride,
        padding: 2,
    };
    SequenceEncoderConfig::new((1, 40), vec![stage(1), stage(2)])
}

fn data() -> locus_data::Split {
    generate(&Mnist1dConfig {
        num_samples: 200,
        ..Mnist1dConfig::default()
    })
    .unwrap()
}

#[test]
fn pooled_features_are_the_pooled_stage_features() {
    let split = data();
    let stages = small_encoder().build::<f32>(1, &adam(), infonce).unwrap();
    let (full, labels) = stage_features(&stages, &split.test, 7).unwrap();
    for pooling in [
        FeaturePooling::Mean,
        FeaturePooling::Grid(4),
        FeaturePooling::Flatten,
    ] {
        let (pooled, pooled_labels) =
            pooled_stage_features(&stages, &split.test, 7, pooling).unwrap();
        assert_eq!(pooled_labels, labels);
        for (p, f) in pooled.iter().zip(&full) {
            let expected = pooling.pool(f).unwrap();
            assert_eq!(p.shape(), expected.shape());
            for (a, b) in p.iter().zip(&expected) {
                assert!((a - b).abs() < 1e-5);
            }
        }
    }
    let accuracy = probe_stages_pooled(
        &stages,
        &split.train,
        &split.test,
        &ProbeConfig::new(0).with_epochs(3),
        FeaturePooling::Mean,
    )
    .unwrap();
    assert_eq!(accuracy.len(), 2);
    assert!(accuracy.iter().all(|a| (0.0..=1.0).contains(a)));
    assert!(pooled_stage_features::<f32>(&[], &split.test, 5, FeaturePooling::Mean).is_err());
}

#[test]
fn cached_inputs_are_the_frozen_outputs_with_the_labels() {
    let split = data();
    let stages = small_encoder().build::<f32>(2, &adam(), infonce).unwrap();
    let cached: InMemoryDataset = cache_stage_inputs(&stages[..1], &split.train, 33).unwrap();
    assert_eq!(cached.len(), split.train.len());
    assert_eq!(cached.sample_shape(), [6, 40]);
    assert_eq!(cached.labels_all(), split.train.labels_all());
    let indices = [0, 5, 17];
    let x = gather::<f32>(&split.train, &indices).unwrap();
    let direct = predict(&stages[..1], &x.inputs).unwrap();
    let from_cache = gather::<f32>(&cached, &indices).unwrap();
    assert_eq!(from_cache.inputs, direct);
    assert!(cache_stage_inputs::<f32>(&[], &split.train, 10).is_err());
    assert!(cache_stage_inputs(&stages[..1], &split.train, 0).is_err());
}

#[test]
fn cached_and_recomputed_inputs_train_the_stage_alike() {
    // Stage 2 trained on cached inputs or on inputs recomputed batch by batch sees the same
    // batches in the same order: the same weights come out (up to the f32 round trip of
    // the cache, which is exact for f32).
    let split = data();
    let build = || small_encoder().build::<f32>(3, &adam(), infonce).unwrap();
    let plan = EpochPlan {
        batch_size: 16,
        seed: 5,
        epoch: 0,
    };
    let mut cached_run: Vec<Stage<f32>> = build();
    let cached = cache_stage_inputs(&cached_run[..1], &split.train, 50).unwrap();
    let a = Lockstep
        .train_epoch(&mut cached_run[1..], &cached, plan, &mut NoObserver)
        .unwrap();
    let mut recomputed: Vec<Stage<f32>> = build();
    let (frozen, trained) = recomputed.split_at_mut(1);
    let b = train_epoch_on_frozen(frozen, trained, &split.train, plan, &mut NoObserver).unwrap();
    assert_eq!(a.loss, b.loss);
    assert_eq!(a.samples, b.samples);
    let x = gather::<f32>(&split.test, &[0, 1]).unwrap().inputs;
    assert_eq!(
        predict(&cached_run, &x).unwrap(),
        predict(&recomputed, &x).unwrap()
    );
    // Stage 1 never moved.
    assert_eq!(cached_run[0].steps(), 0);
    assert!(cached_run[1].steps() > 0);
}
