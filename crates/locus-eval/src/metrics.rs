//! Scalar metrics over predictions and gradients.

use locus_core::{Float, Tensor};

/// Fraction of `predictions` equal to `labels`, in `[0, 1]` (0 for empty input).
///
/// # Panics
/// Never; extra entries in the longer slice are ignored.
pub fn accuracy(predictions: &[usize], labels: &[usize]) -> f64 {
    let n = predictions.len().min(labels.len());
    if n == 0 {
        return 0.0;
    }
    let hits = predictions
        .iter()
        .zip(labels)
        .filter(|(p, y)| p == y)
        .count();
    hits as f64 / n as f64
}

/// The angle in degrees between two tensors seen as flat vectors:
/// `acos(⟨a, b⟩ / (‖a‖ ‖b‖))`. 0° means the same direction, 90° orthogonal. The
/// computation is [`locus_core::angle_deg`]'s (which layers use for their own
/// diagnostics); this form also requires equal shapes.
///
/// Returns `None` when the shapes differ or either vector is zero (the angle is undefined).
pub fn angle_degrees<F: Float>(a: &Tensor<F>, b: &Tensor<F>) -> Option<f64> {
    if a.shape() != b.shape() {
        return None;
    }
    let angle = locus_core::angle_deg(a, b);
    angle.is_finite().then_some(angle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn accuracy_counts_matches() {
        assert_eq!(accuracy(&[1, 2, 3, 4], &[1, 0, 3, 0]), 0.5);
        assert_eq!(accuracy(&[], &[]), 0.0);
    }

    #[test]
    fn angles_of_known_pairs() {
        let a = array![1.0f64, 0.0].into_dyn();
        let b = array![0.0f64, 2.0].into_dyn();
        let c = array![-3.0f64, 0.0].into_dyn();
        let d = array![1.0f64, 1.0].into_dyn();
        assert!((angle_degrees(&a, &b).unwrap() - 90.0).abs() < 1e-12);
        assert!((angle_degrees(&a, &c).unwrap() - 180.0).abs() < 1e-12);
        assert!((angle_degrees(&a, &d).unwrap() - 45.0).abs() < 1e-12);
        assert!(angle_degrees(&a, &a).unwrap().abs() < 1e-6);
        let zero = array![0.0f64, 0.0].into_dyn();
        assert_eq!(angle_degrees(&a, &zero), None);
        let other = array![1.0f64, 0.0, 0.0].into_dyn();
        assert_eq!(angle_degrees(&a, &other), None);
    }
}
