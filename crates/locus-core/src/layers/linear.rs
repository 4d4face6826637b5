use ndarray::{Array1, Array2, Axis, Ix1, Ix2};
use serde::{Deserialize, Serialize};

use super::feedback::{Feedback, FeedbackRule};
use super::params::{weight_and_bias, weight_and_bias_mut};
use crate::init::Init;
use crate::{
    affine, as_matrix, matmul, Cache, Error, Float, Gradients, Module, Param, ParamMut, Result,
    SeededRng, StateDict, Tensor,
};

/// Configuration of a [`Linear`] layer, checked before any weight is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LinearConfig {
    /// Input width.
    pub inputs: usize,
    /// Output width.
    pub outputs: usize,
    /// Weight initialisation (default [`Init::TorchDefault`]).
    pub init: Init,
    /// Bias initialisation (default: same as PyTorch, [`Init::TorchDefault`]).
    pub bias_init: Init,
    /// Whether the layer has a bias (default true).
    pub bias: bool,
    /// The backward rule (default [`FeedbackRule::Transpose`], i.e. backpropagation).
    #[serde(default)]
    pub feedback: FeedbackRule,
}

impl LinearConfig {
    /// A layer from `inputs` to `outputs` with PyTorch's default initialisation.
    pub fn new(inputs: usize, outputs: usize) -> Self {
        LinearConfig {
            inputs,
            outputs,
            init: Init::TorchDefault,
            bias_init: Init::TorchDefault,
            bias: true,
            feedback: FeedbackRule::Transpose,
        }
    }

    /// Sets the backward rule (feedback alignment, sign symmetry, …).
    pub fn with_feedback(mut self, feedback: FeedbackRule) -> Self {
        self.feedback = feedback;
        self
    }

    /// Sets the weight initialisation.
    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Sets the bias initialisation.
    pub fn with_bias_init(mut self, init: Init) -> Self {
        self.bias_init = init;
        self
    }

    /// Removes or keeps the bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Checks the widths and initialisations.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a zero width or a bad initialisation scale.
    pub fn check(&self) -> Result<()> {
        if self.inputs == 0 {
            return Err(Error::invalid("Linear input width", "should be >= 1", 0));
        }
        if self.outputs == 0 {
            return Err(Error::invalid("Linear output width", "should be >= 1", 0));
        }
        self.init.check()?;
        self.bias_init.check()
    }

    /// Draws the weights (and the feedback matrix, when the rule has one) and builds the
    /// layer. With [`FeedbackRule::Transpose`] nothing beyond the weights is drawn.
    ///
    /// # Errors
    /// As [`LinearConfig::check`].
    pub fn init<F: Float>(&self, rng: &mut SeededRng) -> Result<Linear<F>> {
        self.check()?;
        let weight =
            self.init
                .sample::<F>(&[self.inputs, self.outputs], self.inputs, self.outputs, rng)?;
        let bias = if self.bias {
            Some(
                self.bias_init
                    .sample::<F>(&[self.outputs], self.inputs, self.outputs, rng)?,
            )
        } else {
            None
        };
        let feedback = match self.feedback {
            FeedbackRule::Transpose => Feedback::transpose(),
            rule => Feedback::new(
                rule,
                &[self.inputs, self.outputs],
                (self.inputs, self.outputs),
                self.init,
                rng,
            )?,
        };
        Ok(Linear {
            weight,
            bias,
            feedback,
        })
    }
}

/// A dense affine layer, `y = x W + b`.
///
/// The weight is stored `[inputs, outputs]` (the transpose of PyTorch's layout), so the
/// forward pass is one matrix product without a transpose.
///
/// Its backward pass sends `δx = δy Bᵀ`, where `B` is chosen by the layer's
/// [`FeedbackRule`]: `W` itself for backpropagation (the default), a fixed random matrix
/// for feedback alignment, `sign(W)` variants for sign symmetry. The weight gradient
/// `xᵀ δy` is the same under every rule; [`Module::backward_exact`] always uses `W`.
///
/// # Shapes
/// input `[batch, inputs]` → output `[batch, outputs]`; weight `[inputs, outputs]`, bias
/// `[outputs]`.
///
/// # Errors
/// [`Error::Shape`] for an input of the wrong width or rank.
#[derive(Debug, Clone)]
pub struct Linear<F> {
    weight: Tensor<F>,
    bias: Option<Tensor<F>>,
    feedback: Feedback<F>,
}

impl<F: Float> Linear<F> {
    /// A layer from explicit weights (`[inputs, outputs]`) and optional bias (`[outputs]`).
    ///
    /// # Errors
    /// [`Error::Shape`] when the weight is not 2-D or the bias does not match its width.
    pub fn from_weights(weight: Array2<F>, bias: Option<Array1<F>>) -> Result<Self> {
        if let Some(b) = &bias {
            if b.len() != weight.ncols() {
                return Err(Error::shape(
                    "Linear::from_weights bias",
                    format!("[{}]", weight.ncols()),
                    b.shape(),
                ));
            }
        }
        if weight.is_empty() {
            return Err(Error::shape(
                "Linear::from_weights weight",
                "[inputs >= 1, outputs >= 1]",
                weight.shape(),
            ));
        }
        Ok(Linear {
            weight: weight.into_dyn(),
            bias: bias.map(|b| b.into_dyn()),
            feedback: Feedback::transpose(),
        })
    }

    /// The layer's backward rule.
    pub fn feedback_rule(&self) -> FeedbackRule {
        self.feedback.rule()
    }

    /// The matrix the next backward pass sends the gradient through (`[inputs, outputs]`,
    /// like the weight). For batch-random sign symmetry every call is a new draw.
    ///
    /// # Errors
    /// Only if a random draw fails.
    pub fn feedback_matrix(&self) -> Result<Tensor<F>> {
        Ok(self.feedback.matrix(&self.weight)?.into_owned())
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.weight.shape()[1]
    }

    /// The weight matrix, `[inputs, outputs]`.
    pub fn weight(&self) -> ndarray::ArrayView2<'_, F> {
        self.weight
            .view()
            .into_dimensionality::<Ix2>()
            .expect("Linear weight is 2-D by construction")
    }

    /// The bias, when the layer has one.
    pub fn bias(&self) -> Option<ndarray::ArrayView1<'_, F>> {
        self.bias.as_ref().map(|b| {
            b.view()
                .into_dimensionality::<Ix1>()
                .expect("Linear bias is 1-D by construction")
        })
    }

    fn context(&self) -> String {
        self.name()
    }

    /// The backward pass with the layer's feedback rule, or with `W` when `exact`.
    fn backward_through(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
        exact: bool,
    ) -> Result<Gradients<F>> {
        let context = self.context();
        let x = as_matrix(cache.tensor(0, &context)?, Some(self.inputs()), &context)?;
        let g = as_matrix(grad_output, Some(self.outputs()), &context)?;
        if g.nrows() != x.nrows() {
            return Err(Error::shape(
                format!("{context} backward (grad_output)"),
                format!("[{}, {}]", x.nrows(), self.outputs()),
                grad_output.shape(),
            ));
        }
        let grad_w = matmul(&x.t(), &g);
        let mut params = vec![grad_w.into_dyn()];
        if self.bias.is_some() {
            let mut grad_b = crate::scratch::tensor_for_overwrite(&[self.outputs()]);
            grad_b.fill(F::zero());
            for row in g.axis_iter(Axis(0)) {
                grad_b += &row;
            }
            params.push(grad_b);
        }
        let input = if !need_input_grad {
            None
        } else if exact {
            Some(matmul(&g, &self.weight().t()).into_dyn())
        } else {
            let b = self.feedback.matrix(&self.weight)?;
            let b = as_matrix(&b, Some(self.outputs()), &context)?;
            Some(matmul(&g, &b.t()).into_dyn())
        };
        Ok(Gradients { input, params })
    }
}

impl<F: Float> Module<F> for Linear<F> {
    fn name(&self) -> String {
        format!("Linear({}→{})", self.inputs(), self.outputs())
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let y = self.infer(input)?;
        Ok((y, Cache::from_tensors(vec![crate::scratch::copy_of(input)])))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        let x = as_matrix(input, Some(self.inputs()), &self.context())?;
        let y = match self.bias() {
            Some(b) => affine(&x, &self.weight(), &b),
            None => matmul(&x, &self.weight()),
        };
        Ok(y.into_dyn())
    }

    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        self.backward_through(cache, grad_output, need_input_grad, false)
    }

    fn backward_exact(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        self.backward_through(cache, grad_output, need_input_grad, true)
    }

    fn diagnostics(&self) -> Vec<(String, f64)> {
        self.feedback.diagnostics(&self.weight)
    }

    fn params(&self) -> Vec<Param<'_, F>> {
        weight_and_bias(&self.weight, self.bias.as_ref())
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_, F>> {
        weight_and_bias_mut(&mut self.weight, self.bias.as_mut())
    }

    /// `weight` in PyTorch's `[out, in]` layout (the transpose of how the layer keeps
    /// it), `bias`, and the feedback rule's state under `feedback.` (see
    /// [`Feedback::save_state`]).
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        state.put_tensor(
            format!("{prefix}weight"),
            self.weight.t().as_standard_layout().into_owned(),
        );
        if let Some(b) = &self.bias {
            state.put_tensor(format!("{prefix}bias"), b.clone());
        }
        self.feedback
            .save_state(&format!("{prefix}feedback."), state);
    }

    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        let (inputs, outputs) = (self.inputs(), self.outputs());
        let weight = state.take_tensor(&format!("{prefix}weight"), Some(&[outputs, inputs]))?;
        let bias = match &self.bias {
            Some(b) => Some(state.take_tensor(&format!("{prefix}bias"), Some(b.shape()))?),
            None => None,
        };
        self.feedback
            .load_state(&format!("{prefix}feedback."), &[inputs, outputs], state)?;
        self.weight = weight.t().as_standard_layout().into_owned();
        self.bias = bias;
        Ok(())
    }
}
