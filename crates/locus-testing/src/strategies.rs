//! Proptest strategies for locus tests: shapes, tensors, labels and hyper-parameters.
//!
//! Each returns an `impl Strategy`, so they compose with `prop_flat_map` and tuples:
//!
//! ```
//! use locus_testing::strategies::{labels, shape, tensor};
//! use proptest::prelude::*;
//!
//! // A random-shaped tensor with values in [-1, 1].
//! let any_tensor = shape(3, 5).prop_flat_map(|s| tensor::<f64>(&s, -1.0, 1.0));
//! // Logits and matching labels for a batch of 4 and 3 classes.
//! let scored = (tensor::<f64>(&[4, 3], -5.0, 5.0), labels(4, 3));
//! # let _ = (any_tensor, scored);
//! ```
//!
//! Values are always finite. The strategies shrink towards smaller shapes and simpler
//! values, as proptest's own do.

use locus_core::{Float, Tensor};
use proptest::prelude::*;

/// A shape of rank `1..=max_rank` with every axis in `1..=max_dim`.
///
/// # Panics
/// When `max_rank` or `max_dim` is 0.
pub fn shape(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    assert!(
        max_rank >= 1 && max_dim >= 1,
        "shape needs max_rank >= 1 and max_dim >= 1"
    );
    proptest::collection::vec(1..=max_dim, 1..=max_rank)
}

/// A tensor of the given shape with values uniform on `[lo, hi]`.
///
/// # Panics
/// When `lo > hi` or either bound is not finite.
pub fn tensor<F: Float>(shape: &[usize], lo: f64, hi: f64) -> impl Strategy<Value = Tensor<F>> {
    check_range(lo, hi);
    let shape = shape.to_vec();
    let len: usize = shape.iter().product();
    proptest::collection::vec(lo..=hi, len).prop_map(move |values| {
        Tensor::from_shape_vec(shape.clone(), values.into_iter().map(F::cast).collect())
            .expect("the value count is the shape's product")
    })
}

/// A tensor of the given shape whose magnitudes lie in `[min_abs, max_abs]`, with either
/// sign: for gradient checks through ReLU-like kinks at 0.
///
/// # Panics
/// When `min_abs < 0`, `min_abs > max_abs` or either bound is not finite.
pub fn tensor_away_from_zero<F: Float>(
    shape: &[usize],
    min_abs: f64,
    max_abs: f64,
) -> impl Strategy<Value = Tensor<F>> {
    check_range(min_abs, max_abs);
    assert!(
        min_abs >= 0.0,
        "tensor_away_from_zero needs min_abs >= 0, got {min_abs}"
    );
    let shape = shape.to_vec();
    let len: usize = shape.iter().product();
    proptest::collection::vec((min_abs..=max_abs, any::<bool>()), len).prop_map(move |values| {
        let values = values
            .into_iter()
            .map(|(m, negative)| F::cast(if negative { -m } else { m }))
            .collect();
        Tensor::from_shape_vec(shape.clone(), values)
            .expect("the value count is the shape's product")
    })
}

/// A `[rows, cols]` tensor with `rows` in `1..=max_rows`, `cols` in `1..=max_cols` and
/// values uniform on `[lo, hi]`: a batch of feature vectors.
///
/// # Panics
/// As [`shape`] and [`tensor`].
pub fn matrix<F: Float>(
    max_rows: usize,
    max_cols: usize,
    lo: f64,
    hi: f64,
) -> impl Strategy<Value = Tensor<F>> {
    assert!(
        max_rows >= 1 && max_cols >= 1,
        "matrix needs max_rows >= 1 and max_cols >= 1"
    );
    check_range(lo, hi);
    (1..=max_rows, 1..=max_cols).prop_flat_map(move |(r, c)| tensor::<F>(&[r, c], lo, hi))
}

/// `batch` class labels, each in `0..classes`.
///
/// # Panics
/// When `classes` is 0.
pub fn labels(batch: usize, classes: usize) -> impl Strategy<Value = Vec<usize>> {
    assert!(classes >= 1, "labels needs classes >= 1");
    proptest::collection::vec(0..classes, batch)
}

/// A `[batch, classes]` tensor of scores in `[-scale, scale]` with matching labels, for
/// `batch` in `1..=max_batch` and `classes` in `1..=max_classes`.
///
/// # Panics
/// When `max_batch` or `max_classes` is 0, or `scale` is negative or not finite.
pub fn scores_and_labels<F: Float>(
    max_batch: usize,
    max_classes: usize,
    scale: f64,
) -> impl Strategy<Value = (Tensor<F>, Vec<usize>)> {
    assert!(
        max_batch >= 1 && max_classes >= 1,
        "scores_and_labels needs max_batch >= 1 and max_classes >= 1"
    );
    check_range(-scale, scale);
    (1..=max_batch, 1..=max_classes)
        .prop_flat_map(move |(b, c)| (tensor::<F>(&[b, c], -scale, scale), labels(b, c)))
}

/// A positive hyper-parameter (learning rate, weight decay, temperature) drawn
/// log-uniformly from `[lo, hi]`, so every order of magnitude is equally likely.
///
/// # Panics
/// When `lo <= 0`, `lo > hi` or `hi` is not finite.
pub fn positive(lo: f64, hi: f64) -> impl Strategy<Value = f64> {
    assert!(
        lo > 0.0 && lo <= hi && hi.is_finite(),
        "positive needs 0 < lo <= hi < inf, got [{lo}, {hi}]"
    );
    let (a, b) = (lo.ln(), hi.ln());
    (a..=b).prop_map(move |l| l.exp().clamp(lo, hi))
}

/// A value strictly inside `(0, 1)`, at least `margin` from either end: momentum, decay
/// rates, leaky-ReLU slopes, dropout probabilities.
///
/// # Panics
/// When `margin` is not in `(0, 0.5)`.
pub fn fraction(margin: f64) -> impl Strategy<Value = f64> {
    assert!(
        margin > 0.0 && margin < 0.5,
        "fraction needs a margin in (0, 0.5), got {margin}"
    );
    margin..=1.0 - margin
}

fn check_range(lo: f64, hi: f64) {
    assert!(
        lo.is_finite() && hi.is_finite() && lo <= hi,
        "a value range needs finite lo <= hi, got [{lo}, {hi}]"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    /// Draws `n` values and checks each.
    fn for_draws<S: Strategy>(strategy: S, n: usize, mut check: impl FnMut(S::Value)) {
        let mut runner = TestRunner::deterministic();
        for _ in 0..n {
            check(strategy.new_tree(&mut runner).unwrap().current());
        }
    }

    #[test]
    fn shapes_respect_their_bounds() {
        for_draws(shape(3, 4), 200, |s| {
            assert!((1..=3).contains(&s.len()), "{s:?}");
            assert!(s.iter().all(|d| (1..=4).contains(d)), "{s:?}");
        });
    }

    #[test]
    fn tensors_have_their_shape_and_range() {
        for_draws(tensor::<f32>(&[2, 3, 4], -0.5, 2.0), 50, |t| {
            assert_eq!(t.shape(), [2, 3, 4]);
            assert!(t.iter().all(|&v| (-0.5..=2.0).contains(&v)));
        });
        for_draws(tensor_away_from_zero::<f64>(&[5, 5], 0.1, 1.0), 50, |t| {
            assert!(t.iter().all(|v| (0.1..=1.0).contains(&v.abs())));
        });
    }

    #[test]
    fn matrices_and_labels_fit_together() {
        for_draws(matrix::<f64>(4, 6, -1.0, 1.0), 50, |m| {
            assert_eq!(m.ndim(), 2);
            assert!(m.shape()[0] <= 4 && m.shape()[1] <= 6);
        });
        for_draws(scores_and_labels::<f64>(5, 4, 3.0), 100, |(s, l)| {
            assert_eq!(s.shape()[0], l.len());
            assert!(l.iter().all(|&y| y < s.shape()[1]));
        });
    }

    #[test]
    fn hyper_parameters_stay_in_range() {
        for_draws(positive(1e-5, 1.0), 200, |v| {
            assert!((1e-5..=1.0).contains(&v), "{v}")
        });
        for_draws(fraction(0.05), 200, |v| {
            assert!((0.05..=0.95).contains(&v), "{v}")
        });
    }

    #[test]
    #[should_panic(expected = "0 < lo <= hi")]
    fn a_non_positive_lower_bound_is_refused() {
        let _ = positive(0.0, 1.0);
    }
}
