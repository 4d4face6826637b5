use ndarray::{Array1, Array2, Array3, Array4, ArrayView1, ArrayView4, Axis, CowArray, Ix1, Ix4};
use serde::{Deserialize, Serialize};

use super::feedback::{Feedback, FeedbackRule};
use super::params::{add_bias_to_rows, weight_and_bias, weight_and_bias_mut};
use super::window::{check_pair, unfolded_cache, unfolded_input, Geometry, Window2d};
use crate::init::Init;
use crate::{
    matmul, scratch, Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, SeededRng,
    Tensor,
};

/// Configuration of a [`Conv2d`] layer, checked before any weight is drawn.
///
/// Sizes are `(height, width)` pairs. The defaults are PyTorch's `nn.Conv2d` defaults:
/// stride 1, no padding, a bias, and weights and bias uniform on `±1/sqrt(fan_in)` with
/// `fan_in = in_channels · kh · kw` ([`Init::TorchDefault`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Conv2dConfig {
    /// Channels of the input.
    pub in_channels: usize,
    /// Channels of the output (number of filters).
    pub out_channels: usize,
    /// Kernel size `(kh, kw)`.
    pub kernel: (usize, usize),
    /// Step between windows `(sh, sw)` (default `(1, 1)`).
    pub stride: (usize, usize),
    /// Zeros added on each side of the input `(ph, pw)` (default `(0, 0)`).
    pub padding: (usize, usize),
    /// Whether the layer has a bias (default true).
    pub bias: bool,
    /// Weight initialisation (default [`Init::TorchDefault`], with `fan_in = in_channels ·
    /// kh · kw` and `fan_out = out_channels · kh · kw`).
    pub init: Init,
    /// Bias initialisation (default: same as PyTorch, [`Init::TorchDefault`]).
    pub bias_init: Init,
    /// The backward rule (default [`FeedbackRule::Transpose`], i.e. backpropagation);
    /// a feedback matrix has the weight's shape.
    #[serde(default)]
    pub feedback: FeedbackRule,
}

impl Conv2dConfig {
    /// A convolution from `in_channels` to `out_channels` with a `kernel = (kh, kw)`
    /// window, stride 1, no padding, a bias and PyTorch's default initialisation.
    pub fn new(in_channels: usize, out_channels: usize, kernel: (usize, usize)) -> Self {
        Conv2dConfig {
            in_channels,
            out_channels,
            kernel,
            stride: (1, 1),
            padding: (0, 0),
            bias: true,
            init: Init::TorchDefault,
            bias_init: Init::TorchDefault,
            feedback: FeedbackRule::Transpose,
        }
    }

    /// Sets the backward rule (feedback alignment, sign symmetry, …).
    pub fn with_feedback(mut self, feedback: FeedbackRule) -> Self {
        self.feedback = feedback;
        self
    }

    /// Sets the stride `(sh, sw)`.
    pub fn with_stride(mut self, stride: (usize, usize)) -> Self {
        self.stride = stride;
        self
    }

    /// Sets the zero padding `(ph, pw)` added on each side.
    pub fn with_padding(mut self, padding: (usize, usize)) -> Self {
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

    /// Checks the sizes and initialisations. Whether the kernel fits the input is known
    /// only at forward time, where a too-small input is an [`Error::Shape`].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for zero channels, a zero kernel or stride size, a
    /// weight too large to count, or a bad initialisation scale.
    pub fn check(&self) -> Result<()> {
        if self.in_channels == 0 {
            return Err(Error::invalid("Conv2d input channels", "should be >= 1", 0));
        }
        if self.out_channels == 0 {
            return Err(Error::invalid(
                "Conv2d output channels",
                "should be >= 1",
                0,
            ));
        }
        check_pair("Conv2d", "kernel size", self.kernel)?;
        check_pair("Conv2d", "stride", self.stride)?;
        let (kh, kw) = self.kernel;
        let weights = [self.in_channels, kh, kw]
            .iter()
            .try_fold(self.out_channels, |acc, &d| acc.checked_mul(d));
        if weights.is_none() {
            return Err(Error::invalid(
                "Conv2d weight size",
                "out_channels · in_channels · kh · kw should fit in usize",
                format!("{} · {} · {kh} · {kw}", self.out_channels, self.in_channels),
            ));
        }
        self.init.check()?;
        self.bias_init.check()
    }

    /// Draws the weights and builds the layer.
    ///
    /// # Errors
    /// As [`Conv2dConfig::check`].
    pub fn init<F: Float>(&self, rng: &mut SeededRng) -> Result<Conv2d<F>> {
        self.check()?;
        let (kh, kw) = self.kernel;
        let fan_in = self.in_channels * kh * kw;
        let fan_out = self.out_channels * kh * kw;
        let shape = [self.out_channels, self.in_channels, kh, kw];
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
        Ok(Conv2d {
            weight,
            bias,
            shape,
            window: Window2d {
                kernel: self.kernel,
                stride: self.stride,
                padding: self.padding,
            },
            feedback,
        })
    }
}

/// A 2-D convolution over a batch of multi-channel images (LeCun et al. 1998), as in
/// PyTorch's `nn.Conv2d`: `y[n, o] = b[o] + Σ_c W[o, c] ⋆ x[n, c]`, where `⋆` is the
/// cross-correlation over the zero-padded input with the given stride.
///
/// Like [`Linear`](super::Linear), the layer sends its input gradient through a
/// [`FeedbackRule`]'s matrix in place of the weight (backpropagation by default);
/// [`Module::backward_exact`] always uses the weight.
///
/// The forward pass copies the input patches into a matrix (im2col) and multiplies it with
/// the weight in one product ([`matmul`](crate::matmul)). The cache keeps that matrix, so
/// the backward pass multiplies it with the output gradient for the weight gradient
/// without unfolding the input again; it adds the patch gradients back onto the input
/// (col2im) only when the input gradient is asked for.
///
/// # Memory
/// The cache holds the unfolded input, `[batch · out_height · out_width, in_channels · kh ·
/// kw]`, in place of the input: `kh · kw` times the input's size at stride 1 with "same"
/// padding, about `kh · kw / (sh · sw)` times with larger strides, and the input's own size
/// for a 1×1 kernel. LeNet-5's first convolution (5×5, padding 2) keeps 25 times its
/// 28×28 input: 10 MB in `f32` for a batch of 128 instead of 0.4 MB, and the second (5×5
/// on 6×14×14) 7.7 MB instead of 0.6 MB. Each batch in flight holds its own cache.
///
/// # Shapes
/// input `[batch, in_channels, height, width]` → output `[batch, out_channels, out_height,
/// out_width]` with `out_height = (height + 2·ph - kh) / sh + 1` (rounded down) and
/// likewise for the width; weight `[out_channels, in_channels, kh, kw]` (PyTorch's
/// layout), bias `[out_channels]`.
///
/// # Errors
/// [`Error::Shape`] for an input that is not 4-D, has the wrong number of channels, or is
/// smaller than the kernel after padding.
///
/// # Example
/// The first stage of a LeNet-style network on 28×28 images:
/// ```
/// use locus_core::{
///     seeded_rng, Activation, Conv2dConfig, Flatten, LinearConfig, Module, Pool2dConfig,
///     Sequential, Tensor,
/// };
///
/// # fn main() -> locus_core::Result<()> {
/// let mut rng = seeded_rng(0);
/// let conv = Conv2dConfig::new(1, 6, (5, 5))
///     .with_padding((2, 2))
///     .init::<f32>(&mut rng)?;
/// let pool = Pool2dConfig::new((2, 2)).max()?;
/// let (h, w) = conv.output_size(28, 28).unwrap();
/// let (h, w) = pool.output_size(h, w).unwrap();
/// assert_eq!((h, w), (14, 14));
/// let net = Sequential::new()
///     .push(conv)
///     .push(Activation::Relu)
///     .push(pool)
///     .push(Flatten)
///     .push(LinearConfig::new(6 * h * w, 10).init::<f32>(&mut rng)?);
/// let logits = net.infer(&Tensor::zeros(vec![8, 1, 28, 28]))?;
/// assert_eq!(logits.shape(), [8, 10]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Conv2d<F> {
    weight: Tensor<F>,
    bias: Option<Tensor<F>>,
    /// `[out_channels, in_channels, kh, kw]`, fixed at construction.
    shape: [usize; 4],
    window: Window2d,
    feedback: Feedback<F>,
}

impl<F: Float> Conv2d<F> {
    /// A layer from explicit weights (`[out_channels, in_channels, kh, kw]`), an optional
    /// bias (`[out_channels]`), a stride and a padding, each `(height, width)`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the weight has a zero-sized axis or the bias does not match
    /// its output channels; [`Error::InvalidParameter`] for a zero stride.
    pub fn from_weights(
        weight: Array4<F>,
        bias: Option<Array1<F>>,
        stride: (usize, usize),
        padding: (usize, usize),
    ) -> Result<Self> {
        let context = "Conv2d::from_weights";
        let (out_channels, in_channels, kh, kw) = weight.dim();
        if weight.is_empty() {
            return Err(Error::shape(
                format!("{context} weight"),
                "[out_channels >= 1, in_channels >= 1, kh >= 1, kw >= 1]",
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
        check_pair("Conv2d", "stride", stride)?;
        Ok(Conv2d {
            weight: weight.into_dyn(),
            bias: bias.map(|b| b.into_dyn()),
            shape: [out_channels, in_channels, kh, kw],
            window: Window2d {
                kernel: (kh, kw),
                stride,
                padding,
            },
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

    /// Kernel size `(kh, kw)`.
    pub fn kernel(&self) -> (usize, usize) {
        self.window.kernel
    }

    /// Stride `(sh, sw)`.
    pub fn stride(&self) -> (usize, usize) {
        self.window.stride
    }

    /// Zero padding `(ph, pw)` on each side.
    pub fn padding(&self) -> (usize, usize) {
        self.window.padding
    }

    /// The output `(height, width)` for an input of `height × width`, or `None` when the
    /// kernel does not fit in the padded input. Handy to size the dense layer after a
    /// [`Flatten`](super::Flatten).
    pub fn output_size(&self, height: usize, width: usize) -> Option<(usize, usize)> {
        self.window.output_size(height, width)
    }

    /// The weight, `[out_channels, in_channels, kh, kw]`.
    ///
    /// # Panics
    /// When the weight was replaced, through [`Module::params_mut`], by a tensor that is
    /// not 4-D.
    pub fn weight(&self) -> ArrayView4<'_, F> {
        self.weight
            .view()
            .into_dimensionality::<Ix4>()
            .expect("Conv2d weight is 4-D by construction")
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
                .expect("Conv2d bias is 1-D by construction")
        })
    }

    /// The weight as an `[out_channels, in_channels · kh · kw]` matrix, after checking
    /// that `params_mut` left the parameters' shapes alone.
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
        let patch = self.shape[1] * self.shape[2] * self.shape[3];
        self.weight
            .to_shape((self.shape[0], patch))
            .map_err(|_| Error::shape(format!("{context} weight"), "4-D", self.weight.shape()))
    }

    /// The im2col matrix of `input`, `[batch · positions, in_channels · kh · kw]`.
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
        let g = self
            .window
            .geometry(input.shape(), Some(self.in_channels()), &context)?;
        let w = self.weight_matrix(&context)?;
        let cols = self.columns(&g, input, &context)?;
        let mut y = matmul(&cols.view(), &w.t());
        add_bias_to_rows(&mut y, self.bias.as_ref(), &context)?;
        Ok((rows_to_nchw(y, &g, &context)?, cols))
    }
}

impl<F: Float> Conv2d<F> {
    /// The backward pass with the layer's feedback rule, or with the weight when `exact`.
    fn backward_through(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
        exact: bool,
    ) -> Result<Gradients<F>> {
        let context = self.name();
        let (g, cols) = unfolded_input(cache, &context, |shape| {
            self.window
                .geometry(shape, Some(self.in_channels()), &context)
        })?;
        let out_shape = [g.batch, self.out_channels(), g.out_height, g.out_width];
        if grad_output.shape() != out_shape {
            return Err(Error::shape(
                format!("{context} backward (grad_output)"),
                format!("{out_shape:?}"),
                grad_output.shape(),
            ));
        }
        let w = self.weight_matrix(&context)?;
        let grad_rows = nchw_to_rows(grad_output, &g, &context)?;
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
            let mut grad_x = Array4::zeros(g.input_shape());
            match (grad_cols.as_slice(), grad_x.as_slice_mut()) {
                (Some(c), Some(gx)) => g.col2im(c, gx),
                _ => return Err(layout_error(&context, &g.input_shape())),
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

/// `[batch · positions, channels]` rows → an NCHW tensor.
fn rows_to_nchw<F: Float>(rows: Array2<F>, g: &Geometry, context: &str) -> Result<Tensor<F>> {
    let channels = rows.ncols();
    let shape = rows.shape().to_vec();
    let rows = rows
        .into_shape_with_order((g.batch, g.positions(), channels))
        .map_err(|_| layout_error(context, &shape))?;
    let mut out = Array3::zeros((g.batch, channels, g.positions()));
    out.assign(&rows.permuted_axes([0, 2, 1]));
    out.into_shape_with_order(vec![g.batch, channels, g.out_height, g.out_width])
        .map_err(|_| layout_error(context, &shape))
}

/// An NCHW tensor → `[batch · positions, channels]` rows.
fn nchw_to_rows<F: Float>(t: &Tensor<F>, g: &Geometry, context: &str) -> Result<Array2<F>> {
    let channels = t.shape()[1];
    let planes = t
        .to_shape((g.batch, channels, g.positions()))
        .map_err(|_| layout_error(context, t.shape()))?;
    let mut rows = Array3::zeros((g.batch, g.positions(), channels));
    rows.assign(&planes.permuted_axes([0, 2, 1]));
    rows.into_shape_with_order((g.batch * g.positions(), channels))
        .map_err(|_| layout_error(context, t.shape()))
}

impl<F: Float> Module<F> for Conv2d<F> {
    fn name(&self) -> String {
        let (kh, kw) = self.kernel();
        let (sh, sw) = self.stride();
        let (ph, pw) = self.padding();
        format!(
            "Conv2d({}→{}, kernel {kh}×{kw}, stride {sh}×{sw}, padding {ph}×{pw})",
            self.in_channels(),
            self.out_channels()
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

    /// The 3×3 image 1..9 as a `[1, 1, 3, 3]` batch.
    fn one_to_nine() -> Tensor<f64> {
        Array::from_shape_vec(vec![1, 1, 3, 3], (1..=9).map(f64::from).collect()).unwrap()
    }

    /// The 2×2 kernel [[1, 2], [3, 4]], one input and one output channel.
    fn kernel_1234() -> Array4<f64> {
        Array4::from_shape_vec((1, 1, 2, 2), vec![1.0, 2.0, 3.0, 4.0]).unwrap()
    }

    fn assert_close(a: &Tensor<f64>, b: &Tensor<f64>) {
        assert_eq!(a.shape(), b.shape());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn forward_and_backward_match_hand_computed_values() {
        let conv = Conv2d::from_weights(kernel_1234(), Some(arr1(&[0.5])), (1, 1), (0, 0)).unwrap();
        let (y, cache) = conv.forward(&one_to_nine()).unwrap();
        // y[0, 0] = 1·1 + 2·2 + 4·3 + 5·4 + 0.5, and so on for each 2×2 window.
        let expected = Array::from_shape_vec(vec![1, 1, 2, 2], vec![37.5, 47.5, 67.5, 77.5]);
        assert_close(&y, &expected.unwrap());

        let ones = Tensor::ones(vec![1, 1, 2, 2]);
        let grads = conv.backward(&cache, &ones, true).unwrap();
        // ∂L/∂W[i, j] is the sum of the input under kernel tap (i, j) over the 4 windows.
        let grad_w = Array::from_shape_vec(vec![1, 1, 2, 2], vec![12.0, 16.0, 24.0, 28.0]);
        assert_close(&grads.params[0], &grad_w.unwrap());
        assert_close(&grads.params[1], &arr1(&[4.0]).into_dyn());
        // ∂L/∂x[p, q] is the sum of the kernel taps that touch pixel (p, q).
        let grad_x = vec![1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 3.0, 7.0, 4.0];
        let grad_x = Array::from_shape_vec(vec![1, 1, 3, 3], grad_x).unwrap();
        assert_close(grads.input.as_ref().unwrap(), &grad_x);
    }

    #[test]
    fn stride_and_padding_match_hand_computed_values() {
        let conv = Conv2d::from_weights(kernel_1234(), None, (2, 2), (1, 1)).unwrap();
        assert_eq!(conv.output_size(3, 3), Some((2, 2)));
        let y = conv.infer(&one_to_nine()).unwrap();
        // Padded to 5×5, windows start at rows and columns 0 and 2:
        // (0,0) sees only x[0,0]·4; (0,1) x[0,1]·3 + x[0,2]·4; (1,0) x[1,0]·2 + x[2,0]·4;
        // (1,1) is the full window 5·1 + 6·2 + 8·3 + 9·4.
        let expected = Array::from_shape_vec(vec![1, 1, 2, 2], vec![4.0, 18.0, 36.0, 77.0]);
        assert_close(&y, &expected.unwrap());
    }

    /// Direct convolution by its definition, output and all gradients, as reference.
    fn reference(
        x: &Array4<f64>,
        w: &Array4<f64>,
        b: &Array1<f64>,
        r: &Array4<f64>,
        (sh, sw): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> [Array4<f64>; 3] {
        let (batch, cin, h, wd) = x.dim();
        let (cout, _, kh, kw) = w.dim();
        let (oh, ow) = ((h + 2 * ph - kh) / sh + 1, (wd + 2 * pw - kw) / sw + 1);
        let mut y = Array4::zeros((batch, cout, oh, ow));
        let mut gx = Array4::zeros(x.dim());
        let mut gw = Array4::zeros(w.dim());
        for ((n, o, p, q), out) in y.indexed_iter_mut() {
            *out = b[o];
            for (c, i, j) in
                (0..cin).flat_map(|c| (0..kh).flat_map(move |i| (0..kw).map(move |j| (c, i, j))))
            {
                // Padded coordinates, shifted back into the image.
                let (row, col) = (p * sh + i, q * sw + j);
                if row < ph || col < pw || row - ph >= h || col - pw >= wd {
                    continue;
                }
                let (row, col) = (row - ph, col - pw);
                *out += w[[o, c, i, j]] * x[[n, c, row, col]];
                gx[[n, c, row, col]] += w[[o, c, i, j]] * r[[n, o, p, q]];
                gw[[o, c, i, j]] += x[[n, c, row, col]] * r[[n, o, p, q]];
            }
        }
        [y, gx, gw]
    }

    #[test]
    fn matches_direct_convolution_with_stride_padding_and_rectangular_kernels() {
        let cases = [
            // (batch, in, out, height, width, kernel, stride, padding)
            (2, 3, 4, 5, 6, (3, 2), (1, 1), (0, 0)),
            (1, 2, 3, 7, 5, (3, 3), (2, 2), (1, 1)),
            (3, 1, 2, 4, 4, (2, 3), (1, 2), (1, 0)),
            (2, 2, 2, 3, 3, (1, 1), (2, 1), (0, 2)),
        ];
        for (batch, cin, cout, h, w, kernel, stride, padding) in cases {
            let mut rng = seeded_rng(h as u64 * 31 + w as u64);
            let config = Conv2dConfig::new(cin, cout, kernel)
                .with_stride(stride)
                .with_padding(padding)
                .with_bias_init(Init::Uniform(1.0));
            let conv = config.init::<f64>(&mut rng).unwrap();
            let x = Init::Uniform(1.0)
                .sample::<f64>(&[batch, cin, h, w], 1, 1, &mut rng)
                .unwrap();
            let (y, cache) = conv.forward(&x).unwrap();
            let r = Init::Uniform(1.0)
                .sample::<f64>(y.shape(), 1, 1, &mut rng)
                .unwrap();
            let grads = conv.backward(&cache, &r, true).unwrap();
            let four = |t: &Tensor<f64>| t.clone().into_dimensionality::<Ix4>().unwrap();
            let bias = conv.bias().unwrap().to_owned();
            let [y_ref, gx_ref, gw_ref] = reference(
                &four(&x),
                &conv.weight().to_owned(),
                &bias,
                &four(&r),
                stride,
                padding,
            );
            assert_close(&y, &y_ref.into_dyn());
            assert_close(grads.input.as_ref().unwrap(), &gx_ref.into_dyn());
            assert_close(&grads.params[0], &gw_ref.into_dyn());
            assert_close(
                &grads.params[1],
                &r.sum_axis(Axis(0)).sum_axis(Axis(1)).sum_axis(Axis(1)),
            );
        }
    }

    #[test]
    fn without_input_gradient_the_parameter_gradients_are_the_same() {
        let conv = Conv2dConfig::new(2, 3, (2, 2))
            .with_padding((1, 1))
            .init::<f64>(&mut seeded_rng(4))
            .unwrap();
        let x = Tensor::from_shape_fn(vec![2, 2, 4, 3], |i| (i[1] + 2 * i[2]) as f64 - i[3] as f64);
        let (y, cache) = conv.forward(&x).unwrap();
        let r = Tensor::from_shape_fn(y.shape(), |i| 0.1 * (i[1] + i[3]) as f64 - 0.2);
        let with = conv.backward(&cache, &r, true).unwrap();
        let without = conv.backward(&cache, &r, false).unwrap();
        assert!(without.input.is_none());
        assert_eq!(with.params, without.params);
    }

    #[test]
    fn wrong_input_shapes_are_shape_errors_naming_the_layer() {
        let conv = Conv2dConfig::new(2, 3, (3, 3))
            .init::<f64>(&mut seeded_rng(0))
            .unwrap();
        let wrong = [
            vec![4, 2, 5],       // rank 3
            vec![4, 2, 5, 5, 1], // rank 5
            vec![4, 3, 5, 5],    // 3 channels for 2
            vec![4, 2, 2, 5],    // height 2 < kernel 3
            vec![4, 2, 5, 2],    // width 2 < kernel 3
        ];
        for shape in wrong {
            let x = Tensor::zeros(shape.clone());
            for result in [conv.forward(&x).map(|(y, _)| y), conv.infer(&x)] {
                match result {
                    Err(Error::Shape { context, got, .. }) => {
                        assert!(context.starts_with("Conv2d(2→3"), "{context}");
                        assert_eq!(got, shape);
                    }
                    other => panic!("{shape:?} gave {other:?}"),
                }
            }
        }
        // Padding lets a 1×1 image through a 3×3 kernel.
        let padded = Conv2dConfig::new(2, 3, (3, 3))
            .with_padding((1, 1))
            .init::<f64>(&mut seeded_rng(0))
            .unwrap();
        let y = padded.infer(&Tensor::zeros(vec![1, 2, 1, 1])).unwrap();
        assert_eq!(y.shape(), [1, 3, 1, 1]);
    }

    #[test]
    fn backward_refuses_wrong_gradients_and_foreign_caches() {
        let conv = Conv2dConfig::new(1, 2, (2, 2))
            .init::<f64>(&mut seeded_rng(0))
            .unwrap();
        let (y, cache) = conv.forward(&Tensor::ones(vec![1, 1, 3, 3])).unwrap();
        assert_eq!(y.shape(), [1, 2, 2, 2]);
        let wrong = conv.backward(&cache, &Tensor::zeros(vec![1, 2, 2, 3]), true);
        assert!(matches!(wrong, Err(Error::Shape { .. })), "{wrong:?}");
        let foreign = conv.backward(&Cache::empty(), &y, true);
        assert!(matches!(foreign, Err(Error::Cache { .. })), "{foreign:?}");
        let other = Cache::from_tensors(vec![Tensor::zeros(vec![1, 1, 3, 3])]);
        let foreign = conv.backward(&other, &y, true);
        assert!(matches!(foreign, Err(Error::Cache { .. })), "{foreign:?}");
        // A cache of this layer's kind: an input shape the layer refuses, and an unfolded
        // input of the wrong size for the shape.
        let not_4d = unfolded_cache(Array2::zeros((4, 4)), &[1, 1, 3]);
        let wrong = conv.backward(&not_4d, &y, true);
        assert!(matches!(wrong, Err(Error::Shape { .. })), "{wrong:?}");
        let short = unfolded_cache(Array2::zeros((3, 4)), &[1, 1, 3, 3]);
        let wrong = conv.backward(&short, &y, true);
        assert!(matches!(wrong, Err(Error::Cache { .. })), "{wrong:?}");
    }

    #[test]
    fn the_cache_holds_the_unfolded_input_as_documented() {
        // A 5×5 kernel with padding 2 on 6×6 images: 36 positions × 25 taps per image,
        // 25 times the input, and the input's shape.
        let conv = Conv2dConfig::new(1, 2, (5, 5))
            .with_padding((2, 2))
            .init::<f32>(&mut seeded_rng(0))
            .unwrap();
        let (_, cache) = conv.forward(&Tensor::ones(vec![3, 1, 6, 6])).unwrap();
        let floats = 3 * 36 * 25;
        assert_eq!(floats, 25 * 3 * 6 * 6);
        assert_eq!(
            cache.bytes(),
            floats * std::mem::size_of::<f32>() + 4 * std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn replaced_parameters_of_the_wrong_shape_are_errors() {
        let mut conv = Conv2dConfig::new(1, 2, (2, 2))
            .init::<f64>(&mut seeded_rng(0))
            .unwrap();
        *conv.params_mut()[0].value = Tensor::zeros(vec![2, 4]);
        let result = conv.infer(&Tensor::ones(vec![1, 1, 3, 3]));
        assert!(matches!(result, Err(Error::Shape { .. })), "{result:?}");
    }

    #[test]
    fn config_check_names_the_bad_value() {
        let base = Conv2dConfig::new(1, 6, (5, 5));
        let bad = [
            (
                Conv2dConfig {
                    in_channels: 0,
                    ..base
                },
                "input channels",
            ),
            (
                Conv2dConfig {
                    out_channels: 0,
                    ..base
                },
                "output channels",
            ),
            (base.with_stride((1, 0)), "stride"),
            (
                Conv2dConfig {
                    kernel: (0, 5),
                    ..base
                },
                "kernel",
            ),
            (base.with_init(Init::Normal(-1.0)), "normal"),
            (
                Conv2dConfig {
                    in_channels: usize::MAX,
                    ..base
                },
                "weight size",
            ),
        ];
        for (config, name) in bad {
            let err = config.check().unwrap_err();
            assert!(matches!(err, Error::InvalidParameter { .. }), "{err:?}");
            assert!(err.to_string().contains(name), "{err} should name {name}");
            assert!(config.init::<f32>(&mut seeded_rng(0)).is_err());
        }
        assert!(base.check().is_ok());
    }

    #[test]
    fn default_init_is_pytorch_uniform_over_the_patch_fan_in() {
        let config = Conv2dConfig::new(3, 8, (5, 4));
        let conv = config.init::<f32>(&mut seeded_rng(11)).unwrap();
        assert_eq!(conv.weight().shape(), [8, 3, 5, 4]);
        assert_eq!(conv.bias().unwrap().shape(), [8]);
        let bound = 1.0 / (3.0f32 * 5.0 * 4.0).sqrt();
        let all: Vec<f32> = conv
            .params()
            .iter()
            .flat_map(|p| p.value.iter().copied())
            .collect();
        assert!(all.iter().all(|v| v.abs() <= bound));
        // Spread over the range, not squeezed by a wrong fan_in.
        assert!(all.iter().any(|v| v.abs() > 0.8 * bound));
        let again = config.init::<f32>(&mut seeded_rng(11)).unwrap();
        assert_eq!(conv.weight(), again.weight());
        let names: Vec<String> = conv.params().into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["weight", "bias"]);
        let no_bias = config
            .with_bias(false)
            .init::<f32>(&mut seeded_rng(0))
            .unwrap();
        assert!(no_bias.bias().is_none());
        assert_eq!(Module::<f32>::num_params(&no_bias), 8 * 3 * 5 * 4);
    }

    #[test]
    fn works_in_f32() {
        let w = kernel_1234().mapv(|v| v as f32);
        let conv = Conv2d::from_weights(w, None, (1, 1), (0, 0)).unwrap();
        let x = one_to_nine().mapv(|v| v as f32);
        let y = conv.infer(&x).unwrap();
        assert_eq!(
            y.iter().copied().collect::<Vec<_>>(),
            [37.0, 47.0, 67.0, 77.0]
        );
    }

    #[test]
    fn from_weights_checks_its_arguments() {
        let empty = Array4::<f64>::zeros((0, 1, 2, 2));
        assert!(Conv2d::from_weights(empty, None, (1, 1), (0, 0)).is_err());
        let bias = Some(arr1(&[0.0, 1.0]));
        assert!(Conv2d::from_weights(kernel_1234(), bias, (1, 1), (0, 0)).is_err());
        assert!(Conv2d::from_weights(kernel_1234(), None, (0, 1), (0, 0)).is_err());
    }
}
