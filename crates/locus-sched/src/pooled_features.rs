//! Frozen, pooled features of every stage and a linear probe on each: Greedy InfoMax's
//! evaluation (Löwe et al. 2019, §4) for stages whose outputs have positions.

use locus_core::{Float, Tensor};
use locus_data::{gather, Dataset};
use locus_eval::{FeaturePooling, LinearProbe, ProbeConfig};
use ndarray::{concatenate, Axis};

use crate::{Error, Result, Stage};

/// Like [`stage_features`](crate::stage_features), but each stage's output is pooled by
/// `pooling` batch by batch, so only `[data.len(), d]` per stage is ever held (a patch
/// grid's full features for all of MNIST would not fit in memory). Entry `k` is stage
/// `k`'s pooled output.
///
/// # Errors
/// [`Error::Config`] for an empty stack, a zero batch size or an empty data set;
/// [`Error::Stage`] naming the stage whose module or pooling failed; [`Error::Data`].
pub fn pooled_stage_features<F: Float>(
    stages: &[Stage<F>],
    data: &dyn Dataset,
    batch_size: usize,
    pooling: FeaturePooling,
) -> Result<(Vec<Tensor<F>>, Vec<usize>)> {
    if stages.is_empty() {
        return Err(Error::Config("there are no stages".into()));
    }
    if batch_size == 0 {
        return Err(Error::Config("feature batch size should be >= 1".into()));
    }
    if data.is_empty() {
        return Err(Error::Config(
            "the data set to compute features on is empty".into(),
        ));
    }
    let mut parts: Vec<Vec<Tensor<F>>> = vec![Vec::new(); stages.len()];
    let mut labels = Vec::with_capacity(data.len());
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let batch = gather::<F>(data, chunk)?;
        labels.extend_from_slice(&batch.labels);
        let mut x = batch.inputs;
        for (stage, out) in stages.iter().zip(&mut parts) {
            x = stage.module().infer(&x).map_err(|e| stage.wrap(e))?;
            out.push(pooling.pool(&x).map_err(|e| stage.wrap(e))?);
        }
    }
    let features = parts
        .into_iter()
        .map(|chunks| {
            let views: Vec<_> = chunks.iter().map(|t| t.view()).collect();
            concatenate(Axis(0), &views).expect("pooled batches of one stage have one width")
        })
        .collect();
    Ok((features, labels))
}

/// The test accuracy of a linear probe trained on each stage's frozen, pooled training
/// features, bottom first: GIM's per-module `probe_accuracy`. Stages are not changed.
///
/// # Errors
/// As [`pooled_stage_features`]; [`Error::Stage`] naming the stage whose probe cannot be
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
    let (train_features, train_labels) = pooled_stage_features(stages, train, BATCH, pooling)?;
    let (test_features, test_labels) = pooled_stage_features(stages, test, BATCH, pooling)?;
    stages
        .iter()
        .zip(train_features.iter().zip(&test_features))
        .map(|(stage, (tr, te))| {
            LinearProbe::fit(tr, &train_labels, classes, config)
                .and_then(|probe| probe.accuracy(te, &test_labels))
                .map_err(|e| stage.wrap(e))
        })
        .collect()
}
