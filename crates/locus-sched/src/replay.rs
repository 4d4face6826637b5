//! The replay buffer of asynchronous decoupled greedy learning.

use std::collections::VecDeque;

use locus_core::{seeded_rng, SeededRng};
use rand::RngExt;

/// A buffer of the most recent inputs a stage received from the stage below, from which
/// the stage draws what it trains on (Belilovsky, Eickenberg & Oyallon 2020, "Decoupled
/// Greedy Learning of CNNs", asynchronous DGL with a replay buffer): the stage below
/// writes into the buffer without waiting, and the stage above samples uniformly from it
/// at its own pace, so a fast stage reuses recent inputs and a slow one skips some.
///
/// Holds at most `capacity` batches; a new batch evicts the oldest. Sampling is uniform
/// over the batches held, from a seeded generator, so a run under the simulated scheduler
/// is reproducible.
#[derive(Debug, Clone)]
pub struct ReplayBuffer<T> {
    capacity: usize,
    items: VecDeque<T>,
    rng: SeededRng,
    pushed: u64,
    evicted_unused: u64,
    used: VecDeque<bool>,
}

impl<T: Clone> ReplayBuffer<T> {
    /// An empty buffer of `capacity` batches (at least 1) whose draws come from `seed`.
    ///
    /// # Panics
    /// When `capacity` is 0; configurations are checked before a buffer is built
    /// ([`AsyncConfig::check`](crate::AsyncConfig::check)).
    pub fn new(capacity: usize, seed: u64) -> Self {
        assert!(capacity >= 1, "a replay buffer holds at least one batch");
        ReplayBuffer {
            capacity,
            items: VecDeque::with_capacity(capacity),
            rng: seeded_rng(seed),
            pushed: 0,
            evicted_unused: 0,
            used: VecDeque::with_capacity(capacity),
        }
    }

    /// Adds a batch, evicting the oldest when the buffer is full.
    pub fn push(&mut self, item: T) {
        if self.items.len() == self.capacity {
            self.items.pop_front();
            if self.used.pop_front() == Some(false) {
                self.evicted_unused += 1;
            }
        }
        self.items.push_back(item);
        self.used.push_back(false);
        self.pushed += 1;
    }

    /// A copy of a batch drawn uniformly from the buffer, or `None` when it is empty.
    pub fn sample(&mut self) -> Option<T> {
        if self.items.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..self.items.len());
        self.used[i] = true;
        Some(self.items[i].clone())
    }

    /// Batches held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the buffer holds nothing.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Batches pushed since the buffer was made.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Batches evicted without ever having been drawn: inputs the stage never trained on.
    pub fn evicted_unused(&self) -> u64 {
        self.evicted_unused
    }

    /// Batches never drawn so far: the evicted ones and those still held.
    pub fn never_drawn(&self) -> u64 {
        self.evicted_unused + self.used.iter().filter(|&&u| !u).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent_batches() {
        let mut b = ReplayBuffer::new(3, 0);
        assert!(b.sample().is_none() && b.is_empty());
        for i in 0..5 {
            b.push(i);
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.pushed(), 5);
        assert_eq!(b.evicted_unused(), 2, "0 and 1 left without being drawn");
        assert_eq!(b.never_drawn(), 5);
        let mut seen = [false; 5];
        for _ in 0..200 {
            seen[b.sample().unwrap()] = true;
        }
        assert_eq!(seen, [false, false, true, true, true]);
        // A batch drawn before its eviction does not count as unused.
        b.push(5);
        assert_eq!(b.evicted_unused(), 2);
        assert_eq!(b.never_drawn(), 3, "0, 1 and the new 5");
    }

    #[test]
    fn draws_are_uniform_and_seeded() {
        let draws = |seed| {
            let mut b = ReplayBuffer::new(4, seed);
            (0..4).for_each(|i| b.push(i));
            (0..4000).map(|_| b.sample().unwrap()).collect::<Vec<_>>()
        };
        let a = draws(7);
        assert_eq!(a, draws(7));
        assert_ne!(a, draws(8));
        for v in 0..4 {
            let count = a.iter().filter(|&&x| x == v).count();
            // 1000 expected; 4.5 standard deviations is about 125.
            assert!((875..=1125).contains(&count), "{v}: {count}");
        }
    }
}
