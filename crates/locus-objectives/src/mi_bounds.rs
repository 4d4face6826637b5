//! The NWJ, Donsker–Varadhan and Jensen–Shannon mutual-information bounds of a square
//! score matrix, beside InfoNCE: the variational bounds compared by Poole et al. 2019,
//! "On Variational Bounds of Mutual Information".
//!
//! Row `i` and column `j` of the scores hold `f(x_i, y_j)`: the diagonal scores the `n`
//! joint samples (`p(x, y)`), the `n(n − 1)` off-diagonal entries score samples of the
//! product of marginals (`p(x) p(y)`), as in Poole et al. 2019, §2.

use locus_core::{Error, Float, Result};
use ndarray::{Array2, ArrayView2};

use crate::{Critic, MiEstimate};

/// One of the critic-based bounds of this module, evaluated on a score matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct CriticBound<F> {
    /// The mutual-information estimate in nats (see each function for what it bounds).
    pub bound: f64,
    /// The loss to descend to train the critic (and the encoders): the negated objective.
    pub loss: F,
    /// `∂loss/∂scores`, `[n, n]`.
    pub grad_scores: Array2<F>,
}

/// Checks the scores are a finite square matrix of side `n >= 2` (one joint sample and at
/// least one sample of the marginals' product).
fn check_scores<F: Float>(name: &str, scores: &ArrayView2<'_, F>) -> Result<usize> {
    let (n, m) = scores.dim();
    if n != m || n < 2 {
        return Err(Error::shape(
            format!("{name} scores"),
            "a square [n, n] matrix with n >= 2",
            scores.shape(),
        ));
    }
    if !scores.iter().all(|s| s.is_finite()) {
        return Err(Error::NonFinite {
            context: format!("{name} scores"),
        });
    }
    Ok(n)
}

/// The mean of the diagonal, and `ln Σ_{i≠j} e^{s_ij − shift}` with `shift` the largest
/// off-diagonal score (so the sum is at least 1 and never overflows).
fn diagonal_mean_and_off_lse<F: Float>(scores: &ArrayView2<'_, F>) -> (f64, f64, f64) {
    let n = scores.nrows();
    let diag = (0..n).map(|i| scores[[i, i]].as_f64()).sum::<f64>() / n as f64;
    let off = || {
        scores
            .indexed_iter()
            .filter(|((i, j), _)| i != j)
            .map(|(_, s)| s.as_f64())
    };
    let shift = off().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = off().map(|s| (s - shift).exp()).sum();
    (diag, shift, sum.ln())
}

/// Fills `grad` with `−1/n` on the diagonal and `off(s_ij)` elsewhere.
fn gradient<F: Float>(
    scores: &ArrayView2<'_, F>,
    diagonal: impl Fn(f64) -> f64,
    off: impl Fn(f64) -> f64,
) -> Array2<F> {
    Array2::from_shape_fn(scores.dim(), |(i, j)| {
        let s = scores[[i, j]].as_f64();
        F::cast(if i == j { diagonal(s) } else { off(s) })
    })
}

fn finite<F: Float>(name: &str, b: CriticBound<F>) -> Result<CriticBound<F>> {
    if b.bound.is_finite() && b.loss.is_finite() && b.grad_scores.iter().all(|g| g.is_finite()) {
        Ok(b)
    } else {
        Err(Error::NonFinite {
            context: format!("{name}: exp of an off-diagonal score overflowed"),
        })
    }
}

/// The NWJ bound (Nguyen, Wainwright & Jordan 2010; the f-GAN KL bound; Poole et al.
/// 2019, eq. 10, `I_NWJ`) of a score matrix:
///
/// `I(X; Y) ≥ I_NWJ = E_p[f] − e^{−1} E_{p⊗p}[e^f] = mean_i s_ii − mean_{i≠j} e^{s_ij − 1}`.
///
/// The bound is tight at `f = 1 + log p(y|x)/p(y)`. It is unbiased but its variance grows
/// like `e^I` (Poole et al. 2019, §2.2). The loss is `−I_NWJ`.
///
/// # Shapes
/// `scores` `[n, n]`, `n >= 2`.
///
/// # Errors
/// [`Error::Shape`] for a non-square matrix or `n < 2`; [`Error::NonFinite`] for a NaN or
/// infinite score, or an off-diagonal score too large to exponentiate.
///
/// # Example
/// ```
/// use locus_objectives::nwj_bound;
/// use ndarray::array;
///
/// // f = 1 everywhere: 1 − e^{−1}·e^{1} = 0.
/// let b = nwj_bound(array![[1.0, 1.0], [1.0, 1.0]].view()).unwrap();
/// assert!(b.bound.abs() < 1e-15);
/// ```
pub fn nwj_bound<F: Float>(scores: ArrayView2<'_, F>) -> Result<CriticBound<F>> {
    let n = check_scores("NWJ", &scores)?;
    let (diag, shift, lse) = diagonal_mean_and_off_lse(&scores);
    let pairs = (n * (n - 1)) as f64;
    // mean e^{s − 1} = e^{shift − 1 + lse} / pairs, exponentiated once.
    let bound = diag - (shift - 1.0 + lse - pairs.ln()).exp();
    let inv_n = 1.0 / n as f64;
    finite(
        "NWJ",
        CriticBound {
            bound,
            loss: F::cast(-bound),
            grad_scores: gradient(&scores, |_| -inv_n, |s| (s - 1.0).exp() / pairs),
        },
    )
}

/// The Donsker–Varadhan bound of a score matrix, the bound MINE ascends (Belghazi et al.
/// 2018, eq. 2 and Theorem 1; Poole et al. 2019, eq. 9, `I_DV`):
///
/// `I(X; Y) ≥ I_DV = E_p[f] − log E_{p⊗p}[e^f] = mean_i s_ii − log mean_{i≠j} e^{s_ij}`,
///
/// with a log-sum-exp over the off-diagonal entries, so scores of any size are safe. For
/// the same scores `I_DV ≥ I_NWJ` (since `log z ≤ z/e`). With `n` samples the second term
/// is a biased estimate of `log E[e^f]`: the batch estimate can exceed the true mutual
/// information; [`MineState`](crate::MineState) corrects the gradient's bias. Adding a
/// constant to every score changes nothing. The loss is `−I_DV`.
///
/// # Shapes
/// `scores` `[n, n]`, `n >= 2`.
///
/// # Errors
/// [`Error::Shape`] for a non-square matrix or `n < 2`; [`Error::NonFinite`] for a NaN or
/// infinite score.
///
/// # Example
/// ```
/// use locus_objectives::dv_bound;
/// use ndarray::array;
///
/// // Diagonal 2, off-diagonal 0: 2 − log 1 = 2.
/// let b = dv_bound(array![[2.0, 0.0], [0.0, 2.0]].view()).unwrap();
/// assert!((b.bound - 2.0).abs() < 1e-15);
/// ```
pub fn dv_bound<F: Float>(scores: ArrayView2<'_, F>) -> Result<CriticBound<F>> {
    let n = check_scores("DV", &scores)?;
    let (diag, shift, lse) = diagonal_mean_and_off_lse(&scores);
    let pairs = (n * (n - 1)) as f64;
    let log_mean = shift + lse - pairs.ln();
    let bound = diag - log_mean;
    let inv_n = 1.0 / n as f64;
    // ∂ log mean e^s / ∂s_ij = e^{s_ij} / Σ e^s = e^{s_ij − shift − lse}.
    let log_sum = shift + lse;
    finite(
        "DV",
        CriticBound {
            bound,
            loss: F::cast(-bound),
            grad_scores: gradient(&scores, |_| -inv_n, |s| (s - log_sum).exp()),
        },
    )
}

/// `log(1 + e^s)` without overflow.
fn softplus(s: f64) -> f64 {
    s.max(0.0) + (-s.abs()).exp().ln_1p()
}

/// `1 / (1 + e^{−s})` without overflow.
fn sigmoid(s: f64) -> f64 {
    if s >= 0.0 {
        1.0 / (1.0 + (-s).exp())
    } else {
        let e = s.exp();
        e / (1.0 + e)
    }
}

/// The Jensen–Shannon objective of Deep InfoMax (Hjelm et al. 2019, eq. 4; Nowozin et al.
/// 2016's f-GAN JS form), and the mutual-information estimate Poole et al. 2019 (§2.3,
/// "`I_JS`") read off a critic trained with it.
///
/// The objective `J = E_p[−softplus(−f)] − E_{p⊗p}[softplus(f)]` is **not** a bound on the
/// mutual information: it is a surrogate for the Jensen–Shannon divergence between
/// `p(x, y)` and `p(x)p(y)`, whose maximiser is the same `f = log p(y|x)/p(y)` (the
/// discriminator's logit), and it is much steadier to train than NWJ or DV. The loss is
/// `−J`, its gradient is the gradient of `−J`.
///
/// The `bound` reported is the NWJ bound of the shifted critic `f + 1`, which is a lower
/// bound and is tight at the JS optimum:
/// `I_NWJ(f + 1) = 1 + E_p[f] − E_{p⊗p}[e^f]`.
///
/// # Shapes
/// `scores` `[n, n]`, `n >= 2`.
///
/// # Errors
/// [`Error::Shape`] for a non-square matrix or `n < 2`; [`Error::NonFinite`] for a NaN or
/// infinite score, or an off-diagonal score too large to exponentiate.
///
/// # Example
/// ```
/// use locus_objectives::js_bound;
/// use ndarray::array;
///
/// // f = 0 everywhere: J = −2 log 2, the NWJ reading 1 + 0 − 1 = 0.
/// let b = js_bound(array![[0.0, 0.0], [0.0, 0.0]].view()).unwrap();
/// assert!((b.loss - 2.0 * 2f64.ln()).abs() < 1e-15);
/// assert!(b.bound.abs() < 1e-15);
/// ```
pub fn js_bound<F: Float>(scores: ArrayView2<'_, F>) -> Result<CriticBound<F>> {
    let n = check_scores("JS", &scores)?;
    let (diag, shift, lse) = diagonal_mean_and_off_lse(&scores);
    let pairs = (n * (n - 1)) as f64;
    let bound = 1.0 + diag - (shift + lse - pairs.ln()).exp();
    let mut objective = 0.0;
    for ((i, j), s) in scores.indexed_iter() {
        let s = s.as_f64();
        objective += if i == j {
            -softplus(-s) / n as f64
        } else {
            -softplus(s) / pairs
        };
    }
    let inv_n = 1.0 / n as f64;
    finite(
        "JS",
        CriticBound {
            bound,
            loss: F::cast(-objective),
            grad_scores: gradient(&scores, |s| -sigmoid(-s) * inv_n, |s| sigmoid(s) / pairs),
        },
    )
}

/// Scores `x` against `y` with `critic`, applies `bound`, and carries its score gradient
/// back through the critic.
pub(crate) fn estimate_with<F: Float>(
    name: &str,
    x: ArrayView2<'_, F>,
    y: ArrayView2<'_, F>,
    critic: &dyn Critic<F>,
    bound: impl FnOnce(ArrayView2<'_, F>) -> Result<CriticBound<F>>,
) -> Result<MiEstimate<F>> {
    if x.nrows() != y.nrows() || x.nrows() < 2 {
        return Err(Error::shape(
            format!("{name} estimate: y (one row per row of x, n >= 2)"),
            format!("[{} >= 2, features]", x.nrows()),
            y.shape(),
        ));
    }
    for (which, finite) in [
        ("x", x.iter().all(|v| v.is_finite())),
        ("y", y.iter().all(|v| v.is_finite())),
    ] {
        if !finite {
            return Err(Error::NonFinite {
                context: format!("{name} estimate: {which}"),
            });
        }
    }
    let scores = critic.scores(x, y)?;
    let b = bound(scores.view())?;
    let grads = critic.backward(x, y, b.grad_scores.view())?;
    Ok(MiEstimate {
        bound: b.bound,
        log_n: (x.nrows() as f64).ln(),
        loss: b.loss,
        grad_x: grads.x,
        grad_y: grads.y,
        grad_critic: grads.params,
    })
}

/// The NWJ estimate ([`nwj_bound`]) of the mutual information between paired samples
/// `(x_i, y_i)`, with exact gradients of its loss `−I_NWJ` through the critic.
///
/// # Shapes
/// `x` `[n, dx]`, `y` `[n, dy]`, `n >= 2`.
///
/// # Errors
/// [`Error::Shape`] when `x` and `y` differ in rows, `n < 2`, or the critic refuses the
/// widths; [`Error::NonFinite`] for NaN or infinite embeddings, or as [`nwj_bound`].
pub fn nwj_estimate<F: Float>(
    x: ArrayView2<'_, F>,
    y: ArrayView2<'_, F>,
    critic: &dyn Critic<F>,
) -> Result<MiEstimate<F>> {
    estimate_with("NWJ", x, y, critic, nwj_bound)
}

/// The Donsker–Varadhan (MINE) estimate ([`dv_bound`]) of the mutual information between
/// paired samples `(x_i, y_i)`, with exact gradients of its loss `−I_DV` through the
/// critic. [`MineState::update`](crate::MineState::update) gives MINE's bias-corrected
/// gradient instead.
///
/// # Shapes
/// `x` `[n, dx]`, `y` `[n, dy]`, `n >= 2`.
///
/// # Errors
/// As [`nwj_estimate`], with [`dv_bound`]'s.
pub fn dv_estimate<F: Float>(
    x: ArrayView2<'_, F>,
    y: ArrayView2<'_, F>,
    critic: &dyn Critic<F>,
) -> Result<MiEstimate<F>> {
    estimate_with("DV", x, y, critic, dv_bound)
}

/// The Jensen–Shannon objective of Deep InfoMax ([`js_bound`]) on paired samples
/// `(x_i, y_i)`: the loss and its exact gradients are those of the JS surrogate (not a
/// bound on the mutual information); `bound` is the NWJ bound of `f + 1`.
///
/// # Shapes
/// `x` `[n, dx]`, `y` `[n, dy]`, `n >= 2`.
///
/// # Errors
/// As [`nwj_estimate`], with [`js_bound`]'s.
pub fn js_estimate<F: Float>(
    x: ArrayView2<'_, F>,
    y: ArrayView2<'_, F>,
    critic: &dyn Critic<F>,
) -> Result<MiEstimate<F>> {
    estimate_with("JS", x, y, critic, js_bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BilinearCritic;
    use ndarray::array;

    #[test]
    fn hand_computed_values() {
        let s = array![[1.0, 0.0, 2.0], [-1.0, 3.0, 0.5], [0.0, 1.0, 2.0]];
        let diag = (1.0 + 3.0 + 2.0) / 3.0;
        let off = [0.0f64, 2.0, -1.0, 0.5, 0.0, 1.0];
        let mean_exp = off.iter().map(|v| v.exp()).sum::<f64>() / 6.0;
        let nwj = nwj_bound(s.view()).unwrap();
        assert!((nwj.bound - (diag - mean_exp / std::f64::consts::E)).abs() < 1e-12);
        let dv = dv_bound(s.view()).unwrap();
        assert!((dv.bound - (diag - mean_exp.ln())).abs() < 1e-12);
        assert!(dv.bound >= nwj.bound);
        let js = js_bound(s.view()).unwrap();
        let sp = |v: f64| (1.0 + v.exp()).ln();
        let j =
            -(sp(-1.0) + sp(-3.0) + sp(-2.0)) / 3.0 - off.iter().map(|&v| sp(v)).sum::<f64>() / 6.0;
        assert!((js.loss + j).abs() < 1e-12, "{} vs {}", js.loss, -j);
        assert!((js.bound - (1.0 + diag - mean_exp)).abs() < 1e-12);
        // Diagonal gradient: −1/n for NWJ and DV, −σ(−s)/n for JS.
        assert!((nwj.grad_scores[[1, 1]] + 1.0 / 3.0).abs() < 1e-15);
        assert!((dv.grad_scores.sum() - (1.0 - 1.0)).abs() < 1e-12);
        assert!((js.grad_scores[[0, 0]] + 1.0 / (1.0 + 1f64.exp()) / 3.0).abs() < 1e-12);
    }

    #[test]
    fn dv_is_shift_invariant_and_safe_with_huge_scores() {
        let s = array![[800.0, 790.0], [795.0, 805.0]];
        let b = dv_bound(s.view()).unwrap();
        let small = dv_bound((&s - 790.0).view()).unwrap();
        assert!((b.bound - small.bound).abs() < 1e-9);
        // NWJ cannot exponentiate 795: a clear error, not an infinite estimate.
        let e = nwj_bound(s.view()).unwrap_err();
        assert!(e.to_string().contains("overflowed"), "{e}");
    }

    #[test]
    fn bad_inputs_are_refused() {
        let e = nwj_bound(array![[1.0]].view()).unwrap_err();
        assert!(e.to_string().contains("n >= 2"), "{e}");
        let e = dv_bound(Array2::<f64>::zeros((2, 3)).view()).unwrap_err();
        assert!(e.to_string().contains("DV scores"), "{e}");
        let e = js_bound(array![[1.0, f64::NAN], [0.0, 0.0]].view()).unwrap_err();
        assert!(e.to_string().contains("JS scores"), "{e}");
        let critic = BilinearCritic::from_weight(Array2::<f64>::eye(2)).unwrap();
        let x = Array2::<f64>::zeros((3, 2));
        let e = nwj_estimate(x.view(), Array2::zeros((2, 2)).view(), &critic).unwrap_err();
        assert!(e.to_string().contains("one row per row of x"), "{e}");
        let one = Array2::<f64>::zeros((1, 2));
        assert!(dv_estimate(one.view(), one.view(), &critic).is_err());
        let mut bad = x.clone();
        bad[[0, 1]] = f64::NAN;
        let e = js_estimate(bad.view(), x.view(), &critic).unwrap_err();
        assert!(e.to_string().contains("JS estimate: x"), "{e}");
    }
}
