//! Sliding-window arithmetic shared by [`Conv2d`](super::Conv2d), [`Conv1d`](super::Conv1d)
//! and the 2-D pooling layers: output sizes, input checks, the im2col / col2im copies that
//! turn a convolution into one matrix product, and the convolutions' forward cache of the
//! unfolded input.

use ndarray::{Array2, ArrayView2, Ix2};

use crate::{Cache, Error, Float, Result};

/// A 2-D window: its size, step and zero padding, each `(height, width)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window2d {
    pub(crate) kernel: (usize, usize),
    pub(crate) stride: (usize, usize),
    pub(crate) padding: (usize, usize),
}

/// The sizes of one NCHW batch passing through a [`Window2d`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) batch: usize,
    pub(crate) channels: usize,
    pub(crate) height: usize,
    pub(crate) width: usize,
    pub(crate) out_height: usize,
    pub(crate) out_width: usize,
    pub(crate) window: Window2d,
}

impl Window2d {
    /// The output height and width for an input of `height × width`, or `None` when the
    /// kernel does not fit in the padded input. Strides are >= 1 by construction.
    pub(crate) fn output_size(&self, height: usize, width: usize) -> Option<(usize, usize)> {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let (ph, pw) = self.padding;
        let padded_h = height.checked_add(ph.checked_mul(2)?)?;
        let padded_w = width.checked_add(pw.checked_mul(2)?)?;
        if padded_h < kh || padded_w < kw {
            return None;
        }
        Some(((padded_h - kh) / sh + 1, (padded_w - kw) / sw + 1))
    }

    /// The geometry of an NCHW input of `shape`, refused with [`Error::Shape`] naming
    /// `context` when it is not 4-D, has not `channels` channels (when given), or is
    /// smaller than the kernel after padding.
    pub(crate) fn geometry(
        &self,
        shape: &[usize],
        channels: Option<usize>,
        context: &str,
    ) -> Result<Geometry> {
        let (kh, kw) = self.kernel;
        let (ph, pw) = self.padding;
        let c = channels.map_or_else(|| "channels".to_string(), |c| c.to_string());
        let spatial = |h: &str, w: &str| {
            if ph == 0 && pw == 0 {
                format!("height >= {h}, width >= {w}")
            } else {
                format!("height + 2·{ph} >= {h}, width + 2·{pw} >= {w}")
            }
        };
        let expected = || {
            format!(
                "[batch, {c}, height, width] with {}",
                spatial(&kh.to_string(), &kw.to_string())
            )
        };
        let &[batch, got_channels, height, width] = shape else {
            return Err(Error::shape(context, expected(), shape));
        };
        if channels.is_some_and(|c| c != got_channels) {
            return Err(Error::shape(context, expected(), shape));
        }
        let (out_height, out_width) = self
            .output_size(height, width)
            .ok_or_else(|| Error::shape(context, expected(), shape))?;
        Ok(Geometry {
            batch,
            channels: got_channels,
            height,
            width,
            out_height,
            out_width,
            window: *self,
        })
    }
}

impl Geometry {
    /// Shape of the input, `[batch, channels, height, width]`.
    pub(crate) fn input_shape(&self) -> [usize; 4] {
        [self.batch, self.channels, self.height, self.width]
    }

    /// Number of input values, or `None` when it overflows (only a forged cache can
    /// describe such an input).
    pub(crate) fn input_len(&self) -> Option<usize> {
        self.input_shape()
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
    }

    /// Number of output positions per image and channel.
    pub(crate) fn positions(&self) -> usize {
        self.out_height * self.out_width
    }

    /// Length of one im2col row: `channels · kh · kw`.
    pub(crate) fn patch_len(&self) -> usize {
        self.channels * self.window.kernel.0 * self.window.kernel.1
    }

    /// Visits every (output position, kernel offset) pair whose input pixel lies inside
    /// the image, i.e. not in the zero padding, for one channel plane: `f(position,
    /// kernel_offset, pixel)` with indices flat inside the plane and the kernel.
    /// (The reference the row-ordered im2col and col2im are tested against.)
    #[cfg(test)]
    fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (kh, kw) = self.window.kernel;
        let (sh, sw) = self.window.stride;
        let (ph, pw) = self.window.padding;
        for oh in 0..self.out_height {
            for i in 0..kh {
                // Padded row oh·sh + i is image row oh·sh + i - ph, when that is inside.
                let Some(ih) = (oh * sh + i).checked_sub(ph).filter(|&r| r < self.height) else {
                    continue;
                };
                for ow in 0..self.out_width {
                    let position = oh * self.out_width + ow;
                    for j in 0..kw {
                        let Some(iw) = (ow * sw + j).checked_sub(pw).filter(|&c| c < self.width)
                        else {
                            continue;
                        };
                        f(position, i * kw + j, ih * self.width + iw);
                    }
                }
            }
        }
    }

    /// Copies the input patches into `cols`, a row-major `[batch · positions, patch_len]`
    /// matrix (row `n · positions + p` is the patch under output position `p` of image
    /// `n`, ordered channel, kernel row, kernel column like the weight). Padding reads as
    /// zero; every entry of `cols` is written.
    ///
    /// The rows are filled in order, one kernel row at a time: a kernel row inside the
    /// image is one contiguous run of `kw` input pixels (a slice copy), so the writes are
    /// sequential. (Visiting the input in order and scattering into the rows instead took
    /// three times as long on LeNet-5's first convolution.)
    pub(crate) fn im2col<F: Float>(&self, input: &[F], cols: &mut [F]) {
        let plane = self.height * self.width;
        let (kh, kw) = self.window.kernel;
        let patch = self.patch_len();
        let mut rows = cols.chunks_exact_mut(patch);
        for n in 0..self.batch {
            let image = &input[n * self.channels * plane..][..self.channels * plane];
            for oh in 0..self.out_height {
                for ow in 0..self.out_width {
                    let row = rows.next().expect("cols holds batch · positions rows");
                    let mut runs = row.chunks_exact_mut(kw);
                    for c in 0..self.channels {
                        let x = &image[c * plane..][..plane];
                        for i in 0..kh {
                            let run = runs.next().expect("a row holds channels · kh runs");
                            match self.image_row(oh, i) {
                                None => run.fill(F::zero()),
                                Some(ih) => {
                                    self.copy_run(&x[ih * self.width..][..self.width], ow, run)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The image row under kernel row `i` of output row `oh`, or `None` in the padding.
    #[inline]
    fn image_row(&self, oh: usize, i: usize) -> Option<usize> {
        (oh * self.window.stride.0 + i)
            .checked_sub(self.window.padding.0)
            .filter(|&r| r < self.height)
    }

    /// The first image column under output column `ow` (`None`: it starts in the left
    /// padding) and whether the whole kernel row lies inside the image.
    #[inline]
    fn run_start(&self, ow: usize) -> (Option<usize>, bool) {
        let start = (ow * self.window.stride.1).checked_sub(self.window.padding.1);
        let inside = start.is_some_and(|s| s + self.window.kernel.1 <= self.width);
        (start, inside)
    }

    /// Copies the `kw` pixels of one image row under output column `ow` into `run`, zeros
    /// where the kernel hangs over the padding.
    #[inline]
    fn copy_run<F: Float>(&self, line: &[F], ow: usize, run: &mut [F]) {
        match self.run_start(ow) {
            (Some(start), true) => run.copy_from_slice(&line[start..][..run.len()]),
            _ => {
                let first = ow * self.window.stride.1;
                for (j, v) in run.iter_mut().enumerate() {
                    *v = (first + j)
                        .checked_sub(self.window.padding.1)
                        .and_then(|col| line.get(col).copied())
                        .unwrap_or(F::zero());
                }
            }
        }
    }

    /// The adjoint of [`Geometry::im2col`]: adds every entry of `cols` back onto the input
    /// pixel it was copied from (entries over the padding are dropped). `input` must start
    /// zeroed. Reads the rows in order, adding one kernel row's run at a time.
    pub(crate) fn col2im<F: Float>(&self, cols: &[F], input: &mut [F]) {
        let plane = self.height * self.width;
        let (kh, kw) = self.window.kernel;
        let patch = self.patch_len();
        let mut rows = cols.chunks_exact(patch);
        for n in 0..self.batch {
            let image = &mut input[n * self.channels * plane..][..self.channels * plane];
            for oh in 0..self.out_height {
                for ow in 0..self.out_width {
                    let row = rows.next().expect("cols holds batch · positions rows");
                    let mut runs = row.chunks_exact(kw);
                    let (start, inside) = self.run_start(ow);
                    for c in 0..self.channels {
                        let x = &mut image[c * plane..][..plane];
                        for i in 0..kh {
                            let run = runs.next().expect("a row holds channels · kh runs");
                            let Some(ih) = self.image_row(oh, i) else {
                                continue;
                            };
                            let line = &mut x[ih * self.width..][..self.width];
                            match (start, inside) {
                                (Some(start), true) => {
                                    for (v, &r) in line[start..][..kw].iter_mut().zip(run) {
                                        *v += r;
                                    }
                                }
                                _ => {
                                    let first = ow * self.window.stride.1;
                                    for (j, &r) in run.iter().enumerate() {
                                        let col = (first + j).checked_sub(self.window.padding.1);
                                        if let Some(v) = col.and_then(|col| line.get_mut(col)) {
                                            *v += r;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A convolution's forward cache: its input unfolded by [`Geometry::im2col`], which the
/// backward pass multiplies with the output gradient for the weight gradient instead of
/// unfolding the input again, and the input's shape (for the geometry and col2im).
pub(crate) fn unfolded_cache<F: Float>(cols: Array2<F>, input_shape: &[usize]) -> Cache<F> {
    Cache::from_children(vec![
        Cache::from_tensors(vec![cols.into_dyn()]),
        Cache::from_meta(input_shape.to_vec()),
    ])
}

/// The geometry and the unfolded input of an [`unfolded_cache`]: `geometry` turns the
/// cached input shape into the layer's geometry (and refuses shapes the layer cannot
/// take), and the unfolded input is checked to be the `[batch · positions, patch_len]`
/// matrix that geometry calls for.
///
/// # Errors
/// [`Error::Cache`] naming `context` for a cache another module made or an unfolded input
/// of the wrong size; `geometry`'s errors.
pub(crate) fn unfolded_input<'c, F: Float>(
    cache: &'c Cache<F>,
    context: &str,
    geometry: impl FnOnce(&[usize]) -> Result<Geometry>,
) -> Result<(Geometry, ArrayView2<'c, F>)> {
    let cols = cache.child(0, context)?.tensor(0, context)?;
    let shape = cache.child(1, context)?.meta();
    let g = geometry(shape)?;
    let expected = [g.batch * g.positions(), g.patch_len()];
    match cols.view().into_dimensionality::<Ix2>() {
        Ok(cols) if cols.shape() == expected => Ok((g, cols)),
        _ => Err(Error::Cache {
            context: context.to_string(),
            reason: format!(
                "an input of shape {shape:?} unfolds into {expected:?}, the cache holds {:?}",
                cols.shape()
            ),
        }),
    }
}

/// Checks one `(height, width)` pair of a layer's configuration is at least 1.
pub(crate) fn check_pair(name: &str, what: &str, (h, w): (usize, usize)) -> Result<()> {
    if h == 0 || w == 0 {
        return Err(Error::invalid(
            &format!("{name} {what}"),
            "should be >= 1 in both height and width",
            format!("({h}, {w})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_size_follows_the_usual_formula() {
        let w = Window2d {
            kernel: (3, 2),
            stride: (2, 1),
            padding: (1, 0),
        };
        // (7 + 2 - 3) / 2 + 1 = 4 rows, (5 - 2) / 1 + 1 = 4 columns.
        assert_eq!(w.output_size(7, 5), Some((4, 4)));
        assert_eq!(w.output_size(1, 2), Some((1, 1)));
        assert_eq!(w.output_size(0, 2), None);
        assert_eq!(w.output_size(3, 1), None);
    }

    #[test]
    fn col2im_is_the_adjoint_of_im2col() {
        // ⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ for any x and c.
        let window = Window2d {
            kernel: (2, 3),
            stride: (2, 1),
            padding: (1, 1),
        };
        let g = window.geometry(&[2, 3, 4, 5], Some(3), "test").unwrap();
        let x: Vec<f64> = (0..120).map(|i| ((i * 7) % 11) as f64 - 5.0).collect();
        let len = g.batch * g.positions() * g.patch_len();
        let c: Vec<f64> = (0..len).map(|i| ((i * 5) % 13) as f64 - 6.0).collect();
        let mut cols = vec![0.0; len];
        g.im2col(&x, &mut cols);
        let mut back = vec![0.0; x.len()];
        g.col2im(&c, &mut back);
        let lhs: f64 = cols.iter().zip(&c).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&back).map(|(a, b)| a * b).sum();
        assert_eq!(lhs, rhs);
    }

    #[test]
    fn row_ordered_im2col_and_col2im_match_the_per_tap_definition_bit_for_bit() {
        // Kernels wider than the stride, padding on either side, strides over 1, kernels
        // as large as the padded image, and LeNet's two convolutions.
        let cases = [
            ((2, 3), (2, 1), (1, 1), [2, 3, 4, 5]),
            ((5, 5), (1, 1), (2, 2), [3, 1, 28, 28]),
            ((5, 5), (1, 1), (0, 0), [2, 6, 14, 14]),
            ((3, 3), (2, 3), (2, 1), [1, 2, 6, 7]),
            ((4, 2), (1, 2), (0, 1), [2, 2, 4, 3]),
            ((1, 1), (1, 1), (0, 0), [2, 3, 2, 2]),
        ];
        for (kernel, stride, padding, shape) in cases {
            let window = Window2d {
                kernel,
                stride,
                padding,
            };
            let g = window.geometry(&shape, None, "test").unwrap();
            let n_in: usize = shape.iter().product();
            let x: Vec<f32> = (0..n_in)
                .map(|i| ((i * 37) % 101) as f32 * 0.37 - 17.0)
                .collect();
            let len = g.batch * g.positions() * g.patch_len();
            // Start from garbage: every entry must be written.
            let mut cols = vec![f32::NAN; len];
            g.im2col(&x, &mut cols);
            let mut expected = vec![0.0f32; len];
            let (plane, taps, patch) = (g.height * g.width, kernel.0 * kernel.1, g.patch_len());
            for n in 0..g.batch {
                for c in 0..g.channels {
                    let x = &x[(n * g.channels + c) * plane..][..plane];
                    let rows = &mut expected[n * g.positions() * patch..][..g.positions() * patch];
                    g.for_each_tap(|p, k, pixel| rows[p * patch + c * taps + k] = x[pixel]);
                }
            }
            assert_eq!(
                cols, expected,
                "im2col, kernel {kernel:?} stride {stride:?}"
            );

            let c: Vec<f32> = (0..len)
                .map(|i| ((i * 53) % 97) as f32 * 0.013 - 0.6)
                .collect();
            let mut back = vec![0.0f32; n_in];
            g.col2im(&c, &mut back);
            let mut expected = vec![0.0f32; n_in];
            for n in 0..g.batch {
                for ch in 0..g.channels {
                    let x = &mut expected[(n * g.channels + ch) * plane..][..plane];
                    let rows = &c[n * g.positions() * patch..][..g.positions() * patch];
                    g.for_each_tap(|p, k, pixel| x[pixel] += rows[p * patch + ch * taps + k]);
                }
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&back),
                bits(&expected),
                "col2im, kernel {kernel:?} stride {stride:?}"
            );
        }
    }
}
