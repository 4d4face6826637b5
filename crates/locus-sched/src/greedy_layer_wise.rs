use std::borrow::Cow;
use std::time::Instant;

use locus_core::{scratch, Float, Tensor};
use locus_data::{gather, Dataset, InMemoryDataset};
use serde::{Deserialize, Serialize};

use crate::lockstep::{learn_top_down, run_epoch_on_indices, Turn};
use crate::{
    cache_stage_inputs, BatchReport, EpochPlan, EpochReport, Error, Observer, Result, Scheduler,
    Stage,
};

/// How many epochs each stage of a [`GreedyLayerWise`] run learns for, bottom first.
///
/// The stages take turns: the first stage learns for its epochs, then the second, and so
/// on; the top stage's turn never ends, so it learns in every epoch after the stages
/// below it have had theirs, however long the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageBudget {
    /// Every stage below the top learns for this many epochs: stage `k` in epochs
    /// `[k·E, (k+1)·E)`, the top from epoch `(n−1)·E` on.
    Each(u64),
    /// The epochs of each stage below the top, bottom first: one entry per stage below the
    /// top.
    PerStage(Vec<u64>),
    /// A run of this many epochs split evenly over the `n` stages: each stage below the top
    /// learns for `⌊E/n⌋` epochs, and the top for the rest of the run (`⌊E/n⌋ + E mod n`).
    Split(u64),
}

impl StageBudget {
    /// Checks what can be checked without the stack: no stage below the top gets 0 epochs.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad value.
    pub fn check(&self) -> Result<()> {
        let bad = match self {
            StageBudget::Each(0) => "each stage below the top should learn for >= 1 epoch",
            StageBudget::PerStage(e) if e.contains(&0) => {
                "each stage below the top should learn for >= 1 epoch"
            }
            StageBudget::Split(0) => "the run to split should have >= 1 epoch",
            _ => return Ok(()),
        };
        Err(Error::Config(format!(
            "greedy budget {self:?}: {bad}, but it has 0"
        )))
    }

    /// The epochs of each stage below the top in a stack of `stages`.
    fn below_top(&self, stages: usize) -> Result<Vec<u64>> {
        let below = stages.saturating_sub(1);
        match self {
            StageBudget::Each(e) => Ok(vec![*e; below]),
            StageBudget::PerStage(e) if e.len() == below => Ok(e.clone()),
            StageBudget::PerStage(e) => Err(Error::Config(format!(
                "greedy budget {self:?} has {} entries, but a stack of {stages} stages has \
                 {below} below the top (one entry each)",
                e.len()
            ))),
            StageBudget::Split(run) => {
                let each = run / stages.max(1) as u64;
                if each == 0 {
                    return Err(Error::Config(format!(
                        "greedy budget {self:?}: {run} epochs split over {stages} stages leave \
                         some stages none; give the run at least {stages} epochs"
                    )));
                }
                Ok(vec![each; below])
            }
        }
    }

    /// The stage (from 0, bottom first) that learns in `epoch` of a stack of `stages`.
    ///
    /// # Errors
    /// [`Error::Config`] for an invalid budget ([`StageBudget::check`]), a
    /// [`StageBudget::PerStage`] list that does not have one entry per stage below the
    /// top, or a [`StageBudget::Split`] of fewer epochs than there are stages.
    pub fn active_stage(&self, stages: usize, epoch: u64) -> Result<usize> {
        self.check()?;
        let mut end = 0;
        for (k, e) in self.below_top(stages)?.into_iter().enumerate() {
            end += e;
            if epoch < end {
                return Ok(k);
            }
        }
        Ok(stages.saturating_sub(1))
    }

    /// How many epochs each of `stages` learns for in a run of `epochs` epochs, bottom
    /// first (the top's turn is the rest of the run).
    ///
    /// # Errors
    /// As [`StageBudget::active_stage`], and [`Error::Config`] when the run is too short
    /// for the top stage to get an epoch.
    pub fn epochs_per_stage(&self, stages: usize, epochs: u64) -> Result<Vec<u64>> {
        self.check()?;
        let mut turns = self.below_top(stages)?;
        let below: u64 = turns.iter().sum();
        if epochs <= below {
            return Err(Error::Config(format!(
                "greedy budget {self:?}: the {} stage(s) below the top learn for {below} \
                 epochs, so a run of {epochs} leaves the top stage (stage {stages}) none; give \
                 the run more than {below} epochs or the stages fewer",
                stages.saturating_sub(1)
            )));
        }
        turns.push(epochs - below);
        Ok(turns)
    }

    /// Where `epoch` falls in the turns of a run of `epochs` epochs over `stages` stages:
    /// `(epoch within its stage's turn, length of that turn)`, so that a learning-rate
    /// schedule can restart with each stage's turn, as for a stage trained alone.
    ///
    /// # Errors
    /// As [`StageBudget::epochs_per_stage`], and [`Error::Config`] for an epoch past the
    /// end of the run.
    pub fn turn_position(&self, stages: usize, epochs: u64, epoch: u64) -> Result<(u64, u64)> {
        let mut start = 0;
        for turn in self.epochs_per_stage(stages, epochs)? {
            if epoch < start + turn {
                return Ok((epoch - start, turn));
            }
            start += turn;
        }
        Err(Error::Config(format!(
            "epoch {epoch} is past the end of a greedy run of {epochs} epochs"
        )))
    }
}

/// Greedy layer-wise training as a [`Scheduler`]: the stages learn one at a time, bottom
/// first, each for its [`StageBudget`], on the outputs of the frozen stages below it.
///
/// In epoch `plan.epoch` exactly one stage is **active**
/// ([`StageBudget::active_stage`]). For each batch the stages below it run forward only
/// (inference: their weights, optimizer state and objective are untouched), the active
/// stage runs forward and learns from its own objective with the batch's labels (and the
/// data batch, when its objective needs the network input) — no message, no global error
/// — and the stages above it do not run. This is the greedy
/// layer-wise training of Bengio, Lamblin, Popovici & Larochelle (2007, "Greedy
/// layer-wise training of deep networks", §2), and with
/// [`LocalClassifier`](locus_objectives::LocalClassifier) stages the sequential variant
/// of Belilovsky, Eickenberg & Oyallon (2019, "Greedy layerwise learning can scale to
/// ImageNet": each layer trained with its auxiliary classifier, then frozen). The
/// same stack under [`Lockstep`](crate::Lockstep) is their *decoupled* variant, every stage
/// learning on every batch.
///
/// Unlike [`Greedy`](crate::Greedy), which runs whole phases (pretraining, a supervised
/// top, fine-tuning) with optimizers and data of its own, this scheduler trains ordinary
/// stages one epoch at a time, so the caller's learning-rate schedule, evaluation,
/// observers and checkpoints work as under any scheduler; each stage keeps its own
/// optimizer, which steps only in the stage's turn.
///
/// # Reports
/// [`EpochReport::loss`] is the **active stage's** mean loss over the epoch (the top
/// stage's only in its turn); [`EpochReport::stage_losses`] has that loss at the active
/// stage and 0 for every other stage, which did not learn. Observers hear
/// [`Observer::on_stage_step`] for the active stage's updates only (staleness 0) and
/// [`Observer::on_step`] with its loss after every batch. In [`Observer::on_epoch_end`]
/// every stage has its figures: the active one its updates and loss, the frozen ones
/// below their inputs and forward time (no update), the ones above nothing.
///
/// # Errors
/// [`Scheduler::train_epoch`] refuses, before any work, an empty stack, a stage whose
/// objective needs the gradient message from the stage above
/// ([`needs_message`](locus_objectives::LocalObjective::needs_message): backpropagation,
/// feedback alignment, synthetic gradients) or the global error
/// ([`needs_global_error`](locus_objectives::LocalObjective::needs_global_error): direct
/// feedback alignment) — a greedy schedule gives neither, since the stages above the
/// active one do not run — naming the stage and its objective, and a budget that does not
/// fit the stack ([`StageBudget::active_stage`]).
///
/// # Cached inputs
/// With [`GreedyLayerWise::with_cached_inputs`], the frozen stages' output is computed
/// once per turn for every sample ([`cache_stage_inputs`](crate::cache_stage_inputs)) and
/// the active stage trains on that cache: the frozen stages no longer run on every batch,
/// at the cost of holding one representation of the whole data set (GIM's memory-saving
/// schedule, Löwe et al. 2019). The result is the same as without the cache up to float
/// rounding of the stored inputs (kept in `f32`). An active stage whose objective
/// [needs the network input](locus_objectives::LocalObjective::needs_network_input)
/// still gets the original data batch: the cache keeps the data's order, and each batch's
/// samples are gathered again from the data by index (one more batch in memory, not a
/// second copy of the data set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GreedyLayerWise {
    budget: StageBudget,
    /// Samples per batch when computing a cache of the frozen stages' outputs; `None`:
    /// the frozen stages run on every batch.
    cache_batch: Option<usize>,
    #[serde(skip)]
    cache: HeldInputs,
}

/// The cache of a [`GreedyLayerWise`] run: the active stage's inputs, for one data set.
#[derive(Debug, Clone, Default)]
struct HeldInputs {
    /// The active stage and the data set (its address and length) the cache was made for.
    key: Option<(usize, usize, usize)>,
    inputs: Option<InMemoryDataset>,
    largest_bytes: usize,
}

/// A cache is not configuration: two schedulers with the same settings are equal.
impl PartialEq for HeldInputs {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for HeldInputs {}

impl GreedyLayerWise {
    /// A scheduler with a checked budget.
    ///
    /// # Errors
    /// As [`StageBudget::check`].
    pub fn new(budget: StageBudget) -> Result<Self> {
        budget.check()?;
        Ok(GreedyLayerWise {
            budget,
            cache_batch: None,
            cache: HeldInputs::default(),
        })
    }

    /// Trains each stage on a cache of the frozen stages' outputs, computed once per turn
    /// in batches of `batch_size` (see [Cached inputs](#cached-inputs)).
    ///
    /// # Errors
    /// [`Error::Config`] for a batch size of 0.
    pub fn with_cached_inputs(mut self, batch_size: usize) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::Config(
                "the batch size of the input cache should be >= 1, but it is 0".into(),
            ));
        }
        self.cache_batch = Some(batch_size);
        Ok(self)
    }

    /// The largest input cache held so far, in bytes (0 without
    /// [`GreedyLayerWise::with_cached_inputs`]).
    pub fn largest_cache_bytes(&self) -> usize {
        self.cache.largest_bytes
    }

    /// The budget.
    pub fn budget(&self) -> &StageBudget {
        &self.budget
    }

    /// Checks that every stage can learn alone: its objective needs neither a message
    /// from above nor the global error.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty stack, or naming the first stage that cannot, its
    /// objective and what it needs.
    pub fn check_stack<F: Float>(stages: &[Stage<F>]) -> Result<()> {
        if stages.is_empty() {
            return Err(Error::Config("there are no stages".into()));
        }
        for stage in stages {
            let objective = stage.objective();
            let needs = if objective.needs_message() {
                "the gradient message of the stage above"
            } else if objective.needs_global_error() {
                "the global error (the top stage's output error)"
            } else {
                continue;
            };
            return Err(Error::Config(format!(
                "stage '{}' uses objective '{}', which needs {needs}; greedy layer-wise \
                 training runs no stage above the one that learns, so it never comes: every \
                 stage needs an objective of its own (a local classifier, a reconstruction or \
                 contrastive loss; the top a supervised loss)",
                stage.name(),
                objective.name()
            )));
        }
        Ok(())
    }
}

/// One batch: the stages below `active` run forward (inference only) unless `inputs` are
/// already the active stage's (`cached`), `active` runs forward and learns from its own
/// objective with the labels and the `network_input`. Each stage's computing time is
/// added to `busy`.
pub(crate) fn learn_alone<F: Float>(
    stages: &mut [Stage<F>],
    active: usize,
    inputs: &Tensor<F>,
    network_input: &Tensor<F>,
    labels: &[usize],
    busy: &mut [f64],
    cached: bool,
) -> Result<BatchReport> {
    let mut x = Cow::Borrowed(inputs);
    let frozen = if cached { 0 } else { active };
    for (stage, busy) in stages[..frozen].iter().zip(busy.iter_mut()) {
        let started = Instant::now();
        x = Cow::Owned(stage.module().infer(&x).map_err(|e| stage.wrap(e))?);
        *busy += started.elapsed().as_secs_f64();
    }
    let started = Instant::now();
    let (y, cache) = stages[active].forward(&x)?;
    busy[active] += started.elapsed().as_secs_f64();
    // Alone in its slice, the active stage learns as a lockstep top stage does: from its
    // own objective and the labels, with nothing from above.
    let loss = learn_top_down(
        &mut stages[active..=active],
        std::slice::from_ref(x.as_ref()),
        std::slice::from_ref(&y),
        std::slice::from_ref(&cache),
        network_input,
        labels,
        &mut busy[active..=active],
    )?[0];
    if let Cow::Owned(x) = x {
        scratch::recycle(x);
    }
    scratch::recycle(y);
    cache.recycle();
    let mut stage_losses = vec![0.0; stages.len()];
    stage_losses[active] = loss;
    Ok(BatchReport { loss, stage_losses })
}

impl<F: Float> Scheduler<F> for GreedyLayerWise {
    fn name(&self) -> String {
        "greedy".into()
    }

    fn train_epoch(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        plan: EpochPlan,
        observer: &mut dyn Observer,
    ) -> Result<EpochReport> {
        Self::check_stack(stages)?;
        let active = self.budget.active_stage(stages.len(), plan.epoch)?;
        let turn = Turn {
            forward: active + 1,
            learn: active..active + 1,
        };
        let (source, cached): (&dyn Dataset, bool) = match self.cache_batch {
            Some(batch) if active > 0 => (self.cache.inputs_of(stages, active, data, batch)?, true),
            _ => (data, false),
        };
        let regather = cached && stages[active].objective().needs_network_input();
        run_epoch_on_indices(
            stages,
            source,
            plan,
            observer,
            turn,
            |stages, _, indices, busy| {
                let batch = gather::<F>(source, indices)?;
                // The cache holds the frozen stages' outputs in the data's order, so the
                // network input is the data's samples at the same indices.
                let original = if regather {
                    Some(gather::<F>(data, indices)?.inputs)
                } else {
                    None
                };
                let network_input = original.as_ref().unwrap_or(&batch.inputs);
                let labels = &batch.labels;
                learn_alone(
                    stages,
                    active,
                    &batch.inputs,
                    network_input,
                    labels,
                    busy,
                    cached,
                )
            },
        )
    }
}

impl HeldInputs {
    /// The inputs of stage `active` for every sample of `data`: the cache when it was made
    /// for them, otherwise a new one made by the frozen stages below `active`.
    fn inputs_of<F: Float>(
        &mut self,
        stages: &[Stage<F>],
        active: usize,
        data: &dyn Dataset,
        batch_size: usize,
    ) -> Result<&InMemoryDataset> {
        let address = data as *const dyn Dataset as *const () as usize;
        let key = (active, address, data.len());
        if self.key != Some(key) || self.inputs.is_none() {
            self.inputs = None;
            let inputs = cache_stage_inputs(&stages[..active], data, batch_size)?;
            self.largest_bytes = self
                .largest_bytes
                .max(std::mem::size_of_val(inputs.features_all()));
            self.inputs = Some(inputs);
            self.key = Some(key);
        }
        self.inputs
            .as_ref()
            .ok_or_else(|| Error::Protocol("the input cache was just made".into()))
    }
}
