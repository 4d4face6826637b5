//! The epoch loop.

use std::collections::BTreeMap;

use locus_core::Float;
use locus_data::Dataset;
use locus_eval::{EpochRecord, StageReport};
use locus_sched::{EpochPlan, Observer, Scheduler, Stage, StageStats, StatsLog};

use crate::{stage_metrics, Error, Evaluate, Result};

/// Trains a stack of stages for a number of epochs: before each epoch it sets every
/// stage's learning rate (when rates are given), then runs the epoch under the
/// scheduler, evaluates, records the epoch, and stops with [`Error::Diverged`] when the
/// training loss is no longer finite. Every family of learning rules goes through this
/// one loop; what differs between them is the stages, the scheduler and the
/// [`Evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Trainer {
    epochs: u64,
    batch_size: usize,
    seed: u64,
    learning_rates: Option<Vec<f64>>,
}

/// What a finished training hands back.
#[derive(Debug, Clone, PartialEq)]
pub struct Trained {
    /// One record per epoch.
    pub history: Vec<EpochRecord>,
    /// The last epoch's test accuracy.
    pub test_accuracy: f64,
    /// The last epoch's test loss.
    pub test_loss: f64,
    /// The last epoch's training loss (the top stage's, or under a layer-wise schedule
    /// the learning stage's).
    pub train_loss: f64,
    /// Each stage's mean loss over the last epoch in which it learned (under a greedy
    /// layer-wise schedule the stages below the top stop learning before the end).
    pub final_losses: Vec<f64>,
    /// Each stage's figures after the last epoch ([`stage_metrics`]).
    pub stage_metrics: Vec<BTreeMap<String, f64>>,
    /// Seconds spent in training epochs (evaluation excluded).
    pub train_s: f64,
}

impl Trained {
    /// Training samples per second: `samples_per_epoch` times the epochs trained over
    /// [`Trained::train_s`].
    pub fn samples_per_s(&self, samples_per_epoch: usize) -> f64 {
        (samples_per_epoch as f64 * self.history.len() as f64) / self.train_s.max(1e-9)
    }

    /// The report of every stage, bottom first.
    pub fn stage_reports<F: Float>(&self, stages: &[Stage<F>]) -> Vec<StageReport> {
        stages
            .iter()
            .zip(&self.final_losses)
            .zip(&self.stage_metrics)
            .map(|((s, &final_loss), metrics)| StageReport {
                name: s.name().to_string(),
                module: s.module().name(),
                objective: s.objective().name(),
                params: s.module().num_params(),
                final_loss,
                metrics: metrics.clone(),
            })
            .collect()
    }
}

impl Trainer {
    /// `epochs` epochs of batches of `batch_size`, shuffled by `seed`; the stages keep the
    /// learning rates their optimizers were built with.
    pub fn new(epochs: u64, batch_size: usize, seed: u64) -> Self {
        Trainer {
            epochs,
            batch_size,
            seed,
            learning_rates: None,
        }
    }

    /// Sets every stage's learning rate to `rates[e]` before epoch `e` (one rate per
    /// epoch: a schedule, already evaluated).
    pub fn with_learning_rates(mut self, rates: Vec<f64>) -> Self {
        self.learning_rates = Some(rates);
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] for no epoch, a batch size of 0, or learning rates that are not
    /// one finite, positive rate per epoch.
    pub fn check(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::Config("epochs should be >= 1, but it is 0".into()));
        }
        if self.batch_size == 0 {
            return Err(Error::Config(
                "batch size should be >= 1, but it is 0".into(),
            ));
        }
        if let Some(rates) = &self.learning_rates {
            if rates.len() as u64 != self.epochs {
                return Err(Error::Config(format!(
                    "{} learning rates for {} epochs: give one per epoch",
                    rates.len(),
                    self.epochs
                )));
            }
            if let Some((e, r)) = rates
                .iter()
                .enumerate()
                .find(|(_, r)| !(r.is_finite() && **r > 0.0))
            {
                return Err(Error::Config(format!(
                    "the learning rate of epoch {} should be finite and > 0, but it is {r}",
                    e + 1
                )));
            }
        }
        Ok(())
    }

    /// Trains `stages` on `train` under `scheduler`, evaluating with `evaluation` after
    /// every epoch. `observer` hears of every step and epoch as the scheduler reports them;
    /// `on_epoch` gets each epoch's record once it is evaluated (for a log line).
    ///
    /// # Errors
    /// [`Trainer::check`]'s errors; [`Error::Diverged`] when an epoch's training loss is
    /// not finite; the scheduler's, the stages' and the evaluation's errors.
    pub fn run<F: Float>(
        &self,
        stages: &mut [Stage<F>],
        scheduler: &mut dyn Scheduler<F>,
        train: &dyn Dataset,
        evaluation: &mut dyn Evaluate<F>,
        observer: &mut dyn Observer,
        on_epoch: &mut dyn FnMut(&EpochRecord),
    ) -> Result<Trained> {
        self.check()?;
        let mut stats_log = StatsLog::default();
        let mut history = Vec::with_capacity(self.epochs as usize);
        let mut final_losses = vec![0.0; stages.len()];
        let mut train_s = 0.0;
        let mut last = None;
        for epoch in 0..self.epochs {
            if let Some(rates) = &self.learning_rates {
                for stage in stages.iter_mut() {
                    let name = stage.name().to_string();
                    stage
                        .optimizer_mut()
                        .set_learning_rate(rates[epoch as usize])
                        .map_err(|source| locus_sched::Error::Stage {
                            stage: name,
                            source,
                        })?;
                }
            }
            let plan = EpochPlan {
                batch_size: self.batch_size,
                seed: self.seed,
                epoch,
            };
            let report = scheduler.train_epoch(
                stages,
                train,
                plan,
                &mut (&mut *observer, &mut stats_log),
            )?;
            let stats = stats_log.last().map(<[StageStats]>::to_vec);
            train_s += report.wall_s;
            keep_losses_of_learners(&mut final_losses, &report.stage_losses, stats.as_deref());
            let evaluated = evaluation.evaluate(stages, epoch)?;
            let metrics: Vec<BTreeMap<String, f64>> = stages
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let figures = evaluated
                        .stage_figures
                        .get(i)
                        .map_or(&[][..], Vec::as_slice);
                    stage_metrics(s, figures, stats.as_ref().and_then(|t| t.get(i)))
                })
                .collect();
            let record = EpochRecord {
                epoch: epoch + 1,
                train_loss: report.loss,
                test_accuracy: evaluated.test_accuracy,
                test_loss: evaluated.test_loss,
                train_s: report.wall_s,
                stage_metrics: stages
                    .iter()
                    .zip(&metrics)
                    .flat_map(|(s, m)| {
                        m.iter()
                            .map(move |(k, v)| (format!("{}.{k}", s.name()), *v))
                    })
                    .collect(),
            };
            on_epoch(&record);
            if !report.loss.is_finite() {
                return Err(Error::Diverged {
                    epoch: epoch + 1,
                    loss: report.loss,
                });
            }
            history.push(record);
            last = Some((report.loss, evaluated, metrics));
        }
        let (train_loss, evaluated, stage_metrics) =
            last.ok_or_else(|| Error::Config("no epoch ran".into()))?;
        Ok(Trained {
            history,
            test_accuracy: evaluated.test_accuracy,
            test_loss: evaluated.test_loss,
            train_loss,
            final_losses,
            stage_metrics,
            train_s,
        })
    }
}

/// Keeps, for each stage, its loss of the last epoch it learned in: `losses[i]` takes this
/// epoch's `epoch_losses[i]` unless the stage's `figures` say it made no update (under a
/// greedy layer-wise schedule the stages below the top stop learning before the run ends,
/// and their reported loss is then 0). A stage without figures is taken to have learned.
pub fn keep_losses_of_learners(
    losses: &mut [f64],
    epoch_losses: &[f64],
    figures: Option<&[StageStats]>,
) {
    for (i, (loss, &l)) in losses.iter_mut().zip(epoch_losses).enumerate() {
        if figures.and_then(|f| f.get(i)).is_none_or(|f| f.updates > 0) {
            *loss = l;
        }
    }
}
