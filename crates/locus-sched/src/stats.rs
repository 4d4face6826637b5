//! What each stage did during an epoch: updates, staleness, time spent computing.

use serde::Serialize;

/// One stage's figures for one epoch, as the scheduler that ran it measured them.
///
/// **Staleness** counts weight updates, not seconds. When a stage learns from a batch,
/// its gradient is computed from the forward pass of that batch; if the stage updated its
/// weights on other batches in between, the update is applied to weights that many
/// updates newer than those that made the forward pass (PipeDream's "weight staleness").
/// Under [`Lockstep`](crate::Lockstep) it is always 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageStats {
    /// The stage's name.
    pub stage: String,
    /// Weight updates made in the epoch.
    pub updates: u64,
    /// Batches received from below (the data, for the first stage). With a replay buffer
    /// this differs from `updates`.
    pub inputs: u64,
    /// Samples in the batches the stage updated on.
    pub samples: usize,
    /// Mean local loss per sample: the objective's loss at each update, or for an
    /// update-unlocked stage under an asynchronous scheduler the auxiliary loss of its late
    /// messages, as [`Lockstep`](crate::Lockstep) reports it.
    pub mean_loss: f64,
    /// Mean, over the updates, of how many updates the stage made between the forward
    /// pass of a batch and the update computed from it.
    pub staleness_mean: f64,
    /// The largest such count.
    pub staleness_max: u64,
    /// Mean number of updates the stage made between the forward pass of a batch and the
    /// arrival of a message for it (the gradient from above or the global error); `None`
    /// when no message arrived. For an update-unlocked stage this is how old the weights
    /// that produced the output are when its gradient model is trained on it.
    pub message_staleness_mean: Option<f64>,
    /// Largest number of batches the stage held at once while waiting for messages.
    pub peak_in_flight: usize,
    /// Batches a replay buffer evicted before the stage ever drew them.
    pub replay_unused: u64,
    /// Time spent computing (forward passes, updates, late messages): seconds, or virtual
    /// time units under [`Simulated`](crate::Simulated).
    pub busy: f64,
    /// Length of the epoch, in the same unit as `busy`.
    pub elapsed: f64,
    /// Whether `busy` and `elapsed` are virtual time ([`Simulated`](crate::Simulated))
    /// rather than wall-clock seconds.
    pub virtual_time: bool,
    /// Bytes the stage's process sent to other processes during the epoch, by kind: only
    /// under the `mpi` scheduler (`None` elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wire: Option<WireBytes>,
}

/// Bytes a stage's rank sent during an epoch's stage loop under the `mpi` scheduler
/// (`Mpi`, cargo feature `mpi`), by message kind, each message counted whole (the wire
/// format's header with its payload). The exchange of figures and stage states at the end
/// of the epoch is not in these counts (`Mpi::bytes_sent` has it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct WireBytes {
    /// Activations sent up (with their labels and, when a stage above needs it, the
    /// network input), and the end of the epoch.
    pub activations: u64,
    /// Gradient messages sent down.
    pub gradients: u64,
    /// The top stage's output error, sent to every stage that learns from it (DFA).
    pub global_errors: u64,
    /// Credits sent down (one free slot each).
    pub credits: u64,
    /// Steps and top-stage losses sent to rank 0 for its progress bar and logs.
    pub reports: u64,
    /// Messages sent, of all the kinds above.
    pub messages: u64,
}

impl WireBytes {
    /// Bytes of every kind.
    pub fn total(&self) -> u64 {
        self.activations + self.gradients + self.global_errors + self.credits + self.reports
    }

    /// Bytes that the training itself needs: all but the reports to rank 0.
    pub fn training(&self) -> u64 {
        self.total() - self.reports
    }
}

impl StageStats {
    /// Fraction of the epoch the stage spent computing, `busy / elapsed` (0 for an empty
    /// epoch).
    pub fn busy_fraction(&self) -> f64 {
        if self.elapsed > 0.0 {
            self.busy / self.elapsed
        } else {
            0.0
        }
    }
}

/// Running sums behind a [`StageStats`].
#[derive(Debug, Clone, Default)]
pub(crate) struct StatsRecorder {
    updates: u64,
    inputs: u64,
    samples: usize,
    loss_sum: f64,
    loss_samples: usize,
    staleness_sum: u64,
    staleness_max: u64,
    message_staleness_sum: u64,
    messages: u64,
    peak_in_flight: usize,
    replay_unused: u64,
    busy: f64,
}

impl StatsRecorder {
    pub(crate) fn update(&mut self, samples: usize, staleness: u64) {
        self.updates += 1;
        self.samples += samples;
        self.staleness_sum += staleness;
        self.staleness_max = self.staleness_max.max(staleness);
    }

    pub(crate) fn loss(&mut self, loss: f64, samples: usize) {
        self.loss_sum += loss * samples as f64;
        self.loss_samples += samples;
    }

    pub(crate) fn input(&mut self) {
        self.inputs += 1;
    }

    pub(crate) fn message(&mut self, staleness: u64) {
        self.message_staleness_sum += staleness;
        self.messages += 1;
    }

    pub(crate) fn in_flight(&mut self, held: usize) {
        self.peak_in_flight = self.peak_in_flight.max(held);
    }

    pub(crate) fn replay_unused(&mut self, count: u64) {
        self.replay_unused = count;
    }

    pub(crate) fn busy(&mut self, amount: f64) {
        self.busy += amount;
    }

    pub(crate) fn finish(&self, stage: &str, elapsed: f64, virtual_time: bool) -> StageStats {
        let per = |sum: f64, n: u64| if n == 0 { 0.0 } else { sum / n as f64 };
        StageStats {
            stage: stage.to_string(),
            updates: self.updates,
            inputs: self.inputs,
            samples: self.samples,
            mean_loss: if self.loss_samples == 0 {
                0.0
            } else {
                self.loss_sum / self.loss_samples as f64
            },
            staleness_mean: per(self.staleness_sum as f64, self.updates),
            staleness_max: self.staleness_max,
            message_staleness_mean: (self.messages > 0)
                .then(|| per(self.message_staleness_sum as f64, self.messages)),
            peak_in_flight: self.peak_in_flight,
            replay_unused: self.replay_unused,
            busy: self.busy,
            elapsed,
            virtual_time,
            wire: None,
        }
    }
}
