//! The parameter lists of layers with a weight and an optional bias.

use ndarray::{Array2, Ix1};

use crate::{Error, Float, Param, ParamMut, Result, Tensor};

/// `[weight, bias?]`, named `"weight"` and `"bias"`.
pub(crate) fn weight_and_bias<'a, F>(
    weight: &'a Tensor<F>,
    bias: Option<&'a Tensor<F>>,
) -> Vec<Param<'a, F>> {
    let mut p = vec![Param {
        name: "weight".into(),
        value: weight,
    }];
    if let Some(b) = bias {
        p.push(Param {
            name: "bias".into(),
            value: b,
        });
    }
    p
}

/// `[weight, bias]` of a normalisation's optional learned scale and shift `(γ, β)`, or
/// none.
pub(crate) fn scale_and_shift<F>(affine: &Option<(Tensor<F>, Tensor<F>)>) -> Vec<Param<'_, F>> {
    match affine {
        Some((gamma, beta)) => weight_and_bias(gamma, Some(beta)),
        None => Vec::new(),
    }
}

/// [`scale_and_shift`], mutably.
pub(crate) fn scale_and_shift_mut<F>(
    affine: &mut Option<(Tensor<F>, Tensor<F>)>,
) -> Vec<ParamMut<'_, F>> {
    match affine {
        Some((gamma, beta)) => weight_and_bias_mut(gamma, Some(beta)),
        None => Vec::new(),
    }
}

/// [`weight_and_bias`], mutably.
pub(crate) fn weight_and_bias_mut<'a, F>(
    weight: &'a mut Tensor<F>,
    bias: Option<&'a mut Tensor<F>>,
) -> Vec<ParamMut<'a, F>> {
    let mut p = vec![ParamMut {
        name: "weight".into(),
        value: weight,
    }];
    if let Some(b) = bias {
        p.push(ParamMut {
            name: "bias".into(),
            value: b,
        });
    }
    p
}

/// Adds a layer's bias (when it has one) to every row of `y`, `[rows, out]`, after checking
/// that `params_mut` left it 1-D; `context` names the layer in the error.
pub(crate) fn add_bias_to_rows<F: Float>(
    y: &mut Array2<F>,
    bias: Option<&Tensor<F>>,
    context: &str,
) -> Result<()> {
    if let Some(b) = bias {
        let b = b
            .view()
            .into_dimensionality::<Ix1>()
            .map_err(|_| Error::shape(format!("{context} bias"), "1-D", b.shape()))?;
        *y += &b;
    }
    Ok(())
}
