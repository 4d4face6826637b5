//! Supervised losses: each returns the mean loss over the batch and its gradient with
//! respect to the network output.

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::{as_matrix, check_finite, Error, Float, Result, Tensor};

/// A supervised loss on `[batch, classes]` outputs with integer class labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum Loss {
    /// Softmax followed by cross-entropy, averaged over the batch:
    /// `L = -(1/B) Σ_b log softmax(z_b)[y_b]`, with gradient `(softmax(z) - onehot(y)) / B`.
    #[default]
    SoftmaxCrossEntropy,
    /// Mean squared error against one-hot targets, averaged over all elements as PyTorch's
    /// `MSELoss` does: `L = (1/(B·C)) Σ (z - onehot(y))²`.
    Mse,
}

impl Loss {
    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::SoftmaxCrossEntropy => "softmax-cross-entropy",
            Loss::Mse => "mse",
        }
    }

    /// Mean loss over the batch and its gradient with respect to `output`.
    ///
    /// # Errors
    /// [`Error::Shape`] when `output` is not `[labels.len(), classes]`;
    /// [`Error::LabelOutOfRange`] for a label `>= classes`; [`Error::NonFinite`] when the
    /// output holds NaN or infinity.
    pub fn evaluate<F: Float>(
        &self,
        output: &Tensor<F>,
        labels: &[usize],
    ) -> Result<(F, Tensor<F>)> {
        let context = self.name();
        let z = as_matrix(output, None, context)?;
        if z.nrows() != labels.len() {
            return Err(Error::shape(
                context,
                format!("[{} (one row per label), classes]", labels.len()),
                output.shape(),
            ));
        }
        check_finite(output, &format!("{context} input (network output)"))?;
        check_labels(labels, z.ncols(), context)?;
        let (loss, grad) = match self {
            Loss::SoftmaxCrossEntropy => softmax_cross_entropy(z, labels),
            Loss::Mse => mse_one_hot(z, labels),
        };
        Ok((loss, grad.into_dyn()))
    }
}

fn check_labels(labels: &[usize], classes: usize, context: &str) -> Result<()> {
    match labels.iter().enumerate().find(|(_, &l)| l >= classes) {
        Some((row, &label)) => Err(Error::LabelOutOfRange {
            context: context.to_string(),
            row,
            label,
            num_classes: classes,
        }),
        None => Ok(()),
    }
}

/// Row-wise softmax, computed stably by subtracting each row's maximum.
pub fn softmax<F: Float>(logits: ArrayView2<'_, F>) -> Array2<F> {
    let mut p = crate::scratch::matrix_for_overwrite(logits.nrows(), logits.ncols());
    p.assign(&logits);
    for mut row in p.axis_iter_mut(Axis(0)) {
        let max = row.fold(F::neg_infinity(), |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    p
}

fn softmax_cross_entropy<F: Float>(z: ArrayView2<'_, F>, labels: &[usize]) -> (F, Array2<F>) {
    let batch = F::cast(labels.len().max(1) as f64);
    let mut grad = softmax(z);
    let mut loss = F::zero();
    for (b, &y) in labels.iter().enumerate() {
        // log softmax(z)[y] = z_y - max - log Σ exp(z - max); the smallest positive
        // probability keeps the log finite when p underflows to 0.
        let p = grad[[b, y]].max(F::min_positive_value());
        loss -= p.ln();
        grad[[b, y]] -= F::one();
    }
    grad.mapv_inplace(|g| g / batch);
    (loss / batch, grad)
}

fn mse_one_hot<F: Float>(z: ArrayView2<'_, F>, labels: &[usize]) -> (F, Array2<F>) {
    let n = F::cast(z.len().max(1) as f64);
    let mut diff = z.to_owned();
    for (b, &y) in labels.iter().enumerate() {
        diff[[b, y]] -= F::one();
    }
    let loss = diff.iter().map(|&d| d * d).sum::<F>() / n;
    let two = F::cast(2.0);
    diff.mapv_inplace(|d| two * d / n);
    (loss, diff)
}

/// Index of the largest entry of each row (the predicted class).
pub fn argmax_rows<F: Float>(scores: ArrayView2<'_, F>) -> Vec<usize> {
    scores
        .axis_iter(Axis(0))
        .map(|row| {
            let mut best = 0;
            for (i, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = i;
                }
            }
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn cross_entropy_of_uniform_logits_is_log_classes() {
        let z = array![[0.0f64, 0.0, 0.0, 0.0]].into_dyn();
        let (loss, grad) = Loss::SoftmaxCrossEntropy.evaluate(&z, &[2]).unwrap();
        assert!((loss - 4f64.ln()).abs() < 1e-12);
        assert!((grad[[0, 2]] + 0.75).abs() < 1e-12);
        assert!((grad[[0, 0]] - 0.25).abs() < 1e-12);
    }

    #[test]
    fn cross_entropy_stays_finite_for_huge_logits() {
        let z = array![[1000.0f32, -1000.0]].into_dyn();
        let (loss, _) = Loss::SoftmaxCrossEntropy.evaluate(&z, &[1]).unwrap();
        assert!(loss.is_finite() && loss > 80.0);
    }

    #[test]
    fn bad_labels_and_shapes_are_named() {
        let z = array![[0.0f64, 1.0]].into_dyn();
        let e = Loss::SoftmaxCrossEntropy.evaluate(&z, &[2]).unwrap_err();
        assert!(matches!(
            e,
            Error::LabelOutOfRange {
                label: 2,
                num_classes: 2,
                ..
            }
        ));
        let e = Loss::Mse.evaluate(&z, &[0, 1]).unwrap_err();
        assert!(e.to_string().contains("one row per label"), "{e}");
        let nan = array![[f64::NAN, 1.0]].into_dyn();
        assert!(matches!(
            Loss::Mse.evaluate(&nan, &[0]).unwrap_err(),
            Error::NonFinite { .. }
        ));
    }

    #[test]
    fn mse_matches_hand_computation() {
        let z = array![[0.5f64, 0.0], [0.0, 2.0]].into_dyn();
        let (loss, grad) = Loss::Mse.evaluate(&z, &[0, 1]).unwrap();
        // diffs: -0.5, 0, 0, 1 → (0.25 + 1) / 4
        assert!((loss - 0.3125).abs() < 1e-12);
        assert!((grad[[1, 1]] - 0.5).abs() < 1e-12);
    }
}
