//! Ready-made observers: per-epoch stage figures, per-step logs, and thinning.

use crate::{EpochEnd, EpochReport, Observer, StageStats, StageStep, StepInfo};

/// Keeps every epoch's report and stage figures ([`StageStats`]: staleness, busy
/// fraction, …).
#[derive(Debug, Clone, Default)]
pub struct StatsLog {
    /// One entry per epoch, in order.
    pub epochs: Vec<(EpochReport, Vec<StageStats>)>,
}

impl StatsLog {
    /// The last epoch's stage figures, if an epoch has ended.
    pub fn last(&self) -> Option<&[StageStats]> {
        self.epochs.last().map(|(_, s)| s.as_slice())
    }
}

impl Observer for StatsLog {
    fn on_epoch_end(&mut self, info: &EpochEnd<'_>) {
        self.epochs
            .push((info.report.clone(), info.stages.to_vec()));
    }
}

/// Keeps every stage step (update or late message), in the order the scheduler reported
/// them: per-step loss and staleness curves.
#[derive(Debug, Clone, Default)]
pub struct StepLog {
    /// The steps, in order.
    pub steps: Vec<StageStep>,
}

impl Observer for StepLog {
    fn on_stage_step(&mut self, info: &StageStep) {
        self.steps.push(*info);
    }
}

/// Passes only every `n`-th batch of [`Observer::on_step`] (and the last of each epoch)
/// and every `n`-th step of each stage to the observer it wraps, like argmin's
/// `ObserverMode::Every`; epoch ends always pass.
#[derive(Debug, Clone)]
pub struct Every<O> {
    n: usize,
    stage_counts: Vec<u64>,
    inner: O,
}

impl<O: Observer> Every<O> {
    /// Wraps `inner`; `n` below 1 is taken as 1.
    pub fn new(n: usize, inner: O) -> Self {
        Every {
            n: n.max(1),
            stage_counts: Vec::new(),
            inner,
        }
    }

    /// The wrapped observer.
    pub fn into_inner(self) -> O {
        self.inner
    }
}

impl<O: Observer> Observer for Every<O> {
    fn on_step(&mut self, info: &StepInfo) {
        if (info.batch + 1) % self.n == 0 || info.batch + 1 == info.batches {
            self.inner.on_step(info);
        }
    }

    fn on_stage_step(&mut self, info: &StageStep) {
        if self.stage_counts.len() <= info.stage {
            self.stage_counts.resize(info.stage + 1, 0);
        }
        self.stage_counts[info.stage] += 1;
        if self.stage_counts[info.stage] % self.n as u64 == 0 {
            self.inner.on_stage_step(info);
        }
    }

    fn on_epoch_end(&mut self, info: &EpochEnd<'_>) {
        self.inner.on_epoch_end(info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch indices of the steps it is told of.
    #[derive(Default)]
    struct Batches(Vec<usize>);

    impl Observer for Batches {
        fn on_step(&mut self, info: &StepInfo) {
            self.0.push(info.batch);
        }
    }

    fn stage_step(stage: usize, step: u64) -> StageStep {
        StageStep {
            epoch: 0,
            stage,
            batch: step,
            step,
            samples: 4,
            loss: 1.0,
            staleness: 0,
            kind: crate::StepKind::Update,
        }
    }

    #[test]
    fn every_passes_one_in_n_and_each_epochs_last_batch() {
        let mut every = Every::new(3, (StepLog::default(), Batches::default()));
        for batch in 0..7 {
            every.on_step(&StepInfo {
                epoch: 0,
                batch,
                batches: 7,
                loss: 0.5,
            });
        }
        for step in 0..4 {
            for stage in 0..2 {
                every.on_stage_step(&stage_step(stage, step));
            }
        }
        let (log, batches) = every.into_inner();
        assert_eq!(batches.0, vec![2, 5, 6]);
        // The third step of each stage, counted per stage.
        let kept: Vec<(usize, u64)> = log.steps.iter().map(|s| (s.stage, s.step)).collect();
        assert_eq!(kept, vec![(0, 2), (1, 2)]);
        assert_eq!(Every::new(0, crate::NoObserver).n, 1);
    }
}
