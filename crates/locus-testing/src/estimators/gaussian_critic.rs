//! The optimal InfoNCE critic for pairs of correlated Gaussian vectors.

use locus_core::{matmul, Error, Result};
use locus_objectives::{Critic, CriticGradients};
use ndarray::{Array2, ArrayView2, Axis};

/// The true log density ratio of `locus_data::CorrelatedGaussians` with correlation `ρ`:
///
/// `f(x, y) = log p(y | x) / p(y) = Σ_d [ρ x_d y_d − ρ²(x_d² + y_d²)/2] / (1 − ρ²) − (dim/2) ln(1 − ρ²)`,
///
/// the critic with which InfoNCE's bound is tightest (Oord et al. 2018, eq. 2 and
/// appendix A.1). Its scores are exact log ratios, so `E[f(x, y)]` over pairs is the true
/// mutual information.
///
/// # Shapes
/// `x` `[n, dim]`, `y` `[m, dim]`, scores `[n, m]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianLogRatioCritic {
    rho: f64,
}

impl GaussianLogRatioCritic {
    /// The critic of pairs with per-coordinate correlation `rho`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for `rho` outside `(−1, 1)`.
    pub fn new(rho: f64) -> Result<Self> {
        if rho.is_nan() || rho.abs() >= 1.0 {
            return Err(Error::invalid(
                "Gaussian critic correlation ρ",
                "should be in (-1, 1)",
                rho,
            ));
        }
        Ok(GaussianLogRatioCritic { rho })
    }

    fn check(x: &ArrayView2<'_, f64>, y: &ArrayView2<'_, f64>) -> Result<()> {
        if x.nrows() == 0 || x.ncols() == 0 {
            return Err(Error::shape(
                "Gaussian critic x",
                "[n >= 1, dim >= 1]",
                x.shape(),
            ));
        }
        if y.nrows() == 0 || y.ncols() != x.ncols() {
            return Err(Error::shape(
                "Gaussian critic y",
                format!("[m >= 1, {}]", x.ncols()),
                y.shape(),
            ));
        }
        Ok(())
    }
}

impl Critic<f64> for GaussianLogRatioCritic {
    fn name(&self) -> String {
        format!("gaussian-log-ratio(ρ={})", self.rho)
    }

    fn scores(&self, x: ArrayView2<'_, f64>, y: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
        Self::check(&x, &y)?;
        let (r, v) = (self.rho, 1.0 - self.rho * self.rho);
        let constant = -0.5 * x.ncols() as f64 * v.ln();
        let xx = x.map_axis(Axis(1), |row| row.dot(&row));
        let yy = y.map_axis(Axis(1), |row| row.dot(&row));
        let mut s = matmul(&x, &y.t()) * (r / v);
        for ((i, j), value) in s.indexed_iter_mut() {
            *value += constant - r * r * (xx[i] + yy[j]) / (2.0 * v);
        }
        Ok(s)
    }

    fn backward(
        &self,
        x: ArrayView2<'_, f64>,
        y: ArrayView2<'_, f64>,
        grad_scores: ArrayView2<'_, f64>,
    ) -> Result<CriticGradients<f64>> {
        Self::check(&x, &y)?;
        if grad_scores.dim() != (x.nrows(), y.nrows()) {
            return Err(Error::shape(
                "Gaussian critic grad_scores",
                format!("[{}, {}]", x.nrows(), y.nrows()),
                grad_scores.shape(),
            ));
        }
        let (r, v) = (self.rho, 1.0 - self.rho * self.rho);
        // ∂f/∂x_i = (ρ y_j − ρ² x_i)/v, ∂f/∂y_j = (ρ x_i − ρ² y_j)/v.
        let row_sums = grad_scores.sum_axis(Axis(1)).insert_axis(Axis(1));
        let col_sums = grad_scores.sum_axis(Axis(0)).insert_axis(Axis(1));
        let gx = (matmul(&grad_scores, &y) * r - &(&x * &row_sums) * (r * r)) / v;
        let gy = (matmul(&grad_scores.t(), &x) * r - &(&y * &col_sums) * (r * r)) / v;
        Ok(CriticGradients {
            x: gx,
            y: gy,
            params: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn scores_are_the_log_density_ratio() {
        // One dimension, ρ = 0.5: log N(y; ρx, 1−ρ²) − log N(y; 0, 1).
        let critic = GaussianLogRatioCritic::new(0.5).unwrap();
        let (x, y) = (array![[0.3]], array![[-1.2]]);
        let s = critic.scores(x.view(), y.view()).unwrap()[[0, 0]];
        let v: f64 = 0.75;
        let log_conditional = -0.5 * (-1.2 - 0.15f64).powi(2) / v - 0.5 * v.ln();
        let log_marginal = -0.5 * 1.44;
        assert!((s - (log_conditional - log_marginal)).abs() < 1e-12);
        assert!(GaussianLogRatioCritic::new(1.0).is_err());
        assert!(critic.scores(x.view(), array![[1.0, 2.0]].view()).is_err());
    }
}
