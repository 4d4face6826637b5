//! Synthetic inputs (Jaderberg et al. 2016, "Decoupled Neural Interfaces using Synthetic
//! Gradients", §3.4): a learned model `I(x)` that predicts what the stage below will hand a
//! stage, from the network's input `x` alone, so the stage can run its forward pass (and
//! learn) before the stage below has delivered: *forward unlocking*.

use locus_core::init::Init;
use locus_core::{
    as_matrix, check_finite, load_optimizer, save_optimizer, seeded_rng, Activation, AdamConfig,
    Error, Float, LinearConfig, Module, Optimizer, OptimizerConfig, Result, Sequential, StateDict,
    Tensor,
};
use serde::{Deserialize, Serialize};

/// The shape of an input model `I`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum InputModel {
    /// One affine layer `x → input` (default).
    #[default]
    Linear,
    /// `x → hidden → input` with a ReLU between.
    Mlp {
        /// Hidden width (>= 1).
        hidden: usize,
    },
}

/// Configuration of the [`SyntheticInput`] models of a stack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SyntheticInputConfig {
    /// The model (default [`InputModel::Linear`]).
    pub model: InputModel,
    /// Its optimizer (default Adam, learning rate 1e-3).
    pub optimizer: OptimizerConfig,
    /// Seed of the models' initial weights; each stage derives its own.
    pub seed: u64,
}

impl SyntheticInputConfig {
    /// Linear models trained by Adam at 1e-3.
    pub fn new(seed: u64) -> Self {
        SyntheticInputConfig {
            model: InputModel::Linear,
            optimizer: OptimizerConfig::Adam(AdamConfig::new(1e-3)),
            seed,
        }
    }

    /// Sets the model.
    pub fn with_model(mut self, model: InputModel) -> Self {
        self.model = model;
        self
    }

    /// Sets the optimizer.
    pub fn with_optimizer(mut self, optimizer: OptimizerConfig) -> Self {
        self.optimizer = optimizer;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a zero hidden width or a bad optimizer setting.
    pub fn check(&self) -> Result<()> {
        if self.model == (InputModel::Mlp { hidden: 0 }) {
            return Err(Error::invalid(
                "hidden width of the synthetic input model",
                "should be >= 1",
                0,
            ));
        }
        self.optimizer.build::<f32>().map(|_| ())
    }
}

/// A learned predictor `ĥ = I(x)` of one stage's input `h` from the network input `x`
/// (Jaderberg et al. 2016, §3.4 and fig. 8), trained by regression onto the true input
/// when it arrives: one optimizer step on `‖I(x) − h‖² / (2·batch)`.
///
/// The model is built on the first call, when the widths of `x` and `h` are known; its
/// last layer starts at zero, so it first predicts an all-zero input.
pub struct SyntheticInput<F: Float> {
    config: SyntheticInputConfig,
    optimizer: Box<dyn Optimizer<F>>,
    /// `I`, once built on the first true input.
    model: Option<BuiltModel<F>>,
    last_loss: Option<f64>,
}

/// The input model `I` with the input width and the per-sample target shape it was built for.
struct BuiltModel<F: Float> {
    module: Box<dyn Module<F>>,
    input_width: usize,
    target_shape: Vec<usize>,
}

impl<F: Float> std::fmt::Debug for SyntheticInput<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticInput")
            .field("config", &self.config)
            .field("model", &self.model.as_ref().map(|m| m.module.name()))
            .finish()
    }
}

impl<F: Float> SyntheticInput<F> {
    /// An input model with the given configuration (and seed).
    ///
    /// # Errors
    /// As [`SyntheticInputConfig::check`].
    pub fn new(config: SyntheticInputConfig) -> Result<Self> {
        config.check()?;
        Ok(SyntheticInput {
            config,
            optimizer: config.optimizer.build()?,
            model: None,
            last_loss: None,
        })
    }

    /// The regression loss of the last [`SyntheticInput::learn`] call.
    pub fn last_loss(&self) -> Option<f64> {
        self.last_loss
    }

    /// The prediction `I(x)` for a batch of network inputs, shaped like the stage input
    /// it stands for: `[batch, target...]`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] before the first [`SyntheticInput::learn`] (the target
    /// shape is not known yet); [`Error::Shape`] for a batch of another width than the
    /// model was built for; [`Error::NonFinite`] for NaN inputs.
    pub fn predict(&self, x: &Tensor<F>) -> Result<Tensor<F>> {
        let Some(BuiltModel {
            module: model,
            input_width: width,
            target_shape: target,
        }) = &self.model
        else {
            return Err(Error::invalid(
                "synthetic input model",
                "should learn from one true input before it predicts (its output shape \
                 is not known yet)",
                "an untrained model",
            ));
        };
        let flat = flatten(x, Some(*width))?;
        let y = model.infer(&flat)?;
        let mut shape = vec![flat.shape()[0]];
        shape.extend_from_slice(target);
        y.into_shape_with_order(shape)
            .map_err(|_| Error::shape("synthetic input: prediction", "[batch, target]", &[]))
    }

    /// One regression step of `I(x)` towards the true stage input `h`; returns the loss
    /// before the step.
    ///
    /// # Errors
    /// [`Error::Shape`] when `x` and `h` differ in batch size, or their per-sample shapes
    /// differ from the ones the model was built for; [`Error::NonFinite`] for NaN.
    pub fn learn(&mut self, x: &Tensor<F>, h: &Tensor<F>) -> Result<f64> {
        let batch = x.shape().first().copied().unwrap_or(0);
        if h.shape().first().copied() != Some(batch) || batch == 0 {
            return Err(Error::shape(
                "synthetic input: true stage input",
                format!("[{batch} (the batch of the network input), ...]"),
                h.shape(),
            ));
        }
        check_finite(h, "synthetic input: true stage input")?;
        let target_shape = h.shape()[1..].to_vec();
        if let Some(BuiltModel {
            target_shape: built,
            ..
        }) = &self.model
        {
            if *built != target_shape {
                return Err(Error::shape(
                    "synthetic input: the model was built for stage inputs",
                    format!("[batch, {built:?}]"),
                    h.shape(),
                ));
            }
        } else {
            self.build(x.len() / batch, target_shape)?;
        }
        let BuiltModel {
            module: model,
            input_width: width,
            ..
        } = self.model.as_mut().expect("built above");
        let flat = flatten(x, Some(*width))?;
        let (prediction, cache) = model.forward(&flat)?;
        let target = h
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(prediction.raw_dim())
            .map_err(|_| Error::shape("synthetic input: target", "[batch, width]", h.shape()))?;
        let residual = &prediction - &target;
        let n = F::cast(batch as f64);
        let loss = residual.iter().fold(F::zero(), |s, &r| s + r * r) / (n + n);
        let grads = model.backward(&cache, &(residual / n), false)?;
        self.optimizer.step(model.params_mut(), &grads.params)?;
        self.last_loss = Some(loss.as_f64());
        Ok(loss.as_f64())
    }

    /// Builds `I` for network inputs of `width` values per sample and stage inputs of
    /// `target_shape` per sample.
    fn build(&mut self, width: usize, target_shape: Vec<usize>) -> Result<()> {
        let target_width: usize = target_shape.iter().product();
        let mut rng = seeded_rng(self.config.seed);
        let last = |inputs| {
            LinearConfig::new(inputs, target_width)
                .with_init(Init::Zeros)
                .with_bias_init(Init::Zeros)
        };
        let model: Box<dyn Module<F>> = match self.config.model {
            InputModel::Linear => Box::new(last(width).init::<F>(&mut rng)?),
            InputModel::Mlp { hidden } => Box::new(
                Sequential::new()
                    .push(LinearConfig::new(width, hidden).init::<F>(&mut rng)?)
                    .push(Activation::Relu)
                    .push(last(hidden).init::<F>(&mut rng)?),
            ),
        };
        self.model = Some(BuiltModel {
            module: model,
            input_width: width,
            target_shape,
        });
        Ok(())
    }

    /// Writes `I`, once built, under `prefix`: its input width and the per-sample target
    /// shape (`shape`: width first), the model under `model.`, the loss of its last step
    /// (`last`); and its optimizer under `optimizer.`.
    pub fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        if let Some(built) = &self.model {
            let shape = std::iter::once(built.input_width)
                .chain(built.target_shape.iter().copied())
                .map(|n| n as u64)
                .collect();
            state.put_counters(format!("{prefix}shape"), shape);
            built.module.save_state(&format!("{prefix}model."), state);
        }
        // Whether the model has learned yet decides whether the scheduler uses its
        // predictions, so its last loss is state.
        if let Some(loss) = self.last_loss {
            state.put_floats(format!("{prefix}last"), &[loss]);
        }
        save_optimizer(
            self.optimizer.as_ref(),
            &format!("{prefix}optimizer."),
            state,
        );
    }

    /// Reads what [`SyntheticInput::save_state`] wrote under `prefix`.
    ///
    /// # Errors
    /// A missing, mis-shaped or non-finite entry, named.
    pub fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        let name = format!("{prefix}shape");
        self.model = None;
        if let Some(sizes) = state.take_sizes_if_present(&name, None)? {
            let (&width, target) = sizes.split_first().expect("at least one size");
            self.build(width, target.to_vec())?;
            let built = self.model.as_mut().expect("built above");
            built.module.load_state(&format!("{prefix}model."), state)?;
        }
        self.last_loss = state
            .take_floats_if_present(&format!("{prefix}last"), 1)?
            .map(|v| v[0]);
        load_optimizer(
            self.optimizer.as_mut(),
            &format!("{prefix}optimizer."),
            state,
        )
    }
}

/// `[batch, ...]` as `[batch, width]`, checking the width and finiteness.
fn flatten<F: Float>(x: &Tensor<F>, width: Option<usize>) -> Result<Tensor<F>> {
    let batch = x.shape().first().copied().unwrap_or(0);
    if batch == 0 || x.is_empty() {
        return Err(Error::shape(
            "synthetic input: network input",
            "[batch >= 1, ...] with no empty axis",
            x.shape(),
        ));
    }
    check_finite(x, "synthetic input: network input")?;
    let flat = x
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(vec![batch, x.len() / batch])
        .map_err(|_| Error::shape("synthetic input: network input", "[batch, ...]", x.shape()))?;
    as_matrix(&flat, width, "synthetic input: network input (per sample)")?;
    Ok(flat)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn learns_a_linear_map_of_the_input() {
        let mut rng = seeded_rng(0);
        let a = locus_core::init::Init::XavierUniform
            .sample::<f64>(&[3, 5], 5, 3, &mut rng)
            .unwrap();
        let a = a.into_dimensionality::<ndarray::Ix2>().unwrap();
        let mut model = SyntheticInput::<f64>::new(
            SyntheticInputConfig::new(1)
                .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-2))),
        )
        .unwrap();
        let mut losses = Vec::new();
        for step in 0..400 {
            let x = Array2::from_shape_fn((16, 5), |(i, j)| {
                ((i * 7 + j * 3 + step) % 11) as f64 / 11.0 - 0.5
            });
            let h = x.dot(&a.t()).into_shape_with_order((16, 3, 1)).unwrap();
            losses.push(model.learn(&x.into_dyn(), &h.into_dyn()).unwrap());
        }
        assert!(losses[0] > 0.0);
        assert!(
            losses[399] < 1e-3 * losses[0],
            "loss {} -> {}",
            losses[0],
            losses[399]
        );
        let x = Array2::from_elem((2, 5), 0.25).into_dyn();
        let y = model.predict(&x).unwrap();
        assert_eq!(y.shape(), &[2, 3, 1]);
    }

    #[test]
    fn bad_inputs_are_named() {
        let mut model = SyntheticInput::<f64>::new(SyntheticInputConfig::new(1)).unwrap();
        let x = Array2::<f64>::zeros((4, 5)).into_dyn();
        let err = model.predict(&x).unwrap_err();
        assert!(err.to_string().contains("before it predicts"), "{err}");
        let err = model
            .learn(&x, &Array2::zeros((3, 2)).into_dyn())
            .unwrap_err();
        assert!(err.to_string().contains("true stage input"), "{err}");
        model.learn(&x, &Array2::zeros((4, 2)).into_dyn()).unwrap();
        let err = model
            .learn(&x, &Array2::zeros((4, 3)).into_dyn())
            .unwrap_err();
        assert!(err.to_string().contains("built for"), "{err}");
        let err = model
            .predict(&Array2::zeros((4, 6)).into_dyn())
            .unwrap_err();
        assert!(err.to_string().contains("network input"), "{err}");
        let mut nan = x.clone();
        nan[[0, 0]] = f64::NAN;
        assert!(model
            .learn(&nan, &Array2::zeros((4, 2)).into_dyn())
            .is_err());
        let bad = SyntheticInputConfig::new(0).with_model(InputModel::Mlp { hidden: 0 });
        assert!(SyntheticInput::<f64>::new(bad).is_err());
    }
}
