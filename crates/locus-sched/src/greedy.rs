//! Greedy layer-wise training (Bengio et al. 2007; Hinton et al. 2006): each stage learns
//! alone, on the frozen outputs of the stages below, then a supervised top, then
//! optionally the whole stack end to end.

use std::time::Instant;

use locus_core::{seeded_rng, Float, OptimizerConfig, Tensor};
use locus_data::{epoch_batches, gather, Dataset};
use locus_objectives::{Corruption, LocalObjective, UpstreamGradient};
use ndarray::Axis;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::{
    EpochPlan, Error, Lockstep, LrSchedule, Observer, Result, Scheduler, Signals, Stage, StepInfo,
};

/// Where a stage in training gets its inputs from: the frozen stages below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum FeatureSource {
    /// Run the frozen stages once over the training rows and keep their outputs (memory:
    /// one `[rows, width]` tensor per stage in training; the fastest).
    #[default]
    Cache,
    /// Run the frozen stages again on every batch (no memory beyond a batch; the same
    /// numbers as [`FeatureSource::Cache`], at the cost of the forward passes).
    Stream,
}

/// Configuration of a [`Greedy`] run, checked by [`GreedyConfig::check`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GreedyConfig {
    /// Epochs each stage below the top trains alone (its budget). 0 leaves them at their
    /// initial weights: the random-features control a pretrained stack is compared with.
    pub stage_epochs: u64,
    /// Epochs of the supervised top on the frozen features, >= 1.
    pub top_epochs: u64,
    /// Epochs of end-to-end fine-tuning by backpropagation afterwards (0: none).
    pub finetune_epochs: u64,
    /// Samples per batch in every phase.
    pub batch_size: usize,
    /// Seed of the batch orders, the pretraining subset and the corruption.
    pub seed: u64,
    /// Fraction of the training set, in `(0, 1]`, the stages below the top train on (a
    /// seeded random subset); the top and fine-tuning use all of it.
    pub pretrain_fraction: f64,
    /// Input corruption while a stage below the top trains (denoising autoencoders).
    pub corruption: Corruption,
    /// How the frozen stages' outputs reach the stage in training.
    pub features: FeatureSource,
    /// Optimizer of each stage below the top while it trains alone (fresh for each).
    pub pretrain_optimizer: OptimizerConfig,
    /// Optimizer of the top stage (fresh).
    pub top_optimizer: OptimizerConfig,
    /// Optimizer of every stage during fine-tuning (fresh).
    pub finetune_optimizer: OptimizerConfig,
    /// Learning-rate schedule within each phase (over that phase's epochs).
    pub lr_schedule: LrSchedule,
}

impl GreedyConfig {
    /// `stage_epochs` for every stage below the top and the top, no fine-tuning, batch 64,
    /// the whole training set, no corruption, cached features, every phase with
    /// `optimizer` at a constant rate.
    pub fn new(stage_epochs: u64, optimizer: OptimizerConfig) -> Self {
        GreedyConfig {
            stage_epochs,
            top_epochs: stage_epochs,
            finetune_epochs: 0,
            batch_size: 64,
            seed: 0,
            pretrain_fraction: 1.0,
            corruption: Corruption::None,
            features: FeatureSource::Cache,
            pretrain_optimizer: optimizer,
            top_optimizer: optimizer,
            finetune_optimizer: optimizer,
            lr_schedule: LrSchedule::Constant,
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad value.
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str, value: String| {
            Err(Error::Config(format!("greedy {what}, but it is {value}")))
        };
        if self.top_epochs == 0 {
            return bad("top epochs should be >= 1", "0".into());
        }
        if self.batch_size == 0 {
            return bad("batch size should be >= 1", "0".into());
        }
        if !(self.pretrain_fraction > 0.0 && self.pretrain_fraction <= 1.0) {
            return bad(
                "pretraining fraction should be in (0, 1]",
                self.pretrain_fraction.to_string(),
            );
        }
        let core = |e: locus_core::Error| Error::Stage {
            stage: "greedy config".into(),
            source: e,
        };
        self.corruption.check().map_err(core)?;
        for optimizer in [
            self.pretrain_optimizer,
            self.top_optimizer,
            self.finetune_optimizer,
        ] {
            optimizer.build::<f64>().map_err(core)?;
        }
        Ok(())
    }
}

/// The phase of a greedy run an epoch belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Phase {
    /// Stage `index` (from 0) training alone with its own objective.
    Pretrain {
        /// Index of the stage, bottom first.
        index: usize,
    },
    /// The top stage training on the frozen features below it.
    Top,
    /// Every stage, end to end, by backpropagation.
    FineTune,
}

/// One epoch of a greedy run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GreedyEpoch {
    /// Which phase.
    pub phase: Phase,
    /// Epoch number within the phase, from 0.
    pub epoch: u64,
    /// Epochs of the phase.
    pub epochs: u64,
    /// Mean loss over the epoch: the training stage's local loss, or the top's loss when
    /// fine-tuning.
    pub loss: f64,
    /// Samples trained on.
    pub samples: usize,
    /// Wall-clock seconds of training.
    pub wall_s: f64,
}

/// What [`Greedy::run`] calls after every epoch, with the stages and what the epoch did
/// (to evaluate, log or checkpoint); an error it returns stops the run.
pub type OnEpoch<'a, F> = dyn FnMut(&mut [Stage<F>], &GreedyEpoch) -> Result<()> + 'a;

/// Greedy layer-wise training (Bengio, Lamblin, Popovici & Larochelle 2007, "Greedy
/// layer-wise training of deep networks", §2 and Algorithm 1 in its appendix): stage 1
/// learns alone from its own objective for its budget, is frozen, and its outputs become
/// stage 2's data; and so on up the stack. Then the top stage (a supervised loss) learns
/// on the frozen features, and optionally every stage is fine-tuned end to end by
/// backpropagation.
///
/// It works with any [`LocalObjective`] that needs no message from above (reconstruction,
/// a local classifier, a contrastive loss): the stage in training has no stage above it.
/// During fine-tuning the stages below the top learn from [`UpstreamGradient`] through
/// [`Lockstep`], and get their own objectives back afterwards.
///
/// While a stage below the top trains, its module encodes a corrupted copy of its input
/// ([`GreedyConfig::corruption`]) and its objective sees the clean one (denoising
/// autoencoders, Vincent et al. 2008); the features passed upwards are always clean. A
/// stage whose objective
/// [needs the network input](locus_objectives::LocalObjective::needs_network_input) gets
/// the clean data batch, gathered again by index when the features are cached.
///
/// It does not implement [`Scheduler`]: its phases each have their own data (a
/// pretraining subset, cached features), optimizers and objectives (fine-tuning swaps in
/// [`UpstreamGradient`]), so [`Greedy::run`] is its entry point. To train ordinary stages
/// greedily under the [`Scheduler`] trait — one stage per epoch, each from its own
/// objective, with the caller's loop, evaluation and observers — use
/// [`GreedyLayerWise`](crate::GreedyLayerWise).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Greedy {
    config: GreedyConfig,
}

/// A seed for `(seed, phase slot, epoch)`, spread so nearby values do not correlate.
fn mix(seed: u64, slot: u64, epoch: u64) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ slot.wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ epoch.wrapping_mul(0x94D0_49BB_1331_11EB)
}

/// The rows a stage in training sees, with their labels.
struct Rows<'a, F: Float> {
    /// The data set.
    data: &'a dyn Dataset,
    /// The data-set rows the stage trains on.
    rows: Vec<usize>,
    /// Stages below the one in training.
    below: usize,
    /// The frozen stages' outputs on `rows`, when they are cached; otherwise the stages
    /// below run on every batch.
    cached: Option<(Tensor<F>, Vec<usize>)>,
}

/// One batch of a stage in training alone.
struct RowBatch<F> {
    /// The stage's input.
    x: Tensor<F>,
    labels: Vec<usize>,
    /// The data batch, when the stage's objective needs the network input.
    network_input: Option<Tensor<F>>,
}

impl<F: Float> Rows<'_, F> {
    fn len(&self) -> usize {
        self.rows.len()
    }

    /// The batch at `positions` of the rows; with `network_input`, the data samples too.
    fn batch(
        &self,
        stages: &[Stage<F>],
        positions: &[usize],
        network_input: bool,
    ) -> Result<RowBatch<F>> {
        let indices: Vec<usize> = positions.iter().map(|&p| self.rows[p]).collect();
        match &self.cached {
            Some((features, labels)) => Ok(RowBatch {
                x: features.select(Axis(0), positions),
                labels: positions.iter().map(|&p| labels[p]).collect(),
                // The cache holds no data: gather the samples again by index.
                network_input: if network_input {
                    Some(gather::<F>(self.data, &indices)?.inputs)
                } else {
                    None
                },
            }),
            None => {
                let batch = gather::<F>(self.data, &indices)?;
                let x = crate::predict(&stages[..self.below], &batch.inputs)?;
                Ok(RowBatch {
                    x,
                    labels: batch.labels,
                    network_input: network_input.then_some(batch.inputs),
                })
            }
        }
    }
}

impl Greedy {
    /// A greedy trainer with a checked configuration.
    ///
    /// # Errors
    /// As [`GreedyConfig::check`].
    pub fn new(config: GreedyConfig) -> Result<Self> {
        config.check()?;
        Ok(Greedy { config })
    }

    /// The configuration.
    pub fn config(&self) -> &GreedyConfig {
        &self.config
    }

    /// The training rows the stages below the top learn from: a seeded random
    /// [`GreedyConfig::pretrain_fraction`] of `0..len` (at least one), in order.
    pub fn pretrain_rows(&self, len: usize) -> Vec<usize> {
        let mut rows: Vec<usize> = (0..len).collect();
        if self.config.pretrain_fraction >= 1.0 {
            return rows;
        }
        let keep = ((len as f64 * self.config.pretrain_fraction).round() as usize).clamp(1, len);
        rows.shuffle(&mut seeded_rng(mix(self.config.seed, u64::MAX, 0)));
        rows.truncate(keep);
        rows.sort_unstable();
        rows
    }

    /// Trains `stages` (bottom first; the top one has a supervised objective) on `train`:
    /// every stage below the top alone for [`GreedyConfig::stage_epochs`], the top for
    /// [`GreedyConfig::top_epochs`], then [`GreedyConfig::finetune_epochs`] of end-to-end
    /// backpropagation. After every epoch `on_epoch` is called with the stages and what
    /// the epoch did (to evaluate, log or checkpoint); an error it returns stops the run.
    ///
    /// # Errors
    /// [`Error::Config`] for fewer than two stages, a stage below the top whose objective
    /// needs a message from above, or an empty training set; [`Error::Stage`] naming the
    /// stage that failed; [`Error::Data`]; whatever `on_epoch` returns.
    pub fn run<F: Float>(
        &mut self,
        stages: &mut [Stage<F>],
        train: &dyn Dataset,
        observer: &mut dyn Observer,
        on_epoch: &mut OnEpoch<'_, F>,
    ) -> Result<Vec<GreedyEpoch>> {
        let top = self.check_stack(stages, train)?;
        let mut log = Vec::new();
        let pretrain = self.pretrain_rows(train.len());
        for index in 0..top {
            let rows = self.rows(stages, train, index, pretrain.clone())?;
            let optimizer = self.config.pretrain_optimizer;
            let corruption = self.config.corruption;
            for epoch in 0..self.config.stage_epochs {
                let phase = Phase::Pretrain { index };
                let e = self.alone_epoch(
                    stages, index, &rows, phase, epoch, optimizer, corruption, observer,
                )?;
                on_epoch(stages, &e)?;
                log.push(e);
            }
        }
        let rows = self.rows(stages, train, top, (0..train.len()).collect())?;
        for epoch in 0..self.config.top_epochs {
            let optimizer = self.config.top_optimizer;
            let e = self.alone_epoch(
                stages,
                top,
                &rows,
                Phase::Top,
                epoch,
                optimizer,
                Corruption::None,
                observer,
            )?;
            on_epoch(stages, &e)?;
            log.push(e);
        }
        drop(rows);
        if self.config.finetune_epochs > 0 {
            self.finetune(stages, train, observer, on_epoch, &mut log)?;
        }
        Ok(log)
    }

    fn check_stack<F: Float>(&self, stages: &[Stage<F>], train: &dyn Dataset) -> Result<usize> {
        if stages.len() < 2 {
            return Err(Error::Config(format!(
                "greedy training needs at least one stage below a supervised top, got {} stage(s)",
                stages.len()
            )));
        }
        if train.is_empty() {
            return Err(Error::Config("the training set is empty".into()));
        }
        if let Some(stage) = stages.iter().find(|s| s.objective().needs_message()) {
            return Err(Error::Config(format!(
                "stage '{}' uses objective '{}', which waits for a gradient message from the \
                 stage above; greedy training trains each stage alone, so every stage needs \
                 a local objective (the top a supervised loss)",
                stage.name(),
                stage.objective().name()
            )));
        }
        Ok(stages.len() - 1)
    }

    /// The inputs of stage `index`: the data rows themselves for the first stage, else
    /// the frozen stages' outputs on them (cached or streamed).
    fn rows<'a, F: Float>(
        &self,
        stages: &[Stage<F>],
        data: &'a dyn Dataset,
        index: usize,
        rows: Vec<usize>,
    ) -> Result<Rows<'a, F>> {
        if index == 0 || self.config.features == FeatureSource::Stream {
            return Ok(Rows {
                data,
                rows,
                below: index,
                cached: None,
            });
        }
        const CHUNK: usize = 1000;
        let mut parts = Vec::new();
        let mut labels = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(CHUNK) {
            let batch = gather::<F>(data, chunk)?;
            parts.push(crate::predict(&stages[..index], &batch.inputs)?);
            labels.extend(batch.labels);
        }
        let views: Vec<_> = parts.iter().map(|t| t.view()).collect();
        let features = ndarray::concatenate(Axis(0), &views).map_err(|e| {
            Error::Config(format!(
                "the frozen stages gave outputs of different shapes: {e}"
            ))
        })?;
        Ok(Rows {
            data,
            rows,
            below: index,
            cached: Some((features, labels)),
        })
    }

    /// One epoch of stage `index` learning alone on `rows`.
    #[allow(clippy::too_many_arguments)]
    fn alone_epoch<F: Float>(
        &self,
        stages: &mut [Stage<F>],
        index: usize,
        rows: &Rows<'_, F>,
        phase: Phase,
        epoch: u64,
        optimizer: OptimizerConfig,
        corruption: Corruption,
        observer: &mut dyn Observer,
    ) -> Result<GreedyEpoch> {
        let epochs = match phase {
            Phase::Top => self.config.top_epochs,
            _ => self.config.stage_epochs,
        };
        let stage_slot = index as u64 + 1;
        if epoch == 0 {
            let fresh = optimizer.build::<F>().map_err(|e| stages[index].wrap(e))?;
            stages[index].replace_optimizer(fresh);
        }
        let lr = self
            .config
            .lr_schedule
            .rate(optimizer.learning_rate(), epoch, epochs);
        stages[index]
            .optimizer_mut()
            .set_learning_rate(lr)
            .map_err(|e| stages[index].wrap(e))?;
        let start = Instant::now();
        let batches = epoch_batches(
            rows.len(),
            self.config.batch_size,
            mix(self.config.seed, stage_slot, 0),
            epoch,
        )?;
        let mut rng = seeded_rng(mix(self.config.seed ^ 0xC0, stage_slot, epoch));
        let (mut loss_sum, mut samples) = (0.0, 0);
        for (b, positions) in batches.iter().enumerate() {
            let (below, rest) = stages.split_at_mut(index);
            let stage = &mut rest[0];
            let needs_data = stage.objective().needs_network_input();
            let RowBatch {
                x,
                labels,
                network_input,
            } = rows.batch(below, positions, needs_data)?;
            let signals = Signals {
                labels: Some(&labels),
                network_input: network_input.as_ref(),
                ..Signals::default()
            };
            let update = if corruption.is_none() {
                let (y, cache) = stage.forward(&x)?;
                stage.learn(&x, &y, &cache, signals, false)?
            } else {
                let noisy = corruption.apply(&x, &mut rng).map_err(|e| stage.wrap(e))?;
                let (y, cache) = stage.forward(&noisy)?;
                stage.learn(&x, &y, &cache, signals, false)?
            };
            let loss = update.loss.as_f64();
            loss_sum += loss * positions.len() as f64;
            samples += positions.len();
            observer.on_step(&StepInfo {
                epoch,
                batch: b,
                batches: batches.len(),
                loss,
            });
        }
        let loss = loss_sum / samples.max(1) as f64;
        if !loss.is_finite() {
            return Err(Error::Config(format!(
                "stage '{}' diverged in epoch {} of {phase:?} (loss {loss}); try a smaller \
                 learning rate",
                stages[index].name(),
                epoch + 1
            )));
        }
        Ok(GreedyEpoch {
            phase,
            epoch,
            epochs,
            loss,
            samples,
            wall_s: start.elapsed().as_secs_f64(),
        })
    }

    /// End-to-end backpropagation through every stage, their objectives restored after.
    fn finetune<F: Float>(
        &self,
        stages: &mut [Stage<F>],
        train: &dyn Dataset,
        observer: &mut dyn Observer,
        on_epoch: &mut OnEpoch<'_, F>,
        log: &mut Vec<GreedyEpoch>,
    ) -> Result<()> {
        let top = stages.len() - 1;
        let optimizer = self.config.finetune_optimizer;
        let mut own: Vec<Box<dyn LocalObjective<F>>> = Vec::with_capacity(top);
        for stage in stages[..top].iter_mut() {
            own.push(stage.replace_objective(Box::new(UpstreamGradient)));
        }
        let result = (|| -> Result<()> {
            for stage in stages.iter_mut() {
                let fresh = optimizer.build::<F>().map_err(|e| stage.wrap(e))?;
                stage.replace_optimizer(fresh);
            }
            let epochs = self.config.finetune_epochs;
            for epoch in 0..epochs {
                let lr = self
                    .config
                    .lr_schedule
                    .rate(optimizer.learning_rate(), epoch, epochs);
                for stage in stages.iter_mut() {
                    stage
                        .optimizer_mut()
                        .set_learning_rate(lr)
                        .map_err(|e| stage.wrap(e))?;
                }
                let plan = EpochPlan {
                    batch_size: self.config.batch_size,
                    seed: mix(self.config.seed, 0, 1),
                    epoch,
                };
                let report = Lockstep.train_epoch(stages, train, plan, observer)?;
                if !report.loss.is_finite() {
                    return Err(Error::Config(format!(
                        "fine-tuning diverged in epoch {} (loss {}); try a smaller learning rate",
                        epoch + 1,
                        report.loss
                    )));
                }
                let e = GreedyEpoch {
                    phase: Phase::FineTune,
                    epoch,
                    epochs,
                    loss: report.loss,
                    samples: report.samples,
                    wall_s: report.wall_s,
                };
                on_epoch(stages, &e)?;
                log.push(e);
            }
            Ok(())
        })();
        for (stage, objective) in stages.iter_mut().zip(own) {
            stage.replace_objective(objective);
        }
        result
    }
}
