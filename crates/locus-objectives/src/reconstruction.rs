use locus_core::init::Init;
use locus_core::{
    as_matrix, check_finite, load_optimizer, matmul, save_optimizer, seeded_rng, AdamConfig, Error,
    Float, Linear, LinearConfig, Module, Optimizer, OptimizerConfig, ParamMut, Result, StateDict,
    StateValue, Tensor,
};
use ndarray::{Array2, Axis, Ix2};
use serde::{Deserialize, Serialize};

use crate::ridge::RidgeStats;
use crate::{LocalObjective, LocalSignal, Mode, ReconstructionLoss, StageContext};

/// The decoder through which a [`Reconstruction`] objective maps the stage output `h`
/// back to its input `x`: the reconstruction is `x̂ = act(h V + c)`, with `act` set by the
/// [`ReconstructionLoss`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum Decoder {
    /// Its own `V` (`[width, features]`, drawn like PyTorch's `nn.Linear`) and `c`,
    /// trained by the objective's optimizer on each [`Mode::Learn`] batch: the
    /// autoassociator of Bengio et al. (2007, §2) with untied weights.
    #[default]
    Linear,
    /// Tied weights, `V = Wᵀ` (Vincent et al. 2010, §2.3): `W` is the stage module's
    /// weight, seen through [`LocalObjective::attach_module`]; only `c` is the
    /// objective's. The loss depends on `W` twice, through `h` (the stage output, whose
    /// gradient is the signal) and through the decoder; the decoder-side gradient `δzᵀh` is
    /// handed to the stage by [`LocalObjective::take_module_gradients`] and added to the
    /// module's own, so the stage follows the exact gradient of the tied autoencoder.
    Tied,
    /// A closed-form ridge regression of `x` on `h` (the "approximated regression" of
    /// SARM, arXiv 1608.04062, withdrawn): `(V, c)` minimise
    /// `(1/n) Σ ½‖x − hV − c‖² + (λ/2)‖V‖²` over the codes of the last `refit_every`
    /// [`Mode::Learn`] batches, refit when that many have been seen (1: per batch; the
    /// number of batches in an epoch: per epoch). Before the first fit (on the first
    /// batch) the decoder is zero. Only [`ReconstructionLoss::Mse`] is a regression.
    Ridge {
        /// The penalty λ > 0 on `V`.
        lambda: f64,
        /// Learn batches between two solves (>= 1).
        refit_every: usize,
    },
}

/// Configuration of a [`Reconstruction`] objective, checked by
/// [`ReconstructionConfig::build`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReconstructionConfig {
    /// The decoder (default [`Decoder::Linear`]).
    pub decoder: Decoder,
    /// The reconstruction loss (default [`ReconstructionLoss::Mse`]).
    pub loss: ReconstructionLoss,
    /// Optimizer of the decoder's own parameters (`V` and `c`, or `c` alone when tied;
    /// unused by the ridge decoder). Default Adam at 1e-3.
    pub optimizer: OptimizerConfig,
    /// Seed of the decoder's initial `V`.
    pub seed: u64,
}

impl ReconstructionConfig {
    /// A reconstruction objective with the given decoder, squared error, and an Adam
    /// (1e-3) decoder optimizer.
    pub fn new(decoder: Decoder) -> Self {
        ReconstructionConfig {
            decoder,
            loss: ReconstructionLoss::Mse,
            optimizer: OptimizerConfig::Adam(AdamConfig::new(1e-3)),
            seed: 0,
        }
    }

    /// Sets the loss.
    pub fn with_loss(mut self, loss: ReconstructionLoss) -> Self {
        self.loss = loss;
        self
    }

    /// Sets the decoder's optimizer.
    pub fn with_optimizer(mut self, optimizer: OptimizerConfig) -> Self {
        self.optimizer = optimizer;
        self
    }

    /// Sets the seed of the decoder's weights.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the bad value: a ridge λ that is not finite
    /// and positive, a zero refit interval, a ridge decoder with a loss other than
    /// squared error, a bad optimizer setting.
    pub fn check(&self) -> Result<()> {
        if let Decoder::Ridge {
            lambda,
            refit_every,
        } = self.decoder
        {
            if !(lambda.is_finite() && lambda > 0.0) {
                return Err(Error::invalid(
                    "ridge decoder penalty λ",
                    "should be finite and > 0",
                    lambda,
                ));
            }
            if refit_every == 0 {
                return Err(Error::invalid(
                    "ridge decoder refit interval (batches)",
                    "should be >= 1",
                    0,
                ));
            }
            if self.loss != ReconstructionLoss::Mse {
                return Err(Error::invalid(
                    "loss of a ridge decoder",
                    "should be mse (a ridge regression fits squared error)",
                    self.loss.name(),
                ));
            }
        }
        match self.optimizer {
            OptimizerConfig::Sgd(c) => c.check(),
            OptimizerConfig::Adam(c) => c.check(),
        }
    }

    /// Checks the configuration and builds the objective. The decoder is built on the
    /// first call, when the widths are known.
    ///
    /// # Errors
    /// As [`ReconstructionConfig::check`].
    pub fn build<F: Float>(&self) -> Result<Reconstruction<F>> {
        self.check()?;
        Ok(Reconstruction {
            config: *self,
            optimizer: self.optimizer.build()?,
            state: DecoderState::Unbuilt,
            tied: None,
            pending: None,
            last_loss: None,
        })
    }
}

/// The encoder weight a tied decoder reads: which parameter of the module it is and a
/// copy of its value at the last [`LocalObjective::attach_module`].
#[derive(Debug, Clone)]
struct TiedWeight<F> {
    index: usize,
    /// Shapes of all the module's parameters, in order.
    shapes: Vec<Vec<usize>>,
    name: String,
    weight: Array2<F>,
}

#[derive(Debug, Clone)]
enum DecoderState<F> {
    Unbuilt,
    Linear(Linear<F>),
    /// The tied decoder's own bias `c` (`[features]`).
    TiedBias(Tensor<F>),
    Ridge {
        stats: RidgeStats,
        fitted: Option<Linear<F>>,
    },
}

/// Learning by reconstruction: a stage learns to keep what is needed to regress its own
/// input `x` from its output `h` through a [`Decoder`] (autoassociators, Bengio et al.
/// 2007, §2; denoising autoencoders, Vincent et al. 2008/2010; the regression layers of
/// SARM, arXiv 1608.04062, withdrawn).
///
/// The loss is `L = ℓ(x̂, x)` with `x̂ = act(h V + c)` ([`ReconstructionLoss`]); the signal
/// is its exact gradient with respect to the stage output, `∂L/∂h = (∂L/∂z) Vᵀ`
/// (`z = hV + c`), for the decoder as it was before this call's update. In
/// [`Mode::Learn`] the decoder then learns: one optimizer step ([`Decoder::Linear`], the
/// bias of [`Decoder::Tied`]) or a ridge refit ([`Decoder::Ridge`]). Inputs of any rank
/// are flattened per sample, so a first stage that flattens images reconstructs the
/// image.
///
/// Denoising is the scheduler's part: see [`Corruption`](crate::Corruption).
///
/// [`LocalObjective::metrics`] reports `reconstruction_loss`, the last Learn loss.
///
/// # Shapes
/// input `[batch, ...]` (flattened to `[batch, features]`), output `[batch, width]`.
///
/// # Errors
/// [`Error::Shape`] when input and output differ in batch size or the widths change
/// after the decoder was built; [`Error::NonFinite`] for NaN in the input or output;
/// [`Error::InvalidParameter`] for targets outside `[0, 1]` under binary cross-entropy,
/// and for a tied decoder that was never attached to a module with one 2-D weight
/// `[features, width]`.
pub struct Reconstruction<F: Float> {
    config: ReconstructionConfig,
    optimizer: Box<dyn Optimizer<F>>,
    state: DecoderState<F>,
    tied: Option<TiedWeight<F>>,
    pending: Option<Vec<Tensor<F>>>,
    last_loss: Option<f64>,
}

impl<F: Float> std::fmt::Debug for Reconstruction<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconstruction")
            .field("config", &self.config)
            .field("last_loss", &self.last_loss)
            .finish()
    }
}

impl<F: Float> Reconstruction<F> {
    /// The configuration it was built from.
    pub fn config(&self) -> &ReconstructionConfig {
        &self.config
    }

    /// The current decoder `(V, c)` (`[width, features]`, `[features]`), once built (for
    /// a tied decoder, once attached); `None` before the first call or a ridge decoder
    /// before its first fit.
    pub fn decoder(&self) -> Option<(Array2<F>, ndarray::Array1<F>)> {
        let from_linear = |l: &Linear<F>| {
            let bias = l
                .bias()
                .map(|b| b.to_owned())
                .unwrap_or_else(|| ndarray::Array1::zeros(l.outputs()));
            (l.weight().to_owned(), bias)
        };
        match &self.state {
            DecoderState::Unbuilt => None,
            DecoderState::Linear(l) => Some(from_linear(l)),
            DecoderState::Ridge { fitted, .. } => fitted.as_ref().map(from_linear),
            DecoderState::TiedBias(c) => self.tied.as_ref().map(|t| {
                (
                    t.weight.t().to_owned(),
                    c.clone()
                        .into_dimensionality()
                        .expect("1-D by construction"),
                )
            }),
        }
    }

    /// The reconstruction `x̂` of a batch of stage outputs `h` (`[batch, width]`), as a
    /// `[batch, features]` matrix.
    ///
    /// # Errors
    /// When the decoder is not built yet (no signal has been computed), and as
    /// [`LocalObjective::signal`] for bad shapes.
    pub fn reconstruct(&self, output: &Tensor<F>) -> Result<Array2<F>> {
        let h = flatten(output, "reconstruction: stage output")?;
        let (v, c) = self.decoder().ok_or_else(|| {
            Error::invalid(
                "reconstruction decoder",
                "is built by the first signal; compute one before reconstructing",
                "none yet",
            )
        })?;
        if h.ncols() != v.nrows() {
            return Err(Error::shape(
                "reconstruction: stage output",
                format!("[batch, {}] (the decoder's width)", v.nrows()),
                output.shape(),
            ));
        }
        Ok(self
            .config
            .loss
            .reconstruct((matmul(&h.view(), &v.view()) + &c).view()))
    }

    fn build_state(&mut self, width: usize, features: usize) -> Result<()> {
        let built_for = match &self.state {
            DecoderState::Unbuilt => None,
            DecoderState::Linear(l) => Some((l.inputs(), l.outputs())),
            DecoderState::TiedBias(c) => Some((width, c.len())),
            DecoderState::Ridge { stats, .. } => Some(stats.dims()),
        };
        match built_for {
            Some(dims) if dims != (width, features) => Err(Error::shape(
                "reconstruction: the decoder was built for (width, features)",
                format!("{dims:?}"),
                &[width, features],
            )),
            Some(_) => Ok(()),
            None => {
                self.state = match self.config.decoder {
                    Decoder::Linear => DecoderState::Linear(
                        LinearConfig::new(width, features)
                            .with_bias_init(Init::Zeros)
                            .init(&mut seeded_rng(self.config.seed))?,
                    ),
                    Decoder::Tied => DecoderState::TiedBias(Tensor::zeros(vec![features])),
                    Decoder::Ridge { .. } => DecoderState::Ridge {
                        stats: RidgeStats::new(width, features),
                        fitted: None,
                    },
                };
                Ok(())
            }
        }
    }

    /// The tied encoder weight, checked against the widths.
    fn tied_weight(
        tied: Option<&TiedWeight<F>>,
        width: usize,
        features: usize,
    ) -> Result<&TiedWeight<F>> {
        let tied = tied.ok_or_else(|| {
            Error::invalid(
                "tied reconstruction decoder",
                "needs the stage's module: attach_module must be called before signal \
                 (Stage::learn does)",
                "no module attached",
            )
        })?;
        if tied.weight.dim() != (features, width) {
            return Err(Error::shape(
                format!(
                    "tied reconstruction decoder: module weight '{}' should be [features, width]",
                    tied.name
                ),
                format!("[{features}, {width}]"),
                tied.weight.shape(),
            ));
        }
        Ok(tied)
    }
}

/// `[batch, ...]` as a `[batch, features]` matrix (a copy when the tensor is not
/// contiguous).
fn flatten<F: Float>(t: &Tensor<F>, context: &str) -> Result<Array2<F>> {
    let shape = t.shape();
    if shape.len() < 2 || shape[0] == 0 {
        return Err(Error::shape(context, "[batch >= 1, features...]", shape));
    }
    let features: usize = shape[1..].iter().product();
    t.as_standard_layout()
        .into_owned()
        .into_shape_with_order((shape[0], features))
        .map_err(|_| Error::shape(context, "[batch, features...]", shape))
}

impl<F: Float> LocalObjective<F> for Reconstruction<F> {
    fn name(&self) -> String {
        let decoder = match self.config.decoder {
            Decoder::Linear => "linear".to_string(),
            Decoder::Tied => "tied".to_string(),
            Decoder::Ridge {
                lambda,
                refit_every,
            } => format!("ridge λ={lambda}, refit every {refit_every}"),
        };
        format!("reconstruction({}, {decoder})", self.config.loss.name())
    }

    fn signal(&mut self, ctx: &StageContext<'_, F>, mode: Mode) -> Result<LocalSignal<F>> {
        check_finite(ctx.input, "reconstruction: stage input")?;
        check_finite(ctx.output, "reconstruction: stage output")?;
        let x = flatten(ctx.input, "reconstruction: stage input")?;
        let h = flatten(ctx.output, "reconstruction: stage output")?;
        if x.nrows() != h.nrows() {
            return Err(Error::shape(
                "reconstruction: stage output",
                format!("[{}, width] (the input's batch)", x.nrows()),
                ctx.output.shape(),
            ));
        }
        let (width, features) = (h.ncols(), x.ncols());
        self.build_state(width, features)?;
        let loss_kind = self.config.loss;
        let learn = mode == Mode::Learn;
        let (loss, grad_h) = match &mut self.state {
            DecoderState::Unbuilt => unreachable!("built above"),
            DecoderState::Linear(decoder) => {
                let (z, cache) = decoder.forward(&h.into_dyn())?;
                let z = as_matrix(&z, Some(features), "reconstruction decoder output")?;
                let (loss, dz) = loss_kind.evaluate(z, x.view())?;
                let grads = decoder.backward(&cache, &dz.into_dyn(), true)?;
                if learn {
                    self.optimizer.step(decoder.params_mut(), &grads.params)?;
                }
                (loss, grads.input.expect("asked for"))
            }
            DecoderState::TiedBias(bias) => {
                let tied = Self::tied_weight(self.tied.as_ref(), width, features)?;
                let c = bias
                    .view()
                    .into_dimensionality::<ndarray::Ix1>()
                    .expect("1-D");
                let z = matmul(&h.view(), &tied.weight.t()) + c;
                let (loss, dz) = loss_kind.evaluate(z.view(), x.view())?;
                let grad_h = matmul(&dz.view(), &tied.weight.view()).into_dyn();
                if learn {
                    let grad_c = dz.sum_axis(Axis(0)).into_dyn();
                    let params = vec![ParamMut {
                        name: "decoder.bias".into(),
                        value: bias,
                    }];
                    self.optimizer.step(params, &[grad_c])?;
                    // The decoder side of ∂L/∂W: z = h Wᵀ + c gives δzᵀ h, `[features, width]`.
                    let extra = tied
                        .shapes
                        .iter()
                        .enumerate()
                        .map(|(i, shape)| {
                            if i == tied.index {
                                matmul(&dz.t(), &h.view()).into_dyn()
                            } else {
                                Tensor::zeros(shape.clone())
                            }
                        })
                        .collect();
                    self.pending = Some(extra);
                }
                (loss, grad_h)
            }
            DecoderState::Ridge { stats, fitted } => {
                if learn {
                    stats.add(h.view(), x.view());
                    let Decoder::Ridge {
                        lambda,
                        refit_every,
                    } = self.config.decoder
                    else {
                        unreachable!("ridge state comes from a ridge decoder")
                    };
                    if fitted.is_none() || stats.batches() >= refit_every {
                        let (v, c) = stats.solve::<F>(lambda)?;
                        *fitted = Some(Linear::from_weights(v, Some(c))?);
                        *stats = RidgeStats::new(width, features);
                    }
                }
                match fitted {
                    Some(decoder) => {
                        let (z, cache) = decoder.forward(&h.into_dyn())?;
                        let z = as_matrix(&z, Some(features), "reconstruction decoder output")?;
                        let (loss, dz) = loss_kind.evaluate(z, x.view())?;
                        let grads = decoder.backward(&cache, &dz.into_dyn(), true)?;
                        (loss, grads.input.expect("asked for"))
                    }
                    None => {
                        let z = Array2::zeros((x.nrows(), features));
                        let (loss, _) = loss_kind.evaluate(z.view(), x.view())?;
                        (loss, Tensor::zeros(vec![x.nrows(), width]))
                    }
                }
            }
        };
        if learn {
            self.last_loss = Some(loss.as_f64());
        }
        let grad_output = grad_h
            .into_shape_with_order(ctx.output.shape())
            .map_err(|_| Error::shape("reconstruction: signal", "the output's shape", &[]))?;
        Ok(LocalSignal { loss, grad_output })
    }

    fn metrics(&self) -> Vec<(String, f64)> {
        self.last_loss
            .map(|l| vec![("reconstruction_loss".to_string(), l)])
            .unwrap_or_default()
    }

    fn attach_module(&mut self, module: &dyn Module<F>) -> Result<()> {
        if self.config.decoder != Decoder::Tied {
            return Ok(());
        }
        let params = module.params();
        let matrices: Vec<usize> = params
            .iter()
            .enumerate()
            .filter(|(_, p)| p.value.ndim() == 2)
            .map(|(i, _)| i)
            .collect();
        let [index] = matrices[..] else {
            let names: Vec<&str> = matrices.iter().map(|&i| params[i].name.as_str()).collect();
            return Err(Error::invalid(
                &format!(
                    "module '{}' for a tied reconstruction decoder",
                    module.name()
                ),
                "should have exactly one 2-D weight [features, width] to tie the decoder to",
                format!("{} of them {names:?}", names.len()),
            ));
        };
        let weight = params[index]
            .value
            .view()
            .into_dimensionality::<Ix2>()
            .expect("filtered on 2-D")
            .to_owned();
        self.tied = Some(TiedWeight {
            index,
            shapes: params.iter().map(|p| p.value.shape().to_vec()).collect(),
            name: params[index].name.clone(),
            weight,
        });
        Ok(())
    }

    fn take_module_gradients(&mut self) -> Option<Vec<Tensor<F>>> {
        self.pending.take()
    }

    /// Once the decoder is built: its widths (`dims`: stage width, input features), a
    /// linear decoder under `decoder.`, a tied decoder's own bias as `decoder.bias`, a
    /// ridge decoder's running statistics as `ridge_stats` (exact bits) and its fitted
    /// decoder under `decoder.`; and the optimizer under `optimizer.`.
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        if let Some(v) = self.last_loss {
            let v: Vec<f64> = vec![v];
            state.put_floats(format!("{prefix}last"), &v);
        }
        let dims = match &self.state {
            DecoderState::Unbuilt => None,
            DecoderState::Linear(l) => {
                l.save_state(&format!("{prefix}decoder."), state);
                Some((l.inputs(), l.outputs()))
            }
            DecoderState::TiedBias(c) => {
                state.put_tensor(format!("{prefix}decoder.bias"), c.clone());
                self.tied
                    .as_ref()
                    .map(|t| (t.weight.ncols(), c.len()))
                    .or(Some((0, c.len())))
            }
            DecoderState::Ridge { stats, fitted } => {
                state.put_counters(format!("{prefix}ridge_stats"), stats.to_counters());
                if let Some(f) = fitted {
                    f.save_state(&format!("{prefix}decoder."), state);
                }
                Some(stats.dims())
            }
        };
        if let Some((width, features)) = dims {
            state.put_counters(format!("{prefix}dims"), vec![width as u64, features as u64]);
        }
        save_optimizer(
            self.optimizer.as_ref(),
            &format!("{prefix}optimizer."),
            state,
        );
    }

    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        if let Some(v) = state.take_floats_if_present(&format!("{prefix}last"), 1)? {
            self.last_loss = Some(v[0]);
        }
        let dims_name = format!("{prefix}dims");
        if state.contains(&dims_name) {
            let dims = state.take_counters(&dims_name, 2)?;
            let size = |v: u64| usize::try_from(v).ok().filter(|&n| n <= 1 << 32);
            let (Some(width), Some(features)) = (size(dims[0]), size(dims[1])) else {
                return Err(Error::invalid(
                    &format!("state entry '{dims_name}'"),
                    "should hold two widths",
                    format!("{dims:?}"),
                ));
            };
            self.state = DecoderState::Unbuilt;
            self.build_state(width, features)?;
            match &mut self.state {
                DecoderState::Unbuilt => unreachable!("built above"),
                DecoderState::Linear(l) => l.load_state(&format!("{prefix}decoder."), state)?,
                DecoderState::TiedBias(c) => {
                    *c = state.take_tensor(&format!("{prefix}decoder.bias"), Some(&[features]))?;
                }
                DecoderState::Ridge { stats, fitted } => {
                    let name = format!("{prefix}ridge_stats");
                    let n = match state.get(&name) {
                        Some(StateValue::Counters(c)) => c.len(),
                        _ => 0,
                    };
                    let counters = state.take_counters(&name, n)?;
                    *stats = RidgeStats::from_counters(width, features, &counters).ok_or_else(|| {
                        Error::invalid(
                            &format!("state entry '{name}'"),
                            &format!("should hold finite ridge statistics for widths {width} and {features}"),
                            format!("{n} counters"),
                        )
                    })?;
                    let decoder = format!("{prefix}decoder.");
                    if state.has_prefix(&decoder) {
                        let mut f = LinearConfig::new(width, features).init(&mut seeded_rng(0))?;
                        f.load_state(&decoder, state)?;
                        *fitted = Some(f);
                    }
                }
            }
        }
        load_optimizer(
            self.optimizer.as_mut(),
            &format!("{prefix}optimizer."),
            state,
        )
    }
}
