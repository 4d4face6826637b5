//! Pairs of correlated Gaussian vectors whose mutual information is known in closed form:
//! the standard test bed of mutual-information estimators (used by Belghazi et al. 2018,
//! MINE, and Poole et al. 2019, "On variational bounds of mutual information").

use locus_core::{seeded_rng, Error};
use ndarray::Array2;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::Result;

/// `n` pairs `(x, y)` of `dim`-dimensional standard normal vectors with
/// `y_d = ρ x_d + √(1 − ρ²) ε_d`, every coordinate pair independent of the others, so that
/// `corr(x_d, y_d) = ρ` and
///
/// `I(X; Y) = −(dim / 2) · ln(1 − ρ²)` nats.
///
/// An InfoNCE estimate with `n` pairs can reach at most `ln n`; pick `dim` and `ρ` with
/// [`CorrelatedGaussians::with_mutual_information`] to put the truth below or above it.
///
/// # Example
/// ```
/// use locus_data::CorrelatedGaussians;
///
/// let pairs = CorrelatedGaussians::with_mutual_information(4, 2.0).unwrap();
/// assert!((pairs.mutual_information() - 2.0).abs() < 1e-12);
/// let (x, y) = pairs.sample(1000, 7);
/// assert_eq!((x.dim(), y.dim()), ((1000, 4), (1000, 4)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CorrelatedGaussians {
    dim: usize,
    rho: f64,
}

impl CorrelatedGaussians {
    /// Pairs of `dim`-dimensional vectors with per-coordinate correlation `rho`.
    ///
    /// # Errors
    /// [`DataError::Core`](crate::DataError::Core) (invalid parameter) for `dim = 0` or
    /// `rho` outside `(−1, 1)`.
    pub fn new(dim: usize, rho: f64) -> Result<Self> {
        if dim == 0 {
            return Err(
                Error::invalid("correlated Gaussian dimension", "should be >= 1", 0).into(),
            );
        }
        if rho.is_nan() || rho.abs() >= 1.0 {
            return Err(Error::invalid(
                "correlated Gaussian correlation ρ",
                "should be in (-1, 1) (ρ = ±1 has infinite mutual information)",
                rho,
            )
            .into());
        }
        Ok(CorrelatedGaussians { dim, rho })
    }

    /// Pairs of `dim`-dimensional vectors whose mutual information is `nats`:
    /// `ρ = √(1 − e^{−2·nats/dim})`.
    ///
    /// # Errors
    /// As [`CorrelatedGaussians::new`], and for `nats` not finite and >= 0.
    pub fn with_mutual_information(dim: usize, nats: f64) -> Result<Self> {
        if !(nats.is_finite() && nats >= 0.0) {
            return Err(Error::invalid(
                "target mutual information",
                "should be finite and >= 0",
                nats,
            )
            .into());
        }
        let rho = (1.0 - (-2.0 * nats / dim.max(1) as f64).exp()).sqrt();
        Self::new(dim, rho)
    }

    /// The dimension of `x` and of `y`.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The per-coordinate correlation `ρ`.
    pub fn rho(&self) -> f64 {
        self.rho
    }

    /// The true mutual information `−(dim / 2) · ln(1 − ρ²)`, in nats.
    pub fn mutual_information(&self) -> f64 {
        -0.5 * self.dim as f64 * (1.0 - self.rho * self.rho).ln()
    }

    /// `n` pairs, `x` and `y` each `[n, dim]`, drawn from a stream fixed by `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> (Array2<f64>, Array2<f64>) {
        let mut rng = seeded_rng(seed);
        let noise = (1.0 - self.rho * self.rho).sqrt();
        let mut x = Array2::zeros((n, self.dim));
        let mut y = Array2::zeros((n, self.dim));
        for (xv, yv) in x.iter_mut().zip(y.iter_mut()) {
            let a: f64 = StandardNormal.sample(&mut rng);
            let e: f64 = StandardNormal.sample(&mut rng);
            *xv = a;
            *yv = self.rho * a + noise * e;
        }
        (x, y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_have_the_asked_correlation_and_unit_variance() {
        let pairs = CorrelatedGaussians::new(3, 0.6).unwrap();
        let (x, y) = pairs.sample(20_000, 1);
        for d in 0..3 {
            let (xs, ys) = (x.column(d), y.column(d));
            let n = xs.len() as f64;
            let (mx, my) = (xs.sum() / n, ys.sum() / n);
            let vx = xs.iter().map(|v| (v - mx).powi(2)).sum::<f64>() / n;
            let vy = ys.iter().map(|v| (v - my).powi(2)).sum::<f64>() / n;
            let c = xs
                .iter()
                .zip(ys)
                .map(|(a, b)| (a - mx) * (b - my))
                .sum::<f64>()
                / n;
            // Standard errors at n = 20000 are about 0.01.
            assert!(
                (vx - 1.0).abs() < 0.05 && (vy - 1.0).abs() < 0.05,
                "{vx} {vy}"
            );
            assert!((c / (vx * vy).sqrt() - 0.6).abs() < 0.03, "{c}");
        }
        // Different coordinates are independent.
        let cross = x
            .column(0)
            .iter()
            .zip(y.column(1))
            .map(|(a, b)| a * b)
            .sum::<f64>()
            / 20_000.0;
        assert!(cross.abs() < 0.05, "{cross}");
    }

    #[test]
    fn mutual_information_round_trips_and_bad_values_are_refused() {
        for (dim, nats) in [(1, 0.1), (4, 2.0), (20, 10.0)] {
            let p = CorrelatedGaussians::with_mutual_information(dim, nats).unwrap();
            assert!((p.mutual_information() - nats).abs() < 1e-9);
        }
        assert_eq!(
            CorrelatedGaussians::new(2, 0.0)
                .unwrap()
                .mutual_information(),
            0.0
        );
        assert!(CorrelatedGaussians::new(0, 0.5).is_err());
        let e = CorrelatedGaussians::new(2, 1.0).unwrap_err();
        assert!(e.to_string().contains("ρ"), "{e}");
        assert!(CorrelatedGaussians::new(2, f64::NAN).is_err());
        assert!(CorrelatedGaussians::with_mutual_information(2, -1.0).is_err());
        let p = CorrelatedGaussians::new(2, 0.3).unwrap();
        assert_eq!(p.sample(5, 3), p.sample(5, 3));
    }
}
