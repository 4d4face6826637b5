//! Frozen, pooled features of every stage and a linear probe on each: Greedy InfoMax's
//! evaluation (Löwe et al. 2019, §4) for stages whose outputs have positions.

use locus_core::{Float, Tensor};
use locus_data::Dataset;
use locus_eval::{FeaturePooling, ProbeConfig};
use locus_sched::{Result, Stage};

use crate::features::{collect_features, probe_each_stage};

/// Like [`stage_features`](crate::stage_features), but each stage's output is pooled by
/// `pooling` batch by batch, so only `[data.len(), d]` per stage is ever held (a patch
/// grid's full features for all of MNIST would not fit in memory). Entry `k` is stage
/// `k`'s pooled output.
///
/// # Errors
/// [`Error::Config`](locus_sched::Error::Config) for an empty stack, a zero batch size or an empty data set;
/// [`Error::Stage`](locus_sched::Error::Stage) naming the stage whose module or pooling failed;
/// [`Error::Data`](locus_sched::Error::Data).
pub fn pooled_stage_features<F: Float>(
    stages: &[Stage<F>],
    data: &dyn Dataset,
    batch_size: usize,
    pooling: FeaturePooling,
) -> Result<(Vec<Tensor<F>>, Vec<usize>)> {
    collect_features(stages, data, batch_size, |stage, x| {
        pooling.pool(x).map_err(|e| stage.wrap(e))
    })
}

/// The test accuracy of a linear probe trained on each stage's frozen, pooled training
/// features, bottom first: GIM's per-module `probe_accuracy`. Stages are not changed.
///
/// # Errors
/// As [`pooled_stage_features`]; [`Error::Stage`](locus_sched::Error::Stage) naming the stage whose probe cannot be
/// fit.
pub fn probe_stages_pooled<F: Float>(
    stages: &[Stage<F>],
    train: &dyn Dataset,
    test: &dyn Dataset,
    config: &ProbeConfig,
    pooling: FeaturePooling,
) -> Result<Vec<f64>> {
    const BATCH: usize = 500;
    let classes = train.num_classes().max(test.num_classes());
    let train = pooled_stage_features(stages, train, BATCH, pooling)?;
    let test = pooled_stage_features(stages, test, BATCH, pooling)?;
    probe_each_stage(stages, train, test, classes, config)
}
