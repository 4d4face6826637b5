//! HSIC, the Hilbert–Schmidt independence criterion, estimated from two kernel matrices
//! of the same batch, with exact gradients with respect to the matrices and the rows.

use locus_core::{Error, Float, Result, Tensor};
use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::hsic_cca::nocco;
use crate::kernel::{batch_rows, grad_of, matrix_of};
use crate::Kernel;

/// An estimator of HSIC from the `[b, b]` kernel matrices `K` (of `x`) and `L` (of `y`)
/// of `b` paired samples. `H = I − 11ᵀ/b` is the centring matrix.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum HsicEstimator {
    /// `tr(K H L H) / (b − 1)²`, the biased V-statistic (Gretton et al. 2005, "Measuring
    /// statistical dependence with Hilbert-Schmidt norms", Definition 2). Never negative
    /// for positive semi-definite kernels; its bias is `O(1/b)`. Needs `b >= 2`. The
    /// reference code of Ma et al. 2020 (`hsic_regular`) divides by `b²` instead.
    Biased,
    /// The unbiased U-statistic of Song et al. 2012 ("Feature selection via dependence
    /// maximization", JMLR, eq. 5): with `K̃`, `L̃` the matrices with their diagonals
    /// zeroed, `[tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((b−1)(b−2)) − 2/(b−2)·1ᵀK̃L̃1] / (b(b−3))`. Its
    /// expectation is exactly 0 for independent samples, so it can be negative. Needs
    /// `b >= 4`.
    Unbiased,
    /// `HSIC(K, L) / √(HSIC(K, K)·HSIC(L, L))` with the biased estimator: the cosine of
    /// the centred matrices `HKH` and `HLH`, in `[0, 1]` for positive semi-definite
    /// kernels and 1 when `K = L` (the centred kernel alignment; `hsic_normalized` in
    /// the reference code of Ma et al. 2020). Needs `b >= 2` and neither representation
    /// constant.
    Normalized,
    /// The normalised HSIC the HSIC bottleneck trains with (Ma et al. 2020, after the
    /// NOCCO measure of Fukumizu et al. 2008, "Kernel measures of conditional
    /// dependence"), exactly as the reference code's `hsic_normalized_cca` computes it:
    /// `tr(R_K R_L)` with `R_K = K H (K H + ε b I)⁻¹`. Fukumizu et al. centre on both
    /// sides (`HKH`); the reference code, and this, only on the right. Unlike the others
    /// it is not 0 for independent data: it has a baseline that grows with `b` and as `ε`
    /// shrinks (towards `b − 1` for full-rank kernels), and `tr(R_K R_K) ≠ 1`. `O(b³)`
    /// time (two `b × b` inverses). The reference uses `ε = 1e-5`. Needs `b >= 2`.
    NormalizedCca {
        /// The regulariser `ε`, finite and > 0.
        epsilon: f64,
    },
}

impl HsicEstimator {
    /// The smallest batch the estimator is defined on: 4 for [`HsicEstimator::Unbiased`],
    /// 2 for the others.
    pub fn min_batch(&self) -> usize {
        match self {
            HsicEstimator::Unbiased => 4,
            _ => 2,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            HsicEstimator::Biased => "biased HSIC",
            HsicEstimator::Unbiased => "unbiased HSIC",
            HsicEstimator::Normalized => "normalised HSIC",
            HsicEstimator::NormalizedCca { .. } => "normalised HSIC (NOCCO)",
        }
    }

    /// Checks the estimator's parameter and that a batch of `b` is large enough.
    fn check(&self, b: usize) -> Result<()> {
        if let HsicEstimator::NormalizedCca { epsilon } = *self {
            if !(epsilon.is_finite() && epsilon > 0.0) {
                return Err(Error::invalid(
                    "NOCCO regulariser ε",
                    "should be finite and > 0",
                    epsilon,
                ));
            }
        }
        if b < self.min_batch() {
            return Err(Error::invalid(
                &format!("batch size of the {} estimator", self.name()),
                &format!("should be >= {}", self.min_batch()),
                b,
            ));
        }
        Ok(())
    }

    /// The value and both matrix gradients, on checked `f64` matrices.
    fn eval(&self, k: &Array2<f64>, l: &Array2<f64>) -> Result<Grads> {
        match *self {
            HsicEstimator::Biased => Ok(biased(k, l)),
            HsicEstimator::Unbiased => Ok(unbiased(k, l)),
            HsicEstimator::Normalized => normalized(k, l),
            HsicEstimator::NormalizedCca { epsilon } => nocco(k, l, epsilon),
        }
    }
}

/// An estimate and its gradients with respect to the two kernel matrices, each entry
/// taken as its own variable (so the gradients need not be symmetric).
#[derive(Debug, Clone, PartialEq)]
pub struct HsicGradients<F> {
    /// The estimate.
    pub value: f64,
    /// `∂value/∂K`, `[b, b]`.
    pub grad_k: Array2<F>,
    /// `∂value/∂L`, `[b, b]`.
    pub grad_l: Array2<F>,
}

/// An estimate and its matrix gradients in `f64`.
pub(crate) struct Grads {
    pub(crate) value: f64,
    pub(crate) k: Array2<f64>,
    pub(crate) l: Array2<f64>,
}

/// `H M H`: `M` with its row and column means removed.
fn centre(m: &Array2<f64>) -> Array2<f64> {
    let b = m.nrows() as f64;
    let rows = m.sum_axis(Axis(1)) / b;
    let cols = m.sum_axis(Axis(0)) / b;
    let all = rows.sum() / b;
    Array2::from_shape_fn(m.dim(), |(i, j)| m[[i, j]] - rows[i] - cols[j] + all)
}

fn biased(k: &Array2<f64>, l: &Array2<f64>) -> Grads {
    let scale = 1.0 / ((k.nrows() - 1) as f64).powi(2);
    let (hkh, hlh) = (centre(k), centre(l));
    // tr(KHLH) = Σ_ij K_ij (HLH)_ji.
    Grads {
        value: (k * &hlh.t()).sum() * scale,
        k: hlh.t().to_owned() * scale,
        l: hkh.t().to_owned() * scale,
    }
}

fn unbiased(k: &Array2<f64>, l: &Array2<f64>) -> Grads {
    let n = k.nrows() as f64;
    let off_diagonal = |m: &Array2<f64>| {
        let mut m = m.clone();
        m.diag_mut().fill(0.0);
        m
    };
    let (kt, lt) = (off_diagonal(k), off_diagonal(l));
    let (sum_k, sum_l) = (kt.sum(), lt.sum());
    // 1ᵀK̃L̃1 = Σ_j s_j r_j with s the column sums of K̃, r the row sums of L̃.
    let (s, r) = (kt.sum_axis(Axis(0)), lt.sum_axis(Axis(1)));
    let (a, c, z) = (
        1.0 / ((n - 1.0) * (n - 2.0)),
        2.0 / (n - 2.0),
        1.0 / (n * (n - 3.0)),
    );
    let value = z * ((&kt * &lt.t()).sum() + a * sum_k * sum_l - c * s.dot(&r));
    let grad = |other: &Array2<f64>, other_sum: f64, pick: &dyn Fn(usize, usize) -> f64| {
        let mut g = Array2::from_shape_fn(other.dim(), |(i, j)| {
            z * (other[[j, i]] + a * other_sum - c * pick(i, j))
        });
        g.diag_mut().fill(0.0);
        g
    };
    Grads {
        value,
        k: grad(&lt, sum_l, &|_, j| r[j]),
        l: grad(&kt, sum_k, &|i, _| s[i]),
    }
}

fn normalized(k: &Array2<f64>, l: &Array2<f64>) -> Result<Grads> {
    let (kl, kk, ll) = (biased(k, l), biased(k, k), biased(l, l));
    for (name, self_hsic, m) in [("x (K)", &kk, k), ("y (L)", &ll, l)] {
        // HSIC(K, K) = ‖HKH‖²/(b−1)²: zero up to rounding when every row is the same.
        let norm = (m * m).sum() * ((m.nrows() - 1) as f64).powi(2);
        if self_hsic.value.is_nan() || self_hsic.value <= 1e-24 * norm {
            return Err(Error::invalid(
                &format!("normalised HSIC: HSIC of {name} with itself"),
                "should be > 0 (the representation is constant up to rounding)",
                self_hsic.value,
            ));
        }
    }
    let root = (kk.value * ll.value).sqrt();
    let value = kl.value / root;
    // ∂HSIC(K, K)/∂K = both of its gradients, K being both arguments.
    Ok(Grads {
        value,
        k: kl.k / root - (kk.k + &kk.l) * (0.5 * value / kk.value),
        l: kl.l / root - (ll.k + &ll.l) * (0.5 * value / ll.value),
    })
}

/// Checks two kernel matrices are square, of one size `b` the estimator accepts, finite,
/// and copies them to `f64`.
fn matrices<F: Float>(
    k: ArrayView2<'_, F>,
    l: ArrayView2<'_, F>,
    estimator: HsicEstimator,
) -> Result<(Array2<f64>, Array2<f64>)> {
    let b = k.nrows();
    if k.ncols() != b {
        return Err(Error::shape("HSIC kernel matrix K", "[b, b]", k.shape()));
    }
    if l.dim() != (b, b) {
        return Err(Error::shape(
            "HSIC kernel matrix L (the size of K)",
            format!("[{b}, {b}]"),
            l.shape(),
        ));
    }
    estimator.check(b)?;
    for (name, m) in [("K", k.view()), ("L", l.view())] {
        if let Some(((i, j), v)) = m.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFinite {
                context: format!("HSIC kernel matrix {name} at [{i}, {j}] ({v})"),
            });
        }
    }
    Ok((k.mapv(|v| v.as_f64()), l.mapv(|v| v.as_f64())))
}

/// The estimate of `estimator` from the kernel matrices `k` and `l` (`[b, b]`, symmetric
/// as kernel matrices are), and its exact gradients with respect to both. Memory: about
/// eight `[b, b]` matrices of `f64`.
///
/// # Errors
/// [`Error::Shape`] when the matrices are not square of one size;
/// [`Error::InvalidParameter`] naming the batch size when it is below
/// [`HsicEstimator::min_batch`], naming `ε` when it is not finite and > 0, or for
/// [`HsicEstimator::Normalized`] naming the self-HSIC of a constant representation;
/// [`Error::NonFinite`] naming the first NaN or infinite entry.
pub fn hsic_matrix_grad<F: Float>(
    k: ArrayView2<'_, F>,
    l: ArrayView2<'_, F>,
    estimator: HsicEstimator,
) -> Result<HsicGradients<F>> {
    let (k, l) = matrices(k, l, estimator)?;
    let g = estimator.eval(&k, &l)?;
    Ok(HsicGradients {
        value: g.value,
        grad_k: g.k.mapv(F::cast),
        grad_l: g.l.mapv(F::cast),
    })
}

fn value<F: Float>(
    k: ArrayView2<'_, F>,
    l: ArrayView2<'_, F>,
    estimator: HsicEstimator,
) -> Result<f64> {
    let (k, l) = matrices(k, l, estimator)?;
    Ok(estimator.eval(&k, &l)?.value)
}

/// Biased HSIC, `tr(K H L H) / (b − 1)²` (Gretton et al. 2005, Definition 2); see
/// [`HsicEstimator::Biased`].
///
/// # Errors
/// As [`hsic_matrix_grad`]; `b >= 2`.
///
/// # Example
/// ```
/// use locus_objectives::{hsic_biased, kernel_matrix, Kernel};
/// use ndarray::array;
///
/// // Linear kernels: HSIC is (x_c·y_c)²/(b−1)² for centred columns x_c, y_c.
/// let x = array![[0.0], [1.0], [2.0], [3.0]].into_dyn();
/// let k = kernel_matrix(&x, Kernel::Linear).unwrap();
/// assert!((hsic_biased(k.view(), k.view()).unwrap() - 25.0 / 9.0).abs() < 1e-12);
/// ```
pub fn hsic_biased<F: Float>(k: ArrayView2<'_, F>, l: ArrayView2<'_, F>) -> Result<f64> {
    value(k, l, HsicEstimator::Biased)
}

/// Unbiased HSIC (Song et al. 2012, eq. 5); see [`HsicEstimator::Unbiased`].
///
/// # Errors
/// As [`hsic_matrix_grad`]; `b >= 4`.
pub fn hsic_unbiased<F: Float>(k: ArrayView2<'_, F>, l: ArrayView2<'_, F>) -> Result<f64> {
    value(k, l, HsicEstimator::Unbiased)
}

/// Normalised HSIC, `HSIC(K, L) / √(HSIC(K, K)·HSIC(L, L))` with the biased estimator;
/// see [`HsicEstimator::Normalized`].
///
/// # Errors
/// As [`hsic_matrix_grad`]; `b >= 2`, and an error when either representation is
/// constant (its centred kernel matrix is zero).
pub fn nhsic<F: Float>(k: ArrayView2<'_, F>, l: ArrayView2<'_, F>) -> Result<f64> {
    value(k, l, HsicEstimator::Normalized)
}

/// `estimator`'s HSIC between the representations `x` (`[b, dx]`) and `y` (`[b, dy]`)
/// under the kernels `kx` and `ky`, and its exact gradient with respect to `x`
/// (`[b, dx]`): the matrix gradient of [`hsic_matrix_grad`] taken through
/// [`kernel_grad`](crate::kernel_grad). With [`Kernel::GaussianMedian`], `σ` is the
/// batch's median held constant (it is the exact gradient at that `σ`).
///
/// Memory: the two kernel matrices (`b²` entries each) and about eight `[b, b]` work
/// matrices of `f64`, whatever the widths.
///
/// # Errors
/// [`Error::Shape`] when `x` or `y` is not a `[b >= 1, d]` matrix or their row counts
/// differ; [`Error::NonFinite`] naming the first NaN or infinite entry;
/// [`Error::InvalidParameter`] naming a bad `σ`, `c` or `ε`, a batch size below
/// [`HsicEstimator::min_batch`], or the self-HSIC of a constant representation with
/// [`HsicEstimator::Normalized`].
///
/// # Example
/// ```
/// use locus_objectives::{hsic_with_grad, HsicEstimator, Kernel};
/// use ndarray::array;
///
/// let x = array![[0.0, 1.0], [1.0, 0.5], [2.0, -1.0], [3.0, 0.0]].into_dyn();
/// let y = array![[0.1], [0.9], [2.2], [2.9]].into_dyn();
/// let (nhsic, grad) =
///     hsic_with_grad(&x, &y, Kernel::GaussianMedian, Kernel::Linear, HsicEstimator::Normalized)
///         .unwrap();
/// assert!(nhsic > 0.0 && nhsic <= 1.0);
/// assert_eq!(grad.shape(), [4, 2]);
/// ```
pub fn hsic_with_grad<F: Float>(
    x: &Tensor<F>,
    y: &Tensor<F>,
    kx: Kernel,
    ky: Kernel,
    estimator: HsicEstimator,
) -> Result<(f64, Tensor<F>)> {
    let xr = batch_rows(x, "HSIC x")?;
    let yr = batch_rows(y, "HSIC y")?;
    if yr.nrows() != xr.nrows() {
        return Err(Error::shape(
            "HSIC y (one row per row of x)",
            format!("[{}, features]", xr.nrows()),
            y.shape(),
        ));
    }
    estimator.check(xr.nrows())?;
    let (kx, ky) = (kx.resolve_rows(&xr)?, ky.resolve_rows(&yr)?);
    let k = matrix_of(kx, &xr);
    let g = estimator.eval(&k, &matrix_of(ky, &yr))?;
    let grad = grad_of(kx, &xr, &k, &g.k);
    Ok((g.value, grad.mapv(F::cast).into_dyn()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel_matrix;
    use ndarray::array;

    fn linear(v: &[f64]) -> Array2<f64> {
        let x = Array2::from_shape_vec((v.len(), 1), v.to_vec()).unwrap();
        kernel_matrix(&x.into_dyn(), Kernel::Linear).unwrap()
    }

    #[test]
    fn linear_kernels_give_squared_covariances() {
        // x_c = (−1.5, −0.5, 0.5, 1.5), y_c = (0, −1, −1, 2): x_c·y_c = 3, ‖x_c‖² = 5,
        // ‖y_c‖² = 6, and tr(KHLH) = (x_c·y_c)² for rank-one linear kernels.
        let (k, l) = (linear(&[0.0, 1.0, 2.0, 3.0]), linear(&[1.0, 0.0, 0.0, 3.0]));
        assert!((hsic_biased(k.view(), l.view()).unwrap() - 1.0).abs() < 1e-12);
        assert!((hsic_biased(k.view(), k.view()).unwrap() - 25.0 / 9.0).abs() < 1e-12);
        assert!((nhsic(k.view(), l.view()).unwrap() - 9.0 / 30.0).abs() < 1e-12);
        assert!((nhsic(k.view(), k.view()).unwrap() - 1.0).abs() < 1e-12);
        // (1, 0, 0, 1) depends on x only through (x − 1.5)²: invisible to linear kernels.
        let even = linear(&[1.0, 0.0, 0.0, 1.0]);
        assert!(hsic_biased(k.view(), even.view()).unwrap().abs() < 1e-15);
    }

    #[test]
    fn the_unbiased_estimator_matches_eq_5_by_hand() {
        // b = 4, x = (0, 1, 2, 3), y = (1, 0, 0, 3), linear kernels (K_ij = x_i x_j):
        // tr(K̃L̃) = Σ_{i≠j} x_i x_j y_i y_j = (Σ x_i y_i)² − Σ x_i² y_i² = 81 − 81 = 0,
        // 1ᵀK̃1 = 36 − 14 = 22, 1ᵀL̃1 = 16 − 10 = 6,
        // 1ᵀK̃L̃1 = Σ_j (6 − x_j) x_j (4 − y_j) y_j = 0 + 0 + 0 + 3·3·1·3 = 27,
        // so HSIC = [0 + 22·6/6 − 2·27/2] / 4 = (22 − 27)/4.
        let (k, l) = (linear(&[0.0, 1.0, 2.0, 3.0]), linear(&[1.0, 0.0, 0.0, 3.0]));
        let u = hsic_unbiased(k.view(), l.view()).unwrap();
        assert!((u - (-1.25)).abs() < 1e-12, "{u}");
        let swapped = hsic_unbiased(l.view(), k.view()).unwrap();
        assert!((u - swapped).abs() < 1e-12);
    }

    #[test]
    fn a_constant_representation_has_zero_hsic() {
        let (k, c) = (
            linear(&[0.0, 1.0, 2.0, 3.0]),
            Array2::from_elem((4, 4), 0.7),
        );
        assert!(hsic_biased(c.view(), k.view()).unwrap().abs() < 1e-15);
        assert!(hsic_unbiased(c.view(), k.view()).unwrap().abs() < 1e-14);
        let e = nhsic(c.view(), k.view()).unwrap_err();
        assert!(e.to_string().contains("constant"), "{e}");
    }

    #[test]
    fn bad_inputs_are_refused_naming_the_value() {
        let k3 = linear(&[0.0, 1.0, 2.0]);
        let e = hsic_unbiased(k3.view(), k3.view()).unwrap_err();
        assert!(e.to_string().contains(">= 4, but it is 3"), "{e}");
        let k1 = linear(&[1.0]);
        assert!(hsic_biased(k1.view(), k1.view()).is_err());
        let k4 = linear(&[0.0, 1.0, 2.0, 3.0]);
        let e = hsic_biased(k4.view(), k3.view()).unwrap_err();
        assert!(e.to_string().contains("[4, 4]"), "{e}");
        let e = hsic_biased(array![[1.0, 2.0]].view(), k3.view()).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let mut nan = k4.clone();
        nan[[2, 1]] = f64::NAN;
        let e = nhsic(k4.view(), nan.view()).unwrap_err();
        assert!(e.to_string().contains("L at [2, 1] (NaN)"), "{e}");
        let x = array![[0.0], [1.0], [2.0], [3.0]].into_dyn();
        let y = array![[0.0], [1.0], [2.0]].into_dyn();
        let (g, lin) = (Kernel::Gaussian { sigma: 1.0 }, Kernel::Linear);
        let e = hsic_with_grad(&x, &y, g, lin, HsicEstimator::Biased).unwrap_err();
        assert!(e.to_string().contains("one row per row of x"), "{e}");
        let bad = Kernel::Gaussian { sigma: -2.0 };
        let e = hsic_with_grad(&x, &x, lin, bad, HsicEstimator::Biased).unwrap_err();
        assert!(e.to_string().contains("-2"), "{e}");
        let mut inf = x.clone();
        inf[[3, 0]] = f64::NEG_INFINITY;
        let e = hsic_with_grad(&x, &inf, g, g, HsicEstimator::Biased).unwrap_err();
        assert!(
            e.to_string().contains("HSIC y at row 3, column 0 (-inf)"),
            "{e}"
        );
    }
}
