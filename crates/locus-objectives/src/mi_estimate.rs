//! InfoNCE as a mutual-information estimator: two sets of paired embeddings and a critic.

use locus_core::{Error, Float, Result, Tensor};
use ndarray::{Array2, ArrayView2};

use crate::{info_nce, Critic, Positives};

/// What a critic-based mutual-information estimator returns: the estimate, the loss and
/// its gradients. [`info_nce_estimate`], [`nwj_estimate`](crate::nwj_estimate),
/// [`dv_estimate`](crate::dv_estimate), [`js_estimate`](crate::js_estimate) and
/// [`MineState::update`](crate::MineState::update) all return one.
#[derive(Debug, Clone, PartialEq)]
pub struct MiEstimate<F> {
    /// The estimate in nats. For InfoNCE `I_NCE = log n − L`, a lower bound on `I(X; Y)`
    /// that never exceeds `log n` (Oord et al. 2018, §2.3); for the others, see each
    /// function.
    pub bound: f64,
    /// `log n` for `n` pairs: the largest value InfoNCE's bound can take (the other
    /// bounds are not limited by it).
    pub log_n: f64,
    /// The loss to descend: the InfoNCE loss `L` (the bound is `log n − L`), the negated
    /// NWJ or DV bound, or the negated Jensen–Shannon objective.
    pub loss: F,
    /// `∂L/∂x`, `[n, dx]`. Descend `L` (ascend the bound) to train an encoder of `x`.
    pub grad_x: Array2<F>,
    /// `∂L/∂y`, `[n, dy]`.
    pub grad_y: Array2<F>,
    /// `∂L/∂θ` for the critic's parameters, in the order of [`Critic::params`].
    pub grad_critic: Vec<Tensor<F>>,
}

/// The InfoNCE estimate of the mutual information between paired samples `(x_i, y_i)`:
/// every `y_j` with `j ≠ i` is a negative for `x_i`, so `N = n` candidates per row, and
///
/// `I(X; Y) ≥ I_NCE = log n − L`, `L = −(1/n) Σ_i log( e^{f(x_i, y_i)} / Σ_j e^{f(x_i, y_j)} )`
///
/// (Oord et al. 2018, eq. 4 and §2.3). With the critic `f(x, y) = log p(y|x)/p(y)` the
/// estimate approaches `I(X; Y)` while `I` is well below `log n`, and saturates at
/// `log n` above it: InfoNCE cannot certify more than `log n` nats, whatever the critic.
///
/// # Shapes
/// `x` `[n, dx]`, `y` `[n, dy]` (row `i` of each is a pair), with `n >= 1`.
///
/// # Errors
/// [`Error::Shape`] when `x` and `y` do not have the same number of rows (or the critic
/// refuses their widths); [`Error::NonFinite`] for NaN or infinite embeddings or scores.
///
/// # Example
/// ```
/// use locus_objectives::{info_nce_estimate, DotProductCritic};
/// use ndarray::array;
///
/// // Four pairs whose y equals x: a dot-product critic picks every positive.
/// let x = array![[3.0, 0.0], [0.0, 3.0], [-3.0, 0.0], [0.0, -3.0]];
/// let critic = DotProductCritic::new(0.1).unwrap();
/// let estimate = info_nce_estimate(x.view(), x.view(), &critic).unwrap();
/// assert!(estimate.bound <= estimate.log_n);
/// assert!(estimate.log_n - estimate.bound < 1e-6);
/// ```
pub fn info_nce_estimate<F: Float>(
    x: ArrayView2<'_, F>,
    y: ArrayView2<'_, F>,
    critic: &dyn Critic<F>,
) -> Result<MiEstimate<F>> {
    if x.nrows() != y.nrows() || x.nrows() == 0 {
        return Err(Error::shape(
            "InfoNCE estimate: y (one row per row of x)",
            format!("[{} >= 1, features]", x.nrows()),
            y.shape(),
        ));
    }
    for (name, finite) in [
        ("x", x.iter().all(|v| v.is_finite())),
        ("y", y.iter().all(|v| v.is_finite())),
    ] {
        if !finite {
            return Err(Error::NonFinite {
                context: format!("InfoNCE estimate: {name}"),
            });
        }
    }
    let scores = critic.scores(x, y)?;
    let bound = info_nce(scores.view(), Positives::Diagonal)?;
    let grads = critic.backward(x, y, bound.grad_scores.view())?;
    Ok(MiEstimate {
        bound: bound.bound,
        log_n: (x.nrows() as f64).ln(),
        loss: bound.loss,
        grad_x: grads.x,
        grad_y: grads.y,
        grad_critic: grads.params,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BilinearCritic;
    use ndarray::array;

    #[test]
    fn independent_looking_pairs_give_a_bound_near_zero() {
        // A zero critic scores every pair alike: L = log n exactly, the bound 0.
        let x = array![[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]];
        let critic = BilinearCritic::from_weight(Array2::zeros((2, 2))).unwrap();
        let e = info_nce_estimate(x.view(), x.view(), &critic).unwrap();
        assert!(e.bound.abs() < 1e-12, "{}", e.bound);
        assert!((e.log_n - 3f64.ln()).abs() < 1e-15);
        assert_eq!(e.grad_critic.len(), 1);
    }

    #[test]
    fn mismatched_or_non_finite_inputs_are_refused() {
        let critic = BilinearCritic::from_weight(Array2::<f64>::eye(2)).unwrap();
        let x = Array2::<f64>::zeros((3, 2));
        let e = info_nce_estimate(x.view(), Array2::zeros((2, 2)).view(), &critic).unwrap_err();
        assert!(e.to_string().contains("one row per row of x"), "{e}");
        let mut bad = x.clone();
        bad[[1, 0]] = f64::INFINITY;
        let e = info_nce_estimate(x.view(), bad.view(), &critic).unwrap_err();
        assert!(e.to_string().contains("InfoNCE estimate: y"), "{e}");
    }
}
