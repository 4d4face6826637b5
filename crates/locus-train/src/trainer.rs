//! The epoch loop.

use std::collections::BTreeMap;

use locus_core::Float;
use locus_data::Dataset;
use locus_eval::{EpochRecord, StageReport};
use locus_sched::{EpochPlan, Observer, Scheduler, Stage, StageStats, StatsLog};

use crate::{stage_metrics, Error, Evaluate, Evaluated, Result};

/// Trains a stack of stages for a number of epochs: before each epoch it sets every
/// stage's learning rate (when rates are given), then runs the epoch under the
/// scheduler, evaluates (after every epoch, or every few and after the last), records the
/// epoch (the test figures, every stage's figures, and every stage's loss in the last
/// epoch it learned in as `<stage>.loss`), hands it to the caller's `on_epoch` (which may save a state or stop the run),
/// and stops with [`Error::Diverged`] when the training loss is no longer finite. Every
/// family of learning rules goes through this one loop; what differs between them is the
/// stages, the scheduler and the [`Evaluate`].
///
/// A run can go on from where an earlier one stopped ([`Trainer::resume`]): it starts at
/// the epoch after the last one done, with that run's learning curve and training time,
/// so that a run done in parts reports what one run would have.
#[derive(Debug, Clone, PartialEq)]
pub struct Trainer {
    epochs: u64,
    batch_size: usize,
    seed: u64,
    learning_rates: Option<Vec<f64>>,
    evaluate_every: u64,
    evaluate_after: u64,
    resumed: Progress,
}

/// How far a run has come: the epochs done, the learning curve of the evaluated ones and
/// the seconds spent training. [`Trainer::resume`] goes on from it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Progress {
    /// Epochs trained so far.
    pub epochs_done: u64,
    /// One record per evaluated epoch.
    pub history: Vec<EpochRecord>,
    /// Seconds spent in training epochs (evaluation excluded).
    pub train_s: f64,
    /// Each stage's loss in the last epoch it learned in (empty before the first epoch).
    pub final_losses: Vec<f64>,
}

/// What the trainer hands to the caller after every epoch, evaluated or not.
pub struct EpochDone<'a, F: Float, S: ?Sized> {
    /// The epoch, from 1.
    pub epoch: u64,
    /// The epochs of the whole run.
    pub epochs: u64,
    /// The epoch's training loss.
    pub train_loss: f64,
    /// The epoch's training time, in seconds.
    pub epoch_s: f64,
    /// The epoch's record, when it was evaluated (it is then the last of
    /// `progress.history`).
    pub record: Option<&'a EpochRecord>,
    /// The run so far, this epoch included.
    pub progress: &'a Progress,
    /// The stages after the epoch.
    pub stages: &'a [Stage<F>],
    /// The scheduler after the epoch (e.g. to save the state it keeps).
    pub scheduler: &'a S,
}

/// What the run does after an epoch: go on, or stop there (e.g. after saving its state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Train the next epoch.
    Continue,
    /// End the run after this epoch; [`Trained::finished`] is then false.
    Stop,
}

/// What a finished training hands back.
#[derive(Debug, Clone, PartialEq)]
pub struct Trained {
    /// One record per evaluated epoch (a resumed run's earlier epochs included).
    pub history: Vec<EpochRecord>,
    /// The last evaluated epoch's test accuracy (the last epoch's, unless the run was
    /// stopped early; NaN when no epoch was evaluated).
    pub test_accuracy: f64,
    /// The last evaluated epoch's test loss.
    pub test_loss: f64,
    /// The last epoch's training loss (the top stage's, or under a layer-wise schedule
    /// the learning stage's).
    pub train_loss: f64,
    /// Each stage's mean loss over the last epoch in which it learned (under a greedy
    /// layer-wise schedule the stages below the top stop learning before the end).
    pub final_losses: Vec<f64>,
    /// Each stage's figures after the last evaluated epoch ([`stage_metrics`]).
    pub stage_metrics: Vec<BTreeMap<String, f64>>,
    /// What the last evaluation measured besides the stages' figures.
    pub evaluated: Option<Evaluated>,
    /// Seconds spent in training epochs (evaluation excluded; a resumed run's earlier
    /// parts included).
    pub train_s: f64,
    /// Epochs trained, a resumed run's earlier ones included.
    pub epochs_done: u64,
    /// Whether every epoch of the run was trained (false when `on_epoch` stopped it).
    pub finished: bool,
}

impl Trained {
    /// Training samples per second: `samples_per_epoch` times the epochs trained over
    /// [`Trained::train_s`].
    pub fn samples_per_s(&self, samples_per_epoch: usize) -> f64 {
        (samples_per_epoch as f64 * self.epochs_done as f64) / self.train_s.max(1e-9)
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
    /// `epochs` epochs of batches of `batch_size`, shuffled by `seed`, evaluated after
    /// every epoch; the stages keep the learning rates their optimizers were built with.
    pub fn new(epochs: u64, batch_size: usize, seed: u64) -> Self {
        Trainer {
            epochs,
            batch_size,
            seed,
            learning_rates: None,
            evaluate_every: 1,
            evaluate_after: 0,
            resumed: Progress::default(),
        }
    }

    /// Sets every stage's learning rate to `rates[e]` before epoch `e` (one rate per
    /// epoch: a schedule, already evaluated).
    pub fn with_learning_rates(mut self, rates: Vec<f64>) -> Self {
        self.learning_rates = Some(rates);
        self
    }

    /// Evaluates after every `every`-th epoch and after the last one only (0: after the
    /// last only). An epoch not evaluated is left out of the learning curve. The default
    /// is 1, every epoch.
    pub fn evaluate_every(mut self, every: u64) -> Self {
        self.evaluate_every = every;
        self
    }

    /// Evaluates none of the first `epochs` epochs (e.g. the pretraining phases of a
    /// greedy run, before there is a classifier to evaluate); the cadence of
    /// [`Trainer::evaluate_every`] then counts from the run's first epoch as before.
    pub fn evaluate_after(mut self, epochs: u64) -> Self {
        self.evaluate_after = epochs;
        self
    }

    /// Goes on from `progress`: the first epoch trained is `progress.epochs_done`, and the
    /// report includes `progress`'s learning curve and training time. The stages (and the
    /// scheduler's own state) must already be those saved after that epoch.
    pub fn resume(mut self, progress: Progress) -> Self {
        self.resumed = progress;
        self
    }

    /// Whether epoch `epoch` (from 1) is evaluated.
    fn evaluates(&self, epoch: u64) -> bool {
        epoch > self.evaluate_after
            && (epoch == self.epochs
                || (self.evaluate_every > 0 && epoch % self.evaluate_every == 0))
    }

    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::Config`] for no epoch, a batch size of 0, learning rates that are not
    /// one finite, positive rate per epoch, or a resumed run with no epoch left to train.
    pub fn check(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::Config("epochs should be >= 1, but it is 0".into()));
        }
        if self.batch_size == 0 {
            return Err(Error::Config(
                "batch size should be >= 1, but it is 0".into(),
            ));
        }
        if self.evaluate_after >= self.epochs {
            return Err(Error::Config(format!(
                "evaluating after epoch {} of a run of {} leaves no epoch evaluated",
                self.evaluate_after, self.epochs
            )));
        }
        if self.resumed.epochs_done >= self.epochs {
            return Err(Error::Config(format!(
                "the resumed run has done {} of its {} epochs: nothing is left to train",
                self.resumed.epochs_done, self.epochs
            )));
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
    /// the epochs [`Trainer::evaluate_every`] names (on the scheduler's main process
    /// only: [`Scheduler::is_main_process`]; elsewhere the result has no test figures).
    /// `observer` hears of every step and
    /// epoch as the scheduler reports them; `on_epoch` gets every epoch once it is done
    /// (to log it, save a state, or stop the run with [`Flow::Stop`]).
    ///
    /// # Errors
    /// [`Trainer::check`]'s errors; [`Error::Diverged`] when an epoch's training loss is
    /// not finite (after `on_epoch` has heard of it); the scheduler's, the stages', the
    /// evaluation's and `on_epoch`'s errors.
    pub fn run<F: Float, S: Scheduler<F> + ?Sized>(
        &self,
        stages: &mut [Stage<F>],
        scheduler: &mut S,
        train: &dyn Dataset,
        evaluation: &mut dyn Evaluate<F, S>,
        observer: &mut dyn Observer,
        on_epoch: &mut dyn FnMut(&EpochDone<'_, F, S>) -> Result<Flow>,
    ) -> Result<Trained> {
        self.check()?;
        let mut stats_log = StatsLog::default();
        let mut progress = self.resumed.clone();
        let mut final_losses = if self.resumed.final_losses.len() == stages.len() {
            self.resumed.final_losses.clone()
        } else {
            vec![0.0; stages.len()]
        };
        let mut last_evaluated: Option<(Evaluated, Vec<BTreeMap<String, f64>>)> = None;
        let mut train_loss = f64::NAN;
        let mut finished = true;
        for epoch in self.resumed.epochs_done..self.epochs {
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
            progress.train_s += report.wall_s;
            progress.epochs_done = epoch + 1;
            train_loss = report.loss;
            keep_losses_of_learners(&mut final_losses, &report.stage_losses, stats.as_deref());
            progress.final_losses.clone_from(&final_losses);
            let number = epoch + 1;
            let diverged = !report.loss.is_finite();
            // Only the main process of a scheduler spread over processes evaluates: the others
            // hold the same stages and report nothing.
            let evaluates = self.evaluates(number) && scheduler.is_main_process();
            let evaluated = if evaluates && !diverged {
                let evaluated = evaluation.evaluate(stages, scheduler, epoch)?;
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
                progress.history.push(EpochRecord {
                    epoch: number,
                    train_loss: report.loss,
                    test_accuracy: evaluated.test_accuracy,
                    test_loss: evaluated.test_loss,
                    train_s: report.wall_s,
                    stage_metrics: stages
                        .iter()
                        .zip(&metrics)
                        .zip(&final_losses)
                        .flat_map(|((s, m), &loss)| {
                            let loss = (format!("{}.loss", s.name()), loss);
                            m.iter()
                                .map(move |(k, v)| (format!("{}.{k}", s.name()), *v))
                                .chain(std::iter::once(loss).filter(|(_, l)| l.is_finite()))
                        })
                        .chain(evaluated.network_figures.iter().cloned())
                        .collect(),
                });
                last_evaluated = Some((evaluated, metrics));
                true
            } else {
                false
            };
            let flow = on_epoch(&EpochDone {
                epoch: number,
                epochs: self.epochs,
                train_loss: report.loss,
                epoch_s: report.wall_s,
                record: if evaluated {
                    progress.history.last()
                } else {
                    None
                },
                progress: &progress,
                stages,
                scheduler,
            })?;
            if diverged {
                return Err(Error::Diverged {
                    epoch: number,
                    loss: report.loss,
                });
            }
            if flow == Flow::Stop && number < self.epochs {
                finished = false;
                break;
            }
        }
        let (evaluated, stage_metrics) = match last_evaluated {
            Some((e, m)) => (Some(e), m),
            None => (None, vec![BTreeMap::new(); stages.len()]),
        };
        Ok(Trained {
            test_accuracy: evaluated.as_ref().map_or(f64::NAN, |e| e.test_accuracy),
            test_loss: evaluated.as_ref().map_or(f64::NAN, |e| e.test_loss),
            history: progress.history,
            train_loss,
            final_losses,
            stage_metrics,
            evaluated,
            train_s: progress.train_s,
            epochs_done: progress.epochs_done,
            finished,
        })
    }
}

/// An `on_epoch` for [`Trainer::run`] that only goes on.
pub fn keep_going<F: Float, S: ?Sized>(_: &EpochDone<'_, F, S>) -> Result<Flow> {
    Ok(Flow::Continue)
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
