//! The properties of kernel dependence estimators (HSIC and its normalised forms), each
//! as a check that says what broke. The estimator is passed as a function of the two
//! representations, so the checks test locus's
//! [`hsic_with_grad`](locus_objectives::hsic_with_grad) and your own alike.

use locus_core::{seeded_rng, Tensor};
use thiserror::Error;

use crate::finite_diff::{FdFailure, FdOptions, FdReport};
use crate::sample::{coordinates, unravel};

/// Why a dependence-estimator property does not hold.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum DependenceFailure {
    /// The estimate was below `−tolerance`.
    #[error("dependence estimate {value:e} is negative beyond the tolerance {tolerance:e}")]
    Negative {
        /// The estimate.
        value: f64,
        /// The tolerance allowed.
        tolerance: f64,
    },
    /// Swapping the representations changed the estimate.
    #[error(
        "the estimate of (x, y) is {forward:e} but that of (y, x) is {backward:e}, \
         beyond the tolerance {tolerance:e}"
    )]
    Asymmetric {
        /// The estimate of `(x, y)`.
        forward: f64,
        /// The estimate of `(y, x)`.
        backward: f64,
        /// The tolerance it had to meet.
        tolerance: f64,
    },
    /// A constant representation was found dependent on another.
    #[error(
        "the estimate between a constant representation and y is {value:e}, \
         not 0 within {tolerance:e}"
    )]
    NonZeroForConstant {
        /// The estimate.
        value: f64,
        /// The tolerance allowed.
        tolerance: f64,
    },
    /// The estimator returned an error on a valid input.
    #[error("the estimator failed on a valid input: {0}")]
    Call(locus_core::Error),
}

/// Checks `estimator(x, y) >= −tolerance`. Biased HSIC is `⟨HKH, HLH⟩_F / (b − 1)²`, the
/// inner product of two positive semi-definite matrices, so it is never negative with
/// positive semi-definite kernels (Gretton et al. 2005); nor is the normalised form. The
/// unbiased estimator can be (its mean is 0 under independence): do not check it here.
///
/// # Errors
/// [`DependenceFailure::Negative`], or [`DependenceFailure::Call`].
pub fn check_non_negative(
    x: &Tensor<f64>,
    y: &Tensor<f64>,
    tolerance: f64,
    estimator: impl Fn(&Tensor<f64>, &Tensor<f64>) -> locus_core::Result<f64>,
) -> Result<(), DependenceFailure> {
    let value = estimator(x, y).map_err(DependenceFailure::Call)?;
    if value.is_nan() || value < -tolerance {
        return Err(DependenceFailure::Negative { value, tolerance });
    }
    Ok(())
}

/// Checks `estimator(x, y)` and `estimator(y, x)` agree within `tolerance ·
/// max(1, |estimator(x, y)|)`: `HSIC(K, L) = HSIC(L, K)` for every estimator of locus.
/// Use the same kernel on both sides (or `x` and `y` of the same width), or the two calls
/// compare different quantities.
///
/// # Errors
/// [`DependenceFailure::Asymmetric`], or [`DependenceFailure::Call`].
pub fn check_symmetric(
    x: &Tensor<f64>,
    y: &Tensor<f64>,
    tolerance: f64,
    estimator: impl Fn(&Tensor<f64>, &Tensor<f64>) -> locus_core::Result<f64>,
) -> Result<(), DependenceFailure> {
    let forward = estimator(x, y).map_err(DependenceFailure::Call)?;
    let backward = estimator(y, x).map_err(DependenceFailure::Call)?;
    let bound = tolerance * forward.abs().max(1.0);
    let gap = (forward - backward).abs();
    if gap.is_nan() || gap > bound {
        return Err(DependenceFailure::Asymmetric {
            forward,
            backward,
            tolerance: bound,
        });
    }
    Ok(())
}

/// Checks that a constant representation (every row equal to `y`'s first row, so `y`'s
/// width) is independent of `y`: `|estimator(constant, y)| <= tolerance`. Its kernel
/// matrix is constant, `HKH = 0`, and the biased and unbiased estimators are exactly 0
/// (the normalised one is undefined: 0/0).
///
/// # Errors
/// [`DependenceFailure::NonZeroForConstant`], or [`DependenceFailure::Call`].
///
/// # Panics
/// When `y` is not a matrix with at least one row.
pub fn check_zero_for_constant(
    y: &Tensor<f64>,
    tolerance: f64,
    estimator: impl Fn(&Tensor<f64>, &Tensor<f64>) -> locus_core::Result<f64>,
) -> Result<(), DependenceFailure> {
    assert!(
        y.ndim() == 2 && y.shape()[0] >= 1,
        "y must be a [b >= 1, d] matrix, not {:?}",
        y.shape()
    );
    let constant = Tensor::from_shape_fn(y.shape(), |i| y[[0, i[1]]]);
    let value = estimator(&constant, y).map_err(DependenceFailure::Call)?;
    if value.is_nan() || value.abs() > tolerance {
        return Err(DependenceFailure::NonZeroForConstant { value, tolerance });
    }
    Ok(())
}

/// Checks the gradient `estimator` returns with its value (`(value, ∂value/∂x)`, as
/// [`hsic_with_grad`](locus_objectives::hsic_with_grad) does) against central finite
/// differences of the value in the coordinates of `x` (reported as tensor `"x"`), on at
/// most `opts.max_coords_per_tensor` seeded coordinates.
///
/// Hold everything but `x` fixed in `estimator`, a median bandwidth included: the
/// gradient of [`Kernel::GaussianMedian`](locus_objectives::Kernel::GaussianMedian) is
/// that of the Gaussian kernel at the batch's `σ`, so check it with the `σ` that
/// [`Kernel::resolve`](locus_objectives::Kernel::resolve) gives for `x` frozen in the
/// value, and the median kernel's gradient.
///
/// # Errors
/// [`FdFailure::Mismatch`] for the first coordinate out of tolerance;
/// [`FdFailure::Malformed`] when the gradient does not have `x`'s shape;
/// [`FdFailure::Call`] when the estimator fails; [`FdFailure::InvalidOptions`].
pub fn check_dependence_gradient(
    x: &Tensor<f64>,
    opts: &FdOptions,
    estimator: impl Fn(&Tensor<f64>) -> locus_core::Result<(f64, Tensor<f64>)>,
) -> Result<FdReport, FdFailure> {
    opts.check()?;
    let (_, analytic) = estimator(x).map_err(FdFailure::call("the estimator"))?;
    if analytic.shape() != x.shape() {
        return Err(FdFailure::Malformed(format!(
            "the gradient has shape {:?}, x {:?}",
            analytic.shape(),
            x.shape()
        )));
    }
    let value = |p: &Tensor<f64>| {
        estimator(p)
            .map(|(v, _)| v)
            .map_err(FdFailure::call("the estimator on a perturbed x"))
    };
    let mut report = FdReport::default();
    let mut probe = x.clone();
    let mut rng = seeded_rng(opts.seed);
    for flat in coordinates(x.len(), opts.max_coords_per_tensor, &mut rng) {
        let index = unravel(flat, x.shape());
        let original = probe[&index[..]];
        let (plus, minus) = (original + opts.eps, original - opts.eps);
        probe[&index[..]] = plus;
        let up = value(&probe);
        probe[&index[..]] = minus;
        let down = value(&probe);
        probe[&index[..]] = original;
        let numeric = (up? - down?) / (plus - minus);
        report.compare("x", index.clone(), analytic[&index[..]], numeric, opts)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_objectives::{hsic_with_grad, HsicEstimator, Kernel};
    use ndarray::array;

    fn biased(x: &Tensor<f64>, y: &Tensor<f64>) -> locus_core::Result<(f64, Tensor<f64>)> {
        let k = Kernel::Gaussian { sigma: 1.0 };
        hsic_with_grad(x, y, k, k, HsicEstimator::Biased)
    }

    fn data() -> (Tensor<f64>, Tensor<f64>) {
        let x = array![
            [0.1, -0.4],
            [0.7, 0.2],
            [-0.5, 0.9],
            [0.3, 0.3],
            [-0.8, -0.1]
        ];
        let y = array![[0.2, 0.0], [0.9, 0.1], [-0.3, 0.8], [0.1, 0.5], [-1.0, 0.2]];
        (x.into_dyn(), y.into_dyn())
    }

    #[test]
    fn every_check_passes_on_biased_hsic() {
        let (x, y) = data();
        let value = |a: &Tensor<f64>, b: &Tensor<f64>| biased(a, b).map(|r| r.0);
        check_non_negative(&x, &y, 1e-12, value).unwrap();
        check_symmetric(&x, &y, 1e-12, value).unwrap();
        check_zero_for_constant(&y, 1e-12, value).unwrap();
        let report =
            check_dependence_gradient(&x, &FdOptions::default(), |p| biased(p, &y)).unwrap();
        assert_eq!((report.tensors, report.coordinates), (vec!["x".into()], 10));
    }

    #[test]
    fn every_check_can_fail() {
        let (x, y) = data();
        // A negated estimate, an estimate that weighs x more than y, and one that adds a
        // constant are each caught by the check they break.
        let negated = |a: &Tensor<f64>, b: &Tensor<f64>| biased(a, b).map(|r| -r.0);
        let e = check_non_negative(&x, &y, 1e-12, negated).unwrap_err();
        assert!(matches!(e, DependenceFailure::Negative { .. }), "{e}");
        let lopsided = |a: &Tensor<f64>, b: &Tensor<f64>| {
            let doubled = a * 2.0;
            biased(&doubled, b).map(|r| r.0)
        };
        let e = check_symmetric(&x, &y, 1e-9, lopsided).unwrap_err();
        assert!(e.to_string().contains("(y, x)"), "{e}");
        let shifted = |a: &Tensor<f64>, b: &Tensor<f64>| biased(a, b).map(|r| r.0 + 1e-3);
        let e = check_zero_for_constant(&y, 1e-6, shifted).unwrap_err();
        assert!(e.to_string().contains("constant"), "{e}");
        // A gradient 1% too large.
        let scaled = |p: &Tensor<f64>| biased(p, &y).map(|(v, g)| (v, g * 1.01));
        let e = check_dependence_gradient(&x, &FdOptions::default(), scaled).unwrap_err();
        assert!(
            matches!(e, FdFailure::Mismatch { ref tensor, .. } if tensor == "x"),
            "{e}"
        );
        let wrong_shape = |p: &Tensor<f64>| biased(p, &y).map(|(v, _)| (v, Tensor::zeros(vec![1])));
        let e = check_dependence_gradient(&x, &FdOptions::default(), wrong_shape).unwrap_err();
        assert!(matches!(e, FdFailure::Malformed(_)), "{e}");
    }
}
