//! What stages send each other under the asynchronous schedulers.

use std::sync::Arc;

use locus_core::Tensor;

use crate::StageStep;

/// A batch travelling up: a stage's output (the data, for the first stage) and labels.
#[derive(Debug, Clone)]
pub(crate) struct Activation<F> {
    /// The batch's identifier within the epoch.
    pub batch: u64,
    /// The activations.
    pub input: Tensor<F>,
    /// The batch's labels.
    pub labels: Vec<usize>,
    /// The data batch the first stage received, when this stage or one above it needs the
    /// network input: one copy per batch, shared by every stage that holds it.
    pub network_input: Option<Arc<Tensor<F>>>,
}

/// What a stage receives.
#[derive(Debug)]
pub(crate) enum Inbound<F> {
    /// A batch from the stage below (or the data source).
    Up(Activation<F>),
    /// The stage below has sent its last batch of the epoch.
    End,
    /// The gradient with respect to this stage's output for a batch, from the stage above.
    Down { batch: u64, message: Tensor<F> },
    /// The top stage's output error for a batch (direct feedback alignment).
    Global { batch: u64, error: Tensor<F> },
    /// The stage above has taken one batch from its queue: one more may be sent.
    Credit,
    /// Stop now: another stage failed (threads only).
    Abort,
}

/// What a stage asks its transport to deliver.
#[derive(Debug)]
pub(crate) enum Outbound<F> {
    /// To the stage above.
    Up(Activation<F>),
    /// To the stage above.
    End,
    /// To the stage below.
    Down { batch: u64, message: Tensor<F> },
    /// To the stage below, or to the data source from the first stage.
    Credit,
    /// To every stage that needs the global error (sent by the top stage only).
    Global { batch: u64, error: Tensor<F> },
    /// To the observer.
    Step(StageStep),
    /// To the observer, from the top stage: the network's loss on a batch.
    TopLoss { samples: usize, loss: f64 },
}

/// The unit of work a stage did, so that the simulator can charge its cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    /// A forward pass, followed at once by the update when `learned`.
    Forward { learned: bool },
    /// An update of a batch forwarded earlier.
    Learn,
    /// A late message handed to an update-unlocked objective.
    LateMessage,
    /// Only messages were sent (no computation).
    Send,
}

impl Work {
    /// Whether this work computed anything.
    pub fn computes(self) -> bool {
        self != Work::Send
    }
}
