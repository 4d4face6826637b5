use crate::{EpochReport, StackParams, StageStats};

/// What an observer is told after each training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// Epoch number, from 0.
    pub epoch: u64,
    /// Index of the batch in the epoch, from 0.
    pub batch: usize,
    /// Number of batches in the epoch.
    pub batches: usize,
    /// The top stage's loss on this batch (under
    /// [`GreedyLayerWise`](crate::GreedyLayerWise), the loss of the stage that learns).
    pub loss: f64,
}

/// Which half of a stage's work a [`StageStep`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// The stage updated its weights.
    Update,
    /// An update-unlocked stage handed a late gradient message to its objective
    /// ([`Stage::learn_from_late_message`](crate::Stage::learn_from_late_message)).
    LateMessage,
}

/// What an observer is told each time one stage learns from one batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StageStep {
    /// Epoch number, from 0.
    pub epoch: u64,
    /// Index of the stage, bottom first.
    pub stage: usize,
    /// The batch's identifier in the epoch (its index in the epoch's order; a stage
    /// drawing from a replay buffer numbers the batches it sends up afresh).
    pub batch: u64,
    /// The stage's step count before this step.
    pub step: u64,
    /// Samples in the batch.
    pub samples: usize,
    /// The objective's loss for the batch (for a late message, its auxiliary loss).
    pub loss: f64,
    /// For an update: how many updates the stage made between the forward pass of the
    /// batch and this update. For a late message: between that forward pass and the
    /// message's arrival.
    pub staleness: u64,
    /// Which kind of step.
    pub kind: StepKind,
}

/// What an observer is told at the end of an epoch: the report, every stage's figures,
/// and read access to the weights (for checkpoints).
#[derive(Clone, Copy)]
pub struct EpochEnd<'a> {
    /// The epoch's report, as [`Scheduler::train_epoch`](crate::Scheduler::train_epoch)
    /// returns it.
    pub report: &'a EpochReport,
    /// Each stage's figures, bottom first.
    pub stages: &'a [StageStats],
    /// The weights after the epoch.
    pub params: &'a dyn StackParams,
}

impl std::fmt::Debug for EpochEnd<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochEnd")
            .field("report", self.report)
            .field("stages", &self.stages)
            .finish_non_exhaustive()
    }
}

/// Callbacks from a scheduler, so progress bars, logs and checkpoints stay out of the
/// training code (argmin's observers). Every method has an empty default, and every
/// scheduler calls all of them on the caller's thread, in order: the threads of
/// [`Pipelined`](crate::Pipelined) report to the thread that called `train_epoch`.
///
/// Combine observers with a tuple, `(progress, (log, checkpoints))`, or pass one by
/// `&mut` to keep it.
pub trait Observer {
    /// Called after each batch the top stage learns from (under
    /// [`GreedyLayerWise`](crate::GreedyLayerWise), after each batch).
    fn on_step(&mut self, _info: &StepInfo) {}

    /// Called after each step of each stage (an update, or a late message).
    fn on_stage_step(&mut self, _info: &StageStep) {}

    /// Called once at the end of each epoch, after every stage has finished.
    fn on_epoch_end(&mut self, _info: &EpochEnd<'_>) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}

impl<O: Observer + ?Sized> Observer for &mut O {
    fn on_step(&mut self, info: &StepInfo) {
        (**self).on_step(info)
    }
    fn on_stage_step(&mut self, info: &StageStep) {
        (**self).on_stage_step(info)
    }
    fn on_epoch_end(&mut self, info: &EpochEnd<'_>) {
        (**self).on_epoch_end(info)
    }
}

impl<A: Observer, B: Observer> Observer for (A, B) {
    fn on_step(&mut self, info: &StepInfo) {
        self.0.on_step(info);
        self.1.on_step(info);
    }
    fn on_stage_step(&mut self, info: &StageStep) {
        self.0.on_stage_step(info);
        self.1.on_stage_step(info);
    }
    fn on_epoch_end(&mut self, info: &EpochEnd<'_>) {
        self.0.on_epoch_end(info);
        self.1.on_epoch_end(info);
    }
}
