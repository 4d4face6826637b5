use serde::{Deserialize, Serialize};

use crate::kernels::{map_into, zip_map_into};
use crate::{scratch, Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, Tensor};

/// An element-wise non-linearity. Works on tensors of any shape.
///
/// The cache keeps the output, from which every derivative here follows:
/// ReLU and leaky ReLU by its sign (ReLU with full gradient passes it unchanged),
/// `tanh' = 1 - y²`, `σ' = y (1 - y)`.
///
/// # Shapes
/// any shape → the same shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Activation {
    /// `max(0, x)`.
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid `1 / (1 + e^{-x})`.
    Sigmoid,
    /// `x` for `x > 0`, `slope · x` otherwise (Maas et al. 2013); slope in `(0, 1)`.
    LeakyRelu(f64),
    /// `max(0, x)` forward, the identity backward: the gradient reaches every unit, silent
    /// or not (a straight-through estimator). Used by Löwe's public Forward-Forward
    /// reimplementation so that a regulariser on the mean activity (peer normalisation)
    /// can revive units that have stopped firing; through ReLU's own derivative a silent
    /// unit gets no gradient from any loss and stays silent.
    ReluFullGradient,
}

impl Activation {
    /// Checks the leaky-ReLU slope.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when a leaky slope is not in `(0, 1)`.
    pub fn check(&self) -> Result<()> {
        match *self {
            Activation::LeakyRelu(s) if !(s > 0.0 && s < 1.0) => {
                Err(Error::invalid("leaky ReLU slope", "should be in (0, 1)", s))
            }
            _ => Ok(()),
        }
    }

    /// The activation of one element: the reference the vectorised passes are tested against.
    #[cfg(test)]
    fn apply<F: Float>(&self, x: F) -> F {
        match *self {
            Activation::Relu | Activation::ReluFullGradient => x.max(F::zero()),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => F::one() / (F::one() + (-x).exp()),
            Activation::LeakyRelu(s) => {
                if x > F::zero() {
                    x
                } else {
                    F::cast(s) * x
                }
            }
        }
    }

    /// Derivative expressed through the output `y`: the reference of the backward pass.
    #[cfg(test)]
    fn derivative_from_output<F: Float>(&self, y: F) -> F {
        match *self {
            Activation::Relu => {
                if y > F::zero() {
                    F::one()
                } else {
                    F::zero()
                }
            }
            Activation::ReluFullGradient => F::one(),
            Activation::Tanh => F::one() - y * y,
            Activation::Sigmoid => y * (F::one() - y),
            Activation::LeakyRelu(s) => {
                if y > F::zero() {
                    F::one()
                } else {
                    F::cast(s)
                }
            }
        }
    }
}

impl<F: Float> Module<F> for Activation {
    fn name(&self) -> String {
        match self {
            Activation::Relu => "ReLU".into(),
            Activation::Tanh => "Tanh".into(),
            Activation::Sigmoid => "Sigmoid".into(),
            Activation::LeakyRelu(s) => format!("LeakyReLU({s})"),
            Activation::ReluFullGradient => "ReLU(full gradient)".into(),
        }
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let y = Module::<F>::infer(self, input)?;
        let kept = scratch::copy_of(&y);
        Ok((y, Cache::from_tensors(vec![kept])))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        self.check()?;
        let mut y = scratch::tensor_for_overwrite(input.shape());
        let (zero, one) = (F::zero(), F::one());
        match *self {
            Activation::Tanh => {
                y.assign(input);
                F::tanh_in_place(y.as_slice_mut().expect("standard layout"));
            }
            Activation::Relu | Activation::ReluFullGradient => {
                map_into(&mut y, input, |x| x.max(zero));
            }
            Activation::Sigmoid => map_into(&mut y, input, |x| one / (one + (-x).exp())),
            Activation::LeakyRelu(s) => {
                let s = F::cast(s);
                map_into(&mut y, input, |x| if x > zero { x } else { s * x });
            }
        }
        Ok(y)
    }

    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        let context = Module::<F>::name(self);
        let y = cache.tensor(0, &context)?;
        if y.shape() != grad_output.shape() {
            return Err(Error::shape(
                format!("{context} backward (grad_output)"),
                format!("{:?}", y.shape()),
                grad_output.shape(),
            ));
        }
        let input = need_input_grad.then(|| {
            let mut input = scratch::tensor_for_overwrite(y.shape());
            // Each arm is `g · f'(y)` as `derivative_from_output` gives it, bit for bit.
            let (zero, one) = (F::zero(), F::one());
            let d = &mut input;
            match *self {
                Activation::Relu => zip_map_into(d, grad_output, y, |g, y| {
                    g * if y > zero { one } else { zero }
                }),
                Activation::ReluFullGradient => zip_map_into(d, grad_output, y, |g, _| g * one),
                Activation::Tanh => zip_map_into(d, grad_output, y, |g, y| g * (one - y * y)),
                Activation::Sigmoid => zip_map_into(d, grad_output, y, |g, y| g * (y * (one - y))),
                Activation::LeakyRelu(s) => {
                    let s = F::cast(s);
                    zip_map_into(d, grad_output, y, |g, y| g * if y > zero { one } else { s });
                }
            }
            input
        });
        Ok(Gradients {
            input,
            params: Vec::new(),
        })
    }

    fn params(&self) -> Vec<Param<'_, F>> {
        Vec::new()
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_, F>> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input_gradient(activation: Activation, x: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let input = Tensor::from_shape_vec(vec![x.len()], x.to_vec()).unwrap();
        let (y, cache) = Module::<f64>::forward(&activation, &input).unwrap();
        let upstream = Tensor::from_elem(vec![x.len()], 2.0);
        let grads = Module::<f64>::backward(&activation, &cache, &upstream, true).unwrap();
        (
            y.iter().copied().collect(),
            grads.input.unwrap().iter().copied().collect(),
        )
    }

    #[test]
    fn relu_with_full_gradient_is_relu_forward_and_identity_backward() {
        let x = [-1.5, 0.0, 0.5, 3.0];
        let (y_st, g_st) = input_gradient(Activation::ReluFullGradient, &x);
        let (y, g) = input_gradient(Activation::Relu, &x);
        assert_eq!(y_st, y);
        assert_eq!(y_st, vec![0.0, 0.0, 0.5, 3.0]);
        // Silent units get the upstream gradient unchanged; plain ReLU drops it.
        assert_eq!(g_st, vec![2.0; 4]);
        assert_eq!(g, vec![0.0, 0.0, 2.0, 2.0]);
    }

    #[test]
    fn vectorised_passes_match_the_scalar_definitions_bit_for_bit() {
        let variants = [
            Activation::Relu,
            Activation::ReluFullGradient,
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::LeakyRelu(0.1),
        ];
        // Both signs, zeros of both signs, large values, NaN, and a length that is not a
        // multiple of any vector width.
        let mut x: Vec<f32> = (0..203).map(|i| (i as f32 - 101.0) * 0.173).collect();
        x.extend([0.0, -0.0, 40.0, -40.0, f32::NAN]);
        let g: Vec<f32> = (0..x.len()).map(|i| 1.5 - (i % 7) as f32 * 0.5).collect();
        let n = x.len();
        let input = Tensor::from_shape_vec(vec![n], x.clone()).unwrap();
        let upstream = Tensor::from_shape_vec(vec![n], g.clone()).unwrap();
        // The same values seen through a transposed (non-contiguous) view.
        let input_t = Tensor::from_shape_vec(vec![1, n], x.clone())
            .unwrap()
            .reversed_axes();
        for a in variants {
            let (y, cache) = Module::<f32>::forward(&a, &input).unwrap();
            let d = Module::<f32>::backward(&a, &cache, &upstream, true)
                .unwrap()
                .input
                .unwrap();
            for i in 0..n {
                // tanh has its own kernel, tested in `kernels`.
                // (`max` may give either zero for `max(-0, 0)`, element by element or not.)
                let same = |u: f32, v: f32| u == v || u.to_bits() == v.to_bits();
                if a != Activation::Tanh {
                    assert!(same(y[i], a.apply(x[i])), "{a:?}({}) = {}", x[i], y[i]);
                }
                let expected = g[i] * a.derivative_from_output(y[i]);
                assert!(same(d[i], expected), "{a:?}'({}) = {}", x[i], d[i]);
            }
            let y_t = Module::<f32>::infer(&a, &input_t).unwrap();
            for (v, w) in y_t.iter().zip(y.iter()) {
                assert_eq!(v.to_bits(), w.to_bits(), "{a:?} on a transposed view");
            }
        }
    }
}
