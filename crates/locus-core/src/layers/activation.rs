use serde::{Deserialize, Serialize};

use crate::{Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, Tensor};

/// An element-wise non-linearity. Works on tensors of any shape.
///
/// The cache keeps the output, from which every derivative here follows:
/// ReLU and leaky ReLU by its sign, `tanh' = 1 - y²`, `σ' = y (1 - y)`.
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

    fn apply<F: Float>(&self, x: F) -> F {
        match *self {
            Activation::Relu => x.max(F::zero()),
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

    /// Derivative expressed through the output `y`.
    fn derivative_from_output<F: Float>(&self, y: F) -> F {
        match *self {
            Activation::Relu => {
                if y > F::zero() {
                    F::one()
                } else {
                    F::zero()
                }
            }
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
        }
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let y = Module::<F>::infer(self, input)?;
        Ok((y.clone(), Cache::from_tensors(vec![y])))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        self.check()?;
        Ok(input.mapv(|x| self.apply(x)))
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
            let mut g = grad_output.clone();
            g.zip_mut_with(y, |g, &y| *g *= self.derivative_from_output(y));
            g
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
