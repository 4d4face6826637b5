/// What an observer is told after each training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// Epoch number, from 0.
    pub epoch: u64,
    /// Index of the batch in the epoch, from 0.
    pub batch: usize,
    /// Number of batches in the epoch.
    pub batches: usize,
    /// The top stage's loss on this batch.
    pub loss: f64,
}

/// Callbacks from a scheduler, so progress bars, logs and checkpoints stay out of the
/// training code. Every method has an empty default.
pub trait Observer {
    /// Called after each batch.
    fn on_step(&mut self, _info: &StepInfo) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}
