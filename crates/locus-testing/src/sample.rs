//! Seeded draws of test tensors, shared by the finite-difference checker and the
//! conformance suite (proptest strategies live in [`crate::strategies`]).

use locus_core::{SeededRng, Tensor};
use rand::RngExt;

/// A tensor of `shape` with values uniform on `[lo, hi)`.
pub(crate) fn uniform(shape: &[usize], lo: f64, hi: f64, rng: &mut SeededRng) -> Tensor<f64> {
    Tensor::from_shape_simple_fn(shape, || rng.random_range(lo..hi))
}

/// A tensor of `shape` whose magnitudes are uniform on `[min_abs, max_abs)` with random
/// signs: no value is near 0, where ReLU-like activations have a kink.
pub(crate) fn away_from_zero(
    shape: &[usize],
    min_abs: f64,
    max_abs: f64,
    rng: &mut SeededRng,
) -> Tensor<f64> {
    Tensor::from_shape_simple_fn(shape, || {
        let magnitude = rng.random_range(min_abs..max_abs);
        if rng.random_bool(0.5) {
            magnitude
        } else {
            -magnitude
        }
    })
}

/// `batch` class labels in `0..classes`.
pub(crate) fn labels(batch: usize, classes: usize, rng: &mut SeededRng) -> Vec<usize> {
    (0..batch).map(|_| rng.random_range(0..classes)).collect()
}

/// The flat (row-major) positions to check in a tensor of `len` elements: all of them, or
/// a seeded sample of `max` sorted positions.
pub(crate) fn coordinates(len: usize, max: usize, rng: &mut SeededRng) -> Vec<usize> {
    if len <= max {
        return (0..len).collect();
    }
    let mut picked = rand::seq::index::sample(rng, len, max).into_vec();
    picked.sort_unstable();
    picked
}

/// The multi-index of row-major position `flat` in a tensor of `shape`.
pub(crate) fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for axis in (0..shape.len()).rev() {
        index[axis] = flat % shape[axis];
        flat /= shape[axis];
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::seeded_rng;

    #[test]
    fn unravel_follows_row_major_order() {
        let t = Tensor::from_shape_vec(vec![2, 3, 4], (0..24).map(f64::from).collect()).unwrap();
        for (flat, &v) in t.iter().enumerate() {
            assert_eq!(t[&unravel(flat, t.shape())[..]], v);
        }
    }

    #[test]
    fn coordinates_sample_distinct_sorted_positions() {
        let mut rng = seeded_rng(3);
        assert_eq!(coordinates(4, 10, &mut rng), vec![0, 1, 2, 3]);
        let picked = coordinates(1000, 20, &mut rng);
        assert_eq!(picked.len(), 20);
        assert!(picked.windows(2).all(|w| w[0] < w[1]), "{picked:?}");
        assert!(picked.iter().all(|&p| p < 1000));
    }

    #[test]
    fn away_from_zero_keeps_its_distance_and_uses_both_signs() {
        let t = away_from_zero(&[50, 4], 0.25, 1.0, &mut seeded_rng(1));
        assert!(t.iter().all(|v| (0.25..1.0).contains(&v.abs())));
        assert!(t.iter().any(|&v| v < 0.0) && t.iter().any(|&v| v > 0.0));
    }
}
