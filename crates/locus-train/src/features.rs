//! Frozen features of every stage, and a linear probe on each: the per-stage evaluation of
//! Greedy InfoMax (Löwe et al. 2019, §4), usable with any stack of stages.

use locus_core::{Float, Tensor};
use locus_data::{gather, Dataset};
use locus_eval::{LinearProbe, ProbeConfig};
use locus_sched::{Error, Result, Stage};
use ndarray::{concatenate, Axis};

/// Every stage's output on the whole data set (inference mode, nothing learned), bottom
/// first, with the data set's labels. Entry `k` has shape `[data.len(), ...]`: what stage
/// `k` hands to the stage above.
///
/// # Errors
/// [`Error::Config`] for an empty stack, a zero batch size or an empty data set;
/// [`Error::Stage`] naming the stage whose module failed; [`Error::Data`].
pub fn stage_features<F: Float>(
    stages: &[Stage<F>],
    data: &dyn Dataset,
    batch_size: usize,
) -> Result<(Vec<Tensor<F>>, Vec<usize>)> {
    collect_features(stages, data, batch_size, |_, x| Ok(x.clone()))
}

/// Runs `data` through the stages batch by batch (inference mode) and keeps
/// `keep(stage, output)` of every stage's output, concatenated over the batches, with the
/// labels. Shared by [`stage_features`] and
/// [`pooled_stage_features`](crate::pooled_stage_features).
pub(crate) fn collect_features<F: Float>(
    stages: &[Stage<F>],
    data: &dyn Dataset,
    batch_size: usize,
    keep: impl Fn(&Stage<F>, &Tensor<F>) -> Result<Tensor<F>>,
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
            out.push(keep(stage, &x)?);
        }
    }
    let features = parts
        .into_iter()
        .zip(stages)
        .map(|(chunks, stage)| {
            let views: Vec<_> = chunks.iter().map(|t| t.view()).collect();
            concatenate(Axis(0), &views).map_err(|e| {
                Error::Config(format!(
                    "stage '{}' gave outputs of different shapes across batches: {e}",
                    stage.name()
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((features, labels))
}

/// The test accuracy of a linear probe trained on each stage's frozen training features,
/// bottom first (GIM's `probe_accuracy`). Stages are not changed.
///
/// # Errors
/// As [`stage_features`]; [`Error::Stage`] naming the stage when its probe cannot be fit
/// (for example non-finite features).
pub fn probe_stages<F: Float>(
    stages: &[Stage<F>],
    train: &dyn Dataset,
    test: &dyn Dataset,
    config: &ProbeConfig,
) -> Result<Vec<f64>> {
    const BATCH: usize = 1000;
    let classes = train.num_classes().max(test.num_classes());
    let train = stage_features(stages, train, BATCH)?;
    let test = stage_features(stages, test, BATCH)?;
    probe_each_stage(stages, train, test, classes, config)
}

/// Fits a linear probe on each stage's training features and returns its accuracy on the
/// stage's test features, bottom first.
pub(crate) fn probe_each_stage<F: Float>(
    stages: &[Stage<F>],
    (train_features, train_labels): (Vec<Tensor<F>>, Vec<usize>),
    (test_features, test_labels): (Vec<Tensor<F>>, Vec<usize>),
    classes: usize,
    config: &ProbeConfig,
) -> Result<Vec<f64>> {
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
