use std::time::Instant;

use locus_core::{seeded_rng, Float, SeededRng, StateDict};
use locus_data::forward_forward::{positive_negative_batch, NegativeData};
use locus_data::{epoch_batches, gather, Dataset};

use crate::lockstep::{run_epoch_on_indices, Turn};
use crate::{
    BatchReport, EpochPlan, EpochReport, Lockstep, Observer, Pipelined, Readout, ReadoutConfig,
    Result, Scheduler, Simulated, Stage,
};

/// Salt that keeps the negatives' random stream apart from the batch shuffle's.
const NEGATIVES_SALT: u64 = 0x6e65_6761_7469_7665;

/// Trains a Forward-Forward stack (Hinton 2022): for every batch it makes the positive and
/// negative data ([`positive_negative_batch`]: positives in the first half of the rows,
/// negatives in the second) and runs one [`Lockstep`] step on it, so every stage's
/// [`ForwardForward`](locus_objectives::ForwardForward) objective sees its own positive
/// and negative activities in one forward pass; no gradient crosses the stages. When it
/// has a [`Readout`], the read-out softmaxes then learn from the same samples with the
/// neutral label.
///
/// The negatives are drawn from a stream fixed by the plan's seed, the epoch and the
/// batch, so a seed reproduces the run; they are fresh every epoch.
///
/// # Under the asynchronous schedulers
/// A Forward-Forward stage needs nothing from above, so the stages can also run under
/// [`Pipelined`] ([`ForwardForwardTrainer::with_pipelined`]: each stage on its own
/// thread, learning as soon as its positive/negative batch arrives) or [`Simulated`]
/// (the same on a virtual clock): the data feed makes the positive/negative batches. At
/// in-flight 1 the stages end bit for bit as under lockstep. The read-out, which reads
/// every stage at once, then learns after each epoch in a pass over the same batches
/// with the stages frozen, instead of after every batch.
///
/// Under `Mpi` (cargo feature `mpi`, `ForwardForwardTrainer::with_mpi`)
/// the stages run on MPI ranks as under `Pipelined`; rank 0, the only rank that reads
/// samples, makes the positive and negative batches and alone trains the read-out (the
/// other ranks' read-outs stay as built, and only rank 0 evaluates and reports).
#[derive(Debug)]
pub struct ForwardForwardTrainer<F: Float> {
    negatives: NegativeData,
    readout: Option<Readout<F>>,
    runner: Runner,
}

/// What carries the stages through an epoch.
#[derive(Debug)]
enum Runner {
    Lockstep,
    Pipelined(Pipelined),
    Simulated(Simulated),
    #[cfg(feature = "mpi")]
    Mpi(crate::Mpi),
}

impl<F: Float> ForwardForwardTrainer<F> {
    /// A trainer making negatives as `negatives` says, without a read-out.
    pub fn new(negatives: NegativeData) -> Self {
        ForwardForwardTrainer {
            negatives,
            readout: None,
            runner: Runner::Lockstep,
        }
    }

    /// Runs the stages under `pipelined` (see [Under the asynchronous
    /// schedulers](#under-the-asynchronous-schedulers)).
    pub fn with_pipelined(mut self, pipelined: Pipelined) -> Self {
        self.runner = Runner::Pipelined(pipelined);
        self
    }

    /// Runs the stages under `simulated` (see [Under the asynchronous
    /// schedulers](#under-the-asynchronous-schedulers)).
    pub fn with_simulated(mut self, simulated: Simulated) -> Self {
        self.runner = Runner::Simulated(simulated);
        self
    }

    /// Runs the stages on MPI ranks under `mpi` (see the type's docs).
    #[cfg(feature = "mpi")]
    pub fn with_mpi(mut self, mpi: crate::Mpi) -> Self {
        self.runner = Runner::Mpi(mpi);
        self
    }

    /// Also trains a [`Readout`] on every batch.
    pub fn with_readout(mut self, config: ReadoutConfig) -> Self {
        self.readout = Some(Readout::new(config));
        self
    }

    /// How negatives are made.
    pub fn negatives(&self) -> &NegativeData {
        &self.negatives
    }

    /// The read-out, when there is one.
    pub fn readout(&self) -> Option<&Readout<F>> {
        self.readout.as_ref()
    }

    /// The read-out, mutably (to restore a saved state).
    pub fn readout_mut(&mut self) -> Option<&mut Readout<F>> {
        self.readout.as_mut()
    }

    /// The random generator of batch `batch` of `epoch` under `seed`.
    pub fn batch_rng(seed: u64, epoch: u64, batch: usize) -> SeededRng {
        let mix = |x: u64| {
            // splitmix64's finaliser: nearby inputs give unrelated outputs.
            let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        seeded_rng(mix(seed ^ NEGATIVES_SALT ^ mix(epoch ^ mix(batch as u64))))
    }

    /// One step on the samples of `data` at `indices`: the positive/negative batch
    /// through every stage, then the read-out.
    ///
    /// # Errors
    /// [`Error::Data`](crate::Error::Data) when the batch cannot be made;
    /// [`Error::Stage`](crate::Error::Stage) naming the stage that failed;
    /// [`Error::Config`](crate::Error::Config) for an unusable stack.
    pub fn train_batch(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        indices: &[usize],
        rng: &mut SeededRng,
    ) -> Result<BatchReport> {
        self.timed_batch(stages, data, indices, rng, &mut vec![0.0; stages.len()])
    }

    /// [`ForwardForwardTrainer::train_batch`], adding each stage's computing time to
    /// `busy`.
    fn timed_batch(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        indices: &[usize],
        rng: &mut SeededRng,
        busy: &mut [f64],
    ) -> Result<BatchReport> {
        let batch = positive_negative_batch::<F>(data, indices, &self.negatives, rng)?;
        let report =
            Lockstep.timed_batch(stages, &batch.inputs, &batch.inputs, &batch.labels, busy)?;
        if let Some(readout) = &mut self.readout {
            let plain = gather::<F>(data, indices)?;
            let neutral = self.negatives.neutral(&plain.inputs)?;
            readout.learn(stages, &neutral, &plain.labels, data.num_classes())?;
        }
        Ok(report)
    }
}

impl<F: Float> Scheduler<F> for ForwardForwardTrainer<F> {
    fn name(&self) -> String {
        let runner = match &self.runner {
            Runner::Lockstep => "lockstep",
            Runner::Pipelined(_) => "pipelined",
            Runner::Simulated(_) => "simulated",
            #[cfg(feature = "mpi")]
            Runner::Mpi(_) => "mpi",
        };
        format!(
            "forward-forward ({} negatives, {runner})",
            self.negatives.name()
        )
    }

    /// Rank 0 only under `Mpi` (cargo feature `mpi`); always otherwise.
    fn is_main_process(&self) -> bool {
        match &self.runner {
            #[cfg(feature = "mpi")]
            Runner::Mpi(m) => m.rank() == 0,
            _ => true,
        }
    }

    /// One epoch through the single-threaded schedulers' loop, so observers hear of
    /// every stage's step and of the epoch's end as under [`Lockstep`]; or under the
    /// asynchronous scheduler given, then the read-out's pass.
    fn train_epoch(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        plan: EpochPlan,
        observer: &mut dyn Observer,
    ) -> Result<EpochReport> {
        let negatives = &self.negatives;
        let make = |b: usize, indices: &[usize]| {
            let mut rng = Self::batch_rng(plan.seed, plan.epoch, b);
            Ok(positive_negative_batch::<F>(
                data, indices, negatives, &mut rng,
            )?)
        };
        let mut report = match &mut self.runner {
            Runner::Lockstep => return self.lockstep_epoch(stages, data, plan, observer),
            Runner::Pipelined(p) => p.train_epoch_with(stages, data, plan, observer, &make)?,
            Runner::Simulated(s) => s.train_epoch_with(stages, data, plan, observer, &make)?,
            #[cfg(feature = "mpi")]
            Runner::Mpi(m) => m.train_epoch_with(stages, data, plan, observer, &make)?,
        };
        // Only the main process holds the samples (under Mpi, rank 0).
        let main = Scheduler::<F>::is_main_process(self);
        if let Some(readout) = self.readout.as_mut().filter(|_| main) {
            let started = Instant::now();
            for indices in epoch_batches(data.len(), plan.batch_size, plan.seed, plan.epoch)? {
                let plain = gather::<F>(data, &indices)?;
                let neutral = self.negatives.neutral(&plain.inputs)?;
                readout.learn(stages, &neutral, &plain.labels, data.num_classes())?;
            }
            report.wall_s += started.elapsed().as_secs_f64();
        }
        Ok(report)
    }

    /// The read-out's softmaxes under `<prefix>readout.` ([`Readout::save_state`]).
    fn save_state(&self, stages: &[Stage<F>], prefix: &str, state: &mut StateDict<F>) {
        if let Some(readout) = &self.readout {
            readout.save_state(stages, &format!("{prefix}readout."), state);
        }
    }

    fn load_state(
        &mut self,
        stages: &mut [Stage<F>],
        _epochs_done: u64,
        prefix: &str,
        state: &mut StateDict<F>,
    ) -> Result<()> {
        match &mut self.readout {
            Some(readout) => readout.load_state(stages, &format!("{prefix}readout."), state),
            None => Ok(()),
        }
    }
}

impl<F: Float> ForwardForwardTrainer<F> {
    /// One lockstep epoch, the read-out learning after every batch.
    fn lockstep_epoch(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        plan: EpochPlan,
        observer: &mut dyn Observer,
    ) -> Result<EpochReport> {
        run_epoch_on_indices(
            stages,
            data,
            plan,
            observer,
            Turn::all(stages.len()),
            |stages, b, indices, busy| {
                let mut rng = Self::batch_rng(plan.seed, plan.epoch, b);
                self.timed_batch(stages, data, indices, &mut rng, busy)
            },
        )
    }
}
