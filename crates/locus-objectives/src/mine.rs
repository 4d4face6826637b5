//! MINE's bias-corrected gradient of the Donsker–Varadhan bound (Belghazi et al. 2018).

use locus_core::{Error, Float, Result};
use ndarray::{Array2, ArrayView2};

use crate::mi_bounds::{dv_bound, estimate_with, CriticBound};
use crate::{Critic, MiEstimate};

/// The state MINE keeps between batches: a moving average of `E_{p⊗p}[e^f]`.
///
/// The batch gradient of `log mean e^f` divides `mean(e^f ∇f)` by the batch's own mean, a
/// biased estimate of the true gradient. MINE divides by an exponential moving average of
/// the denominator instead (Belghazi et al. 2018, §3.2, "Correcting the bias from the
/// stochastic gradients"). The average is kept in the log domain, so scores of any size
/// are safe. Pass the state in and out of each step; it holds no batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MineState {
    log_ema: Option<f64>,
    decay: f64,
}

impl MineState {
    /// A fresh state with moving-average decay `decay` (MINE's `1 − α`; e.g. 0.99). The
    /// first batch initialises the average with its own mean.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a decay outside `[0, 1)`.
    pub fn new(decay: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&decay) {
            return Err(Error::invalid(
                "MINE moving-average decay",
                "should be in [0, 1)",
                decay,
            ));
        }
        Ok(MineState {
            log_ema: None,
            decay,
        })
    }

    /// The decay of the moving average.
    pub fn decay(&self) -> f64 {
        self.decay
    }

    /// The moving average of `E_{p⊗p}[e^f]`, once a batch has been seen.
    pub fn ema(&self) -> Option<f64> {
        self.log_ema.map(f64::exp)
    }

    /// The DV bound of `scores` ([`dv_bound`]) with MINE's corrected gradient: the
    /// moving average is updated with this batch's `mean_{i≠j} e^{s_ij}`, then the
    /// off-diagonal gradient is `e^{s_ij} / (n(n − 1) · ema)` in place of
    /// `e^{s_ij} / Σ_{k≠l} e^{s_kl}`. `bound` and `loss` are the batch's own `I_DV`. With
    /// decay 0 this is exactly [`dv_bound`].
    ///
    /// # Errors
    /// As [`dv_bound`]; the state is unchanged on error.
    pub fn update_scores<F: Float>(&mut self, scores: ArrayView2<'_, F>) -> Result<CriticBound<F>> {
        let b = dv_bound(scores)?;
        let n = scores.nrows();
        let log_pairs = ((n * (n - 1)) as f64).ln();
        // I_DV = mean diag − log mean e^s, so log mean e^s = mean diag − I_DV.
        let diag = (0..n).map(|i| scores[[i, i]].as_f64()).sum::<f64>() / n as f64;
        let log_mean = diag - b.bound;
        let log_ema = match self.log_ema {
            // Decay 0 is the batch's own mean; ln 0 would give NaN in log_add_exp.
            Some(_) if self.decay == 0.0 => log_mean,
            None => log_mean,
            Some(old) => log_add_exp(self.decay.ln() + old, (1.0 - self.decay).ln() + log_mean),
        };
        self.log_ema = Some(log_ema);
        let inv_n = 1.0 / n as f64;
        let grad_scores = Array2::from_shape_fn((n, n), |(i, j)| {
            F::cast(if i == j {
                -inv_n
            } else {
                (scores[[i, j]].as_f64() - log_pairs - log_ema).exp()
            })
        });
        Ok(CriticBound { grad_scores, ..b })
    }

    /// [`MineState::update_scores`] on the scores of `critic` on paired samples `(x_i,
    /// y_i)`, with the corrected gradient carried back to `x`, `y` and the critic's
    /// parameters.
    ///
    /// # Shapes
    /// `x` `[n, dx]`, `y` `[n, dy]`, `n >= 2`.
    ///
    /// # Errors
    /// As [`dv_estimate`](crate::dv_estimate).
    pub fn update<F: Float>(
        &mut self,
        x: ArrayView2<'_, F>,
        y: ArrayView2<'_, F>,
        critic: &dyn Critic<F>,
    ) -> Result<MiEstimate<F>> {
        let mut next = *self;
        let e = estimate_with("MINE", x, y, critic, |s| next.update_scores(s))?;
        *self = next;
        Ok(e)
    }
}

fn log_add_exp(a: f64, b: f64) -> f64 {
    let m = a.max(b);
    m + ((a - m).exp() + (b - m).exp()).ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn the_first_batch_is_the_plain_dv_gradient_and_later_ones_use_the_average() {
        let s = array![[1.0, 0.0, 2.0], [-1.0, 3.0, 0.5], [0.0, 1.0, 2.0]];
        let mut state = MineState::new(0.9).unwrap();
        let first = state.update_scores(s.view()).unwrap();
        assert_eq!(first, dv_bound(s.view()).unwrap());
        let mean = |m: &Array2<f64>| {
            m.indexed_iter()
                .filter(|((i, j), _)| i != j)
                .map(|(_, v)| v.exp())
                .sum::<f64>()
                / 6.0
        };
        assert!((state.ema().unwrap() - mean(&s)).abs() < 1e-12);
        let t = &s + 1.0;
        let second = state.update_scores(t.view()).unwrap();
        let ema = 0.9 * mean(&s) + 0.1 * mean(&t);
        assert!((state.ema().unwrap() - ema).abs() < 1e-12);
        assert!((second.grad_scores[[0, 2]] - t[[0, 2]].exp() / (6.0 * ema)).abs() < 1e-12);
        assert_eq!(second.bound, dv_bound(t.view()).unwrap().bound);
        // Decay 0: always the batch's own gradient.
        let mut plain = MineState::new(0.0).unwrap();
        plain.update_scores(s.view()).unwrap();
        assert_eq!(
            plain.update_scores(t.view()).unwrap(),
            dv_bound(t.view()).unwrap()
        );
        assert!(MineState::new(1.0).is_err());
        assert!(MineState::new(f64::NAN).is_err());
    }

    #[test]
    fn a_failed_update_leaves_the_state_alone() {
        let mut state = MineState::new(0.5).unwrap();
        assert!(state
            .update_scores(array![[f64::NAN, 0.0], [0.0, 0.0]].view())
            .is_err());
        assert_eq!(state.ema(), None);
    }
}
