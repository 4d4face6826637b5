use locus_core::{Float, StateDict};
use locus_data::Dataset;
use serde::Serialize;

use crate::{Observer, Result, Stage};

/// Which pass over the data to run: batch size, seed and epoch number fix the batch order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EpochPlan {
    /// Samples per batch (the last batch may be smaller).
    pub batch_size: usize,
    /// Seed of the shuffle; with `epoch` it fixes the order of the samples.
    pub seed: u64,
    /// Epoch number, from 0.
    pub epoch: u64,
}

/// Losses of one batch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchReport {
    /// The top stage's loss: the network's training loss.
    pub loss: f64,
    /// Every stage's local loss, bottom to top.
    pub stage_losses: Vec<f64>,
}

/// Summary of one epoch of training.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpochReport {
    /// Epoch number, from 0.
    pub epoch: u64,
    /// Mean of the top stage's loss over the epoch's samples (under
    /// [`GreedyLayerWise`](crate::GreedyLayerWise), of the one stage that learned).
    pub loss: f64,
    /// Mean local loss of each stage, bottom to top (0 for a stage that did not learn in
    /// the epoch).
    pub stage_losses: Vec<f64>,
    /// Samples trained on.
    pub samples: usize,
    /// Wall-clock seconds spent.
    pub wall_s: f64,
}

/// Runs a stack of stages over a data set.
///
/// Every scheduler takes the same stages, so an algorithm (a choice of objectives) can be
/// run under any scheduler unchanged.
pub trait Scheduler<F: Float> {
    /// A short name for reports, e.g. `"lockstep"`.
    fn name(&self) -> String;

    /// Trains `stages` (bottom first) on one pass over `data`.
    ///
    /// # Errors
    /// [`Error::Stage`](crate::Error::Stage) naming the stage that failed, or
    /// [`Error::Data`](crate::Error::Data) when a batch cannot be gathered.
    fn train_epoch(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        plan: EpochPlan,
        observer: &mut dyn Observer,
    ) -> Result<EpochReport>;

    /// Whether this process evaluates, reports and saves the run. True but on the ranks
    /// above 0 of a scheduler spread over processes (`Mpi`, cargo feature `mpi`), which hold the
    /// same trained stages as rank 0 after each epoch and leave the rest to it.
    fn is_main_process(&self) -> bool {
        true
    }

    /// Writes the scheduler's own state at the end of an epoch under `prefix`: what it
    /// keeps between epochs beyond the stages (synthetic-input models, a trained
    /// read-out, objectives it holds for the stages, its log). The default, for
    /// schedulers whose epochs depend only on the stages, the seed and the epoch number,
    /// writes nothing. Caches the scheduler can rebuild are not state.
    fn save_state(&self, stages: &[Stage<F>], prefix: &str, state: &mut StateDict<F>) {
        let _ = (stages, prefix, state);
    }

    /// Reads what [`Scheduler::save_state`] wrote under `prefix` after `epochs_done`
    /// epochs, into a scheduler and `stages` freshly built for the same run, *before*
    /// the stages read their own state: a scheduler that swaps the stages' optimizers or
    /// objectives between phases puts the stages in the shape they had after
    /// `epochs_done` epochs, so that what the stages read fits. The default reads
    /// nothing.
    ///
    /// # Errors
    /// A missing, mis-shaped or non-finite entry, named.
    fn load_state(
        &mut self,
        stages: &mut [Stage<F>],
        epochs_done: u64,
        prefix: &str,
        state: &mut StateDict<F>,
    ) -> Result<()> {
        let _ = (stages, epochs_done, prefix, state);
        Ok(())
    }
}

/// Makes the batch the first stage sees from its number in the epoch and its samples'
/// indices: gathering the samples, or something built from them (Forward-Forward's
/// positive and negative data). Called from the data feed's thread.
pub(crate) type MakeBatch<'a, F> =
    dyn Fn(usize, &[usize]) -> Result<locus_data::Batch<F>> + Sync + 'a;
