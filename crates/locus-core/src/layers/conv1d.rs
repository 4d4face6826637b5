use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView3, Axis, CowArray, Ix1, Ix3};
use serde::{Deserialize, Serialize};

use super::feedback::{Feedback, FeedbackRule};
use super::params::{add_bias_to_rows, weight_and_bias, weight_and_bias_mut};
use super::window::{unfolded_cache, unfolded_input, Geometry, Window2d};
use crate::init::Init;
use crate::{
    matmul, scratch, Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, SeededRng,
    Tensor,
};

/// Configuration of a [`Conv1d`] layer, checked before any weight is drawn.
///
/// The defaults are PyTorch's `nn.Conv1d` defaults: stride 1, no padding, a bias, and
/// weights and bias uniform on `±1/sqrt(fan_in)` with `fan_in = in_channels · kernel`
/// ([`Init::TorchDefault`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Conv1dConfig {
    /// Channels of the input.
    pub in_channels: usize,
    /// Channels of the output (number of filters).
    pub out_channels: usize,
    /// Kernel length.
    pub kernel: usize,
    /// Step between windows (default 1).
    pub stride: usize,
    /// Zeros added at each end of the input (default 0).
    pub padding: usize,
    /// Whether the layer has a bias (default true).
    pub bias: bool,
    /// Weight initialisation (default [`Init::TorchDefault`], with `fan_in = in_channels ·
    /// kernel` and `fan_out = out_channels · kernel`).
    pub init: Init,
    /// Bias initialisation (default: same as PyTorch, [`Init::TorchDefault`]).
    pub bias_init: Init,
    /// The backward rule (default [`FeedbackRule::Transpose`], i.e. backpropagation);
    /// a feedback matrix has the weight's shape.
    #[serde(default)]
    pub feedback: FeedbackRule,
}

impl Conv1dConfig {
    /// A convolution from `in_channels` to `out_channels` with a window of `kernel` steps,
    /// stride 1, no padding, a bias and PyTorch's default initialisation.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize) -> Self {
        Conv1dConfig {
            in_channels,
            out_channels,
            kernel,
            stride: 1,
            padding: 0,
            bias: true,
            init: Init::TorchDefault,
            bias_init: Init::TorchDefault,
            feedback: FeedbackRule::Transpose,
        }
    }

    /// Sets the stride.
    pub fn with_stride(mut self, stride: usize) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the zero padding added at each end.
    pub fn with_padding(mut self, padding: usize) -> Self {
        self.padding = padding;
        self
    }

    /// Removes or keeps the bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
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

    /// Sets the backward rule (feedback alignment, sign symmetry, …).
    pub fn with_feedback(mut self, feedback: FeedbackRule) -> Self {
        self.feedback = feedback;
        self
    }

    /// Checks the sizes and initialisations. Whether the kernel fits the input is known
    /// only at forward time, where a too-short input is an [`Error::Shape`].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for zero channels, a zero kernel or stride, a weight
    /// too large to count, or a bad initialisation scale.
    pub fn check(&self) -> Result<()> {
        let positive = [
            ("Conv1d input channels", self.in_channels),
            ("Conv1d output channels", self.out_channels),
            ("Conv1d kernel size", self.kernel),
            ("Conv1d stride", self.stride),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::invalid(name, "should be >= 1", 0));
            }
        }
        let weights = self
            .out_channels
            .checked_mul(self.in_channels)
            .and_then(|n| n.checked_mul(self.kernel));
        if weights.is_none() {
            return Err(Error::invalid(
                "Conv1d weight size",
                "out_channels · in_channels · kernel should fit in usize",
                format!(
                    "{} · {} · {}",
                    self.out_channels, self.in_channels, self.kernel
                ),
            ));
        }
        self.init.check()?;
        self.bias_init.check()
    }

    /// Draws the weights and builds the layer.
    ///
    /// # Errors
    /// As [`Conv1dConfig::check`].
    pub fn init<F: Float>(&self, rng: &mut SeededRng) -> Result<Conv1d<F>> {
        self.check()?;
        let fan_in = self.in_channels * self.kernel;
        let fan_out = self.out_channels * self.kernel;
        let shape = [self.out_channels, self.in_channels, self.kernel];
        let weight = self.init.sample::<F>(&shape, fan_in, fan_out, rng)?;
        let bias = if self.bias {
            Some(
                self.bias_init
                    .sample::<F>(&[self.out_channels], fan_in, fan_out, rng)?,
            )
        } else {
            None
        };
        let feedback = match self.feedback {
            FeedbackRule::Transpose => Feedback::transpose(),
            rule => Feedback::new(rule, &shape, (fan_in, fan_out), self.init, rng)?,
        };
        Ok(Conv1d {
            weight,
            bias,
            shape,
            window: window(self.kernel, self.stride, self.padding),
            feedback,
        })
    }
}

/// The 1-D window as a 2-D window of height 1, so the im2col code of
/// [`Conv2d`](super::Conv2d) serves both.
fn window(kernel: usize, stride: usize, padding: usize) -> Window2d {
    Window2d {
        kernel: (1, kernel),
        stride: (1, stride),
        padding: (0, padding),
    }
}

/// A 1-D convolution over a batch of multi-channel sequences, as in PyTorch's
/// `nn.Conv1d`: `y[n, o, t] = b[o] + Σ_c Σ_i W[o, c, i] · x[n, c, t·s + i − p]` (zero
/// outside the sequence). Sequence encoders such as CPC's and Greedy InfoMax's audio
/// encoders (Oord et al. 2018, §3.1; Löwe et al. 2019, §4.2) are stacks of these.
///
/// Like [`Conv2d`](super::Conv2d), of which it is the height-1 case, it copies the input
/// windows into a matrix (im2col) and multiplies once ([`matmul`](crate::matmul)); the
/// cache keeps that matrix, so the backward pass does not unfold the input again. The
/// backward pass adds the window gradients back (col2im) only when the input gradient is
/// asked for, and sends it through the layer's [`FeedbackRule`] matrix
/// ([`Module::backward_exact`] always uses the weight).
///
/// # Memory
/// The cache holds the unfolded input, `[batch · out_length, in_channels · kernel]`, in
/// place of the input: `kernel` times the input's size at stride 1 with "same" padding,
/// about `kernel / stride` times with a larger stride (5 times for the sequence encoder's
/// kernel-5, stride-1 stages). Each batch in flight holds its own cache.
///
/// # Shapes
/// input `[batch, in_channels, length]` → output `[batch, out_channels, out_length]` with
/// `out_length = (length + 2·padding − kernel) / stride + 1` (rounded down); weight
/// `[out_channels, in_channels, kernel]` (PyTorch's layout), bias `[out_channels]`.
///
/// # Errors
/// [`Error::Shape`] for an input that is not 3-D, has the wrong number of channels, or is
/// shorter than the kernel after padding.
///
/// # Example
/// The first stage of a sequence encoder for MNIST-1D's 40-step signals:
/// ```
/// use locus_core::{seeded_rng, Activation, Conv1dConfig, Module, Reshape, Sequential, Tensor};
///
/// # fn main() -> locus_core::Result<()> {
/// let conv = Conv1dConfig::new(1, 16, 5)
///     .with_stride(2)
///     .with_padding(2)
///     .init::<f32>(&mut seeded_rng(0))?;
/// assert_eq!(conv.output_length(40), Some(20));
/// let stage = Sequential::new()
///     .push(Reshape::new(vec![1, 40])?)
///     .push(conv)
///     .push(Activation::Relu);
/// let z = stage.infer(&Tensor::zeros(vec![8, 40]))?;
/// assert_eq!(z.shape(), [8, 16, 20]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Conv1d<F> {
    weight: Tensor<F>,
    bias: Option<Tensor<F>>,
    /// `[out_channels, in_channels, kernel]`, fixed at construction.
    shape: [usize; 3],
    window: Window2d,
    feedback: Feedback<F>,
}

impl<F: Float> Conv1d<F> {
    /// A layer from explicit weights (`[out_channels, in_channels, kernel]`), an optional
    /// bias (`[out_channels]`), a stride and a padding.
    ///
    /// # Errors
    /// [`Error::Shape`] when the weight has a zero-sized axis or the bias does not match
    /// its output channels; [`Error::InvalidParameter`] for a zero stride.
    pub fn from_weights(
        weight: Array3<F>,
        bias: Option<Array1<F>>,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        let context = "Conv1d::from_weights";
        let (out_channels, in_channels, kernel) = weight.dim();
        if weight.is_empty() {
            return Err(Error::shape(
                format!("{context} weight"),
                "[out_channels >= 1, in_channels >= 1, kernel >= 1]",
                weight.shape(),
            ));
        }
        if let Some(b) = &bias {
            if b.len() != out_channels {
                return Err(Error::shape(
                    format!("{context} bias"),
                    format!("[{out_channels}]"),
                    b.shape(),
                ));
            }
        }
        if stride == 0 {
            return Err(Error::invalid("Conv1d stride", "should be >= 1", 0));
        }
        Ok(Conv1d {
            weight: weight.into_dyn(),
            bias: bias.map(|b| b.into_dyn()),
            shape: [out_channels, in_channels, kernel],
            window: window(kernel, stride, padding),
            feedback: Feedback::transpose(),
        })
    }

    /// The layer's backward rule.
    pub fn feedback_rule(&self) -> FeedbackRule {
        self.feedback.rule()
    }

    /// Channels of the input.
    pub fn in_channels(&self) -> usize {
        self.shape[1]
    }

    /// Channels of the output.
    pub fn out_channels(&self) -> usize {
        self.shape[0]
    }

    /// Kernel length.
    pub fn kernel(&self) -> usize {
        self.shape[2]
    }

    /// Stride.
    pub fn stride(&self) -> usize {
        self.window.stride.1
    }

    /// Zero padding at each end.
    pub fn padding(&self) -> usize {
        self.window.padding.1
    }

    /// The output length for an input of `length` steps, or `None` when the kernel does
    /// not fit in the padded input.
    pub fn output_length(&self, length: usize) -> Option<usize> {
        self.window.output_size(1, length).map(|(_, l)| l)
    }

    /// The weight, `[out_channels, in_channels, kernel]`.
    ///
    /// # Panics
    /// When the weight was replaced, through [`Module::params_mut`], by a tensor that is
    /// not 3-D.
    pub fn weight(&self) -> ArrayView3<'_, F> {
        self.weight
            .view()
            .into_dimensionality::<Ix3>()
            .expect("Conv1d weight is 3-D by construction")
    }

    /// The bias, when the layer has one.
    ///
    /// # Panics
    /// When the bias was replaced, through [`Module::params_mut`], by a tensor that is not
    /// 1-D.
    pub fn bias(&self) -> Option<ArrayView1<'_, F>> {
        self.bias.as_ref().map(|b| {
            b.view()
                .into_dimensionality::<Ix1>()
                .expect("Conv1d bias is 1-D by construction")
        })
    }

    /// The geometry of an input of `shape`, or an [`Error::Shape`] in 1-D terms.
    fn geometry(&self, shape: &[usize], context: &str) -> Result<Geometry> {
        let (k, p) = (self.kernel(), self.padding());
        let expected = || {
            let length = if p == 0 {
                format!("length >= {k}")
            } else {
                format!("length + 2·{p} >= {k}")
            };
            format!("[batch, {}, length] with {length}", self.in_channels())
        };
        let &[batch, channels, length] = shape else {
            return Err(Error::shape(context, expected(), shape));
        };
        if channels != self.in_channels() || self.output_length(length).is_none() {
            return Err(Error::shape(context, expected(), shape));
        }
        self.window
            .geometry(&[batch, channels, 1, length], Some(channels), context)
            .map_err(|_| Error::shape(context, expected(), shape))
    }

    /// The weight as an `[out_channels, in_channels · kernel]` matrix, after checking that
    /// `params_mut` left the parameters' shapes alone.
    fn weight_matrix(&self, context: &str) -> Result<CowArray<'_, F, ndarray::Ix2>> {
        if self.weight.shape() != self.shape {
            return Err(Error::shape(
                format!("{context} weight"),
                format!("{:?}", self.shape),
                self.weight.shape(),
            ));
        }
        if let Some(b) = &self.bias {
            if b.shape() != [self.out_channels()] {
                return Err(Error::shape(
                    format!("{context} bias"),
                    format!("[{}]", self.out_channels()),
                    b.shape(),
                ));
            }
        }
        let patch = self.shape[1] * self.shape[2];
        self.weight
            .to_shape((self.shape[0], patch))
            .map_err(|_| Error::shape(format!("{context} weight"), "3-D", self.weight.shape()))
    }

    /// The im2col matrix of `input`, `[batch · out_length, in_channels · kernel]`.
    fn columns(&self, g: &Geometry, input: &Tensor<F>, context: &str) -> Result<Array2<F>> {
        let x = input.as_standard_layout();
        let mut cols = scratch::matrix_for_overwrite(g.batch * g.positions(), g.patch_len());
        match (x.as_slice(), cols.as_slice_mut()) {
            (Some(x), Some(c)) => g.im2col(x, c),
            _ => return Err(layout_error(context, input.shape())),
        }
        Ok(cols)
    }

    /// The output for `input` and the im2col matrix it was computed from.
    fn output_and_columns(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Array2<F>)> {
        let context = self.name();
        let g = self.geometry(input.shape(), &context)?;
        let w = self.weight_matrix(&context)?;
        let cols = self.columns(&g, input, &context)?;
        let mut y = matmul(&cols.view(), &w.t());
        add_bias_to_rows(&mut y, self.bias.as_ref(), &context)?;
        Ok((rows_to_ncl(y, &g, &context)?, cols))
    }

    /// The backward pass with the layer's feedback rule, or with the weight when `exact`.
    fn backward_through(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
        exact: bool,
    ) -> Result<Gradients<F>> {
        let context = self.name();
        let (g, cols) = unfolded_input(cache, &context, |shape| self.geometry(shape, &context))?;
        let out_shape = [g.batch, self.out_channels(), g.out_width];
        if grad_output.shape() != out_shape {
            return Err(Error::shape(
                format!("{context} backward (grad_output)"),
                format!("{out_shape:?}"),
                grad_output.shape(),
            ));
        }
        let w = self.weight_matrix(&context)?;
        let grad_rows = ncl_to_rows(grad_output, &g, &context)?;
        let grad_w = matmul(&grad_rows.t(), &cols)
            .into_shape_with_order(self.shape.to_vec())
            .map_err(|_| layout_error(&context, &self.shape))?;
        let mut params = vec![grad_w];
        if self.bias.is_some() {
            params.push(grad_rows.sum_axis(Axis(0)).into_dyn());
        }
        let input = if need_input_grad {
            let grad_cols = if exact {
                matmul(&grad_rows.view(), &w.view())
            } else {
                let b = self.feedback.matrix(&self.weight)?;
                let b = b
                    .to_shape(w.dim())
                    .map_err(|_| layout_error(&context, b.shape()))?;
                matmul(&grad_rows.view(), &b.view())
            };
            let mut grad_x = Array3::zeros((g.batch, g.channels, g.width));
            match (grad_cols.as_slice(), grad_x.as_slice_mut()) {
                (Some(c), Some(gx)) => g.col2im(c, gx),
                _ => return Err(layout_error(&context, &[g.batch, g.channels, g.width])),
            }
            Some(grad_x.into_dyn())
        } else {
            None
        };
        Ok(Gradients { input, params })
    }
}

/// Never expected: a standard-layout array that ndarray will not view as a slice.
fn layout_error(context: &str, shape: &[usize]) -> Error {
    Error::shape(context, "a tensor ndarray can lay out contiguously", shape)
}

/// `[batch · out_length, channels]` rows → an NCL tensor.
fn rows_to_ncl<F: Float>(rows: Array2<F>, g: &Geometry, context: &str) -> Result<Tensor<F>> {
    let channels = rows.ncols();
    let shape = rows.shape().to_vec();
    let rows = rows
        .into_shape_with_order((g.batch, g.positions(), channels))
        .map_err(|_| layout_error(context, &shape))?;
    let mut out = Array3::zeros((g.batch, channels, g.positions()));
    out.assign(&rows.permuted_axes([0, 2, 1]));
    Ok(out.into_dyn())
}

/// An NCL tensor → `[batch · out_length, channels]` rows.
fn ncl_to_rows<F: Float>(t: &Tensor<F>, g: &Geometry, context: &str) -> Result<Array2<F>> {
    let channels = t.shape()[1];
    let planes = t
        .to_shape((g.batch, channels, g.positions()))
        .map_err(|_| layout_error(context, t.shape()))?;
    let mut rows = Array3::zeros((g.batch, g.positions(), channels));
    rows.assign(&planes.permuted_axes([0, 2, 1]));
    rows.into_shape_with_order((g.batch * g.positions(), channels))
        .map_err(|_| layout_error(context, t.shape()))
}

impl<F: Float> Module<F> for Conv1d<F> {
    fn name(&self) -> String {
        format!(
            "Conv1d({}→{}, kernel {}, stride {}, padding {})",
            self.in_channels(),
            self.out_channels(),
            self.kernel(),
            self.stride(),
            self.padding()
        )
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let (y, cols) = self.output_and_columns(input)?;
        Ok((y, unfolded_cache(cols, input.shape())))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        Ok(self.output_and_columns(input)?.0)
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
}

#[cfg(test)]
mod tests {
    use ndarray::{arr1, Array};

    use super::*;
    use crate::seeded_rng;

    fn assert_close(a: &Tensor<f64>, b: &Tensor<f64>) {
        assert_eq!(a.shape(), b.shape());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn forward_and_backward_match_hand_computed_values() {
        // x = [1, 2, 3, 4], kernel [1, -1] plus bias 0.5: y[t] = x[t] - x[t+1] + 0.5.
        let w = Array3::from_shape_vec((1, 1, 2), vec![1.0, -1.0]).unwrap();
        let conv = Conv1d::from_weights(w, Some(arr1(&[0.5])), 1, 0).unwrap();
        let x = Array::from_shape_vec(vec![1, 1, 4], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
        let (y, cache) = conv.forward(&x).unwrap();
        let expected = Array::from_shape_vec(vec![1, 1, 3], vec![-0.5, -0.5, -0.5]).unwrap();
        assert_close(&y, &expected);
        let r = Array::from_shape_vec(vec![1, 1, 3], vec![1.0, 2.0, 3.0]).unwrap();
        let grads = conv.backward(&cache, &r, true).unwrap();
        // ∂L/∂W[0] = Σ_t r[t] x[t] = 1 + 4 + 9, ∂L/∂W[1] = Σ_t r[t] x[t+1] = 2 + 6 + 12.
        assert_close(
            &grads.params[0],
            &arr1(&[14.0, 20.0])
                .into_shape_with_order(vec![1, 1, 2])
                .unwrap(),
        );
        assert_close(&grads.params[1], &arr1(&[6.0]).into_dyn());
        // ∂L/∂x[t] = r[t]·1 + r[t-1]·(-1).
        let gx = Array::from_shape_vec(vec![1, 1, 4], vec![1.0, 1.0, 1.0, -3.0]).unwrap();
        assert_close(grads.input.as_ref().unwrap(), &gx);
    }

    /// Direct convolution by its definition, output and all gradients, as reference.
    fn reference(
        x: &Array3<f64>,
        w: &Array3<f64>,
        b: &Array1<f64>,
        r: &Array3<f64>,
        stride: usize,
        padding: usize,
    ) -> [Array3<f64>; 3] {
        let (batch, cin, len) = x.dim();
        let (cout, _, k) = w.dim();
        let out = (len + 2 * padding - k) / stride + 1;
        let mut y = Array3::zeros((batch, cout, out));
        let mut gx = Array3::zeros(x.dim());
        let mut gw = Array3::zeros(w.dim());
        for ((n, o, t), value) in y.indexed_iter_mut() {
            *value = b[o];
            for c in 0..cin {
                for i in 0..k {
                    let Some(s) = (t * stride + i).checked_sub(padding).filter(|&s| s < len) else {
                        continue;
                    };
                    *value += w[[o, c, i]] * x[[n, c, s]];
                    gx[[n, c, s]] += w[[o, c, i]] * r[[n, o, t]];
                    gw[[o, c, i]] += x[[n, c, s]] * r[[n, o, t]];
                }
            }
        }
        [y, gx, gw]
    }

    #[test]
    fn matches_direct_convolution_with_stride_and_padding() {
        // (batch, in, out, length, kernel, stride, padding)
        let cases = [
            (2, 3, 4, 9, 3, 1, 0),
            (1, 2, 3, 10, 5, 2, 2),
            (3, 1, 2, 7, 2, 3, 1),
            (2, 2, 2, 4, 1, 1, 3),
        ];
        for (batch, cin, cout, len, k, stride, padding) in cases {
            let mut rng = seeded_rng(len as u64 * 13 + k as u64);
            let conv = Conv1dConfig::new(cin, cout, k)
                .with_stride(stride)
                .with_padding(padding)
                .with_bias_init(Init::Uniform(1.0))
                .init::<f64>(&mut rng)
                .unwrap();
            let x = Init::Uniform(1.0)
                .sample::<f64>(&[batch, cin, len], 1, 1, &mut rng)
                .unwrap();
            let (y, cache) = conv.forward(&x).unwrap();
            assert_eq!(y.shape()[2], conv.output_length(len).unwrap());
            let r = Init::Uniform(1.0)
                .sample::<f64>(y.shape(), 1, 1, &mut rng)
                .unwrap();
            let grads = conv.backward(&cache, &r, true).unwrap();
            let three = |t: &Tensor<f64>| t.clone().into_dimensionality::<Ix3>().unwrap();
            let [y_ref, gx_ref, gw_ref] = reference(
                &three(&x),
                &conv.weight().to_owned(),
                &conv.bias().unwrap().to_owned(),
                &three(&r),
                stride,
                padding,
            );
            assert_close(&y, &y_ref.into_dyn());
            assert_close(grads.input.as_ref().unwrap(), &gx_ref.into_dyn());
            assert_close(&grads.params[0], &gw_ref.into_dyn());
            assert_close(&grads.params[1], &r.sum_axis(Axis(0)).sum_axis(Axis(1)));
        }
    }

    #[test]
    fn wrong_input_shapes_are_shape_errors_naming_the_layer() {
        let conv = Conv1dConfig::new(2, 3, 3)
            .init::<f64>(&mut seeded_rng(0))
            .unwrap();
        for shape in [vec![4, 2], vec![4, 2, 5, 5], vec![4, 3, 5], vec![4, 2, 2]] {
            let x = Tensor::zeros(shape.clone());
            for result in [conv.forward(&x).map(|(y, _)| y), conv.infer(&x)] {
                match result {
                    Err(Error::Shape { context, got, .. }) => {
                        assert!(context.starts_with("Conv1d(2→3"), "{context}");
                        assert_eq!(got, shape);
                    }
                    other => panic!("{shape:?} gave {other:?}"),
                }
            }
        }
        let (y, cache) = conv.forward(&Tensor::ones(vec![1, 2, 4])).unwrap();
        let wrong = conv.backward(&cache, &Tensor::zeros(vec![1, 3, 3]), true);
        assert!(matches!(wrong, Err(Error::Shape { .. })), "{wrong:?}");
        let foreign = conv.backward(&Cache::empty(), &y, true);
        assert!(matches!(foreign, Err(Error::Cache { .. })), "{foreign:?}");
    }

    #[test]
    fn config_check_names_the_bad_value() {
        let base = Conv1dConfig::new(1, 6, 5);
        let bad = [
            (
                Conv1dConfig {
                    in_channels: 0,
                    ..base
                },
                "input channels",
            ),
            (
                Conv1dConfig {
                    out_channels: 0,
                    ..base
                },
                "output channels",
            ),
            (Conv1dConfig { kernel: 0, ..base }, "kernel"),
            (base.with_stride(0), "stride"),
            (base.with_init(Init::Normal(-1.0)), "normal"),
            (
                Conv1dConfig {
                    in_channels: usize::MAX,
                    ..base
                },
                "weight size",
            ),
        ];
        for (config, name) in bad {
            let err = config.check().unwrap_err();
            assert!(err.to_string().contains(name), "{err} should name {name}");
            assert!(config.init::<f32>(&mut seeded_rng(0)).is_err());
        }
        assert!(base.check().is_ok());
        assert!(Conv1d::<f64>::from_weights(Array3::zeros((0, 1, 2)), None, 1, 0).is_err());
        assert!(
            Conv1d::<f64>::from_weights(Array3::zeros((2, 1, 2)), Some(arr1(&[0.0])), 1, 0)
                .is_err()
        );
        assert!(Conv1d::<f64>::from_weights(Array3::zeros((2, 1, 2)), None, 0, 0).is_err());
    }

    #[test]
    fn default_init_is_pytorch_uniform_over_the_window_fan_in() {
        let config = Conv1dConfig::new(3, 8, 5);
        let conv = config.init::<f32>(&mut seeded_rng(11)).unwrap();
        assert_eq!(conv.weight().shape(), [8, 3, 5]);
        let bound = 1.0 / (3.0f32 * 5.0).sqrt();
        assert!(conv.weight().iter().all(|v| v.abs() <= bound));
        assert!(conv.weight().iter().any(|v| v.abs() > 0.8 * bound));
        let again = config.init::<f32>(&mut seeded_rng(11)).unwrap();
        assert_eq!(conv.weight(), again.weight());
        let no_bias = config
            .with_bias(false)
            .init::<f32>(&mut seeded_rng(0))
            .unwrap();
        assert!(no_bias.bias().is_none());
        assert_eq!(Module::<f32>::num_params(&no_bias), 8 * 3 * 5);
    }
}
