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
    if tensor.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(Error::NonFinite {
            context: context.to_string(),
        })
    }
}
