//! The InfoNCE loss and mutual-information bound of a score matrix.

use locus_core::{Error, Float, Result};
use ndarray::{Array2, ArrayView2};

/// Where the positive candidate of each row of a score matrix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positives {
    /// Column 0 of every row; the other columns are negatives (CPC's layout: one positive
    /// and `N − 1` negatives per anchor, Oord et al. 2018, eq. 4).
    FirstColumn,
    /// Column `i` of row `i` of a square matrix: `n` pairs `(x_i, y_i)`, each `y_j` with
    /// `j ≠ i` a negative for `x_i` (the batch form of the bound, as in Poole et al. 2019, "On variational
    /// bounds of mutual information").
    Diagonal,
}

/// The InfoNCE loss of a score matrix, its gradient, and the mutual-information bound it
/// gives.
#[derive(Debug, Clone, PartialEq)]
pub struct InfoNceBound<F> {
    /// `L = −(1/n) Σ_i log softmax(s_i)[positive_i]`, the categorical cross-entropy of
    /// picking each row's positive among its `N` candidates (Oord et al. 2018, eq. 4).
    /// Never negative.
    pub loss: F,
    /// `N`, the number of candidates per row (the number of columns).
    pub candidates: usize,
    /// `I_NCE = log N − L` in nats: a lower bound on the mutual information between the
    /// anchors and their positives when the scores are a critic's (Oord et al. 2018,
    /// §2.3 and appendix A.1). It never exceeds `log N`.
    pub bound: f64,
    /// `∂L/∂s`, the shape of the scores: `(softmax(s_i) − e_{positive_i}) / n` per row.
    pub grad_scores: Array2<F>,
}

/// The InfoNCE loss and bound of `scores` (`[n, N]`: row `i` scores the `N` candidates of
/// anchor `i`, its positive where `positives` says).
///
/// Each row is computed with the log-sum-exp shift, so scores of any size are safe, and
/// each row's loss `logsumexp(s_i) − s_i[pos]` is non-negative in floating point too: the
/// bound is `≤ log N` exactly. Adding a constant to every score of a row changes nothing.
///
/// # Errors
/// [`Error::Shape`] for an empty matrix, or a non-square one with
/// [`Positives::Diagonal`]; [`Error::NonFinite`] for a NaN or infinite score.
///
/// # Example
/// ```
/// use locus_objectives::{info_nce, Positives};
/// use ndarray::array;
///
/// // Two anchors, three candidates each, positives first: the first row is confident.
/// let scores = array![[5.0, 0.0, 0.0], [0.0, 0.0, 0.0]];
/// let b = info_nce(scores.view(), Positives::FirstColumn).unwrap();
/// assert!(b.bound <= 3f64.ln());
/// // A row of equal scores carries no information: its loss is exactly log 3.
/// assert!((b.loss - 0.5 * ((2.0 * (-5f64).exp() + 1.0).ln() + 3f64.ln())).abs() < 1e-12);
/// ```
pub fn info_nce<F: Float>(
    scores: ArrayView2<'_, F>,
    positives: Positives,
) -> Result<InfoNceBound<F>> {
    let (rows, candidates) = scores.dim();
    if rows == 0 || candidates == 0 {
        return Err(Error::shape(
            "InfoNCE scores",
            "[anchors >= 1, candidates >= 1]",
            scores.shape(),
        ));
    }
    if positives == Positives::Diagonal && rows != candidates {
        return Err(Error::shape(
            "InfoNCE scores with positives on the diagonal",
            "a square [n, n] matrix",
            scores.shape(),
        ));
    }
    if !scores.iter().all(|s| s.is_finite()) {
        return Err(Error::NonFinite {
            context: "InfoNCE scores".into(),
        });
    }
    let inv_rows = F::one() / F::cast(rows as f64);
    let mut grad_scores = Array2::zeros((rows, candidates));
    let mut loss_sum = 0.0f64;
    for (i, (row, mut grad)) in scores
        .outer_iter()
        .zip(grad_scores.outer_iter_mut())
        .enumerate()
    {
        let positive = match positives {
            Positives::FirstColumn => 0,
            Positives::Diagonal => i,
        };
        let max = row.iter().copied().fold(F::neg_infinity(), F::max);
        let mut sum = F::zero();
        for (g, &s) in grad.iter_mut().zip(row) {
            *g = (s - max).exp();
            sum += *g;
        }
        // sum >= 1 (the maximum contributes exp(0)), so its log is >= 0 and the row loss
        // max + ln(sum) − s[pos] is >= 0 even after rounding.
        let row_loss = (max - row[positive]) + sum.ln();
        loss_sum += row_loss.as_f64();
        let scale = inv_rows / sum;
        grad.mapv_inplace(|e| e * scale);
        grad[positive] -= inv_rows;
    }
    let loss = loss_sum / rows as f64;
    Ok(InfoNceBound {
        loss: F::cast(loss),
        candidates,
        bound: (candidates as f64).ln() - loss,
        grad_scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn loss_is_the_cross_entropy_of_picking_the_positive() {
        let s = array![[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]];
        let b = info_nce(s.view(), Positives::FirstColumn).unwrap();
        let row = |r: [f64; 3]| {
            let z: f64 = r.iter().map(|v| v.exp()).sum();
            z.ln() - r[0]
        };
        let expected = 0.5 * (row([1.0, 2.0, 0.5]) + row([0.0, -1.0, 3.0]));
        assert!((b.loss - expected).abs() < 1e-12);
        assert!((b.bound - (3f64.ln() - expected)).abs() < 1e-12);
        assert_eq!(b.candidates, 3);
        // Each gradient row sums to zero: softmax minus a one-hot.
        for r in b.grad_scores.outer_iter() {
            assert!(r.sum().abs() < 1e-15);
        }
        assert!(b.grad_scores[[0, 0]] < 0.0 && b.grad_scores[[0, 1]] > 0.0);
    }

    #[test]
    fn diagonal_positives_read_the_diagonal() {
        let s = array![[4.0, 0.0], [0.0, 4.0]];
        let d = info_nce(s.view(), Positives::Diagonal).unwrap();
        let swapped = array![[4.0, 0.0], [4.0, 0.0]];
        let f = info_nce(swapped.view(), Positives::FirstColumn).unwrap();
        assert!((d.loss - (1.0 + (-4f64).exp()).ln()).abs() < 1e-12);
        assert!((d.loss - f.loss).abs() < 1e-15);
    }

    #[test]
    fn huge_scores_do_not_overflow() {
        let s = array![[1e30f32, -1e30, 0.0], [-1e30, 1e30, 1e30]];
        let b = info_nce(s.view(), Positives::FirstColumn).unwrap();
        assert!(b.loss.is_finite() && b.bound <= 3f64.ln());
        // Row 1 puts all mass on the two wrong candidates: an enormous, finite loss.
        assert!(b.loss > 1e29);
    }

    #[test]
    fn bad_inputs_are_refused_with_their_reason() {
        let empty = Array2::<f64>::zeros((0, 3));
        assert!(matches!(
            info_nce(empty.view(), Positives::FirstColumn),
            Err(Error::Shape { .. })
        ));
        let wide = Array2::<f64>::zeros((2, 3));
        let e = info_nce(wide.view(), Positives::Diagonal).unwrap_err();
        assert!(e.to_string().contains("square"), "{e}");
        let nan = array![[0.0, f64::NAN]];
        let e = info_nce(nan.view(), Positives::FirstColumn).unwrap_err();
        assert!(matches!(e, Error::NonFinite { .. }), "{e}");
    }
}
