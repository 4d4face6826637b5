use locus_core::init::Init;
use locus_core::{
    check_finite, load_optimizer, save_optimizer, seeded_rng, Activation, AdamConfig, Error, Float,
    LayerNormConfig, LinearConfig, Module, Optimizer, OptimizerConfig, Result, Sequential,
    StateDict, Tensor,
};
use ndarray::{concatenate, Array2, Axis};
use serde::{Deserialize, Serialize};

use crate::{LocalObjective, LocalSignal, Mode, StageContext};

/// The gradient model `M` of a [`SyntheticGradient`] objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SgModel {
    /// One affine layer `input → width` (the paper's feed-forward experiments), all zeros at
    /// first.
    #[default]
    Linear,
    /// `input → hidden → width` with a ReLU between, the first layer drawn like PyTorch's
    /// and the last all zeros.
    Mlp {
        /// Hidden width (>= 1).
        hidden: usize,
    },
    /// `layers` hidden layers of `hidden` units, each affine → LayerNorm (learned scale
    /// and shift) → ReLU, then an affine layer to `width` that starts at zero. The DNI
    /// paper's model for its MNIST networks without labels has two hidden layers of 1024
    /// units with batch normalisation (Jaderberg et al. 2016, supplementary); LayerNorm
    /// stands in for batch normalisation, which needs no running statistics.
    NormalizedMlp {
        /// Hidden width (>= 1).
        hidden: usize,
        /// Number of hidden layers (>= 1).
        layers: usize,
    },
}

/// What the gradient model `M` of a hidden stage regresses onto (Jaderberg et al. 2016,
/// Sec. 2: "the true gradient, or the bootstrapped one").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SgTarget {
    /// The message from the stage above is the gradient of *its* signal backpropagated
    /// through it: for a synthetic-gradient stage above, its own prediction, so every
    /// model below the top learns from the model above it. Nothing waits for the top.
    #[default]
    Bootstrapped,
    /// The stage passes down the gradient of the message it received, not of its signal
    /// ([`LocalObjective::passes_message_down`]), so the message every stage gets is the
    /// gradient backpropagation would give it from the top stage's loss. The stages still
    /// update at once from `M`'s prediction; only `M`'s regression waits for the top.
    TrueGradient,
}

/// Configuration of a [`SyntheticGradient`] objective, checked by
/// [`SyntheticGradientConfig::build`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SyntheticGradientConfig {
    /// The gradient model (default [`SgModel::Linear`]).
    pub model: SgModel,
    /// cDNI: `M` also sees the one-hot label, `M(h, one_hot(y))` (default false).
    pub conditional: bool,
    /// Number of classes of the one-hot labels; used only when `conditional`.
    pub classes: usize,
    /// The optimizer of `M` (default Adam with learning rate 1e-3, see
    /// [`SyntheticGradientConfig::new`]).
    pub optimizer: OptimizerConfig,
    /// BP(λ) mixing in `[0, 1]`: the stage learns from `λ·message + (1−λ)·ĝ` when a message
    /// is present (default 0: purely synthetic).
    pub lambda: f64,
    /// Seed of `M`'s random initial weights (only [`SgModel::Mlp`] has any).
    pub seed: u64,
    /// Warm-up: for the stage's first `warmup_steps` updates (its step count below this)
    /// `M` learns as usual and the signal is computed as usual (so the stage below still
    /// gets its bootstrapped target), but [`LocalObjective::holds_update`] tells the stage
    /// not to apply it: its weights and its optimizer's state stay as they are. Default 0:
    /// no warm-up.
    #[serde(default)]
    pub warmup_steps: u64,
    /// BP(λ) annealing: when > 0, the mixing falls linearly from [`lambda`](Self::lambda)
    /// at the stage's first update to 0 at its `lambda_anneal_steps`-th and stays 0
    /// after, so the stage starts on (mostly) true gradients and ends purely synthetic.
    /// Default 0: λ constant.
    #[serde(default)]
    pub lambda_anneal_steps: u64,
    /// What `M` regresses onto when this stage has a synthetic-gradient stage below it:
    /// this stage passes down either its signal's gradient (the default,
    /// [`SgTarget::Bootstrapped`]) or its message's ([`SgTarget::TrueGradient`]).
    #[serde(default)]
    pub target: SgTarget,
}

impl SyntheticGradientConfig {
    /// DNI with a linear, zero-initialised `M` trained by Adam (learning rate 1e-3) and
    /// λ = 0.
    ///
    /// Adam because `M`'s targets change scale as the network trains (the error shrinks)
    /// and Adam's step does not depend on that scale, so one learning rate serves every
    /// stage and task. On the product task of `locus-sched`'s `synthetic_gradients` test,
    /// Adam at 1e-3 trained cDNI to 0.85–0.89 test accuracy over three seeds (3e-3 about
    /// the same); plain SGD for `M` (1e-2 to 3e-2) ended 0.05–0.15 lower.
    pub fn new(seed: u64) -> Self {
        SyntheticGradientConfig {
            model: SgModel::Linear,
            conditional: false,
            classes: 0,
            optimizer: OptimizerConfig::Adam(AdamConfig::new(1e-3)),
            lambda: 0.0,
            seed,
            warmup_steps: 0,
            lambda_anneal_steps: 0,
            target: SgTarget::Bootstrapped,
        }
    }

    /// Sets what the gradient models below this stage regress onto.
    pub fn with_target(mut self, target: SgTarget) -> Self {
        self.target = target;
        self
    }

    /// cDNI: `M` sees the stage output and the one-hot label among `classes`.
    pub fn with_labels(mut self, classes: usize) -> Self {
        self.conditional = true;
        self.classes = classes;
        self
    }

    /// Sets the gradient model.
    pub fn with_model(mut self, model: SgModel) -> Self {
        self.model = model;
        self
    }

    /// Sets `M`'s optimizer.
    pub fn with_optimizer(mut self, optimizer: OptimizerConfig) -> Self {
        self.optimizer = optimizer;
        self
    }

    /// Sets the BP(λ) mixing.
    pub fn with_lambda(mut self, lambda: f64) -> Self {
        self.lambda = lambda;
        self
    }

    /// Anneals BP(λ) linearly from λ to 0 over the stage's first `steps` updates (0: keep
    /// λ constant).
    pub fn with_lambda_anneal_steps(mut self, steps: u64) -> Self {
        self.lambda_anneal_steps = steps;
        self
    }

    /// The BP(λ) mixing at the stage's update number `step` (counted from 0).
    pub fn lambda_at(&self, step: u64) -> f64 {
        if self.lambda_anneal_steps == 0 {
            return self.lambda;
        }
        let left = 1.0 - step as f64 / self.lambda_anneal_steps as f64;
        self.lambda * left.max(0.0)
    }

    /// Sets the warm-up: the number of stage updates during which `M` learns but its
    /// prediction is not applied.
    pub fn with_warmup_steps(mut self, steps: u64) -> Self {
        self.warmup_steps = steps;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the bad value: λ outside `[0, 1]`, annealing
    /// with λ = 0 (nothing to anneal), zero classes for a conditional model, a zero
    /// hidden width or number of hidden layers, a bad optimizer setting.
    pub fn check(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.lambda) {
            return Err(Error::invalid(
                "synthetic gradient BP(λ) mixing λ",
                "should be in [0, 1]",
                self.lambda,
            ));
        }
        if self.lambda_anneal_steps > 0 && self.lambda == 0.0 {
            return Err(Error::invalid(
                "synthetic gradient BP(λ) annealing",
                "needs a starting λ > 0 to anneal from",
                "λ = 0",
            ));
        }
        if self.conditional && self.classes == 0 {
            return Err(Error::invalid(
                "number of classes of a conditional synthetic gradient (cDNI)",
                "should be >= 1",
                0,
            ));
        }
        match self.model {
            SgModel::Mlp { hidden: 0 } | SgModel::NormalizedMlp { hidden: 0, .. } => {
                return Err(Error::invalid(
                    "hidden width of the synthetic gradient model",
                    "should be >= 1",
                    0,
                ));
            }
            SgModel::NormalizedMlp { layers: 0, .. } => {
                return Err(Error::invalid(
                    "number of hidden layers of the synthetic gradient model",
                    "should be >= 1",
                    0,
                ));
            }
            _ => {}
        }
        match self.optimizer {
            OptimizerConfig::Sgd(c) => c.check(),
            OptimizerConfig::Adam(c) => c.check(),
        }
    }

    /// Checks the configuration and builds the objective. `M` itself is built on the
    /// first call, when the stage's output width is known.
    ///
    /// # Errors
    /// As [`SyntheticGradientConfig::check`].
    pub fn build<F: Float>(&self) -> Result<SyntheticGradient<F>> {
        self.check()?;
        Ok(SyntheticGradient {
            config: *self,
            optimizer: self.optimizer.build()?,
            model: None,
            last_loss: None,
        })
    }
}

/// Synthetic gradients (Jaderberg et al. 2016, "Decoupled Neural Interfaces using
/// Synthetic Gradients", DNI): the stage learns from `ĝ = M(h)`, a learned prediction of
/// the gradient of the network loss with respect to its output `h` (the approximation
/// `δᵢ ≈ M(hᵢ)`), instead of waiting for the true gradient. With
/// [`SyntheticGradientConfig::with_labels`] it is the paper's cDNI (conditional DNI),
/// `M(h, one_hot(y))`, which predicts far better because the true gradient depends on the
/// label.
///
/// `M` learns by regression: when the gradient message `m` from the stage above arrives,
/// `M` takes one optimizer step on `‖M(h) − batch·m‖² / (2·batch)`, with `h` a constant
/// input (nothing flows from the target into the stage's own weights). `M`'s last layer
/// starts at zero, as in the paper, so the stage first receives no signal at all and
/// starts learning once `M` has.
///
/// **Scale.** Messages are gradients of a batch-*mean* loss, so each row is the
/// per-sample gradient divided by the batch size. `M` predicts the per-sample gradient
/// (its target is `batch·m`), a function of one sample that does not change with the
/// batch size and whose targets stay of order one; the signal is `ĝ / batch`, back on the
/// scale of the true gradient.
///
/// **Targets and bootstrapping.** In `locus_sched::Lockstep`
/// the message is the input gradient of the stage above, computed with that stage's own
/// signal: below the supervised top it is the true gradient; below another synthetic
/// gradient stage it is that stage's synthetic gradient sent back through its module,
/// the paper's bootstrapped target.
///
/// **Warm-up** ([`SyntheticGradientConfig::warmup_steps`]): while the stage's step count
/// is below it, `M` learns from every message and the signal (with which the stage's
/// input gradient, the stage below's target, is computed) is the usual one, but the stage
/// holds its update ([`LocalObjective::holds_update`]). Not part of the paper: it lets `M`
/// fit the gradient of a network that is not moving before the stage follows it.
///
/// **BP(λ)** (from the paper's appendix): with λ > 0 the signal is
/// `λ·m + (1−λ)·ĝ/batch` when a message is present, and `ĝ/batch` otherwise. With
/// [`SyntheticGradientConfig::lambda_anneal_steps`] λ falls linearly to 0 over the stage's
/// first updates (its step count, `StageContext::step`).
///
/// **The message rule.** [`LocalObjective::needs_message`] is true: in [`Mode::Learn`]
/// the message is `M`'s training target, and a missing one is an error (a stage that
/// silently never trained `M` would never learn either, since `M` starts at zero). The
/// prediction itself needs no message: [`Mode::Evaluate`] accepts a context without one
/// and returns `ĝ/batch` with loss 0. That is update unlocking: a scheduler may apply the
/// prediction as soon as the stage's forward pass is done and train `M` later, when the
/// target arrives; `locus_sched::Lockstep` does not exploit
/// this (it runs the stage after the stage above), a pipelined scheduler can.
///
/// Its loss is `M`'s regression loss (0 without a message), not a loss whose gradient is
/// the signal: `ĝ` depends on `h` through `M`, so [`LocalObjective::is_exact_gradient`]
/// is false. [`LocalObjective::metrics`] reports the last [`Mode::Learn`] regression loss
/// as `sg_loss`.
///
/// # Shapes
/// output `[batch, …]`, flattened per sample to `[batch, width]`; message the output's
/// shape; labels `[batch]` (cDNI). `M` maps `[batch, width (+ classes)]` to
/// `[batch, width]`.
///
/// # Errors
/// [`Error::NonFinite`] for a NaN in the output or message; [`Error::Shape`] for a message
/// whose shape is not the output's, a label list whose length is not the batch, or a
/// width other than the one `M` was built for; [`Error::LabelOutOfRange`] for a label
/// `>= classes`; [`Error::InvalidParameter`] for a missing message in [`Mode::Learn`] or
/// missing labels for cDNI.
pub struct SyntheticGradient<F: Float> {
    config: SyntheticGradientConfig,
    optimizer: Box<dyn Optimizer<F>>,
    /// `M`, with the output width it was built for.
    model: Option<(Box<dyn Module<F>>, usize)>,
    last_loss: Option<f64>,
}

impl<F: Float> std::fmt::Debug for SyntheticGradient<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticGradient")
            .field("config", &self.config)
            .field("model", &self.model.as_ref().map(|(m, _)| m.name()))
            .field("optimizer", &self.optimizer.name())
            .finish()
    }
}

impl<F: Float> SyntheticGradient<F> {
    /// The configuration.
    pub fn config(&self) -> &SyntheticGradientConfig {
        &self.config
    }

    /// The gradient model `M`, once it has been built (on the first call).
    pub fn model(&self) -> Option<&dyn Module<F>> {
        self.model.as_ref().map(|(m, _)| m.as_ref())
    }

    /// `M`, built for an output `width` if it is not yet.
    fn model_for(&mut self, width: usize) -> Result<&dyn Module<F>> {
        if let Some((_, built)) = &self.model {
            if *built != width {
                return Err(Error::shape(
                    "synthetic gradient: the gradient model was built for outputs",
                    format!("[batch, {built}] (per sample)"),
                    &[width],
                ));
            }
        } else {
            let inputs = width
                + if self.config.conditional {
                    self.config.classes
                } else {
                    0
                };
            let last = |inputs| {
                LinearConfig::new(inputs, width)
                    .with_init(Init::Zeros)
                    .with_bias_init(Init::Zeros)
            };
            let mut rng = seeded_rng(self.config.seed);
            let model: Box<dyn Module<F>> = match self.config.model {
                SgModel::Linear => Box::new(last(inputs).init::<F>(&mut rng)?),
                SgModel::Mlp { hidden } => Box::new(
                    Sequential::new()
                        .push(LinearConfig::new(inputs, hidden).init::<F>(&mut rng)?)
                        .push(Activation::Relu)
                        .push(last(hidden).init::<F>(&mut rng)?),
                ),
                SgModel::NormalizedMlp { hidden, layers } => {
                    let mut model = Sequential::new();
                    for layer in 0..layers {
                        let fan_in = if layer == 0 { inputs } else { hidden };
                        model = model
                            .push(LinearConfig::new(fan_in, hidden).init::<F>(&mut rng)?)
                            .push(LayerNormConfig::new(vec![hidden]).init::<F>()?)
                            .push(Activation::Relu);
                    }
                    Box::new(model.push(last(hidden).init::<F>(&mut rng)?))
                }
            };
            self.model = Some((model, width));
        }
        Ok(self.model.as_ref().expect("set above").0.as_ref())
    }

    /// `M`'s input: the flattened output, with the one-hot labels appended for cDNI.
    fn model_input(&self, ctx: &StageContext<'_, F>, batch: usize) -> Result<Array2<F>> {
        let width = ctx.output.len() / batch;
        let h = Array2::from_shape_vec((batch, width), ctx.output.iter().copied().collect())
            .expect("the output holds batch × width values");
        if !self.config.conditional {
            return Ok(h);
        }
        let labels = ctx.labels.ok_or_else(|| {
            Error::invalid(
                "stage context for a conditional synthetic gradient (cDNI)",
                "should carry labels",
                "a context without labels",
            )
        })?;
        if labels.len() != batch {
            return Err(Error::shape(
                "conditional synthetic gradient: labels",
                format!("[{batch}] (one per row of the output)"),
                &[labels.len()],
            ));
        }
        let classes = self.config.classes;
        let mut one_hot = Array2::zeros((batch, classes));
        for (row, &label) in labels.iter().enumerate() {
            if label >= classes {
                return Err(Error::LabelOutOfRange {
                    context: "conditional synthetic gradient".into(),
                    row,
                    label,
                    num_classes: classes,
                });
            }
            one_hot[[row, label]] = F::one();
        }
        Ok(concatenate(Axis(1), &[h.view(), one_hot.view()]).expect("both have batch rows"))
    }
}

impl<F: Float> LocalObjective<F> for SyntheticGradient<F> {
    fn name(&self) -> String {
        if self.config.conditional {
            "conditional-synthetic-gradient".into()
        } else {
            "synthetic-gradient".into()
        }
    }

    fn signal(&mut self, ctx: &StageContext<'_, F>, mode: Mode) -> Result<LocalSignal<F>> {
        let batch = ctx.output.shape().first().copied().unwrap_or(0);
        if batch == 0 || ctx.output.is_empty() {
            return Err(Error::shape(
                "synthetic gradient: stage output",
                "[batch >= 1, …] with no empty axis",
                ctx.output.shape(),
            ));
        }
        check_finite(ctx.output, "synthetic gradient: stage output")?;
        if let Some(m) = ctx.message {
            if m.shape() != ctx.output.shape() {
                return Err(Error::shape(
                    "synthetic gradient: message",
                    format!("the stage output's shape {:?}", ctx.output.shape()),
                    m.shape(),
                ));
            }
            check_finite(m, "synthetic gradient: message")?;
        } else if mode == Mode::Learn {
            return Err(Error::invalid(
                "stage context for a synthetic-gradient stage in Mode::Learn",
                "should carry the gradient message from the stage above (the gradient \
                 model's training target; Mode::Evaluate predicts without one)",
                "a context without a message",
            ));
        }
        let input = self.model_input(ctx, batch)?.into_dyn();
        let width = ctx.output.len() / batch;
        let (prediction, cache) = self.model_for(width)?.forward(&input)?;
        let n = F::cast(batch as f64);
        let synthetic = (&prediction / n)
            .into_shape_with_order(ctx.output.shape())
            .map_err(|_| Error::shape("synthetic gradient: prediction", "[batch, width]", &[]))?;
        let Some(message) = ctx.message else {
            return Ok(LocalSignal {
                loss: F::zero(),
                grad_output: synthetic,
            });
        };
        let lambda = self.config.lambda_at(ctx.step);
        let grad_output = if lambda == 0.0 {
            synthetic
        } else if lambda == 1.0 {
            message.clone()
        } else {
            let l = F::cast(lambda);
            message * l + &(synthetic * (F::one() - l))
        };
        // Regression of M onto the per-sample gradient batch·m; h is a constant input, so
        // M's input gradient is not even computed.
        let target =
            Tensor::from_shape_vec(prediction.shape(), message.iter().map(|&v| v * n).collect())
                .expect("the message holds batch × width values");
        let residual = &prediction - &target;
        let loss = residual.iter().fold(F::zero(), |s, &r| s + r * r) / (n + n);
        if mode == Mode::Learn {
            let (model, _) = self.model.as_mut().expect("built above");
            let grads = model.backward(&cache, &(residual / n), false)?;
            self.optimizer.step(model.params_mut(), &grads.params)?;
            self.last_loss = Some(loss.as_f64());
        }
        Ok(LocalSignal { loss, grad_output })
    }

    fn needs_message(&self) -> bool {
        true
    }

    fn needs_labels(&self) -> bool {
        self.config.conditional
    }

    fn is_exact_gradient(&self) -> bool {
        false
    }

    fn metrics(&self) -> Vec<(String, f64)> {
        self.last_loss
            .map(|l| vec![("sg_loss".to_string(), l)])
            .unwrap_or_default()
    }

    /// Update-unlocked when the signal is purely synthetic (λ = 0): the prediction
    /// `M(h)/batch` needs no message, which only trains `M`. With λ > 0 the signal mixes
    /// the message in, so the stage has to wait for it (also when λ is annealed to 0:
    /// schedulers ask once, before training).
    fn is_update_unlocked(&self) -> bool {
        self.config.lambda == 0.0
    }

    /// During the warm-up the stage leaves its weights and its optimizer's state alone
    /// (whatever λ).
    fn holds_update(&self, step: u64) -> bool {
        step < self.config.warmup_steps
    }

    /// True with [`SgTarget::TrueGradient`]: the stage below gets the message this stage
    /// received, backpropagated through it, instead of this stage's prediction.
    fn passes_message_down(&self) -> bool {
        self.config.target == SgTarget::TrueGradient
    }

    /// One regression step of `M` on the late message: exactly the step [`Mode::Learn`]
    /// takes (predict `M(h)` for the stage output `h` the context carries, the output
    /// computed when the stage learned from this batch, then one optimizer step on
    /// `‖M(h) − batch·m‖² / (2·batch)`). Returns that regression loss, also reported as
    /// `sg_loss`.
    fn learn_from_late_message(&mut self, ctx: &StageContext<'_, F>) -> Result<F> {
        if ctx.message.is_none() {
            return Err(Error::invalid(
                "late message for a synthetic-gradient stage",
                "should carry the gradient message from the stage above",
                "a context without a message",
            ));
        }
        Ok(self.signal(ctx, Mode::Learn)?.loss)
    }

    /// The gradient model `M` under `model.` once built, the output width it was built
    /// for (`width`), and its optimizer under `optimizer.`.
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        if let Some(v) = self.last_loss {
            let v: Vec<f64> = vec![v];
            state.put_floats(format!("{prefix}last"), &v);
        }
        if let Some((model, width)) = &self.model {
            state.put_counter(format!("{prefix}width"), *width as u64);
            model.save_state(&format!("{prefix}model."), state);
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
        if state.contains(&format!("{prefix}width")) {
            let width = state.take_size(&format!("{prefix}width"))?;
            self.model = None;
            self.model_for(width)?;
            let (model, _) = self.model.as_mut().expect("built above");
            model.load_state(&format!("{prefix}model."), state)?;
        }
        load_optimizer(
            self.optimizer.as_mut(),
            &format!("{prefix}optimizer."),
            state,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::SgdConfig;
    use ndarray::arr2;

    fn dni() -> SyntheticGradient<f64> {
        SyntheticGradientConfig::new(3).build().unwrap()
    }

    fn cdni(classes: usize) -> SyntheticGradient<f64> {
        SyntheticGradientConfig::new(3)
            .with_labels(classes)
            .build()
            .unwrap()
    }

    fn h() -> Tensor<f64> {
        arr2(&[[0.5, -1.0, 0.2], [1.5, 0.3, -0.7]]).into_dyn()
    }

    fn message() -> Tensor<f64> {
        arr2(&[[0.1, -0.2, 0.05], [-0.3, 0.15, 0.25]]).into_dyn()
    }

    fn max_diff(a: &Tensor<f64>, b: &Tensor<f64>) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    /// One gradient model of each kind, the hidden ones `hidden` wide.
    fn every_model(hidden: usize) -> [SgModel; 3] {
        [
            SgModel::Linear,
            SgModel::Mlp { hidden },
            SgModel::NormalizedMlp { hidden, layers: 2 },
        ]
    }

    #[test]
    fn a_fresh_model_predicts_exactly_zero() {
        for model in every_model(5) {
            let mut sg = SyntheticGradientConfig::new(1)
                .with_model(model)
                .build::<f64>()
                .unwrap();
            let (h, m) = (h(), message());
            let s = sg
                .signal(&StageContext::new(&h, &h), Mode::Evaluate)
                .unwrap();
            assert!(s.grad_output.iter().all(|&g| g == 0.0), "{model:?}");
            assert_eq!(s.loss, 0.0);
            // With a message, the loss is M's regression loss ‖0 − batch·m‖² / (2·batch).
            let s = sg
                .signal(&StageContext::new(&h, &h).with_message(&m), Mode::Evaluate)
                .unwrap();
            let expected = m.iter().map(|v| (2.0 * v).powi(2)).sum::<f64>() / 4.0;
            assert!(
                (s.loss - expected).abs() < 1e-15,
                "{} vs {expected}",
                s.loss
            );
            assert!(s.grad_output.iter().all(|&g| g == 0.0));
        }
    }

    #[test]
    fn regression_converges_to_the_message() {
        for model in every_model(8) {
            let mut sg = SyntheticGradientConfig::new(2)
                .with_model(model)
                .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-2)))
                .build::<f64>()
                .unwrap();
            let (h, m) = (h(), message());
            let ctx = StageContext::new(&h, &h).with_message(&m);
            let first = sg.signal(&ctx, Mode::Learn).unwrap().loss;
            let mut last = first;
            for _ in 0..2000 {
                last = sg.signal(&ctx, Mode::Learn).unwrap().loss;
            }
            assert!(last < 1e-6 * first, "{model:?}: loss {first} → {last}");
            assert_eq!(sg.metrics()[0].0, "sg_loss");
            // The signal is the prediction / batch, which now matches the message.
            let s = sg.signal(&ctx, Mode::Evaluate).unwrap();
            assert!(max_diff(&s.grad_output, &m) < 1e-4, "{model:?}");
        }
    }

    #[test]
    fn plain_sgd_regression_follows_the_loss_gradient() {
        // One SGD step on a linear M from zero: W ← −lr·hᵀ(0 − batch·m)/batch = lr·hᵀm.
        let mut sg = SyntheticGradientConfig::new(0)
            .with_optimizer(OptimizerConfig::Sgd(SgdConfig::new(0.5)))
            .build::<f64>()
            .unwrap();
        let (h, m) = (h(), message());
        sg.signal(&StageContext::new(&h, &h).with_message(&m), Mode::Learn)
            .unwrap();
        let h2 = h.clone().into_dimensionality::<ndarray::Ix2>().unwrap();
        let m2 = m.clone().into_dimensionality::<ndarray::Ix2>().unwrap();
        let expected = h2.t().dot(&m2) * 0.5;
        let weight = sg.model().unwrap().params()[0].value.clone();
        assert!(max_diff(&weight, &expected.into_dyn()) < 1e-15);
    }

    #[test]
    fn evaluate_changes_nothing() {
        let mut sg = SyntheticGradientConfig::new(2)
            .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-2)))
            .build::<f64>()
            .unwrap();
        let (h, m) = (h(), message());
        let ctx = StageContext::new(&h, &h).with_message(&m);
        for _ in 0..10 {
            sg.signal(&ctx, Mode::Learn).unwrap();
        }
        let params = |sg: &SyntheticGradient<f64>| -> Vec<Tensor<f64>> {
            let model = sg.model().unwrap();
            model
                .params()
                .into_iter()
                .map(|p| p.value.clone())
                .collect()
        };
        let before = params(&sg);
        let metrics = sg.metrics();
        let s1 = sg.signal(&ctx, Mode::Evaluate).unwrap();
        assert!(s1.grad_output.iter().any(|&g| g != 0.0));
        let s2 = sg.signal(&ctx, Mode::Evaluate).unwrap();
        assert_eq!(params(&sg), before);
        assert_eq!(sg.metrics(), metrics);
        assert_eq!(s1.grad_output, s2.grad_output);
        assert_eq!(s1.loss, s2.loss);
        // Learn does change M, and returns the prediction made before its step.
        let s3 = sg.signal(&ctx, Mode::Learn).unwrap();
        assert_eq!(s3.grad_output, s1.grad_output);
        assert_ne!(params(&sg), before);
    }

    #[test]
    fn warm_up_holds_the_update_and_changes_nothing_else() {
        let (h, m) = (h(), message());
        let mut sg = SyntheticGradientConfig::new(0)
            .with_warmup_steps(3)
            .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-2)))
            .build::<f64>()
            .unwrap();
        let mut plain = SyntheticGradientConfig::new(0)
            .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-2)))
            .build::<f64>()
            .unwrap();
        let at = |step| StageContext {
            step,
            ..StageContext::new(&h, &h).with_message(&m)
        };
        for step in 0..5 {
            // M learns and predicts as without warm-up; only the stage is told to hold.
            let s = sg.signal(&at(step), Mode::Learn).unwrap();
            let p = plain.signal(&at(step), Mode::Learn).unwrap();
            assert_eq!(s.loss, p.loss);
            assert_eq!(s.grad_output, p.grad_output);
            assert_eq!(sg.holds_update(step), step < 3, "step {step}");
            assert!(!plain.holds_update(step));
        }
        assert!(SyntheticGradientConfig::new(0)
            .with_warmup_steps(1)
            .with_lambda(0.5)
            .build::<f64>()
            .unwrap()
            .holds_update(0));
    }

    #[test]
    fn bp_lambda_mixes_the_message_in() {
        let (h, m) = (h(), message());
        let ctx = StageContext::new(&h, &h).with_message(&m);
        let mut one = SyntheticGradientConfig::new(0)
            .with_lambda(1.0)
            .build::<f64>()
            .unwrap();
        for _ in 0..3 {
            let s = one.signal(&ctx, Mode::Learn).unwrap();
            assert_eq!(s.grad_output, m);
        }
        // λ = 1/2 after M has learned something: halfway between the two.
        let mut half = SyntheticGradientConfig::new(0)
            .with_lambda(0.5)
            .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-2)))
            .build::<f64>()
            .unwrap();
        for _ in 0..5 {
            half.signal(&ctx, Mode::Learn).unwrap();
        }
        let mixed = half.signal(&ctx, Mode::Evaluate).unwrap().grad_output;
        let synthetic = half
            .signal(&StageContext::new(&h, &h), Mode::Evaluate)
            .unwrap()
            .grad_output;
        assert!(synthetic.iter().any(|&g| g != 0.0));
        let expected = (&m + &synthetic) * 0.5;
        assert!(max_diff(&mixed, &expected) < 1e-15);
    }

    #[test]
    fn annealed_lambda_falls_to_zero_by_the_stage_step() {
        let config = SyntheticGradientConfig::new(0)
            .with_lambda(0.8)
            .with_lambda_anneal_steps(4);
        let lambdas: Vec<f64> = (0..6).map(|s| config.lambda_at(s)).collect();
        let expected = [0.8, 0.6, 0.4, 0.2, 0.0, 0.0];
        for (got, want) in lambdas.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{lambdas:?}");
        }
        assert_eq!(
            SyntheticGradientConfig::new(0)
                .with_lambda(0.3)
                .lambda_at(99),
            0.3
        );
        // The signal follows the step the context carries: λ = 0.8 · (1 − 2/4) = 0.4 at
        // step 2, λ = 0 from step 4 on.
        let (h, m) = (h(), message());
        let mut sg = config
            .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-2)))
            .build::<f64>()
            .unwrap();
        for _ in 0..5 {
            sg.signal(&StageContext::new(&h, &h).with_message(&m), Mode::Learn)
                .unwrap();
        }
        let synthetic = sg
            .signal(&StageContext::new(&h, &h), Mode::Evaluate)
            .unwrap()
            .grad_output;
        for (step, lambda) in [(2, 0.4), (4, 0.0), (10, 0.0)] {
            let ctx = StageContext::new(&h, &h).with_message(&m).with_step(step);
            let mixed = sg.signal(&ctx, Mode::Evaluate).unwrap().grad_output;
            let expected = &m * lambda + &(&synthetic * (1.0 - lambda));
            assert!(max_diff(&mixed, &expected) < 1e-15, "step {step}");
        }
        let e = SyntheticGradientConfig::new(0)
            .with_lambda_anneal_steps(10)
            .build::<f64>()
            .unwrap_err();
        assert!(e.to_string().contains("annealing"), "{e}");
    }

    #[test]
    fn the_conditional_prediction_depends_on_the_label() {
        let mut sg = SyntheticGradientConfig::new(4)
            .with_labels(3)
            .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-2)))
            .build::<f64>()
            .unwrap();
        // The same h for two labels, with opposite targets: only the label tells them apart.
        let h = arr2(&[[0.4, -0.6, 1.0], [0.4, -0.6, 1.0]]).into_dyn();
        let m = arr2(&[[0.2, 0.1, -0.1], [-0.2, -0.1, 0.1]]).into_dyn();
        let labels = [0, 2];
        let ctx = StageContext::new(&h, &h)
            .with_message(&m)
            .with_labels(&labels);
        for _ in 0..2000 {
            sg.signal(&ctx, Mode::Learn).unwrap();
        }
        let s = sg.signal(&ctx, Mode::Evaluate).unwrap();
        assert!(max_diff(&s.grad_output, &m) < 1e-4, "{}", s.grad_output);
        // Unconditional DNI can only predict the mean of the two targets, zero.
        let mut plain = SyntheticGradientConfig::new(4)
            .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-2)))
            .build::<f64>()
            .unwrap();
        for _ in 0..2000 {
            plain.signal(&ctx, Mode::Learn).unwrap();
        }
        let s = plain.signal(&ctx, Mode::Evaluate).unwrap();
        assert!(
            s.grad_output.iter().all(|g| g.abs() < 1e-3),
            "{}",
            s.grad_output
        );
    }

    #[test]
    fn outputs_of_any_rank_are_flattened_per_sample() {
        let h = Tensor::<f64>::from_shape_fn(vec![2, 3, 2], |i| (i[0] + i[1] * i[2]) as f64);
        let m = Tensor::<f64>::from_shape_fn(vec![2, 3, 2], |i| 0.1 * (i[1] as f64 - i[2] as f64));
        let mut sg = SyntheticGradientConfig::new(0)
            .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-2)))
            .build::<f64>()
            .unwrap();
        let ctx = StageContext::new(&h, &h).with_message(&m);
        let s = sg.signal(&ctx, Mode::Learn).unwrap();
        assert_eq!(s.grad_output.shape(), &[2, 3, 2]);
        assert_eq!(sg.model().unwrap().name(), "Linear(6→6)");
    }

    #[test]
    fn only_true_targets_pass_the_message_down() {
        assert!(!dni().passes_message_down());
        let config = SyntheticGradientConfig::new(0);
        assert_eq!(config.target, SgTarget::Bootstrapped);
        let true_targets = config
            .with_target(SgTarget::TrueGradient)
            .build::<f64>()
            .unwrap();
        assert!(true_targets.passes_message_down());
        // The target changes what the stage passes down, not what it learns from.
        assert!(true_targets.is_update_unlocked());
    }

    #[test]
    fn bad_configurations_are_named() {
        let e = SyntheticGradientConfig::new(0)
            .with_lambda(1.5)
            .check()
            .unwrap_err();
        assert!(
            e.to_string().contains("λ") && e.to_string().contains("1.5"),
            "{e}"
        );
        assert!(SyntheticGradientConfig::new(0)
            .with_lambda(f64::NAN)
            .check()
            .is_err());
        let e = SyntheticGradientConfig::new(0)
            .with_labels(0)
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("classes"), "{e}");
        let e = SyntheticGradientConfig::new(0)
            .with_model(SgModel::Mlp { hidden: 0 })
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("hidden width"), "{e}");
        let e = SyntheticGradientConfig::new(0)
            .with_model(SgModel::NormalizedMlp {
                hidden: 4,
                layers: 0,
            })
            .check()
            .unwrap_err();
        assert!(e.to_string().contains("number of hidden layers"), "{e}");
        let e = SyntheticGradientConfig::new(0)
            .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(-1.0)))
            .build::<f64>()
            .unwrap_err();
        assert!(e.to_string().contains("learning rate"), "{e}");
    }

    #[test]
    fn bad_contexts_are_errors() {
        let (h, m) = (h(), message());
        let full = StageContext::new(&h, &h).with_message(&m);
        // A missing message is refused when learning, accepted when predicting.
        let e = dni()
            .signal(&StageContext::new(&h, &h), Mode::Learn)
            .unwrap_err();
        assert!(e.to_string().contains("message"), "{e}");
        assert!(dni()
            .signal(&StageContext::new(&h, &h), Mode::Evaluate)
            .is_ok());
        let mut nan = h.clone();
        nan[[1, 2]] = f64::NAN;
        for mode in [Mode::Learn, Mode::Evaluate] {
            let e = dni()
                .signal(
                    &StageContext {
                        output: &nan,
                        ..full
                    },
                    mode,
                )
                .unwrap_err();
            assert!(matches!(e, Error::NonFinite { .. }), "{e}");
            let e = dni().signal(&full.with_message(&nan), mode).unwrap_err();
            assert!(matches!(e, Error::NonFinite { .. }), "{e}");
            let wide = Tensor::<f64>::zeros(vec![2, 4]);
            let e = dni().signal(&full.with_message(&wide), mode).unwrap_err();
            assert!(matches!(e, Error::Shape { .. }), "{e}");
        }
        // cDNI: labels missing, too many, out of range.
        let e = cdni(3).signal(&full, Mode::Learn).unwrap_err();
        assert!(e.to_string().contains("labels"), "{e}");
        let e = cdni(3)
            .signal(&full.with_labels(&[0, 1, 2]), Mode::Learn)
            .unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let e = cdni(3)
            .signal(&full.with_labels(&[0, 3]), Mode::Evaluate)
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::LabelOutOfRange {
                    label: 3,
                    row: 1,
                    ..
                }
            ),
            "{e}"
        );
        // Widths may not change once M is built; an empty batch is refused.
        let mut sg = dni();
        sg.signal(&full, Mode::Learn).unwrap();
        let h4 = Tensor::<f64>::zeros(vec![2, 4]);
        let e = sg
            .signal(&StageContext::new(&h4, &h4).with_message(&h4), Mode::Learn)
            .unwrap_err();
        assert!(e.to_string().contains("built for"), "{e}");
        let empty = Tensor::<f64>::zeros(vec![0, 3]);
        assert!(dni()
            .signal(&StageContext::new(&empty, &empty), Mode::Evaluate)
            .is_err());
    }
}
