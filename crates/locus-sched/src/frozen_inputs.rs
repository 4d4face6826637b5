//! Training one stage at a time on the outputs of frozen stages below it: the
//! memory-saving schedule Greedy InfoMax allows: Löwe et al. (2019) point out that its
//! gradient-isolated modules can be trained one after another, each on the stored outputs
//! of the one below, so that only one module's activations exist at a time (their code
//! trains all modules together).

use std::time::Instant;

use locus_core::Float;
use locus_data::{epoch_batches, gather, Dataset, InMemoryDataset};

use crate::{EpochPlan, EpochReport, Error, Lockstep, Observer, Result, Stage, StepInfo};

/// The output of the top of `frozen` (inference mode, nothing learned) for every sample
/// of `data`, as a data set with `data`'s labels: the cached input of the stage above.
/// Computed `batch_size` samples at a time, so only the result (`data.len()` times the
/// output size, in `f32`) is held.
///
/// Train the next stage on it with any scheduler, e.g.
/// `Lockstep.train_epoch(&mut stages[k..=k], &cached, plan, observer)`; a stage trained so
/// takes the cached rows for the network input, so one whose objective
/// [needs the network input](locus_objectives::LocalObjective::needs_network_input)
/// trains with [`GreedyLayerWise::with_cached_inputs`](crate::GreedyLayerWise::with_cached_inputs)
/// instead, which gathers the original samples again.
///
/// # Errors
/// [`Error::Config`] for an empty `frozen`, a zero batch size or an empty data set;
/// [`Error::Stage`] naming the stage that failed; [`Error::Data`].
pub fn cache_stage_inputs<F: Float>(
    frozen: &[Stage<F>],
    data: &dyn Dataset,
    batch_size: usize,
) -> Result<InMemoryDataset> {
    if frozen.is_empty() {
        return Err(Error::Config(
            "there are no frozen stages to compute inputs with (the first stage trains on the data itself)"
                .into(),
        ));
    }
    if batch_size == 0 || data.is_empty() {
        return Err(Error::Config(format!(
            "caching stage inputs needs a batch size >= 1 and samples, got batch size {batch_size} and {} samples",
            data.len()
        )));
    }
    let mut values = Vec::new();
    let mut labels = Vec::with_capacity(data.len());
    let mut sample_shape = Vec::new();
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let batch = gather::<F>(data, chunk)?;
        let y = crate::predict(frozen, &batch.inputs)?;
        sample_shape = y.shape()[1..].to_vec();
        if values.is_empty() {
            values.reserve(data.len() * sample_shape.iter().product::<usize>());
        }
        values.extend(y.iter().map(|v| v.as_f64() as f32));
        labels.extend_from_slice(&batch.labels);
    }
    let top = frozen.last().expect("checked non-empty");
    InMemoryDataset::new(
        format!("{} (outputs of stage '{}')", data.name(), top.name()),
        values,
        sample_shape,
        labels,
        data.num_classes(),
    )
    .map_err(Error::Data)
}

/// One epoch of `trained` on inputs recomputed, batch by batch, by `frozen` in inference
/// mode: the stage-at-a-time schedule without a cache, trading the frozen stages' forward
/// passes for the cache's memory. Batches are drawn as [`Lockstep`] draws them; the
/// network input of `trained` is the data batch, as it would be for the whole stack.
///
/// # Errors
/// As [`Lockstep::train_batch`], and [`Error::Data`] when a batch cannot be gathered.
pub fn train_epoch_on_frozen<F: Float>(
    frozen: &[Stage<F>],
    trained: &mut [Stage<F>],
    data: &dyn Dataset,
    plan: EpochPlan,
    observer: &mut dyn Observer,
) -> Result<EpochReport> {
    let start = Instant::now();
    let batches = epoch_batches(data.len(), plan.batch_size, plan.seed, plan.epoch)?;
    let (mut loss_sum, mut samples) = (0.0, 0);
    let mut stage_sums = vec![0.0; trained.len()];
    for (b, indices) in batches.iter().enumerate() {
        let batch = gather::<F>(data, indices)?;
        let inputs = crate::predict(frozen, &batch.inputs)?;
        let report = Lockstep.timed_batch(
            trained,
            &inputs,
            &batch.inputs,
            &batch.labels,
            &mut vec![0.0; trained.len()],
        )?;
        let n = indices.len() as f64;
        loss_sum += report.loss * n;
        for (s, l) in stage_sums.iter_mut().zip(&report.stage_losses) {
            *s += l * n;
        }
        samples += indices.len();
        observer.on_step(&StepInfo {
            epoch: plan.epoch,
            batch: b,
            batches: batches.len(),
            loss: report.loss,
        });
    }
    let denom = samples.max(1) as f64;
    Ok(EpochReport {
        epoch: plan.epoch,
        loss: loss_sum / denom,
        stage_losses: stage_sums.into_iter().map(|s| s / denom).collect(),
        samples,
        wall_s: start.elapsed().as_secs_f64(),
    })
}
