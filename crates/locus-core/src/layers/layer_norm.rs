use ndarray::{Array1, Array2, ArrayView2, Axis, Ix1, Ix2};
use serde::{Deserialize, Serialize};

use super::params::{scale_and_shift, scale_and_shift_mut};
use crate::{Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, Tensor};

/// Configuration of a [`LayerNorm`], checked by [`LayerNormConfig::init`].
///
/// The defaults are PyTorch's `nn.LayerNorm(normalized_shape)`: subtract the mean, divide
/// by the standard deviation, `ε = 1e-5`, and a learned scale and shift. Forward-Forward
/// uses the length normalisation of Hinton (2022, section 2.1) instead:
/// [`LayerNormConfig::length`], no centring and no learned parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerNormConfig {
    /// The trailing axes normalised together (PyTorch's `normalized_shape`): `[features]`
    /// normalises the last axis, `[channels, height, width]` all features of an image.
    pub normalized_shape: Vec<usize>,
    /// Subtract the mean before dividing (default true). Without it the layer divides by
    /// the root mean square: RMS normalisation (Zhang & Sennrich 2019), which is
    /// Hinton's length normalisation scaled so that the mean square is 1.
    pub center: bool,
    /// A learned element-wise scale `γ` (initially 1) and shift `β` (initially 0), of
    /// `normalized_shape` (default true).
    pub affine: bool,
    /// Added to the mean square before the square root, so a zero vector stays finite
    /// (default `1e-5`).
    pub eps: f64,
}

impl LayerNormConfig {
    /// PyTorch's layer normalisation over the trailing axes `normalized_shape`.
    pub fn new(normalized_shape: Vec<usize>) -> Self {
        LayerNormConfig {
            normalized_shape,
            center: true,
            affine: true,
            eps: 1e-5,
        }
    }

    /// Hinton's length normalisation over a `features`-wide last axis (Forward-Forward,
    /// Hinton 2022, section 2.1): `y = x / sqrt(mean(x²) + ε)`, no centring, no learned
    /// parameters. The next layer then sees only the *direction* of the activity vector,
    /// not its length, so it cannot read the goodness the layer below was trained on.
    pub fn length(features: usize) -> Self {
        LayerNormConfig {
            normalized_shape: vec![features],
            center: false,
            affine: false,
            eps: 1e-5,
        }
    }

    /// Sets whether the mean is subtracted.
    pub fn with_center(mut self, center: bool) -> Self {
        self.center = center;
        self
    }

    /// Sets whether the layer learns a scale and a shift.
    pub fn with_affine(mut self, affine: bool) -> Self {
        self.affine = affine;
        self
    }

    /// Sets `ε`.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Checks the shape and `ε`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an empty shape, a zero axis, or an `ε` that is not
    /// finite and `> 0`.
    pub fn check(&self) -> Result<()> {
        if self.normalized_shape.is_empty() || self.normalized_shape.contains(&0) {
            return Err(Error::invalid(
                "LayerNorm normalized shape",
                "should be non-empty with every axis >= 1",
                format!("{:?}", self.normalized_shape),
            ));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::invalid(
                "LayerNorm eps",
                "should be finite and > 0",
                self.eps,
            ));
        }
        Ok(())
    }

    /// Builds the layer (scale 1, shift 0 when affine).
    ///
    /// # Errors
    /// As [`LayerNormConfig::check`].
    pub fn init<F: Float>(&self) -> Result<LayerNorm<F>> {
        self.check()?;
        let affine = self.affine.then(|| {
            (
                Tensor::ones(self.normalized_shape.clone()),
                Tensor::zeros(self.normalized_shape.clone()),
            )
        });
        Ok(LayerNorm {
            config: self.clone(),
            affine,
        })
    }
}

/// Layer normalisation (Ba, Kiros & Hinton 2016, eq. 4): every sample is normalised over
/// its trailing axes `normalized_shape`, independently of the rest of the batch,
///
/// `x̂ = (x − μ) / sqrt(σ² + ε)`, `y = γ ∘ x̂ + β`,
///
/// with `μ` and `σ²` the mean and variance over those axes. Without centring
/// ([`LayerNormConfig::center`] false) `μ = 0` and `σ²` is the mean square: RMS
/// normalisation, the length normalisation Forward-Forward puts between its layers
/// (Hinton 2022, section 2.1). Without [`LayerNormConfig::affine`] there is no `γ`, `β`.
///
/// The backward pass is exact: with `g = γ ∘ δy`,
/// `δx = (g − mean(g) − x̂ ∘ mean(g ∘ x̂)) / sqrt(σ² + ε)` (the `mean(g)` term only when
/// centring).
///
/// # Shapes
/// `[batch, …, normalized_shape…]` (at least one leading axis) → the same shape;
/// parameters `weight` (`γ`) and `bias` (`β`) of `normalized_shape`.
///
/// # Errors
/// [`Error::Shape`] when the input's trailing axes are not `normalized_shape` or it has
/// no leading (batch) axis.
#[derive(Debug, Clone)]
pub struct LayerNorm<F> {
    config: LayerNormConfig,
    /// `(γ, β)`, when the layer is affine.
    affine: Option<(Tensor<F>, Tensor<F>)>,
}

impl<F: Float> LayerNorm<F> {
    /// The configuration.
    pub fn config(&self) -> &LayerNormConfig {
        &self.config
    }

    /// Number of values normalised together (the product of `normalized_shape`).
    fn width(&self) -> usize {
        self.config.normalized_shape.iter().product()
    }

    /// The input as `[rows, width]`, after checking its trailing axes.
    fn rows<'a>(&self, input: &'a Tensor<F>) -> Result<ArrayView2<'a, F>> {
        let shape = input.shape();
        let norm = &self.config.normalized_shape;
        let fits = shape.len() > norm.len() && shape[shape.len() - norm.len()..] == norm[..];
        if !fits {
            return Err(Error::shape(
                self.name(),
                format!("[batch, …, {}]", dims(norm)),
                shape,
            ));
        }
        let width = self.width();
        let rows = input.len() / width;
        input
            .view()
            .into_shape_with_order((rows, width))
            .map_err(|_| Error::shape(self.name(), "an input in standard layout", shape))
    }

    /// `(x̂, 1 / sqrt(σ² + ε))` of every row.
    fn normalise(&self, x: ArrayView2<'_, F>) -> (Array2<F>, Array1<F>) {
        let width = F::cast(x.ncols() as f64);
        let eps = F::cast(self.config.eps);
        let mut xhat = x.to_owned();
        let mut inv = Array1::zeros(x.nrows());
        for (mut row, inv) in xhat.axis_iter_mut(Axis(0)).zip(inv.iter_mut()) {
            if self.config.center {
                let mean = row.sum() / width;
                row.mapv_inplace(|v| v - mean);
            }
            let mean_square = row.iter().fold(F::zero(), |s, &v| s + v * v) / width;
            *inv = F::one() / (mean_square + eps).sqrt();
            let scale = *inv;
            row.mapv_inplace(|v| v * scale);
        }
        (xhat, inv)
    }

    /// `γ ∘ x̂ + β` in the input's shape.
    fn output(&self, xhat: &Array2<F>, shape: &[usize]) -> Tensor<F> {
        let mut y = xhat.clone();
        if let Some((gamma, beta)) = &self.affine {
            let gamma = flat(gamma);
            let beta = flat(beta);
            for mut row in y.axis_iter_mut(Axis(0)) {
                row.zip_mut_with(&gamma, |v, &g| *v *= g);
                row += &beta;
            }
        }
        y.into_shape_with_order(shape.to_vec())
            .expect("rows × width is the input's size")
    }
}

/// A tensor's values as one row.
fn flat<F: Float>(t: &Tensor<F>) -> ndarray::ArrayView1<'_, F> {
    t.view()
        .into_shape_with_order(t.len())
        .expect("parameters are contiguous")
        .into_dimensionality::<Ix1>()
        .expect("one axis")
}

/// `a, b, c` for a shape.
fn dims(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl<F: Float> Module<F> for LayerNorm<F> {
    fn name(&self) -> String {
        let kind = if self.config.center { "" } else { ", rms" };
        let affine = if self.affine.is_some() {
            ", affine"
        } else {
            ""
        };
        format!(
            "LayerNorm([{}]{kind}{affine})",
            dims(&self.config.normalized_shape)
        )
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let x = self.rows(input)?;
        let (xhat, inv) = self.normalise(x);
        let y = self.output(&xhat, input.shape());
        // The normalised rows and their inverse deviations, and the input's shape.
        let cache = Cache::from_children(vec![
            Cache::from_tensors(vec![xhat.into_dyn(), inv.into_dyn()]),
            Cache::from_meta(input.shape().to_vec()),
        ]);
        Ok((y, cache))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        let x = self.rows(input)?;
        let (xhat, _) = self.normalise(x);
        Ok(self.output(&xhat, input.shape()))
    }

    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        let context = self.name();
        let tensors = cache.child(0, &context)?;
        let shape = cache.child(1, &context)?.meta();
        let xhat = tensors
            .tensor(0, &context)?
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|_| Error::Cache {
                context: context.clone(),
                reason: "the normalised input is not a matrix".into(),
            })?;
        let inv = tensors
            .tensor(1, &context)?
            .view()
            .into_dimensionality::<Ix1>()
            .map_err(|_| Error::Cache {
                context: context.clone(),
                reason: "the inverse deviations are not a vector".into(),
            })?;
        if grad_output.shape() != shape || inv.len() != xhat.nrows() {
            return Err(Error::shape(
                format!("{context} backward (grad_output)"),
                format!("{shape:?}"),
                grad_output.shape(),
            ));
        }
        let g = grad_output
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(xhat.dim())
            .map_err(|_| Error::shape(&context, format!("{shape:?}"), grad_output.shape()))?;
        let mut params = Vec::new();
        let mut gh = g.clone();
        if let Some((gamma, _)) = &self.affine {
            let grad_gamma = (&g * &xhat).sum_axis(Axis(0));
            let grad_beta = g.sum_axis(Axis(0));
            params.push(
                grad_gamma
                    .into_shape_with_order(gamma.shape().to_vec())
                    .expect("γ's size"),
            );
            params.push(
                grad_beta
                    .into_shape_with_order(gamma.shape().to_vec())
                    .expect("β's size"),
            );
            let gamma = flat(gamma);
            for mut row in gh.axis_iter_mut(Axis(0)) {
                row.zip_mut_with(&gamma, |v, &s| *v *= s);
            }
        }
        let input = need_input_grad.then(|| {
            let width = F::cast(xhat.ncols() as f64);
            let mut dx = gh;
            for ((mut row, xrow), &inv) in dx
                .axis_iter_mut(Axis(0))
                .zip(xhat.axis_iter(Axis(0)))
                .zip(inv.iter())
            {
                let mean_g = if self.config.center {
                    row.sum() / width
                } else {
                    F::zero()
                };
                let mean_gx = row
                    .iter()
                    .zip(xrow.iter())
                    .fold(F::zero(), |s, (&a, &b)| s + a * b)
                    / width;
                row.zip_mut_with(&xrow, |v, &xh| *v = (*v - mean_g - xh * mean_gx) * inv);
            }
            dx.into_shape_with_order(shape.to_vec())
                .expect("rows × width is the input's size")
        });
        Ok(Gradients { input, params })
    }

    fn params(&self) -> Vec<Param<'_, F>> {
        scale_and_shift(&self.affine)
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_, F>> {
        scale_and_shift_mut(&mut self.affine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn rows_get_zero_mean_and_unit_variance() {
        let ln = LayerNormConfig::new(vec![4]).init::<f64>().unwrap();
        let x = arr2(&[[1.0, 2.0, 3.0, 4.0], [-2.0, 0.0, 0.0, 10.0]]).into_dyn();
        let y = ln.infer(&x).unwrap();
        for row in y.rows() {
            let mean = row.sum() / 4.0;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 4.0;
            assert!(mean.abs() < 1e-12, "{mean}");
            assert!((var - 1.0).abs() < 1e-4, "{var}");
        }
    }

    #[test]
    fn length_normalisation_keeps_the_direction_and_sets_the_mean_square_to_one() {
        let ln = LayerNormConfig::length(3).init::<f64>().unwrap();
        assert!(ln.params().is_empty());
        let x = arr2(&[[3.0, 0.0, 4.0], [0.0, 0.5, 0.0]]).into_dyn();
        let y = ln.infer(&x).unwrap();
        for (xr, yr) in x.rows().into_iter().zip(y.rows()) {
            let mean_square = yr.iter().map(|v| v * v).sum::<f64>() / 3.0;
            assert!((mean_square - 1.0).abs() < 1e-3, "{mean_square}");
            // Same direction: y is a positive multiple of x.
            let ratio = yr[0].max(yr[1]) / xr[0].max(xr[1]);
            for (a, b) in xr.iter().zip(yr.iter()) {
                assert!((a * ratio - b).abs() < 1e-12);
            }
        }
        // Scaling a sample does not change its output (up to ε).
        let y2 = ln.infer(&(&x * 10.0)).unwrap();
        assert!(y.iter().zip(y2.iter()).all(|(a, b)| (a - b).abs() < 1e-3));
    }

    #[test]
    fn trailing_axes_are_normalised_together() {
        let ln = LayerNormConfig::new(vec![2, 3])
            .with_affine(false)
            .init::<f64>()
            .unwrap();
        let x =
            Tensor::<f64>::from_shape_fn(vec![2, 2, 3], |i| (i[0] * 7 + i[1] * 3 + i[2]) as f64);
        let y = ln.infer(&x).unwrap();
        assert_eq!(y.shape(), &[2, 2, 3]);
        let first: f64 = y.index_axis(Axis(0), 0).sum();
        assert!(first.abs() < 1e-12);
        // The last axis alone on a [batch, time, features] input: one norm per time step.
        let per_step = LayerNormConfig::new(vec![3]).init::<f64>().unwrap();
        let y = per_step.infer(&x).unwrap();
        for t in 0..2 {
            let s: f64 = y.index_axis(Axis(0), 1).index_axis(Axis(0), t).sum();
            assert!(s.abs() < 1e-12);
        }
    }

    #[test]
    fn bad_configurations_and_shapes_are_named() {
        assert!(LayerNormConfig::new(vec![]).init::<f64>().is_err());
        assert!(LayerNormConfig::new(vec![3, 0]).init::<f64>().is_err());
        let e = LayerNormConfig::new(vec![3])
            .with_eps(0.0)
            .init::<f64>()
            .unwrap_err();
        assert!(e.to_string().contains("eps"), "{e}");
        let ln = LayerNormConfig::new(vec![3]).init::<f64>().unwrap();
        let e = ln.infer(&Tensor::zeros(vec![2, 4])).unwrap_err();
        assert!(e.to_string().contains("LayerNorm"), "{e}");
        // No batch axis.
        assert!(ln.infer(&Tensor::zeros(vec![3])).is_err());
    }

    #[test]
    fn a_zero_sample_stays_finite() {
        for center in [true, false] {
            let ln = LayerNormConfig::new(vec![4])
                .with_center(center)
                .init::<f32>()
                .unwrap();
            let x = Tensor::<f32>::zeros(vec![1, 4]);
            let (y, cache) = ln.forward(&x).unwrap();
            assert!(y.iter().all(|v| *v == 0.0));
            let g = ln
                .backward(&cache, &Tensor::ones(vec![1, 4]), true)
                .unwrap();
            assert!(g.input.unwrap().iter().all(|v| v.is_finite()));
        }
    }
}
