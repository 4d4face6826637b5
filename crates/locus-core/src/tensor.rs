use ndarray::{Array2, ArrayD, ArrayView2, Ix2};

use crate::{Error, Float, Result};

/// A batch-first n-dimensional array: `[batch, features]` for dense layers,
/// `[batch, channels, length]` or `[batch, channels, height, width]` for convolutions.
pub type Tensor<F> = ArrayD<F>;

/// Views a tensor as a `[batch, features]` matrix, or explains which shape was expected.
///
/// # Errors
/// [`Error::Shape`] when the tensor is not two-dimensional or its second axis is not
/// `features` (pass `None` to accept any width).
pub fn as_matrix<'a, F: Float>(
    tensor: &'a Tensor<F>,
    features: Option<usize>,
    context: &str,
) -> Result<ArrayView2<'a, F>> {
    let expected = || match features {
        Some(f) => format!("[batch, {f}]"),
        None => "[batch, features]".to_string(),
    };
    let view = tensor
        .view()
        .into_dimensionality::<Ix2>()
        .map_err(|_| Error::shape(context, expected(), tensor.shape()))?;
    if let Some(f) = features {
        if view.ncols() != f {
            return Err(Error::shape(context, expected(), tensor.shape()));
        }
    }
    Ok(view)
}

/// Turns a matrix into a [`Tensor`] without copying.
pub fn matrix_to_tensor<F: Float>(m: Array2<F>) -> Tensor<F> {
    m.into_dyn()
}

/// Checks that every element is finite.
///
/// # Errors
/// [`Error::NonFinite`] naming `context` when a NaN or infinity is found.
pub fn check_finite<F: Float>(tensor: &Tensor<F>, context: &str) -> Result<()> {
    if all_finite(tensor) {
        Ok(())
    } else {
        Err(Error::NonFinite {
            context: context.to_string(),
        })
    }
}

/// Whether every element is finite; one vectorised pass over contiguous tensors.
pub(crate) fn all_finite<F: Float>(tensor: &Tensor<F>) -> bool {
    match tensor.as_slice_memory_order() {
        Some(elements) => F::all_finite(elements),
        None => tensor.iter().all(|v| v.is_finite()),
    }
}

/// The angle in degrees between two tensors seen as flat vectors: `acos(⟨a, b⟩ / |a||b|)`.
///
/// 0° means the same direction, 90° orthogonal (no information in common), 180° opposite.
/// Feedback-alignment papers report this between a rule's update and the true gradient,
/// and between a weight and its feedback matrix (Lillicrap et al. 2016, fig. 2).
/// Returns NaN when either tensor is all zeros, has a non-finite entry, or the two differ
/// in length: there is no angle to report.
pub fn angle_deg<F: Float>(a: &Tensor<F>, b: &Tensor<F>) -> f64 {
    angle_deg_of(a.iter().copied(), b.iter().copied(), a.len() == b.len())
}

/// [`angle_deg`] over several tensor pairs at once, as if each side were concatenated
/// (e.g. all parameter gradients of a stage).
pub fn angle_deg_concat<F: Float>(a: &[Tensor<F>], b: &[Tensor<F>]) -> f64 {
    let same = a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.len() == y.len());
    angle_deg_of(
        a.iter().flat_map(|t| t.iter().copied()),
        b.iter().flat_map(|t| t.iter().copied()),
        same,
    )
}

fn angle_deg_of<F: Float>(
    a: impl Iterator<Item = F>,
    b: impl Iterator<Item = F>,
    same_length: bool,
) -> f64 {
    if !same_length {
        return f64::NAN;
    }
    let (mut dot, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.zip(b) {
        let (x, y) = (x.as_f64(), y.as_f64());
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    let norm = (aa * bb).sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return f64::NAN;
    }
    (dot / norm).clamp(-1.0, 1.0).acos().to_degrees()
}

#[cfg(test)]
mod angle_tests {
    use super::*;

    #[test]
    fn angles_of_known_pairs() {
        let a = ndarray::arr1(&[1.0f64, 0.0]).into_dyn();
        let b = ndarray::arr1(&[0.0f64, 2.0]).into_dyn();
        let c = ndarray::arr1(&[1.0f64, 1.0]).into_dyn();
        assert!((angle_deg(&a, &b) - 90.0).abs() < 1e-12);
        assert!((angle_deg(&a, &c) - 45.0).abs() < 1e-12);
        assert!(angle_deg(&a, &a).abs() < 1e-6);
        assert!((angle_deg(&a, &(-&a)) - 180.0).abs() < 1e-6);
        assert!(angle_deg(&a, &(&a * 0.0)).is_nan());
        let short = ndarray::arr1(&[1.0f64]).into_dyn();
        assert!(angle_deg(&a, &short).is_nan());
    }

    #[test]
    fn concatenated_angle_treats_pairs_as_one_vector() {
        let x = vec![
            ndarray::arr1(&[1.0f64]).into_dyn(),
            ndarray::arr1(&[0.0f64]).into_dyn(),
        ];
        let y = vec![
            ndarray::arr1(&[0.0f64]).into_dyn(),
            ndarray::arr1(&[3.0f64]).into_dyn(),
        ];
        assert!((angle_deg_concat(&x, &y) - 90.0).abs() < 1e-12);
        assert!(angle_deg_concat(&x, &x[..1]).is_nan());
    }
}
