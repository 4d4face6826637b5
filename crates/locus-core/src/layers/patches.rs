use ndarray::{Array3, Array4};
use serde::{Deserialize, Serialize};

use super::window::{check_pair, Geometry, Window2d};
use crate::{scratch, Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, Tensor};

/// Cuts every image of a batch into a grid of (possibly overlapping) square or rectangular
/// patches and lays each patch out as the channels of one grid cell, so that the layers
/// after it encode every patch separately: this is how CPC and Greedy InfoMax turn an
/// image into a "sequence" of patch representations (Oord et al. 2018, §3.2: a 7×7 grid of
/// 64×64 crops with 32 pixels of overlap from 256×256 images; Löwe et al. 2019, §4.1: a
/// 7×7 grid of 16×16 patches with 8 pixels of overlap from 64×64 STL-10 crops).
///
/// A 1×1 [`Conv2d`](super::Conv2d) after `Patches` is a dense layer applied to every patch
/// alone; a stack of them is a per-patch MLP. (A single strided convolution with the patch
/// as kernel computes the same first layer; `Patches` makes the per-patch structure
/// explicit and lets every later layer stay per-patch.)
///
/// No parameters. The cache holds only the input's shape.
///
/// # Shapes
/// input `[batch, channels, height, width]` → output `[batch, channels · ph · pw,
/// grid_h, grid_w]`, with `grid_h = (height − ph) / sh + 1` (rounded down) and likewise
/// for the width. Channel `c · ph · pw + i · pw + j` of cell `(r, q)` is pixel
/// `(r · sh + i, q · sw + j)` of input channel `c`.
///
/// # Errors
/// [`Error::Shape`] for an input that is not 4-D or smaller than one patch.
///
/// # Example
/// MNIST digits as a 6×6 grid of 8×8 patches with 4 pixels of overlap:
/// ```
/// use locus_core::{Module, Patches, Tensor};
///
/// # fn main() -> locus_core::Result<()> {
/// let patches = Patches::new((8, 8), (4, 4))?;
/// assert_eq!(patches.grid_size(28, 28), Some((6, 6)));
/// let grid = Module::<f32>::infer(&patches, &Tensor::zeros(vec![2, 1, 28, 28]))?;
/// assert_eq!(grid.shape(), [2, 64, 6, 6]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patches {
    patch: (usize, usize),
    stride: (usize, usize),
}

impl Patches {
    /// Patches of `patch = (ph, pw)` pixels, one every `stride = (sh, sw)` pixels (a stride
    /// smaller than the patch makes them overlap).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a zero patch size or stride.
    pub fn new(patch: (usize, usize), stride: (usize, usize)) -> Result<Self> {
        check_pair("Patches", "patch size", patch)?;
        check_pair("Patches", "stride", stride)?;
        Ok(Patches { patch, stride })
    }

    /// Patch size `(ph, pw)`.
    pub fn patch(&self) -> (usize, usize) {
        self.patch
    }

    /// Stride `(sh, sw)`.
    pub fn stride(&self) -> (usize, usize) {
        self.stride
    }

    /// The grid `(rows, columns)` for an image of `height × width`, or `None` when not
    /// even one patch fits.
    pub fn grid_size(&self, height: usize, width: usize) -> Option<(usize, usize)> {
        self.window().output_size(height, width)
    }

    fn window(&self) -> Window2d {
        Window2d {
            kernel: self.patch,
            stride: self.stride,
            padding: (0, 0),
        }
    }

    fn geometry(&self, shape: &[usize], context: &str) -> Result<Geometry> {
        self.window().geometry(shape, None, context)
    }
}

impl<F: Float> Module<F> for Patches {
    fn name(&self) -> String {
        let ((ph, pw), (sh, sw)) = (self.patch, self.stride);
        format!("Patches({ph}×{pw}, stride {sh}×{sw})")
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let y = Module::<F>::infer(self, input)?;
        Ok((y, Cache::from_meta(input.shape().to_vec())))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        let context = Module::<F>::name(self);
        let g = self.geometry(input.shape(), &context)?;
        let x = input.as_standard_layout();
        let mut cols = scratch::matrix_for_overwrite(g.batch * g.positions(), g.patch_len());
        match (x.as_slice(), cols.as_slice_mut()) {
            (Some(x), Some(c)) => g.im2col(x, c),
            _ => return Err(layout_error(&context, input.shape())),
        }
        // [batch · cells, patch] → [batch, patch, grid_h, grid_w].
        let rows = cols
            .into_shape_with_order((g.batch, g.positions(), g.patch_len()))
            .map_err(|_| layout_error(&context, input.shape()))?;
        let mut out = Array3::zeros((g.batch, g.patch_len(), g.positions()));
        out.assign(&rows.permuted_axes([0, 2, 1]));
        out.into_shape_with_order(vec![g.batch, g.patch_len(), g.out_height, g.out_width])
            .map_err(|_| layout_error(&context, input.shape()))
    }

    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        let context = Module::<F>::name(self);
        let g = self
            .geometry(cache.meta(), &context)
            .map_err(|_| Error::Cache {
                context: context.clone(),
                reason: format!(
                    "the cache should hold a 4-D input shape, it holds {:?}",
                    cache.meta()
                ),
            })?;
        let out_shape = [g.batch, g.patch_len(), g.out_height, g.out_width];
        if grad_output.shape() != out_shape {
            return Err(Error::shape(
                format!("{context} backward (grad_output)"),
                format!("{out_shape:?}"),
                grad_output.shape(),
            ));
        }
        if !need_input_grad {
            return Ok(Gradients {
                input: None,
                params: Vec::new(),
            });
        }
        let len = g.input_len().ok_or_else(|| Error::Cache {
            context: context.clone(),
            reason: "the cached input shape overflows".into(),
        })?;
        let planes = grad_output
            .to_shape((g.batch, g.patch_len(), g.positions()))
            .map_err(|_| layout_error(&context, grad_output.shape()))?;
        let mut rows = Array3::zeros((g.batch, g.positions(), g.patch_len()));
        rows.assign(&planes.permuted_axes([0, 2, 1]));
        let mut grad_x = vec![F::zero(); len];
        match rows.as_slice() {
            Some(c) => g.col2im(c, &mut grad_x),
            None => return Err(layout_error(&context, grad_output.shape())),
        }
        let grad_x = Array4::from_shape_vec(g.input_shape(), grad_x)
            .map_err(|_| layout_error(&context, &g.input_shape()))?;
        Ok(Gradients {
            input: Some(grad_x.into_dyn()),
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

/// Never expected: a standard-layout array that ndarray will not view as a slice.
fn layout_error(context: &str, shape: &[usize]) -> Error {
    Error::shape(context, "a tensor ndarray can lay out contiguously", shape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_hold_the_pixels_of_their_patch() {
        let patches = Patches::new((2, 3), (1, 2)).unwrap();
        // Two channels of a 4×5 image, pixel value = 100·c + 10·row + column.
        let x = Tensor::<f64>::from_shape_fn(vec![1, 2, 4, 5], |i| {
            (100 * i[1] + 10 * i[2] + i[3]) as f64
        });
        let y = Module::<f64>::infer(&patches, &x).unwrap();
        assert_eq!(y.shape(), [1, 12, 3, 2]);
        for (r, q) in [(0, 0), (1, 1), (2, 0), (2, 1)] {
            for c in 0..2 {
                for i in 0..2 {
                    for j in 0..3 {
                        let channel = c * 6 + i * 3 + j;
                        let pixel = x[[0, c, r + i, 2 * q + j]];
                        assert_eq!(y[[0, channel, r, q]], pixel, "cell ({r}, {q})");
                    }
                }
            }
        }
    }

    #[test]
    fn backward_adds_overlapping_patch_gradients() {
        // 1×4 image, 1×2 patches with stride 1: pixels 1 and 2 are in two patches each.
        let patches = Patches::new((1, 2), (1, 1)).unwrap();
        let x = Tensor::<f64>::zeros(vec![1, 1, 1, 4]);
        let (y, cache) = patches.forward(&x).unwrap();
        assert_eq!(y.shape(), [1, 2, 1, 3]);
        let ones = Tensor::ones(vec![1, 2, 1, 3]);
        let g = patches.backward(&cache, &ones, true).unwrap();
        let expected = [1.0, 2.0, 2.0, 1.0];
        assert_eq!(
            g.input.unwrap().iter().copied().collect::<Vec<_>>(),
            expected
        );
        assert!(patches
            .backward(&cache, &ones, false)
            .unwrap()
            .input
            .is_none());
    }

    #[test]
    fn bad_settings_and_inputs_are_named() {
        assert!(Patches::new((0, 2), (1, 1)).is_err());
        let e = Patches::new((2, 2), (1, 0)).unwrap_err();
        assert!(e.to_string().contains("stride"), "{e}");
        let patches = Patches::new((8, 8), (4, 4)).unwrap();
        for shape in [vec![2, 28, 28], vec![2, 1, 7, 28]] {
            let e = Module::<f32>::infer(&patches, &Tensor::zeros(shape)).unwrap_err();
            assert!(e.to_string().contains("Patches(8×8"), "{e}");
        }
        let e = patches
            .backward(&Cache::<f32>::empty(), &Tensor::zeros(vec![1]), true)
            .unwrap_err();
        assert!(matches!(e, Error::Cache { .. }), "{e}");
    }
}
