//! Where an InfoNCE objective draws each anchor's negatives from.

use locus_core::{Error, Result, SeededRng};
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// How an [`InfoNce`](crate::InfoNce) objective draws the negatives of each anchor, from a
/// batch of `batch` samples with `positions` representations each. Negatives are drawn
/// uniformly with replacement and never equal the anchor's positive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum NegativeSampling {
    /// Any position of any sample of the batch: negatives from other positions and other
    /// samples of the minibatch, as CPC and Greedy InfoMax draw them (Oord et al. 2018;
    /// Löwe et al. 2019).
    #[default]
    Batch,
    /// Other positions of the anchor's own sample: the negatives differ only in what is
    /// local, so the representation must encode more than sample identity.
    SameSample,
    /// Any position of the other samples of the batch (needs a batch of two or more).
    OtherSamples,
}

impl NegativeSampling {
    /// A short name for reports: `batch`, `same-sample` or `other-samples`.
    pub fn short_name(self) -> &'static str {
        match self {
            NegativeSampling::Batch => "batch",
            NegativeSampling::SameSample => "same-sample",
            NegativeSampling::OtherSamples => "other-samples",
        }
    }

    /// Checks that this sampling can draw from a batch of `batch` samples with
    /// `positions` rows each (at least one row besides the positive).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the sampling and the batch that cannot serve it.
    pub fn check(self, batch: usize, positions: usize) -> Result<()> {
        let pool = match self {
            NegativeSampling::Batch => (batch * positions).saturating_sub(1),
            NegativeSampling::SameSample => positions.saturating_sub(1),
            NegativeSampling::OtherSamples => batch.saturating_sub(1) * positions,
        };
        if pool == 0 {
            return Err(Error::invalid(
                &format!("InfoNCE negative sampling '{}'", self.short_name()),
                "needs at least one candidate besides the positive",
                format!("a batch of {batch} samples with {positions} positions each"),
            ));
        }
        Ok(())
    }

    /// Appends `count` negatives for the positive at row `positive` (rows are
    /// `sample · positions + position`) to `out`. The caller has checked the sampling
    /// with [`NegativeSampling::check`].
    pub(crate) fn draw(
        self,
        (batch, positions): (usize, usize),
        positive: usize,
        count: usize,
        rng: &mut SeededRng,
        out: &mut Vec<usize>,
    ) {
        let sample = positive / positions;
        for _ in 0..count {
            let row = match self {
                NegativeSampling::Batch => {
                    let r = rng.random_range(0..batch * positions - 1);
                    if r >= positive {
                        r + 1
                    } else {
                        r
                    }
                }
                NegativeSampling::SameSample => {
                    let own = positive % positions;
                    let r = rng.random_range(0..positions - 1);
                    sample * positions + if r >= own { r + 1 } else { r }
                }
                NegativeSampling::OtherSamples => {
                    let r = rng.random_range(0..(batch - 1) * positions);
                    let other = r / positions;
                    let other = if other >= sample { other + 1 } else { other };
                    other * positions + r % positions
                }
            };
            out.push(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::seeded_rng;

    #[test]
    fn negatives_come_from_where_the_sampling_says_and_never_equal_the_positive() {
        let (batch, positions) = (3, 4);
        let mut rng = seeded_rng(0);
        for positive in 0..batch * positions {
            for sampling in [
                NegativeSampling::Batch,
                NegativeSampling::SameSample,
                NegativeSampling::OtherSamples,
            ] {
                let mut out = Vec::new();
                sampling.draw((batch, positions), positive, 200, &mut rng, &mut out);
                assert_eq!(out.len(), 200);
                for &r in &out {
                    assert!(r < batch * positions && r != positive);
                    let same = r / positions == positive / positions;
                    match sampling {
                        NegativeSampling::SameSample => assert!(same),
                        NegativeSampling::OtherSamples => assert!(!same),
                        NegativeSampling::Batch => {}
                    }
                }
                // Every allowed row is reachable: 200 draws cover at most 11 candidates.
                let distinct: std::collections::BTreeSet<_> = out.iter().collect();
                let pool = match sampling {
                    NegativeSampling::Batch => 11,
                    NegativeSampling::SameSample => 3,
                    NegativeSampling::OtherSamples => 8,
                };
                assert_eq!(distinct.len(), pool, "{sampling:?}");
            }
        }
    }

    #[test]
    fn a_batch_that_cannot_serve_the_sampling_is_refused() {
        assert!(NegativeSampling::OtherSamples.check(1, 5).is_err());
        assert!(NegativeSampling::SameSample.check(4, 1).is_err());
        assert!(NegativeSampling::Batch.check(1, 1).is_err());
        assert!(NegativeSampling::Batch.check(1, 2).is_ok());
        let e = NegativeSampling::OtherSamples.check(1, 5).unwrap_err();
        assert!(e.to_string().contains("other-samples"), "{e}");
    }
}
