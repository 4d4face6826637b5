use locus_core::{Error, Float, Result};
use ndarray::{Array2, ArrayView2, Zip};
use serde::{Deserialize, Serialize};

/// How a [`Reconstruction`](crate::Reconstruction) objective scores the decoder's output
/// `x̂` against the stage input `x`. Both losses are summed over the features of a sample
/// and averaged over the batch (the per-example losses of Vincent et al. 2010, §2.3).
///
/// Each is written on the decoder's pre-activation `z`, so the gradient
/// `∂L/∂z` is the plain residual in both cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum ReconstructionLoss {
    /// Squared error with a linear decoder output, `x̂ = z`:
    /// `L = (1/B) Σ_b ½ ‖x̂_b − x_b‖²`, `∂L/∂z = (x̂ − x)/B`.
    #[default]
    Mse,
    /// Binary cross-entropy with a sigmoid output, `x̂ = σ(z)`, for inputs in `[0, 1]`
    /// (pixel intensities; Bengio et al. 2007, §2; Vincent et al. 2010, eq. 2):
    /// `L = (1/B) Σ_b Σ_i [softplus(z_bi) − x_bi z_bi]`, which equals
    /// `−x log x̂ − (1−x) log(1−x̂)` and is computed without overflow;
    /// `∂L/∂z = (σ(z) − x)/B`.
    BinaryCrossEntropy,
}

impl ReconstructionLoss {
    /// The short name used in reports and on the command line (`mse`, `bce`).
    pub fn name(&self) -> &'static str {
        match self {
            ReconstructionLoss::Mse => "mse",
            ReconstructionLoss::BinaryCrossEntropy => "bce",
        }
    }

    /// The reconstruction `x̂` the decoder's pre-activation `z` stands for.
    pub fn reconstruct<F: Float>(&self, z: ArrayView2<'_, F>) -> Array2<F> {
        match self {
            ReconstructionLoss::Mse => z.to_owned(),
            ReconstructionLoss::BinaryCrossEntropy => z.mapv(sigmoid),
        }
    }

    /// The batch-mean loss of pre-activations `z` against targets `x` (both
    /// `[batch, features]`) and its gradient `∂L/∂z`.
    ///
    /// # Errors
    /// [`Error::Shape`] when `z` and `x` differ in shape; [`Error::InvalidParameter`]
    /// naming the first target outside `[0, 1]` for [`ReconstructionLoss::BinaryCrossEntropy`].
    pub fn evaluate<F: Float>(
        &self,
        z: ArrayView2<'_, F>,
        x: ArrayView2<'_, F>,
    ) -> Result<(F, Array2<F>)> {
        if z.dim() != x.dim() {
            return Err(Error::shape(
                format!("{} reconstruction (decoder output)", self.name()),
                format!("[{}, {}] (the flattened stage input)", x.nrows(), x.ncols()),
                z.shape(),
            ));
        }
        let batch = F::cast(x.nrows().max(1) as f64);
        match self {
            ReconstructionLoss::Mse => {
                let residual = &z - &x;
                let half = F::cast(0.5);
                let loss = residual.iter().map(|&r| r * r).sum::<F>() * half / batch;
                Ok((loss, residual / batch))
            }
            ReconstructionLoss::BinaryCrossEntropy => {
                if let Some(((b, i), &v)) = x
                    .indexed_iter()
                    .find(|(_, &v)| !(v >= F::zero() && v <= F::one()))
                {
                    return Err(Error::invalid(
                        &format!("binary cross-entropy reconstruction target at [{b}, {i}]"),
                        "should be in [0, 1] (scale the inputs, or use the mse loss)",
                        v,
                    ));
                }
                let mut loss = F::zero();
                let mut grad = Array2::zeros(z.dim());
                Zip::from(&mut grad).and(&z).and(&x).for_each(|g, &z, &x| {
                    loss += softplus(z) - x * z;
                    *g = (sigmoid(z) - x) / batch;
                });
                Ok((loss / batch, grad))
            }
        }
    }
}

/// `σ(z) = 1 / (1 + e^{−z})`, without overflow for large `|z|`.
fn sigmoid<F: Float>(z: F) -> F {
    if z >= F::zero() {
        F::one() / (F::one() + (-z).exp())
    } else {
        let e = z.exp();
        e / (F::one() + e)
    }
}

/// `log(1 + e^z)`, without overflow for large `|z|`.
fn softplus<F: Float>(z: F) -> F {
    z.max(F::zero()) + (-z.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn mse_is_half_the_squared_error_per_sample() {
        let z = arr2(&[[1.0, 2.0], [0.0, 0.0]]);
        let x = arr2(&[[0.0, 0.0], [1.0, 1.0]]);
        let (loss, grad) = ReconstructionLoss::Mse
            .evaluate(z.view(), x.view())
            .unwrap();
        // (½·5 + ½·2) / 2
        assert!((loss - 1.75f64).abs() < 1e-15);
        assert_eq!(grad, arr2(&[[0.5, 1.0], [-0.5, -0.5]]));
    }

    #[test]
    fn bce_matches_its_definition_and_stays_finite() {
        let z = arr2(&[[0.3f64, -2.0, 800.0, -800.0]]);
        let x = arr2(&[[0.25, 1.0, 1.0, 0.0]]);
        let (loss, grad) = ReconstructionLoss::BinaryCrossEntropy
            .evaluate(z.view(), x.view())
            .unwrap();
        let s = |v: f64| 1.0 / (1.0 + (-v).exp());
        let direct = -(0.25 * s(0.3).ln() + 0.75 * (1.0 - s(0.3)).ln()) - s(-2.0).ln();
        assert!(loss.is_finite() && (loss - direct).abs() < 1e-12, "{loss}");
        assert!((grad[[0, 0]] - (s(0.3) - 0.25)).abs() < 1e-15);
        assert!(grad.iter().all(|g| g.is_finite()));
        let xhat = ReconstructionLoss::BinaryCrossEntropy.reconstruct(z.view());
        assert!(xhat.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn bce_refuses_targets_outside_the_unit_interval() {
        let z = arr2(&[[0.0, 0.0]]);
        let x = arr2(&[[0.5, 1.5]]);
        let e = ReconstructionLoss::BinaryCrossEntropy
            .evaluate(z.view(), x.view())
            .unwrap_err();
        assert!(
            e.to_string().contains("[0, 1]") && e.to_string().contains("1.5"),
            "{e}"
        );
        let e = ReconstructionLoss::Mse
            .evaluate(z.view(), arr2(&[[0.0]]).view())
            .unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
    }
}
