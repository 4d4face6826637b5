use serde::{Deserialize, Serialize};

use super::window::{check_pair, Geometry, Window2d};
use crate::{Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, Tensor};

/// Configuration of a 2-D pooling layer, [`MaxPool2d`] or [`AvgPool2d`], checked before
/// the layer is built.
///
/// Sizes are `(height, width)` pairs. There is no padding: a window never leaves the
/// image, and rows or columns that no whole window reaches are dropped (PyTorch's default,
/// `ceil_mode = False`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool2dConfig {
    /// Window size `(kh, kw)`.
    pub kernel: (usize, usize),
    /// Step between windows `(sh, sw)`; `None` (the default) means the kernel size, so the
    /// windows tile the image without overlap.
    pub stride: Option<(usize, usize)>,
}

impl Pool2dConfig {
    /// Pooling over `kernel = (kh, kw)` windows, with the stride equal to the kernel.
    pub fn new(kernel: (usize, usize)) -> Self {
        Pool2dConfig {
            kernel,
            stride: None,
        }
    }

    /// Sets the stride `(sh, sw)`.
    pub fn with_stride(mut self, stride: (usize, usize)) -> Self {
        self.stride = Some(stride);
        self
    }

    /// Checks the sizes. Whether the window fits the input is known only at forward time,
    /// where a too-small input is an [`Error::Shape`].
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a zero kernel or stride size.
    pub fn check(&self) -> Result<()> {
        check_pair("pooling", "kernel size", self.kernel)?;
        if let Some(stride) = self.stride {
            check_pair("pooling", "stride", stride)?;
        }
        Ok(())
    }

    /// Builds a max-pooling layer.
    ///
    /// # Errors
    /// As [`Pool2dConfig::check`].
    pub fn max(&self) -> Result<MaxPool2d> {
        Ok(MaxPool2d {
            window: self.window()?,
        })
    }

    /// Builds an average-pooling layer.
    ///
    /// # Errors
    /// As [`Pool2dConfig::check`].
    pub fn avg(&self) -> Result<AvgPool2d> {
        Ok(AvgPool2d {
            window: self.window()?,
        })
    }

    fn window(&self) -> Result<Window2d> {
        self.check()?;
        Ok(Window2d {
            kernel: self.kernel,
            stride: self.stride.unwrap_or(self.kernel),
            padding: (0, 0),
        })
    }
}

/// Max pooling (as in Ranzato et al. 2007 and PyTorch's `nn.MaxPool2d`): each output is
/// the largest input in its window, per image and channel. Built by
/// [`Pool2dConfig::max`]; no parameters.
///
/// The gradient flows only to the input that was the maximum, found again from the
/// positions the forward pass keeps in the cache. Ties go to the first maximum in the
/// window, in row-major order; a NaN counts as the maximum, so it propagates. Because the
/// maximum jumps between tied inputs, finite differences cannot check the gradient at a
/// tie.
///
/// # Shapes
/// input `[batch, channels, height, width]` → output `[batch, channels, out_height,
/// out_width]` with `out_height = (height - kh) / sh + 1` (rounded down) and likewise for
/// the width.
///
/// # Errors
/// [`Error::Shape`] for an input that is not 4-D or is smaller than the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d {
    window: Window2d,
}

/// Average pooling (as in LeCun et al. 1998 and PyTorch's `nn.AvgPool2d`): each output is
/// the mean of the inputs in its window, per image and channel. Built by
/// [`Pool2dConfig::avg`]; no parameters.
///
/// # Shapes
/// input `[batch, channels, height, width]` → output `[batch, channels, out_height,
/// out_width]` with `out_height = (height - kh) / sh + 1` (rounded down) and likewise for
/// the width.
///
/// # Errors
/// [`Error::Shape`] for an input that is not 4-D or is smaller than the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2d {
    window: Window2d,
}

impl MaxPool2d {
    /// Window size `(kh, kw)`.
    pub fn kernel(&self) -> (usize, usize) {
        self.window.kernel
    }

    /// Stride `(sh, sw)`.
    pub fn stride(&self) -> (usize, usize) {
        self.window.stride
    }

    /// The output `(height, width)` for an input of `height × width`, or `None` when the
    /// window does not fit.
    pub fn output_size(&self, height: usize, width: usize) -> Option<(usize, usize)> {
        self.window.output_size(height, width)
    }
}

impl AvgPool2d {
    /// Window size `(kh, kw)`.
    pub fn kernel(&self) -> (usize, usize) {
        self.window.kernel
    }

    /// Stride `(sh, sw)`.
    pub fn stride(&self) -> (usize, usize) {
        self.window.stride
    }

    /// The output `(height, width)` for an input of `height × width`, or `None` when the
    /// window does not fit.
    pub fn output_size(&self, height: usize, width: usize) -> Option<(usize, usize)> {
        self.window.output_size(height, width)
    }
}

/// `"{kind}(kh×kw, stride sh×sw)"`, the name of a pooling layer.
fn describe(kind: &str, window: &Window2d) -> String {
    let (kh, kw) = window.kernel;
    let (sh, sw) = window.stride;
    format!("{kind}({kh}×{kw}, stride {sh}×{sw})")
}

/// Calls `f(top_left)` for every output of an NCHW batch, in row-major output order, with
/// the flat input position of its window's top-left corner.
fn for_each_window(g: &Geometry, mut f: impl FnMut(usize)) {
    let (sh, sw) = g.window.stride;
    let plane = g.height * g.width;
    for image_channel in 0..g.batch * g.channels {
        for oh in 0..g.out_height {
            for ow in 0..g.out_width {
                f(image_channel * plane + oh * sh * g.width + ow * sw);
            }
        }
    }
}

/// The flat input positions of the window whose top-left corner is at `top_left`, in
/// row-major order.
fn window_positions(g: &Geometry, top_left: usize) -> impl Iterator<Item = usize> {
    let (kh, kw) = g.window.kernel;
    let width = g.width;
    (0..kh).flat_map(move |i| (0..kw).map(move |j| top_left + i * width + j))
}

/// Recovers the input geometry a pooling forward pass stored at the front of its cache's
/// metadata, and checks `grad_output` against the output it implies.
fn backward_geometry<F: Float>(
    window: &Window2d,
    cache: &Cache<F>,
    grad_output: &Tensor<F>,
    context: &str,
) -> Result<Geometry> {
    let meta = cache.meta();
    if meta.len() < 4 {
        return Err(Error::Cache {
            context: context.to_string(),
            reason: format!("expected the input shape in the metadata, found {meta:?}"),
        });
    }
    let g = window.geometry(&meta[..4], None, context)?;
    let out_shape = [g.batch, g.channels, g.out_height, g.out_width];
    if grad_output.shape() != out_shape {
        return Err(Error::shape(
            format!("{context} backward (grad_output)"),
            format!("{out_shape:?}"),
            grad_output.shape(),
        ));
    }
    Ok(g)
}

impl MaxPool2d {
    /// The pooled output, and the flat input position of each maximum when `argmax` is
    /// given.
    fn pool<F: Float>(
        &self,
        input: &Tensor<F>,
        mut argmax: Option<&mut Vec<usize>>,
    ) -> Result<Tensor<F>> {
        let context = describe("MaxPool2d", &self.window);
        let g = self.window.geometry(input.shape(), None, &context)?;
        let x = input.as_standard_layout();
        let x = x
            .as_slice()
            .ok_or_else(|| Error::shape(&context, "a contiguous tensor", input.shape()))?;
        let mut out = Vec::with_capacity(g.batch * g.channels * g.positions());
        let (kh, kw) = g.window.kernel;
        for_each_window(&g, |top_left| {
            // Scanning from the top-left corner with a strict comparison keeps the first
            // of tied maxima; a NaN wins over any number.
            let (mut best, mut at) = (x[top_left], top_left);
            for i in 0..kh {
                let row = top_left + i * g.width;
                for (j, &v) in x[row..row + kw].iter().enumerate() {
                    // Selects, not a branch: on real activations which element wins is
                    // a coin toss the branch predictor loses half the time.
                    let take = (v > best) | (v.is_nan() & !best.is_nan());
                    best = if take { v } else { best };
                    at = if take { row + j } else { at };
                }
            }
            out.push(best);
            if let Some(argmax) = argmax.as_deref_mut() {
                argmax.push(at);
            }
        });
        let shape = vec![g.batch, g.channels, g.out_height, g.out_width];
        Tensor::from_shape_vec(shape, out)
            .map_err(|_| Error::shape(context, "a contiguous tensor", input.shape()))
    }
}

impl<F: Float> Module<F> for MaxPool2d {
    fn name(&self) -> String {
        describe("MaxPool2d", &self.window)
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        // The cache is the input shape followed by the position of each maximum.
        let mut meta = input.shape().to_vec();
        let y = self.pool(input, Some(&mut meta))?;
        Ok((y, Cache::from_meta(meta)))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        self.pool(input, None)
    }

    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        let context = Module::<F>::name(self);
        let g = backward_geometry(&self.window, cache, grad_output, &context)?;
        let argmax = &cache.meta()[4..];
        let input_len = g.input_len().unwrap_or(0);
        if argmax.len() != grad_output.len() || argmax.iter().any(|&i| i >= input_len) {
            return Err(Error::Cache {
                context,
                reason: format!(
                    "expected {} maximum positions below {input_len}, found {} positions",
                    grad_output.len(),
                    argmax.len()
                ),
            });
        }
        let input = need_input_grad.then(|| {
            let mut grad_x = vec![F::zero(); input_len];
            for (&at, &dy) in argmax.iter().zip(grad_output.as_standard_layout().iter()) {
                grad_x[at] += dy;
            }
            Tensor::from_shape_vec(g.input_shape().to_vec(), grad_x)
        });
        let input = input
            .transpose()
            .map_err(|_| Error::shape(&context, "a contiguous tensor", &g.input_shape()))?;
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

impl<F: Float> Module<F> for AvgPool2d {
    fn name(&self) -> String {
        describe("AvgPool2d", &self.window)
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let y = self.infer(input)?;
        Ok((y, Cache::from_meta(input.shape().to_vec())))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        let context = Module::<F>::name(self);
        let g = self.window.geometry(input.shape(), None, &context)?;
        let x = input.as_standard_layout();
        let x = x
            .as_slice()
            .ok_or_else(|| Error::shape(&context, "a contiguous tensor", input.shape()))?;
        let scale = F::one() / F::cast((g.window.kernel.0 * g.window.kernel.1) as f64);
        let mut out = Vec::with_capacity(g.batch * g.channels * g.positions());
        for_each_window(&g, |top_left| {
            let sum: F = window_positions(&g, top_left).map(|i| x[i]).sum();
            out.push(sum * scale);
        });
        let shape = vec![g.batch, g.channels, g.out_height, g.out_width];
        Tensor::from_shape_vec(shape, out)
            .map_err(|_| Error::shape(context, "a contiguous tensor", input.shape()))
    }

    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        let context = Module::<F>::name(self);
        let g = backward_geometry(&self.window, cache, grad_output, &context)?;
        let input_len = g.input_len().filter(|_| cache.meta().len() == 4);
        let Some(input_len) = input_len else {
            return Err(Error::Cache {
                context,
                reason: format!(
                    "expected only the input shape in the metadata, found {} values",
                    cache.meta().len()
                ),
            });
        };
        let input = need_input_grad.then(|| {
            let scale = F::one() / F::cast((g.window.kernel.0 * g.window.kernel.1) as f64);
            let mut grad_x = vec![F::zero(); input_len];
            let dy = grad_output.as_standard_layout();
            let mut dy = dy.iter();
            for_each_window(&g, |top_left| {
                let share = dy.next().copied().unwrap_or_else(F::zero) * scale;
                for i in window_positions(&g, top_left) {
                    grad_x[i] += share;
                }
            });
            Tensor::from_shape_vec(g.input_shape().to_vec(), grad_x)
        });
        let input = input
            .transpose()
            .map_err(|_| Error::shape(&context, "a contiguous tensor", &g.input_shape()))?;
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

    fn image(h: usize, w: usize, values: &[f64]) -> Tensor<f64> {
        Tensor::from_shape_vec(vec![1, 1, h, w], values.to_vec()).unwrap()
    }

    fn pool_2x2() -> (MaxPool2d, AvgPool2d) {
        let config = Pool2dConfig::new((2, 2));
        (config.max().unwrap(), config.avg().unwrap())
    }

    #[test]
    fn max_pooling_matches_hand_computed_values_and_routes_the_gradient() {
        let (max, _) = pool_2x2();
        #[rustfmt::skip]
        let x = image(4, 4, &[
            1.0, 3.0,   0.0, -1.0,
            2.0, 0.5,   4.0,  2.0,

            -3.0, -2.0, 7.0, 8.0,
            -4.0, -1.5, 6.0, 5.0,
        ]);
        let (y, cache) = max.forward(&x).unwrap();
        assert_eq!(y, image(2, 2, &[3.0, 4.0, -1.5, 8.0]));
        let grads = max
            .backward(&cache, &image(2, 2, &[10.0, 20.0, 30.0, 40.0]), true)
            .unwrap();
        #[rustfmt::skip]
        let expected = image(4, 4, &[
            0.0, 10.0, 0.0,  0.0,
            0.0,  0.0, 20.0, 0.0,
            0.0,  0.0, 0.0, 40.0,
            0.0, 30.0, 0.0,  0.0,
        ]);
        assert_eq!(grads.input.unwrap(), expected);
        assert!(grads.params.is_empty());
        assert!(max.backward(&cache, &y, false).unwrap().input.is_none());
    }

    #[test]
    fn ties_go_to_the_first_maximum_and_overlapping_windows_add_up() {
        let (max, _) = pool_2x2();
        let (_, cache) = max.forward(&image(2, 2, &[1.0; 4])).unwrap();
        let grads = max.backward(&cache, &image(1, 1, &[1.0]), true).unwrap();
        assert_eq!(grads.input.unwrap(), image(2, 2, &[1.0, 0.0, 0.0, 0.0]));

        // Stride 1: all four windows of a 3×3 image share the centre as their maximum.
        let overlapping = Pool2dConfig::new((2, 2)).with_stride((1, 1)).max().unwrap();
        let x = image(3, 3, &[0.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.0]);
        let (y, cache) = overlapping.forward(&x).unwrap();
        assert_eq!(y, image(2, 2, &[9.0; 4]));
        let grads = overlapping
            .backward(&cache, &image(2, 2, &[1.0, 2.0, 3.0, 4.0]), true)
            .unwrap();
        let centre = image(3, 3, &[0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(grads.input.unwrap(), centre);
    }

    #[test]
    fn max_pooling_propagates_nan() {
        let (max, _) = pool_2x2();
        let y = max.infer(&image(2, 2, &[1.0, f64::NAN, 3.0, 2.0])).unwrap();
        assert!(y[[0, 0, 0, 0]].is_nan());
    }

    #[test]
    fn average_pooling_matches_hand_computed_values() {
        let avg = Pool2dConfig::new((2, 2)).with_stride((1, 1)).avg().unwrap();
        let x = image(3, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        let (y, cache) = avg.forward(&x).unwrap();
        // (1 + 2 + 4 + 5) / 4 = 3, and so on.
        assert_eq!(y, image(2, 2, &[3.0, 4.0, 6.0, 7.0]));
        let grads = avg.backward(&cache, &image(2, 2, &[1.0; 4]), true).unwrap();
        // Each pixel gets 1/4 from every window that covers it.
        let counts = [1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0].map(|c| c / 4.0);
        assert_eq!(grads.input.unwrap(), image(3, 3, &counts));
    }

    #[test]
    fn rectangular_windows_pool_each_channel_separately() {
        let config = Pool2dConfig::new((1, 2));
        let (max, avg) = (config.max().unwrap(), config.avg().unwrap());
        assert_eq!(max.stride(), (1, 2));
        // Two channels of a 2×5 image: the last column is dropped (no whole window).
        let x = Tensor::from_shape_fn(vec![1, 2, 2, 5], |i| (10 * i[1] + 5 * i[2] + i[3]) as f64);
        let y = max.infer(&x).unwrap();
        let expected = [1.0, 3.0, 6.0, 8.0, 11.0, 13.0, 16.0, 18.0];
        assert_eq!(y.shape(), [1, 2, 2, 2]);
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), expected);
        let y = avg.infer(&x).unwrap();
        let mean: Vec<f64> = expected.iter().map(|v| v - 0.5).collect();
        assert_eq!(y.iter().copied().collect::<Vec<_>>(), mean);
        assert_eq!(max.output_size(2, 5), Some((2, 2)));
        assert_eq!(avg.output_size(2, 1), None);
    }

    #[test]
    fn works_in_f32() {
        let (max, avg) = pool_2x2();
        let x = Tensor::<f32>::from_shape_vec(vec![1, 1, 2, 2], vec![1.0, 4.0, 2.0, 3.0]);
        let x = x.unwrap();
        assert_eq!(max.infer(&x).unwrap().into_raw_vec_and_offset().0, [4.0]);
        assert_eq!(avg.infer(&x).unwrap().into_raw_vec_and_offset().0, [2.5]);
    }

    #[test]
    fn wrong_input_shapes_are_shape_errors_naming_the_layer() {
        let (max, avg) = pool_2x2();
        let wrong = [
            vec![2, 3, 4],       // rank 3
            vec![2, 3, 4, 4, 1], // rank 5
            vec![2, 3, 1, 4],    // height 1 < kernel 2
            vec![2, 3, 4, 1],    // width 1 < kernel 2
        ];
        for shape in wrong {
            let x = Tensor::<f64>::zeros(shape.clone());
            let results = [
                ("MaxPool2d(2×2", max.forward(&x).map(|(y, _)| y)),
                ("MaxPool2d(2×2", max.infer(&x)),
                ("AvgPool2d(2×2", avg.forward(&x).map(|(y, _)| y)),
                ("AvgPool2d(2×2", avg.infer(&x)),
            ];
            for (name, result) in results {
                match result {
                    Err(Error::Shape { context, got, .. }) => {
                        assert!(context.starts_with(name), "{context}");
                        assert_eq!(got, shape);
                    }
                    other => panic!("{shape:?} gave {other:?}"),
                }
            }
        }
    }

    #[test]
    fn backward_refuses_wrong_gradients_and_foreign_caches() {
        let (max, avg) = pool_2x2();
        let x = Tensor::<f64>::ones(vec![2, 3, 4, 4]);
        let wrong = Tensor::zeros(vec![2, 3, 2, 3]);
        let right = Tensor::zeros(vec![2, 3, 2, 2]);
        let (_, max_cache) = max.forward(&x).unwrap();
        let (_, avg_cache) = avg.forward(&x).unwrap();
        for result in [
            max.backward(&max_cache, &wrong, true),
            avg.backward(&avg_cache, &wrong, true),
        ] {
            assert!(matches!(result, Err(Error::Shape { .. })), "{result:?}");
        }
        let out_of_range = Cache::from_meta(vec![1, 1, 2, 2, 4]);
        let foreign = [
            Cache::empty(),
            // Another layer's cache: the input shape without the positions of the maxima.
            avg_cache,
            out_of_range,
        ];
        for cache in &foreign {
            let g = Tensor::zeros(vec![cache.meta().first().copied().unwrap_or(1), 1, 1, 1]);
            let result = max.backward(cache, &g, true);
            assert!(result.is_err(), "{result:?}");
        }
        // Ill-fitting positions are refused, not followed out of bounds.
        let result = max.backward(&foreign[2], &Tensor::zeros(vec![1, 1, 1, 1]), true);
        assert!(matches!(result, Err(Error::Cache { .. })), "{result:?}");
        let result = avg.backward(&max_cache, &right, true);
        assert!(matches!(result, Err(Error::Cache { .. })), "{result:?}");
        let result = avg.backward(&Cache::empty(), &right, true);
        assert!(matches!(result, Err(Error::Cache { .. })), "{result:?}");
    }

    #[test]
    fn config_check_names_the_bad_value() {
        let bad = [
            (Pool2dConfig::new((0, 2)), "kernel size"),
            (Pool2dConfig::new((2, 2)).with_stride((2, 0)), "stride"),
        ];
        for (config, name) in bad {
            let err = config.check().unwrap_err();
            assert!(matches!(err, Error::InvalidParameter { .. }), "{err:?}");
            assert!(err.to_string().contains(name), "{err} should name {name}");
            assert!(config.max().is_err() && config.avg().is_err());
        }
        let pool = Pool2dConfig::new((3, 2)).max().unwrap();
        assert_eq!((pool.kernel(), pool.stride()), ((3, 2), (3, 2)));
        assert_eq!(Module::<f64>::name(&pool), "MaxPool2d(3×2, stride 3×2)");
    }
}
