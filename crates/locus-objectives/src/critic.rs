//! Critics: functions `f(x, y)` that score how likely `y` is to be paired with `x`, the
//! learnable part of an InfoNCE estimator.

use locus_core::init::Init;
use locus_core::{matmul, Error, Float, Param, ParamMut, Result, SeededRng, Tensor};
use ndarray::{Array2, ArrayView2, Ix2};

/// A critic `f(x, y)`, scored on all pairs of two sets of embeddings at once.
///
/// InfoNCE's bound is tight when `f(x, y) = log p(y | x) / p(y) + c(x)` (Oord et al. 2018,
/// eq. 2; Poole et al. 2019); a learnable critic approaches it by ascending the bound. A
/// new critic implements `scores` and `backward`; critics with parameters also list them,
/// so an [`Optimizer`](locus_core::Optimizer) can train them.
pub trait Critic<F: Float>: Send + Sync {
    /// A short description, e.g. `"bilinear(4×4)"`.
    fn name(&self) -> String;

    /// `scores[i, j] = f(x_i, y_j)`, an `[n, m]` matrix for `n` rows of `x` and `m` of `y`.
    ///
    /// # Errors
    /// [`Error::Shape`] when the embeddings do not have the widths the critic takes.
    fn scores(&self, x: ArrayView2<'_, F>, y: ArrayView2<'_, F>) -> Result<Array2<F>>;

    /// Given `∂L/∂scores` (`[n, m]`), the gradients of `L` with respect to `x`, `y` and the
    /// critic's parameters (in the order of [`Critic::params`]).
    ///
    /// # Errors
    /// [`Error::Shape`] when the shapes do not agree with `scores`.
    fn backward(
        &self,
        x: ArrayView2<'_, F>,
        y: ArrayView2<'_, F>,
        grad_scores: ArrayView2<'_, F>,
    ) -> Result<CriticGradients<F>>;

    /// The critic's parameters, by name (default: none).
    fn params(&self) -> Vec<Param<'_, F>> {
        Vec::new()
    }

    /// The parameters, mutably, in the order of [`Critic::params`] (default: none).
    fn params_mut(&mut self) -> Vec<ParamMut<'_, F>> {
        Vec::new()
    }
}

/// Gradients of a loss of a critic's scores.
#[derive(Debug, Clone, PartialEq)]
pub struct CriticGradients<F> {
    /// With respect to `x`, `[n, dx]`.
    pub x: Array2<F>,
    /// With respect to `y`, `[m, dy]`.
    pub y: Array2<F>,
    /// With respect to the critic's parameters, in the order of [`Critic::params`].
    pub params: Vec<Tensor<F>>,
}

/// Checks `x` is `[n, dx]` and `y` is `[m, dy]`, both non-empty, and (when given) that the
/// scores' gradient is `[n, m]`.
fn check_pair<F: Float>(
    context: &str,
    x: &ArrayView2<'_, F>,
    y: &ArrayView2<'_, F>,
    (dx, dy): (usize, usize),
    grad: Option<&ArrayView2<'_, F>>,
) -> Result<()> {
    if x.nrows() == 0 || x.ncols() != dx {
        return Err(Error::shape(
            format!("{context} x"),
            format!("[n >= 1, {dx}]"),
            x.shape(),
        ));
    }
    if y.nrows() == 0 || y.ncols() != dy {
        return Err(Error::shape(
            format!("{context} y"),
            format!("[m >= 1, {dy}]"),
            y.shape(),
        ));
    }
    if let Some(g) = grad {
        if g.dim() != (x.nrows(), y.nrows()) {
            return Err(Error::shape(
                format!("{context} grad_scores"),
                format!("[{}, {}]", x.nrows(), y.nrows()),
                g.shape(),
            ));
        }
    }
    Ok(())
}

/// The log-bilinear critic of CPC, `f(x, y) = xᵀ W y` (Oord et al. 2018, eq. 3, where
/// `f_k(x_{t+k}, c_t) = exp(z_{t+k}ᵀ W_k c_t)` and the exponential is InfoNCE's softmax).
///
/// # Shapes
/// `x` `[n, dx]`, `y` `[m, dy]`, weight `[dx, dy]`, scores `[n, m]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BilinearCritic<F> {
    weight: Tensor<F>,
}

impl<F: Float> BilinearCritic<F> {
    /// A critic with the given `[dx, dy]` weight.
    ///
    /// # Errors
    /// [`Error::Shape`] for an empty weight; [`Error::NonFinite`] for a NaN in it.
    pub fn from_weight(weight: Array2<F>) -> Result<Self> {
        if weight.is_empty() {
            return Err(Error::shape(
                "BilinearCritic weight",
                "[dx >= 1, dy >= 1]",
                weight.shape(),
            ));
        }
        if !weight.iter().all(|w| w.is_finite()) {
            return Err(Error::NonFinite {
                context: "BilinearCritic weight".into(),
            });
        }
        Ok(BilinearCritic {
            weight: weight.into_dyn(),
        })
    }

    /// A critic with a weight drawn from `init` (fans `dx` and `dy`).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a zero width or a bad initialisation scale.
    pub fn init(dx: usize, dy: usize, init: Init, rng: &mut SeededRng) -> Result<Self> {
        if dx == 0 || dy == 0 {
            return Err(Error::invalid(
                "BilinearCritic widths",
                "should both be >= 1",
                format!("({dx}, {dy})"),
            ));
        }
        Ok(BilinearCritic {
            weight: init.sample::<F>(&[dx, dy], dx, dy, rng)?,
        })
    }

    /// The weight, `[dx, dy]`.
    ///
    /// # Errors
    /// [`Error::Shape`] when it was replaced, through [`Critic::params_mut`], by a tensor
    /// that is not 2-D.
    pub fn weight(&self) -> Result<ArrayView2<'_, F>> {
        self.weight
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|_| Error::shape("BilinearCritic weight", "[dx, dy]", self.weight.shape()))
    }
}

impl<F: Float> Critic<F> for BilinearCritic<F> {
    fn name(&self) -> String {
        let s = self.weight.shape();
        format!("bilinear({}×{})", s[0], s.get(1).copied().unwrap_or(0))
    }

    fn scores(&self, x: ArrayView2<'_, F>, y: ArrayView2<'_, F>) -> Result<Array2<F>> {
        let w = self.weight()?;
        check_pair("BilinearCritic", &x, &y, w.dim(), None)?;
        Ok(matmul(&matmul(&x, &w).view(), &y.t()))
    }

    fn backward(
        &self,
        x: ArrayView2<'_, F>,
        y: ArrayView2<'_, F>,
        grad_scores: ArrayView2<'_, F>,
    ) -> Result<CriticGradients<F>> {
        let w = self.weight()?;
        check_pair(
            "BilinearCritic backward",
            &x,
            &y,
            w.dim(),
            Some(&grad_scores),
        )?;
        // s = X W Yᵀ: ∂X = G Y Wᵀ, ∂Y = Gᵀ X W, ∂W = Xᵀ G Y.
        let gy = matmul(&grad_scores, &y);
        let xw = matmul(&x, &w);
        Ok(CriticGradients {
            x: matmul(&gy.view(), &w.t()),
            y: matmul(&grad_scores.t(), &xw.view()),
            params: vec![matmul(&x.t(), &gy.view()).into_dyn()],
        })
    }

    fn params(&self) -> Vec<Param<'_, F>> {
        vec![Param {
            name: "weight".into(),
            value: &self.weight,
        }]
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_, F>> {
        vec![ParamMut {
            name: "weight".into(),
            value: &mut self.weight,
        }]
    }
}

/// The scaled dot product `f(x, y) = xᵀ y / τ`: a bilinear critic fixed to `W = I / τ`,
/// with no parameters. On unit-norm embeddings it is the cosine-similarity critic of
/// SimCLR (Chen et al. 2020).
///
/// # Shapes
/// `x` `[n, d]`, `y` `[m, d]`, scores `[n, m]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DotProductCritic {
    temperature: f64,
}

impl DotProductCritic {
    /// A dot-product critic with temperature `τ`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a temperature that is not finite and > 0.
    pub fn new(temperature: f64) -> Result<Self> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::invalid(
                "dot-product critic temperature",
                "should be finite and > 0",
                temperature,
            ));
        }
        Ok(DotProductCritic { temperature })
    }

    /// The temperature `τ`.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }
}

impl<F: Float> Critic<F> for DotProductCritic {
    fn name(&self) -> String {
        format!("dot-product(τ={})", self.temperature)
    }

    fn scores(&self, x: ArrayView2<'_, F>, y: ArrayView2<'_, F>) -> Result<Array2<F>> {
        check_pair(
            "DotProductCritic",
            &x,
            &y,
            (x.ncols().max(1), x.ncols().max(1)),
            None,
        )?;
        Ok(matmul(&x, &y.t()) / F::cast(self.temperature))
    }

    fn backward(
        &self,
        x: ArrayView2<'_, F>,
        y: ArrayView2<'_, F>,
        grad_scores: ArrayView2<'_, F>,
    ) -> Result<CriticGradients<F>> {
        let d = x.ncols().max(1);
        check_pair(
            "DotProductCritic backward",
            &x,
            &y,
            (d, d),
            Some(&grad_scores),
        )?;
        let inv = F::cast(1.0 / self.temperature);
        Ok(CriticGradients {
            x: matmul(&grad_scores, &y) * inv,
            y: matmul(&grad_scores.t(), &x) * inv,
            params: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::seeded_rng;
    use ndarray::array;

    #[test]
    fn bilinear_scores_every_pair() {
        let w = array![[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]];
        let critic = BilinearCritic::from_weight(w).unwrap();
        let x = array![[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]];
        let y = array![[1.0, 1.0], [0.0, 1.0], [2.0, 0.0]];
        let s = critic.scores(x.view(), y.view()).unwrap();
        // x_1 W = [1, 0], x_2 W = [1, 3].
        assert_eq!(s, array![[1.0, 0.0, 2.0], [4.0, 3.0, 2.0]]);
        assert_eq!(Critic::<f64>::name(&critic), "bilinear(3×2)");
        let g = critic
            .backward(x.view(), y.view(), Array2::ones((2, 3)).view())
            .unwrap();
        assert_eq!(g.x.dim(), (2, 3));
        assert_eq!(g.y.dim(), (3, 2));
        assert_eq!(g.params[0].shape(), [3, 2]);
    }

    #[test]
    fn dot_product_is_the_scaled_identity_bilinear() {
        let x = array![[1.0, -2.0], [0.5, 3.0]];
        let y = array![[2.0, 1.0], [0.0, -1.0], [1.0, 1.0]];
        let dot = DotProductCritic::new(0.5).unwrap();
        let bilinear = BilinearCritic::from_weight(array![[2.0, 0.0], [0.0, 2.0]]).unwrap();
        let g = Array2::from_shape_fn((2, 3), |(i, j)| (i + 2 * j) as f64 - 1.0);
        assert_eq!(
            dot.scores(x.view(), y.view()).unwrap(),
            bilinear.scores(x.view(), y.view()).unwrap()
        );
        let a = Critic::<f64>::backward(&dot, x.view(), y.view(), g.view()).unwrap();
        let b = bilinear.backward(x.view(), y.view(), g.view()).unwrap();
        assert_eq!((a.x, a.y), (b.x, b.y));
    }

    #[test]
    fn bad_shapes_and_settings_are_refused() {
        let critic =
            BilinearCritic::<f64>::init(3, 2, Init::TorchDefault, &mut seeded_rng(0)).unwrap();
        let x = Array2::zeros((4, 3));
        let e = critic
            .scores(x.view(), Array2::zeros((4, 3)).view())
            .unwrap_err();
        assert!(e.to_string().contains("BilinearCritic y"), "{e}");
        let e = critic
            .backward(
                x.view(),
                Array2::zeros((5, 2)).view(),
                Array2::zeros((4, 4)).view(),
            )
            .unwrap_err();
        assert!(e.to_string().contains("grad_scores"), "{e}");
        assert!(BilinearCritic::<f64>::init(0, 2, Init::TorchDefault, &mut seeded_rng(0)).is_err());
        assert!(BilinearCritic::from_weight(array![[f64::NAN]]).is_err());
        assert!(DotProductCritic::new(0.0).is_err());
        let dot = DotProductCritic::new(1.0).unwrap();
        let e = Critic::<f64>::scores(&dot, x.view(), Array2::zeros((2, 2)).view()).unwrap_err();
        assert!(e.to_string().contains("DotProductCritic y"), "{e}");
    }
}
