//! Frozen features of every stage and the linear probes on them.

use locus_core::{OptimizerConfig, SgdConfig};
use locus_data::mnist1d::{generate, Mnist1dConfig};
use locus_data::{Dataset, Split};
use locus_eval::ProbeConfig;
use locus_models::MlpConfig;
use locus_sched::{EpochPlan, Lockstep, NoObserver, Scheduler};
use locus_train::{probe_stages, stage_features};

fn small_split() -> Split {
    generate(&Mnist1dConfig {
        num_samples: 600,
        ..Mnist1dConfig::default()
    })
    .unwrap()
}

#[test]
fn features_have_one_row_per_sample_for_every_stage() {
    let split = small_split();
    let stages = MlpConfig::new(vec![40, 16, 8, 10])
        .build::<f32>(0, &OptimizerConfig::Sgd(SgdConfig::new(0.1)), |_, _| {
            Box::new(locus_objectives::UpstreamGradient)
        })
        .unwrap();
    let (features, labels) = stage_features(&stages, &split.test, 7).unwrap();
    assert_eq!(labels.len(), split.test.len());
    let widths: Vec<_> = features.iter().map(|f| f.shape().to_vec()).collect();
    let n = split.test.len();
    assert_eq!(widths, vec![vec![n, 16], vec![n, 8], vec![n, 10]]);
    assert!(stage_features(&stages, &split.test, 0).is_err());
    assert!(stage_features::<f32>(&[], &split.test, 5).is_err());
}

#[test]
fn probes_see_what_training_added() {
    let split = small_split();
    let mut stages = MlpConfig::new(vec![40, 64, 10])
        .build::<f32>(0, &OptimizerConfig::Sgd(SgdConfig::new(0.1)), |i, n| {
            if i + 1 == n {
                Box::new(locus_objectives::SupervisedLoss::new(
                    locus_core::Loss::SoftmaxCrossEntropy,
                ))
            } else {
                Box::new(locus_objectives::UpstreamGradient)
            }
        })
        .unwrap();
    let config = ProbeConfig::new(0).with_lr(1e-2);
    let before = probe_stages(&stages, &split.train, &split.test, &config).unwrap();
    for epoch in 0..30 {
        let plan = EpochPlan {
            batch_size: 32,
            seed: 1,
            epoch,
        };
        Lockstep
            .train_epoch(&mut stages, &split.train, plan, &mut NoObserver)
            .unwrap();
    }
    let after = probe_stages(&stages, &split.train, &split.test, &config).unwrap();
    assert_eq!(before.len(), 2);
    assert!(
        after[0] > before[0] + 0.05,
        "hidden-stage probe accuracy before {before:?}, after training {after:?}"
    );
}
