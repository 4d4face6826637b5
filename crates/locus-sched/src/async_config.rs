//! How much an asynchronous schedule may buffer: channel capacity, batches in flight,
//! replay buffers.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Replay buffers between stages (asynchronous DGL, see
/// [`ReplayBuffer`](crate::ReplayBuffer)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayConfig {
    /// Batches each buffer holds (>= 1).
    pub batches: usize,
    /// The stages that draw from a buffer (indices from 0, bottom first). `None`: every
    /// stage that can, that is every stage but the first whose stages below all learn
    /// locally (they wait for no message and no global error, which could not reach them:
    /// a buffer renumbers the batches it passes up).
    pub stages: Option<Vec<usize>>,
    /// Seed of the draws; each stage and epoch derives its own stream.
    pub seed: u64,
}

/// Bounds on what asynchronous schedulers ([`Pipelined`](crate::Pipelined),
/// [`Simulated`](crate::Simulated)) keep in memory, checked by [`AsyncConfig::check`].
///
/// Each stage holds at most `in_flight` batches it has sent up but not finished learning
/// from (their inputs, outputs and forward caches), and at most `capacity` batches wait
/// between two stages, so activation memory is bounded by about
/// `stages × (in_flight + capacity)` batches whatever the speeds of the stages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AsyncConfig {
    /// Batches that may wait between a stage and the next (>= 1; default 2).
    pub capacity: usize,
    /// Batches a stage may have forwarded but not yet learned from (>= 1). `None` (the
    /// default): as many as there are stages, enough for the global error or the gradient
    /// to come back before a stage stalls when every stage takes the same time. With 1,
    /// every stage waits for its batch's signal before taking the next: the schedule is
    /// then exactly [`Lockstep`](crate::Lockstep)'s.
    pub in_flight: Option<usize>,
    /// Replay buffers (default none).
    pub replay: Option<ReplayConfig>,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        AsyncConfig {
            capacity: 2,
            in_flight: None,
            replay: None,
        }
    }
}

impl AsyncConfig {
    /// Sets the channel capacity.
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Sets the batches in flight per stage.
    pub fn with_in_flight(mut self, in_flight: usize) -> Self {
        self.in_flight = Some(in_flight);
        self
    }

    /// Adds replay buffers of `batches` batches at every stage that can have one.
    pub fn with_replay(mut self, batches: usize, seed: u64) -> Self {
        self.replay = Some(ReplayConfig {
            batches,
            stages: None,
            seed,
        });
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad value: a zero capacity, zero batches in flight, a
    /// zero-sized replay buffer or an empty list of replay stages.
    pub fn check(&self) -> Result<()> {
        if self.capacity == 0 {
            return Err(Error::Config(
                "channel capacity should be >= 1 batch, but it is 0".into(),
            ));
        }
        if self.in_flight == Some(0) {
            return Err(Error::Config(
                "batches in flight per stage should be >= 1, but it is 0".into(),
            ));
        }
        if let Some(replay) = &self.replay {
            if replay.batches == 0 {
                return Err(Error::Config(
                    "replay buffer size should be >= 1 batch, but it is 0".into(),
                ));
            }
            if replay.stages.as_ref().is_some_and(Vec::is_empty) {
                return Err(Error::Config(
                    "replay stages: the list is empty; leave it out (None) for every stage \
                     that can have a buffer"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// Batches in flight per stage for a stack of `stages`.
    pub fn in_flight_for(&self, stages: usize) -> usize {
        self.in_flight.unwrap_or(stages).max(1)
    }
}
