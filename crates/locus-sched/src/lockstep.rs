use std::ops::Range;
use std::time::Instant;

use locus_core::{scratch, Cache, Float, Tensor};
use locus_data::{epoch_batches, gather, Dataset};

use crate::stack_params::StagesView;
use crate::{
    BatchReport, EpochEnd, EpochPlan, EpochReport, Error, Observer, Result, Scheduler, Signals,
    Stage, StageStep, StatsRecorder, StepInfo, StepKind,
};

/// Trains every stage on every batch, in one thread, deterministically.
///
/// For each batch: a forward pass through all stages (each keeping its own cache), then the
/// stages learn **top-down**. The top stage's gradient with respect to the network output is
/// broadcast to every stage as the global error; a stage whose objective needs a message
/// receives the input gradient of the stage above, computed with that stage's weights
/// *before* its update. With [`UpstreamGradient`](locus_objectives::UpstreamGradient) below
/// a supervised top this is exactly end-to-end backpropagation; with purely local
/// objectives each stage learns from its own signal on the same forward pass.
///
/// Observers hear of every stage's update after each batch
/// ([`Observer::on_stage_step`], staleness always 0) and get each stage's computing time
/// at the end of the epoch ([`Observer::on_epoch_end`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Lockstep;

impl Lockstep {
    /// Trains on one batch; `inputs` is the network input too (the stages whose
    /// objective [needs it](locus_objectives::LocalObjective::needs_network_input) get it).
    ///
    /// # Errors
    /// [`Error::Config`] for an empty stack, or when the top stage needs a message (nothing
    /// is above it); [`Error::Stage`] naming the stage that failed.
    pub fn train_batch<F: Float>(
        &mut self,
        stages: &mut [Stage<F>],
        inputs: &Tensor<F>,
        labels: &[usize],
    ) -> Result<BatchReport> {
        self.timed_batch(stages, inputs, inputs, labels, &mut vec![0.0; stages.len()])
    }

    /// [`Lockstep::train_batch`] with the first stage's `inputs` apart from the
    /// `network_input` (they differ when `stages` are the top of a network whose bottom is
    /// frozen), adding each stage's computing time (forward pass and update, in seconds)
    /// to `busy`.
    pub(crate) fn timed_batch<F: Float>(
        &mut self,
        stages: &mut [Stage<F>],
        inputs: &Tensor<F>,
        network_input: &Tensor<F>,
        labels: &[usize],
        busy: &mut [f64],
    ) -> Result<BatchReport> {
        let top = check_stack(stages)?;
        let mut activations: Vec<Tensor<F>> = Vec::with_capacity(stages.len() + 1);
        let mut caches = Vec::with_capacity(stages.len());
        activations.push(scratch::copy_of(inputs));
        for (stage, busy) in stages.iter().zip(busy.iter_mut()) {
            let started = Instant::now();
            let (y, cache) = stage.forward(&activations[activations.len() - 1])?;
            *busy += started.elapsed().as_secs_f64();
            activations.push(y);
            caches.push(cache);
        }
        let stage_losses = learn_top_down(
            stages,
            &activations[..stages.len()],
            &activations[1..],
            &caches,
            network_input,
            labels,
            busy,
        )?;
        scratch::recycle_all(activations);
        for cache in caches {
            cache.recycle();
        }
        Ok(BatchReport {
            loss: stage_losses[top],
            stage_losses,
        })
    }
}

/// The learning half of a lockstep batch, shared by every single-threaded scheduler: the
/// stages learn **top-down** from forward passes already made (`inputs[i]` and `outputs[i]`
/// are stage `i`'s, with its cache). The top stage's output gradient is broadcast as the
/// global error; a stage that needs a message gets the input gradient of the stage above,
/// computed with that stage's weights before its update; a stage that needs the network
/// input gets `network_input` (a reference: nothing is copied). Each stage's computing
/// time is added to `busy`; returns each stage's loss.
pub(crate) fn learn_top_down<F: Float>(
    stages: &mut [Stage<F>],
    inputs: &[Tensor<F>],
    outputs: &[Tensor<F>],
    caches: &[Cache<F>],
    network_input: &Tensor<F>,
    labels: &[usize],
    busy: &mut [f64],
) -> Result<Vec<f64>> {
    let top = check_stack(stages)?;
    let mut stage_losses = vec![0.0; stages.len()];
    let mut message: Option<Tensor<F>> = None;
    let mut global_error: Option<Tensor<F>> = None;
    for i in (0..=top).rev() {
        let need_input_grad = i > 0 && stages[i - 1].objective().needs_message();
        let signals = Signals {
            labels: Some(labels),
            message: message.as_ref(),
            global_error: global_error.as_ref(),
            network_input: Some(network_input),
        };
        let started = Instant::now();
        let update = stages[i].learn(
            &inputs[i],
            &outputs[i],
            &caches[i],
            signals,
            need_input_grad,
        )?;
        busy[i] += started.elapsed().as_secs_f64();
        stage_losses[i] = update.loss.as_f64();
        if i == top {
            global_error = Some(update.grad_output);
        } else {
            scratch::recycle(update.grad_output);
        }
        if let Some(used) = std::mem::replace(&mut message, update.grad_input) {
            scratch::recycle(used);
        }
    }
    scratch::recycle_all(message.into_iter().chain(global_error));
    Ok(stage_losses)
}

/// Checks that the stack can be trained and returns the top index.
pub(crate) fn check_stack<F: Float>(stages: &[Stage<F>]) -> Result<usize> {
    let Some(top) = stages.len().checked_sub(1) else {
        return Err(Error::Config("there are no stages".into()));
    };
    if stages[top].objective().needs_message() {
        return Err(Error::Config(format!(
            "the top stage '{}' uses objective '{}', which waits for a gradient message from \
             a stage above, but there is none; give the top stage a loss (e.g. SupervisedLoss)",
            stages[top].name(),
            stages[top].objective().name()
        )));
    }
    Ok(top)
}

impl<F: Float> Scheduler<F> for Lockstep {
    fn name(&self) -> String {
        "lockstep".into()
    }

    fn train_epoch(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        plan: EpochPlan,
        observer: &mut dyn Observer,
    ) -> Result<EpochReport> {
        let turn = Turn::all(stages.len());
        run_epoch(
            stages,
            data,
            plan,
            observer,
            turn,
            |stages, inputs, labels, busy| self.timed_batch(stages, inputs, inputs, labels, busy),
        )
    }
}

/// Which stages take part in an epoch of a single-threaded scheduler.
#[derive(Debug, Clone)]
pub(crate) struct Turn {
    /// Stages `0..forward` run forward on every batch.
    pub forward: usize,
    /// The stages that learn from every batch.
    pub learn: Range<usize>,
}

impl Turn {
    /// Every one of `stages` runs forward and learns.
    pub(crate) fn all(stages: usize) -> Self {
        Turn {
            forward: stages,
            learn: 0..stages,
        }
    }
}

/// One epoch of a single-threaded scheduler, shared by [`Lockstep`],
/// [`ForwardUnlocked`](crate::ForwardUnlocked),
/// [`GreedyLayerWise`](crate::GreedyLayerWise) and
/// [`ForwardForwardTrainer`](crate::ForwardForwardTrainer): shuffles the data into the plan's batches,
/// trains each with `train_batch` (which adds each stage's computing time to its last
/// argument), tells the observer of the update of every stage in `turn.learn` (staleness
/// 0) and of the batch, and at the end reports the epoch's mean losses and each stage's
/// statistics (a stage outside the turn has no update and no loss).
pub(crate) fn run_epoch<F: Float>(
    stages: &mut [Stage<F>],
    data: &dyn Dataset,
    plan: EpochPlan,
    observer: &mut dyn Observer,
    turn: Turn,
    mut train_batch: impl FnMut(
        &mut [Stage<F>],
        &Tensor<F>,
        &[usize],
        &mut [f64],
    ) -> Result<BatchReport>,
) -> Result<EpochReport> {
    run_epoch_on_indices(
        stages,
        data,
        plan,
        observer,
        turn,
        |stages, _, indices, busy| {
            let batch = gather::<F>(data, indices)?;
            let report = train_batch(stages, &batch.inputs, &batch.labels, busy);
            scratch::recycle(batch.inputs);
            report
        },
    )
}

/// [`run_epoch`] for schedulers that make each batch themselves from the samples' indices
/// (Forward-Forward's positive and negative data): `train_batch` gets the batch's number
/// in the epoch and its indices into `data` instead of the gathered samples.
pub(crate) fn run_epoch_on_indices<F: Float>(
    stages: &mut [Stage<F>],
    data: &dyn Dataset,
    plan: EpochPlan,
    observer: &mut dyn Observer,
    turn: Turn,
    mut train_batch: impl FnMut(&mut [Stage<F>], usize, &[usize], &mut [f64]) -> Result<BatchReport>,
) -> Result<EpochReport> {
    check_stack(stages)?;
    let start = Instant::now();
    let batches = epoch_batches(data.len(), plan.batch_size, plan.seed, plan.epoch)?;
    let mut loss_sum = 0.0;
    let mut stage_sums = vec![0.0; stages.len()];
    let mut samples = 0;
    let mut busy = vec![0.0; stages.len()];
    let mut stats = vec![StatsRecorder::default(); stages.len()];
    for (b, indices) in batches.iter().enumerate() {
        let report = train_batch(stages, b, indices, &mut busy)?;
        let n = indices.len() as f64;
        loss_sum += report.loss * n;
        for (s, l) in stage_sums.iter_mut().zip(&report.stage_losses) {
            *s += l * n;
        }
        samples += indices.len();
        for (i, (stage, &loss)) in stages.iter().zip(&report.stage_losses).enumerate() {
            if i < turn.forward {
                stats[i].input();
            }
            if !turn.learn.contains(&i) {
                continue;
            }
            stats[i].update(indices.len(), 0);
            stats[i].loss(loss, indices.len());
            observer.on_stage_step(&StageStep {
                epoch: plan.epoch,
                stage: i,
                batch: b as u64,
                step: stage.steps() - 1,
                samples: indices.len(),
                loss,
                staleness: 0,
                kind: StepKind::Update,
            });
        }
        observer.on_step(&StepInfo {
            epoch: plan.epoch,
            batch: b,
            batches: batches.len(),
            loss: report.loss,
        });
    }
    let denom = samples.max(1) as f64;
    let wall_s = start.elapsed().as_secs_f64();
    let report = EpochReport {
        epoch: plan.epoch,
        loss: loss_sum / denom,
        stage_losses: stage_sums.into_iter().map(|s| s / denom).collect(),
        samples,
        wall_s,
    };
    let stats: Vec<_> = stats
        .iter_mut()
        .zip(stages.iter())
        .zip(busy)
        .map(|((recorder, stage), busy)| {
            recorder.busy(busy);
            recorder.finish(stage.name(), wall_s, false)
        })
        .collect();
    observer.on_epoch_end(&EpochEnd {
        report: &report,
        stages: &stats,
        params: &StagesView(stages),
    });
    Ok(report)
}
