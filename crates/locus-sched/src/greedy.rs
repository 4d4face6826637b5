//! Greedy layer-wise training (Bengio et al. 2007; Hinton et al. 2006): each stage learns
//! alone, on the frozen outputs of the stages below, then a supervised top, then
//! optionally the whole stack end to end.

use std::any::Any;
use std::time::Instant;

use locus_core::{seeded_rng, Float, OptimizerConfig, StateDict, Tensor};
use locus_data::{epoch_batches, gather, Dataset};
use locus_objectives::{Corruption, LocalObjective, UpstreamGradient};
use ndarray::Axis;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::stack_params::StagesView;
use crate::{
    EpochEnd, EpochPlan, EpochReport, Error, Lockstep, LrSchedule, Observer, Result, Scheduler,
    Signals, Stage, StageStats, StageStep, StatsRecorder, StepInfo, StepKind,
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
/// [`Lockstep`], and get their own objectives back after its last epoch.
///
/// While a stage below the top trains, its module encodes a corrupted copy of its input
/// ([`GreedyConfig::corruption`]) and its objective sees the clean one (denoising
/// autoencoders, Vincent et al. 2008); the features passed upwards are always clean. A
/// stage whose objective
/// [needs the network input](locus_objectives::LocalObjective::needs_network_input) gets
/// the clean data batch, gathered again by index when the features are cached.
///
/// # As a scheduler
/// The whole run is [`Greedy::epochs`] epochs of [`Scheduler::train_epoch`], and the
/// plan's epoch picks the phase ([`Greedy::phase_of`]): so the one training loop (the
/// engine's `Trainer`) runs it like any other scheduler, with its evaluation, observers
/// and report. Each phase brings its own data (a pretraining subset, cached features),
/// optimizer (fresh at the phase's first epoch) and learning-rate schedule
/// ([`GreedyConfig::lr_schedule`] over the phase's epochs); the batch size and seed are
/// the configuration's, not the plan's. The [`EpochReport`] has the learning stage's
/// loss (every stage's while fine-tuning). [`Greedy::log`] keeps what every epoch did.
///
/// To train ordinary stages greedily with one optimizer and schedule of the caller's —
/// one stage per epoch, each from its own objective — use
/// [`GreedyLayerWise`](crate::GreedyLayerWise).
#[derive(Debug)]
pub struct Greedy {
    config: GreedyConfig,
    held: Held,
}

/// What a [`Greedy`] run keeps between epochs.
#[derive(Default)]
struct Held {
    /// The cached inputs of the stage in training.
    rows: Option<HeldRows>,
    /// The stages' own objectives (a `Vec<Box<dyn LocalObjective<F>>>`) while
    /// fine-tuning lends them [`UpstreamGradient`].
    own: Option<Box<dyn Any + Send>>,
    log: Vec<GreedyEpoch>,
}

/// The inputs of one stage, computed once by the frozen stages below it.
struct HeldRows {
    /// The stage they are the inputs of.
    stage: usize,
    /// The data set they were computed from: its address and length.
    data: (usize, usize),
    /// The features, a `Tensor<F>`.
    features: Box<dyn Any + Send>,
    labels: Vec<usize>,
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("cached_rows_of_stage", &self.rows.as_ref().map(|r| r.stage))
            .field("fine_tuning", &self.own.is_some())
            .field("epochs_done", &self.log.len())
            .finish()
    }
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
    /// The frozen stages' outputs on `rows` and their labels, when they are cached;
    /// otherwise the stages below run on every batch.
    cached: Option<(&'a Tensor<F>, &'a [usize])>,
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
        Ok(Greedy {
            config,
            held: Held::default(),
        })
    }

    /// Epochs of the whole run on a stack of `stages`: [`GreedyConfig::stage_epochs`] for
    /// each stage below the top, then [`GreedyConfig::top_epochs`] and
    /// [`GreedyConfig::finetune_epochs`].
    pub fn epochs(&self, stages: usize) -> u64 {
        stages.saturating_sub(1) as u64 * self.config.stage_epochs
            + self.config.top_epochs
            + self.config.finetune_epochs
    }

    /// The phase of epoch `epoch` (from 0) of a run on `stages` stages, the epoch's
    /// number within the phase (from 0) and the phase's epochs.
    ///
    /// # Errors
    /// [`Error::Config`] for an epoch past the end of the run.
    pub fn phase_of(&self, stages: usize, epoch: u64) -> Result<(Phase, u64, u64)> {
        let c = &self.config;
        let below = stages.saturating_sub(1) as u64;
        let pretrain = below * c.stage_epochs;
        if epoch < pretrain {
            let index = (epoch / c.stage_epochs) as usize;
            return Ok((
                Phase::Pretrain { index },
                epoch % c.stage_epochs,
                c.stage_epochs,
            ));
        }
        if epoch < pretrain + c.top_epochs {
            return Ok((Phase::Top, epoch - pretrain, c.top_epochs));
        }
        if epoch < pretrain + c.top_epochs + c.finetune_epochs {
            return Ok((
                Phase::FineTune,
                epoch - pretrain - c.top_epochs,
                c.finetune_epochs,
            ));
        }
        Err(Error::Config(format!(
            "epoch {} is past the end of a greedy run of {} epochs on {stages} stages",
            epoch + 1,
            self.epochs(stages)
        )))
    }

    /// What every epoch trained so far did, in order.
    pub fn log(&self) -> &[GreedyEpoch] {
        &self.held.log
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

    /// Makes sure the held cache has the inputs of stage `index` (the frozen stages'
    /// outputs on `rows` of `data`), unless they are streamed.
    fn hold_rows<F: Float>(
        &mut self,
        stages: &[Stage<F>],
        data: &dyn Dataset,
        index: usize,
        rows: &[usize],
    ) -> Result<()> {
        if index == 0 || self.config.features == FeatureSource::Stream {
            self.held.rows = None;
            return Ok(());
        }
        let key = (data as *const dyn Dataset as *const () as usize, data.len());
        if let Some(held) = &self.held.rows {
            if held.stage == index && held.data == key && held.features.is::<Tensor<F>>() {
                return Ok(());
            }
        }
        self.held.rows = None;
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
        self.held.rows = Some(HeldRows {
            stage: index,
            data: key,
            features: Box::new(features),
            labels,
        });
        Ok(())
    }

    /// The inputs of stage `index`: the held cache, or the data rows run through the
    /// stages below on every batch.
    fn rows<'a, F: Float>(
        &'a self,
        data: &'a dyn Dataset,
        index: usize,
        rows: Vec<usize>,
    ) -> Result<Rows<'a, F>> {
        let cached = match &self.held.rows {
            Some(held) if held.stage == index => {
                let features = held.features.downcast_ref::<Tensor<F>>().ok_or_else(|| {
                    Error::Protocol("the greedy input cache holds another float type".into())
                })?;
                Some((features, held.labels.as_slice()))
            }
            _ => None,
        };
        Ok(Rows {
            data,
            rows,
            below: index,
            cached,
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
        (plan_epoch, epoch, epochs): (u64, u64, u64),
        optimizer: OptimizerConfig,
        corruption: Corruption,
        observer: &mut dyn Observer,
    ) -> Result<(GreedyEpoch, Vec<StageStats>)> {
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
        let mut stats = vec![StatsRecorder::default(); stages.len()];
        let mut busy = 0.0;
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
            let started = Instant::now();
            let update = if corruption.is_none() {
                let (y, cache) = stage.forward(&x)?;
                stage.learn(&x, &y, &cache, signals, false)?
            } else {
                let noisy = corruption.apply(&x, &mut rng).map_err(|e| stage.wrap(e))?;
                let (y, cache) = stage.forward(&noisy)?;
                stage.learn(&x, &y, &cache, signals, false)?
            };
            busy += started.elapsed().as_secs_f64();
            let loss = update.loss.as_f64();
            loss_sum += loss * positions.len() as f64;
            samples += positions.len();
            for recorder in &mut stats[..=index] {
                recorder.input();
            }
            stats[index].update(positions.len(), 0);
            stats[index].loss(loss, positions.len());
            observer.on_stage_step(&StageStep {
                epoch: plan_epoch,
                stage: index,
                batch: b as u64,
                step: stage.steps() - 1,
                samples: positions.len(),
                loss,
                staleness: 0,
                kind: StepKind::Update,
            });
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
        let wall_s = start.elapsed().as_secs_f64();
        stats[index].busy(busy);
        let stats = stats
            .iter_mut()
            .zip(stages.iter())
            .map(|(recorder, stage)| recorder.finish(stage.name(), wall_s, false))
            .collect();
        Ok((
            GreedyEpoch {
                phase,
                epoch,
                epochs,
                loss,
                samples,
                wall_s,
            },
            stats,
        ))
    }

    /// Epoch `epoch` of `epochs` of end-to-end backpropagation through every stage: at
    /// the first, the stages below the top lend their objectives for [`UpstreamGradient`]
    /// and every stage gets a fresh optimizer; after the last (or a failure), they get
    /// their objectives back.
    fn finetune_epoch<F: Float>(
        &mut self,
        stages: &mut [Stage<F>],
        train: &dyn Dataset,
        epoch: u64,
        epochs: u64,
        observer: &mut dyn Observer,
    ) -> Result<GreedyEpoch> {
        let top = stages.len() - 1;
        let optimizer = self.config.finetune_optimizer;
        if self.held.own.is_none() {
            self.held.rows = None;
            let own: Vec<Box<dyn LocalObjective<F>>> = stages[..top]
                .iter_mut()
                .map(|stage| stage.replace_objective(Box::new(UpstreamGradient)))
                .collect();
            self.held.own = Some(Box::new(own));
        }
        let result = (|| -> Result<GreedyEpoch> {
            if epoch == 0 {
                for stage in stages.iter_mut() {
                    let fresh = optimizer.build::<F>().map_err(|e| stage.wrap(e))?;
                    stage.replace_optimizer(fresh);
                }
            }
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
            Ok(GreedyEpoch {
                phase: Phase::FineTune,
                epoch,
                epochs,
                loss: report.loss,
                samples: report.samples,
                wall_s: report.wall_s,
            })
        })();
        if result.is_err() || epoch + 1 == epochs {
            self.restore_objectives(stages)?;
        }
        result
    }

    /// Gives the stages below the top their own objectives back after fine-tuning.
    fn restore_objectives<F: Float>(&mut self, stages: &mut [Stage<F>]) -> Result<()> {
        let Some(own) = self.held.own.take() else {
            return Ok(());
        };
        let own = own
            .downcast::<Vec<Box<dyn LocalObjective<F>>>>()
            .map_err(|_| Error::Protocol("the lent objectives are of another float type".into()))?;
        for (stage, objective) in stages.iter_mut().zip(*own) {
            stage.replace_objective(objective);
        }
        Ok(())
    }
}

impl<F: Float> Scheduler<F> for Greedy {
    fn name(&self) -> String {
        "greedy phases".into()
    }

    /// The epoch of the phase `plan.epoch` falls in (see [As a scheduler](#as-a-scheduler)).
    fn train_epoch(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        plan: EpochPlan,
        observer: &mut dyn Observer,
    ) -> Result<EpochReport> {
        // While fine-tuning, the lower stages hold the objectives lent to them.
        let top = if self.held.own.is_some() {
            stages.len().saturating_sub(1)
        } else {
            self.check_stack(stages, data)?
        };
        let (phase, epoch, epochs) = self.phase_of(stages.len(), plan.epoch)?;
        let (learner, e) = match phase {
            Phase::Pretrain { index } => {
                let pretrain = self.pretrain_rows(data.len());
                self.hold_rows(stages, data, index, &pretrain)?;
                let rows = self.rows(data, index, pretrain)?;
                let e = self.alone_epoch(
                    stages,
                    index,
                    &rows,
                    phase,
                    (plan.epoch, epoch, epochs),
                    self.config.pretrain_optimizer,
                    self.config.corruption,
                    observer,
                )?;
                (Some(index), e)
            }
            Phase::Top => {
                let all: Vec<usize> = (0..data.len()).collect();
                self.hold_rows(stages, data, top, &all)?;
                let rows = self.rows(data, top, all)?;
                let e = self.alone_epoch(
                    stages,
                    top,
                    &rows,
                    phase,
                    (plan.epoch, epoch, epochs),
                    self.config.top_optimizer,
                    Corruption::None,
                    observer,
                )?;
                (Some(top), e)
            }
            Phase::FineTune => (
                None,
                (
                    self.finetune_epoch(stages, data, epoch, epochs, observer)?,
                    Vec::new(),
                ),
            ),
        };
        let (e, stats) = e;
        let stage_losses = (0..stages.len())
            .map(|i| match learner {
                Some(l) if l != i => 0.0,
                _ => e.loss,
            })
            .collect();
        let report = EpochReport {
            epoch: plan.epoch,
            loss: e.loss,
            stage_losses,
            samples: e.samples,
            wall_s: e.wall_s,
        };
        // Lockstep has told the observer of a fine-tuning epoch already.
        if !stats.is_empty() {
            observer.on_epoch_end(&EpochEnd {
                report: &report,
                stages: &stats,
                params: &StagesView(stages),
            });
        }
        self.held.log.push(e);
        Ok(report)
    }

    /// The log (`log`: seven counters per epoch: phase, stage index, epoch and epochs of
    /// the phase, the bits of the loss, samples, the bits of the seconds) and, while
    /// fine-tuning, the objectives the stages below the top lent (`lent<k>.`).
    fn save_state(&self, _stages: &[Stage<F>], prefix: &str, state: &mut StateDict<F>) {
        let log = self
            .held
            .log
            .iter()
            .flat_map(|e| {
                let (code, index) = match e.phase {
                    Phase::Pretrain { index } => (0, index as u64),
                    Phase::Top => (1, 0),
                    Phase::FineTune => (2, 0),
                };
                [
                    code,
                    index,
                    e.epoch,
                    e.epochs,
                    e.loss.to_bits(),
                    e.samples as u64,
                    e.wall_s.to_bits(),
                ]
            })
            .collect();
        state.put_counters(format!("{prefix}log"), log);
        if let Some(own) = self
            .held
            .own
            .as_ref()
            .and_then(|o| o.downcast_ref::<Vec<Box<dyn LocalObjective<F>>>>())
        {
            for (k, objective) in own.iter().enumerate() {
                objective.save_state(&format!("{prefix}lent{k}."), state);
            }
        }
    }

    /// Puts fresh stages in the shape the phases left them in after `epochs_done`
    /// epochs (each stage with the optimizer of the last phase it learned in; while
    /// fine-tuning, the objectives below the top lent to the scheduler), then reads the
    /// log and the lent objectives.
    fn load_state(
        &mut self,
        stages: &mut [Stage<F>],
        epochs_done: u64,
        prefix: &str,
        state: &mut StateDict<F>,
    ) -> Result<()> {
        let top = stages.len().saturating_sub(1);
        let mut optimizers: Vec<Option<OptimizerConfig>> = vec![None; stages.len()];
        let mut lending = false;
        for global in 0..epochs_done {
            let (phase, epoch, epochs) = self.phase_of(stages.len(), global)?;
            match phase {
                Phase::Pretrain { index } => {
                    optimizers[index] = Some(self.config.pretrain_optimizer)
                }
                Phase::Top => optimizers[top] = Some(self.config.top_optimizer),
                Phase::FineTune => optimizers.fill(Some(self.config.finetune_optimizer)),
            }
            lending = phase == Phase::FineTune && epoch + 1 < epochs;
        }
        for (stage, config) in stages.iter_mut().zip(optimizers) {
            if let Some(config) = config {
                let fresh = config.build::<F>().map_err(|e| stage.wrap(e))?;
                stage.replace_optimizer(fresh);
            }
        }
        self.held = Held::default();
        let name = format!("{prefix}log");
        let counters = state
            .take_counters_if_present(&name)
            .map_err(|e| Error::Stage {
                stage: "greedy scheduler".into(),
                source: e,
            })?
            .unwrap_or_default();
        let n = counters.len();
        if n % 7 != 0 {
            return Err(Error::Config(format!(
                "state entry '{name}' should hold 7 counters per epoch, not {n}"
            )));
        }
        for e in counters.chunks_exact(7) {
            let phase = match e[0] {
                0 => Phase::Pretrain {
                    index: e[1] as usize,
                },
                1 => Phase::Top,
                2 => Phase::FineTune,
                code => {
                    return Err(Error::Config(format!(
                        "state entry '{name}' has an unknown phase {code}"
                    )))
                }
            };
            self.held.log.push(GreedyEpoch {
                phase,
                epoch: e[2],
                epochs: e[3],
                loss: f64::from_bits(e[4]),
                samples: e[5] as usize,
                wall_s: f64::from_bits(e[6]),
            });
        }
        if lending {
            let mut own: Vec<Box<dyn LocalObjective<F>>> = stages[..top]
                .iter_mut()
                .map(|stage| stage.replace_objective(Box::new(UpstreamGradient)))
                .collect();
            for (k, (objective, stage)) in own.iter_mut().zip(stages.iter()).enumerate() {
                objective
                    .load_state(&format!("{prefix}lent{k}."), state)
                    .map_err(|e| stage.wrap(e))?;
            }
            self.held.own = Some(Box::new(own));
        }
        Ok(())
    }
}
