//! The parameter lists of layers with a weight and an optional bias.

use crate::{Param, ParamMut, Tensor};

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
