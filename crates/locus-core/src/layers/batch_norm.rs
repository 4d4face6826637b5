use std::sync::Mutex;

use ndarray::{Array1, Array2, ArrayView2, Axis, Ix1, Ix2, Zip};
use serde::{Deserialize, Serialize};

use super::params::{scale_and_shift, scale_and_shift_mut};
use crate::{Cache, Error, Float, Gradients, Module, Param, ParamMut, Result, StateDict, Tensor};

/// Configuration of a [`BatchNorm1d`], checked by [`BatchNormConfig::init`].
///
/// The defaults are PyTorch's `nn.BatchNorm1d(features)`: `ε = 1e-5`, running statistics
/// with momentum 0.1, and a learned scale and shift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchNormConfig {
    /// Number of features (the width of the last axis of a `[batch, features]` input).
    pub features: usize,
    /// Weight of the newest batch in the running mean and variance,
    /// `r ← (1 − momentum) r + momentum · batch statistic` (default 0.1).
    pub momentum: f64,
    /// Added to the variance before the square root (default `1e-5`).
    pub eps: f64,
    /// A learned per-feature scale `γ` (initially 1) and shift `β` (initially 0)
    /// (default true).
    pub affine: bool,
    /// Keep running statistics for evaluation (default true). Without them
    /// [`Module::infer`] normalises with the statistics of the batch it is given, as
    /// training does (PyTorch's `track_running_stats=False`).
    pub track_running_stats: bool,
}

impl BatchNormConfig {
    /// PyTorch's batch normalisation over `features`.
    pub fn new(features: usize) -> Self {
        BatchNormConfig {
            features,
            momentum: 0.1,
            eps: 1e-5,
            affine: true,
            track_running_stats: true,
        }
    }

    /// Sets the momentum of the running statistics.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets `ε`.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets whether the layer learns a scale and a shift.
    pub fn with_affine(mut self, affine: bool) -> Self {
        self.affine = affine;
        self
    }

    /// Sets whether evaluation uses running statistics (true) or the batch's own.
    pub fn with_running_stats(mut self, track: bool) -> Self {
        self.track_running_stats = track;
        self
    }

    /// Checks the width, the momentum and `ε`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for zero features, a momentum outside `(0, 1]`, or an
    /// `ε` that is not finite and `> 0`.
    pub fn check(&self) -> Result<()> {
        if self.features == 0 {
            return Err(Error::invalid(
                "BatchNorm features",
                "should be >= 1",
                self.features,
            ));
        }
        if !(self.momentum > 0.0 && self.momentum <= 1.0) {
            return Err(Error::invalid(
                "BatchNorm momentum",
                "should be in (0, 1]",
                self.momentum,
            ));
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::invalid(
                "BatchNorm eps",
                "should be finite and > 0",
                self.eps,
            ));
        }
        Ok(())
    }

    /// Builds the layer: scale 1, shift 0, running mean 0 and running variance 1.
    ///
    /// # Errors
    /// As [`BatchNormConfig::check`].
    pub fn init<F: Float>(&self) -> Result<BatchNorm1d<F>> {
        self.check()?;
        let n = self.features;
        let affine = self
            .affine
            .then(|| (Tensor::ones(vec![n]), Tensor::zeros(vec![n])));
        Ok(BatchNorm1d {
            config: self.clone(),
            affine,
            running: Mutex::new(RunningStats {
                mean: Array1::zeros(n),
                var: Array1::ones(n),
            }),
        })
    }
}

/// The running mean and (unbiased) variance of every feature.
#[derive(Debug, Clone)]
struct RunningStats<F> {
    mean: Array1<F>,
    var: Array1<F>,
}

/// Batch normalisation of a `[batch, features]` input (Ioffe & Szegedy 2015, Algorithm 1):
/// every feature is normalised over the batch,
///
/// `x̂ = (x − μ_B) / sqrt(σ²_B + ε)`, `y = γ ∘ x̂ + β`,
///
/// with `μ_B` and `σ²_B` the feature's mean and (biased) variance over the batch. This is
/// what the DNI paper (Jaderberg et al. 2016, section 3.1) puts between every hidden
/// layer's linear map and its ReLU.
///
/// [`Module::forward`] (training) uses the batch's statistics and folds them into running
/// estimates, `r ← (1 − m) r + m · s` with the unbiased variance, as PyTorch does;
/// [`Module::infer`] (evaluation) normalises with the running estimates, so a sample's
/// prediction does not depend on the rest of its batch. The running statistics are state,
/// not parameters: no optimiser touches them, and they sit behind a lock so that
/// `forward(&self)` can update them. For the same reason a checkpoint of the parameters
/// (`locus_sched::save_checkpoint`) does not hold them: read them with
/// [`BatchNorm1d::running_mean_and_var`].
///
/// The backward pass is exact for the batch statistics: with `g = γ ∘ δy` and `N` rows,
/// `δx = (g − mean_B(g) − x̂ ∘ mean_B(g ∘ x̂)) / sqrt(σ²_B + ε)`.
///
/// # Shapes
/// `[batch, features]` → the same shape; parameters `weight` (`γ`) and `bias` (`β`) of
/// `[features]`.
///
/// # Errors
/// [`Error::Shape`] when the input is not `[batch, features]` with `batch >= 1`.
#[derive(Debug)]
pub struct BatchNorm1d<F> {
    config: BatchNormConfig,
    /// `(γ, β)`, when the layer is affine.
    affine: Option<(Tensor<F>, Tensor<F>)>,
    running: Mutex<RunningStats<F>>,
}

impl<F: Float> Clone for BatchNorm1d<F> {
    fn clone(&self) -> Self {
        BatchNorm1d {
            config: self.config.clone(),
            affine: self.affine.clone(),
            running: Mutex::new(self.running_stats()),
        }
    }
}

impl<F: Float> BatchNorm1d<F> {
    /// The configuration.
    pub fn config(&self) -> &BatchNormConfig {
        &self.config
    }

    /// The running mean and running (unbiased) variance of every feature.
    pub fn running_mean_and_var(&self) -> (Array1<F>, Array1<F>) {
        let stats = self.running_stats();
        (stats.mean, stats.var)
    }

    fn running_stats(&self) -> RunningStats<F> {
        // A panic while the lock was held cannot leave the statistics half-written (each
        // update assigns whole arrays), so a poisoned lock still holds usable values.
        match self.running.lock() {
            Ok(stats) => stats.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The input as a `[batch, features]` matrix, after checking its shape.
    fn rows<'a>(&self, input: &'a Tensor<F>) -> Result<ArrayView2<'a, F>> {
        let shape = input.shape();
        if shape.len() != 2 || shape[1] != self.config.features || shape[0] == 0 {
            return Err(Error::shape(
                self.name(),
                format!("[batch >= 1, {}]", self.config.features),
                shape,
            ));
        }
        input
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|_| Error::shape(self.name(), "a matrix", shape))
    }

    /// The batch's per-feature mean and biased variance.
    fn batch_stats(x: ArrayView2<'_, F>) -> (Array1<F>, Array1<F>) {
        let n = F::cast(x.nrows() as f64);
        let mean = x.sum_axis(Axis(0)) / n;
        let centred = &x - &mean;
        let var = (&centred * &centred).sum_axis(Axis(0)) / n;
        (mean, var)
    }

    /// `x̂ = (x − mean) · inv`.
    fn normalise(x: ArrayView2<'_, F>, mean: &Array1<F>, inv: &Array1<F>) -> Array2<F> {
        let mut xhat = &x - mean;
        xhat *= inv;
        xhat
    }

    /// `γ ∘ x̂ + β`, in place of `x̂`.
    fn output(&self, mut y: Array2<F>) -> Tensor<F> {
        if let Some((gamma, beta)) = &self.affine {
            let gamma = vector(gamma);
            let beta = vector(beta);
            y *= &gamma;
            y += &beta;
        }
        y.into_dyn()
    }

    fn inverse_deviation(&self, var: &Array1<F>) -> Array1<F> {
        let eps = F::cast(self.config.eps);
        var.mapv(|v| F::one() / (v + eps).sqrt())
    }

    /// Folds a batch's statistics into the running ones.
    fn update_running(&self, mean: &Array1<F>, var: &Array1<F>, rows: usize) {
        let m = F::cast(self.config.momentum);
        let keep = F::one() - m;
        // Unbiased variance, as PyTorch keeps; a batch of one has no spread to add.
        let unbias = if rows > 1 {
            F::cast(rows as f64 / (rows - 1) as f64)
        } else {
            F::one()
        };
        let mut stats = match self.running.lock() {
            Ok(stats) => stats,
            Err(poisoned) => poisoned.into_inner(),
        };
        let new_mean = &stats.mean * keep + mean * m;
        let new_var = &stats.var * keep + var * (m * unbias);
        stats.mean = new_mean;
        stats.var = new_var;
    }
}

/// A `[features]` parameter as a vector.
fn vector<F: Float>(t: &Tensor<F>) -> ndarray::ArrayView1<'_, F> {
    t.view()
        .into_dimensionality::<Ix1>()
        .expect("batch-norm parameters are vectors")
}

impl<F: Float> Module<F> for BatchNorm1d<F> {
    fn name(&self) -> String {
        let affine = if self.affine.is_some() {
            ", affine"
        } else {
            ""
        };
        let running = if self.config.track_running_stats {
            ""
        } else {
            ", batch stats at eval"
        };
        format!("BatchNorm1d({}{affine}{running})", self.config.features)
    }

    fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        let x = self.rows(input)?;
        let (mean, var) = Self::batch_stats(x);
        let inv = self.inverse_deviation(&var);
        let xhat = Self::normalise(x, &mean, &inv);
        let y = self.output(xhat.clone());
        if self.config.track_running_stats {
            self.update_running(&mean, &var, x.nrows());
        }
        let cache = Cache::from_tensors(vec![xhat.into_dyn(), inv.into_dyn()]);
        Ok((y, cache))
    }

    fn infer(&self, input: &Tensor<F>) -> Result<Tensor<F>> {
        let x = self.rows(input)?;
        let (mean, var) = if self.config.track_running_stats {
            let stats = self.running_stats();
            (stats.mean, stats.var)
        } else {
            Self::batch_stats(x)
        };
        let inv = self.inverse_deviation(&var);
        Ok(self.output(Self::normalise(x, &mean, &inv)))
    }

    fn backward(
        &self,
        cache: &Cache<F>,
        grad_output: &Tensor<F>,
        need_input_grad: bool,
    ) -> Result<Gradients<F>> {
        let context = self.name();
        let xhat = cache
            .tensor(0, &context)?
            .view()
            .into_dimensionality::<Ix2>()
            .map_err(|_| Error::Cache {
                context: context.clone(),
                reason: "the normalised input is not a matrix".into(),
            })?;
        let inv = cache
            .tensor(1, &context)?
            .view()
            .into_dimensionality::<Ix1>()
            .map_err(|_| Error::Cache {
                context: context.clone(),
                reason: "the inverse deviations are not a vector".into(),
            })?;
        if grad_output.shape() != xhat.shape() || inv.len() != xhat.ncols() {
            return Err(Error::shape(
                format!("{context} backward (grad_output)"),
                format!("{:?}", xhat.shape()),
                grad_output.shape(),
            ));
        }
        let g = grad_output
            .view()
            .into_dimensionality::<Ix2>()
            .expect("shape checked above");
        let mut params = Vec::new();
        let mut gh = g.to_owned();
        if let Some((gamma, _)) = &self.affine {
            params.push((&g * &xhat).sum_axis(Axis(0)).into_dyn());
            params.push(g.sum_axis(Axis(0)).into_dyn());
            gh *= &vector(gamma);
        }
        let input = need_input_grad.then(|| {
            let n = F::cast(xhat.nrows() as f64);
            let mean_g = gh.sum_axis(Axis(0)) / n;
            let mean_gx = (&gh * &xhat).sum_axis(Axis(0)) / n;
            let mut dx = gh;
            for (mut row, xrow) in dx.rows_mut().into_iter().zip(xhat.rows()) {
                Zip::from(&mut row)
                    .and(&xrow)
                    .and(&mean_g)
                    .and(&mean_gx)
                    .and(&inv)
                    .for_each(|d, &xh, &mg, &mgx, &iv| *d = (*d - mg - xh * mgx) * iv);
            }
            dx.into_dyn()
        });
        Ok(Gradients { input, params })
    }

    fn params(&self) -> Vec<Param<'_, F>> {
        scale_and_shift(&self.affine)
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_, F>> {
        scale_and_shift_mut(&mut self.affine)
    }

    /// `weight` and `bias` when affine, and `running_mean` and `running_var` (PyTorch's
    /// names) when the layer tracks running statistics.
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        for p in self.params() {
            state.put_tensor(format!("{prefix}{}", p.name), p.value.clone());
        }
        if self.config.track_running_stats {
            let stats = self.running_stats();
            state.put_tensor(format!("{prefix}running_mean"), stats.mean.into_dyn());
            state.put_tensor(format!("{prefix}running_var"), stats.var.into_dyn());
        }
    }

    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        let features = [self.config.features];
        for p in self.params_mut() {
            let name = format!("{prefix}{}", p.name);
            *p.value = state.take_tensor(&name, Some(p.value.shape()))?;
        }
        if self.config.track_running_stats {
            let vector = |t: Tensor<F>| {
                t.into_dimensionality::<Ix1>()
                    .expect("shape checked by take_tensor")
            };
            let mean = state.take_tensor(&format!("{prefix}running_mean"), Some(&features))?;
            let var = state.take_tensor(&format!("{prefix}running_var"), Some(&features))?;
            *self.running.get_mut().unwrap_or_else(|p| p.into_inner()) = RunningStats {
                mean: vector(mean),
                var: vector(var),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn training_normalises_every_feature_over_the_batch() {
        let bn = BatchNormConfig::new(2).init::<f64>().unwrap();
        let x = arr2(&[[1.0, 10.0], [3.0, -10.0], [5.0, 0.0]]).into_dyn();
        let (y, _) = bn.forward(&x).unwrap();
        for col in y.columns() {
            let mean = col.sum() / 3.0;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 3.0;
            assert!(mean.abs() < 1e-12, "{mean}");
            assert!((var - 1.0).abs() < 1e-4, "{var}");
        }
    }

    #[test]
    fn running_statistics_follow_the_batches_with_the_given_momentum() {
        let bn = BatchNormConfig::new(1)
            .with_momentum(0.5)
            .init::<f64>()
            .unwrap();
        let x = arr2(&[[2.0], [4.0]]).into_dyn(); // mean 3, unbiased variance 2
        bn.forward(&x).unwrap();
        let (mean, var) = bn.running_mean_and_var();
        assert!((mean[0] - 1.5).abs() < 1e-12, "{mean}"); // 0.5·0 + 0.5·3
        assert!((var[0] - 1.5).abs() < 1e-12, "{var}"); // 0.5·1 + 0.5·2
        for _ in 0..60 {
            bn.forward(&x).unwrap();
        }
        let (mean, var) = bn.running_mean_and_var();
        assert!((mean[0] - 3.0).abs() < 1e-9 && (var[0] - 2.0).abs() < 1e-9);
        // Evaluation normalises with them: 4 → (4 − 3) / sqrt(2 + ε).
        let y = bn.infer(&arr2(&[[4.0]]).into_dyn()).unwrap();
        assert!((y[[0, 0]] - 1.0 / (2.0f64 + 1e-5).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn evaluation_does_not_depend_on_the_rest_of_the_batch() {
        let bn = BatchNormConfig::new(2).init::<f64>().unwrap();
        bn.forward(&arr2(&[[1.0, 2.0], [3.0, -1.0], [0.0, 0.5]]).into_dyn())
            .unwrap();
        let alone = bn.infer(&arr2(&[[0.7, -0.2]]).into_dyn()).unwrap();
        let together = bn
            .infer(&arr2(&[[0.7, -0.2], [100.0, 100.0]]).into_dyn())
            .unwrap();
        assert_eq!(
            alone.index_axis(Axis(0), 0),
            together.index_axis(Axis(0), 0)
        );
        // Without running statistics evaluation uses the batch, like training.
        let batch = BatchNormConfig::new(2)
            .with_running_stats(false)
            .init::<f64>()
            .unwrap();
        let x = arr2(&[[0.7, -0.2], [100.0, 100.0]]).into_dyn();
        assert_eq!(batch.infer(&x).unwrap(), batch.forward(&x).unwrap().0);
    }

    #[test]
    fn a_clone_keeps_its_own_running_statistics() {
        let bn = BatchNormConfig::new(1).init::<f64>().unwrap();
        bn.forward(&arr2(&[[5.0], [7.0]]).into_dyn()).unwrap();
        let copy = bn.clone();
        assert_eq!(copy.running_mean_and_var(), bn.running_mean_and_var());
        copy.forward(&arr2(&[[50.0], [70.0]]).into_dyn()).unwrap();
        assert_ne!(copy.running_mean_and_var(), bn.running_mean_and_var());
    }

    #[test]
    fn bad_configurations_and_shapes_are_named() {
        assert!(BatchNormConfig::new(0).init::<f64>().is_err());
        for momentum in [0.0, 1.5, f64::NAN] {
            let e = BatchNormConfig::new(3)
                .with_momentum(momentum)
                .init::<f64>()
                .unwrap_err();
            assert!(e.to_string().contains("momentum"), "{e}");
        }
        let e = BatchNormConfig::new(3)
            .with_eps(-1.0)
            .init::<f64>()
            .unwrap_err();
        assert!(e.to_string().contains("eps"), "{e}");
        let bn = BatchNormConfig::new(3).init::<f64>().unwrap();
        for shape in [vec![2, 4], vec![3], vec![0, 3], vec![2, 3, 1]] {
            let e = bn.forward(&Tensor::zeros(shape.clone())).unwrap_err();
            assert!(e.to_string().contains("BatchNorm1d"), "{shape:?}: {e}");
            assert!(bn.infer(&Tensor::zeros(shape)).is_err());
        }
    }

    #[test]
    fn a_batch_of_one_stays_finite() {
        let bn = BatchNormConfig::new(3).init::<f32>().unwrap();
        let (y, cache) = bn.forward(&Tensor::ones(vec![1, 3])).unwrap();
        assert!(y.iter().all(|v| *v == 0.0));
        let g = bn
            .backward(&cache, &Tensor::ones(vec![1, 3]), true)
            .unwrap();
        assert!(g.input.unwrap().iter().all(|v| v.is_finite()));
        let (_, var) = bn.running_mean_and_var();
        assert!(var.iter().all(|v| v.is_finite()));
    }
}
