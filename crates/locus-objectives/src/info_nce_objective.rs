//! InfoNCE as a stage's local objective: Contrastive Predictive Coding without an
//! autoregressor, as each module of Greedy InfoMax learns.

use locus_core::init::Init;
use locus_core::{
    check_finite, load_optimizer, matmul, save_optimizer, seeded_rng, AdamConfig, Error, Float,
    Optimizer, OptimizerConfig, ParamMut, Result, StateDict, StateValue, Tensor,
};
use ndarray::{Array2, Array3, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::{
    info_nce, LocalObjective, LocalSignal, Mode, NegativeSampling, Positives, StageContext,
};

/// Configuration of an [`InfoNce`] objective, checked by [`InfoNceConfig::build`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InfoNceConfig {
    /// `K`: the objective predicts `K` offsets ahead, `k = skip_steps + 1 ..= skip_steps +
    /// K`, with one bilinear predictor `W_k` each (default 3).
    pub prediction_steps: usize,
    /// Offsets right ahead that are not predicted (default 0: `k` starts at 1). Where the
    /// receptive fields of neighbouring positions overlap, the nearest targets share input
    /// with the context and can be matched by copying that input; skipping them makes the
    /// prediction reach past the overlap. The GIM code does this for its overlapping
    /// image patches (`skip_step = 1`).
    #[serde(default)]
    pub skip_steps: usize,
    /// Negatives per anchor; every anchor scores `N = negatives + 1` candidates, and the
    /// bound it can certify is at most `log N` nats (default 16).
    pub negatives: usize,
    /// Where negatives come from (default [`NegativeSampling::Batch`]).
    pub sampling: NegativeSampling,
    /// The optimizer of the predictors `W_k` (default Adam, learning rate 1e-3).
    pub optimizer: OptimizerConfig,
    /// Seed of the predictors' initial weights and of the negative draws.
    pub seed: u64,
}

impl InfoNceConfig {
    /// The defaults above, with the given seed.
    pub fn new(seed: u64) -> Self {
        InfoNceConfig {
            prediction_steps: 3,
            skip_steps: 0,
            negatives: 16,
            sampling: NegativeSampling::Batch,
            optimizer: OptimizerConfig::Adam(AdamConfig::new(1e-3)),
            seed,
        }
    }

    /// Sets `K`, the number of prediction steps.
    pub fn with_prediction_steps(mut self, steps: usize) -> Self {
        self.prediction_steps = steps;
        self
    }

    /// Sets how many offsets right ahead are skipped (`k` starts at `skip + 1`).
    pub fn with_skip_steps(mut self, skip: usize) -> Self {
        self.skip_steps = skip;
        self
    }

    /// Sets the number of negatives per anchor.
    pub fn with_negatives(mut self, negatives: usize) -> Self {
        self.negatives = negatives;
        self
    }

    /// Sets where negatives come from.
    pub fn with_sampling(mut self, sampling: NegativeSampling) -> Self {
        self.sampling = sampling;
        self
    }

    /// Sets the predictors' optimizer.
    pub fn with_optimizer(mut self, optimizer: OptimizerConfig) -> Self {
        self.optimizer = optimizer;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the bad value: zero prediction steps, zero
    /// negatives, a bad optimizer setting.
    pub fn check(&self) -> Result<()> {
        if self.prediction_steps == 0 {
            return Err(Error::invalid(
                "InfoNCE prediction steps",
                "should be >= 1",
                0,
            ));
        }
        if self.negatives == 0 {
            return Err(Error::invalid(
                "InfoNCE negatives per anchor",
                "should be >= 1",
                0,
            ));
        }
        match self.optimizer {
            OptimizerConfig::Sgd(c) => c.check(),
            OptimizerConfig::Adam(c) => c.check(),
        }
    }

    /// Checks the configuration and builds the objective; the predictors are drawn on the
    /// first call, when the stage's channel count is known.
    ///
    /// # Errors
    /// As [`InfoNceConfig::check`].
    pub fn build<F: Float>(&self) -> Result<InfoNce<F>> {
        self.check()?;
        Ok(InfoNce {
            config: *self,
            optimizer: self.optimizer.build()?,
            predictors: None,
            last_bound: None,
        })
    }
}

/// InfoNCE between a stage's own representations at different positions: the local loss
/// of every module of Greedy InfoMax (Löwe et al. 2019, eq. 1–3), which is the loss of
/// Contrastive Predictive Coding (Oord et al. 2018, eq. 3–4) applied to one module's
/// output, with that output itself as the context (GIM's setting without an
/// autoregressive model; put a recurrent or causal stage below this one to get CPC's
/// `c_t`).
///
/// For each prediction step `k = 1..=K` (or `s + 1 ..= s + K` with
/// [`InfoNceConfig::skip_steps`] `= s`) and each anchor position `t` with a position
/// `t + k` ahead, the predictor `W_k` scores candidates `z_j` by the log-bilinear
/// `f_k(z_j, z_t) = z_jᵀ W_k z_t` (eq. 3); the candidates are the positive `z_{t+k}` and
/// `negatives` others drawn as [`NegativeSampling`] says. The loss is the categorical
/// cross-entropy of picking the positive (eq. 4, computed by [`info_nce`]), averaged over
/// anchors and over `k`. Its gradient flows into all three roles the output plays
/// (context, positive, negatives), and, in [`Mode::Learn`], the `W_k` take one step of
/// their own optimizer. `log N − loss` (with `N = negatives + 1`) is a lower bound on the
/// mutual information between representations `k` positions apart, reported as the
/// metric `infonce_bound` (nats).
///
/// **Positions.** The stage output is channels-first, `[batch, channels, positions, …]`:
/// predictions run along axis 2 — the time steps of a sequence (`[batch, channels,
/// length]`, after a [`Conv1d`](locus_core::Conv1d)), or the rows of a patch grid
/// (`[batch, channels, rows, columns]`, after [`Patches`](locus_core::Patches)), where,
/// as in CPC for images, each patch predicts the patches `k` rows below it in its column.
/// Further axes index independent anchors.
///
/// **Determinism.** Negatives are drawn from a stream fixed by the seed and the context's
/// `step`, so [`Mode::Evaluate`] is pure and the same run gives the same draws; the
/// gradient is exact for those draws ([`LocalObjective::is_exact_gradient`] is true).
///
/// # Shapes
/// output `[batch, channels, positions, …]` with `positions > K`; each `W_k` is
/// `[channels, channels]`, with PyTorch's `nn.Linear` initialisation (uniform on
/// `±1/√channels`) and no bias, as in the GIM code.
///
/// # Errors
/// [`Error::Shape`] for an output of rank below 3, with an empty axis, or with a channel
/// count other than the one the predictors were built for; [`Error::InvalidParameter`]
/// when there are no more than `K` positions or the batch cannot supply the sampling's
/// negatives; [`Error::NonFinite`] for a NaN in the output.
///
/// # Example
/// ```
/// use locus_core::Tensor;
/// use locus_objectives::{InfoNceConfig, LocalObjective, Mode, StageContext};
///
/// # fn main() -> locus_core::Result<()> {
/// // 4 sequences of 10 steps with 8 channels, predicting 1 and 2 steps ahead.
/// let z = Tensor::from_shape_fn(vec![4, 8, 10], |i| ((i[0] + 3 * i[1] + 7 * i[2]) % 5) as f64 - 2.0);
/// let mut infonce = InfoNceConfig::new(0).with_prediction_steps(2).build::<f64>()?;
/// let signal = infonce.signal(&StageContext::new(&z, &z), Mode::Learn)?;
/// assert_eq!(signal.grad_output.shape(), z.shape());
/// // The loss is a cross-entropy over 17 candidates.
/// assert!(signal.loss >= 0.0);
/// assert!(infonce.metrics()[0].1 <= 17f64.ln());
/// # Ok(())
/// # }
/// ```
pub struct InfoNce<F: Float> {
    config: InfoNceConfig,
    optimizer: Box<dyn Optimizer<F>>,
    /// `[W_1, …, W_K]`, each `[channels, channels]`, and the channel count.
    predictors: Option<(Vec<Tensor<F>>, usize)>,
    last_bound: Option<f64>,
}

impl<F: Float> std::fmt::Debug for InfoNce<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfoNce")
            .field("config", &self.config)
            .field("channels", &self.predictors.as_ref().map(|(_, d)| *d))
            .field("optimizer", &self.optimizer.name())
            .finish()
    }
}

/// The sizes of one stage output as InfoNCE sees it.
#[derive(Debug, Clone, Copy)]
struct Layout {
    batch: usize,
    channels: usize,
    /// Positions along the prediction axis (axis 2).
    steps: usize,
    /// Product of the axes after axis 2 (1 for sequences).
    across: usize,
}

impl Layout {
    /// Rows per sample: every (step, across) position.
    fn positions(&self) -> usize {
        self.steps * self.across
    }
}

impl<F: Float> InfoNce<F> {
    /// The configuration.
    pub fn config(&self) -> &InfoNceConfig {
        &self.config
    }

    /// The predictors `[W_1, …, W_K]` (`[channels, channels]` each), once built on the
    /// first call.
    pub fn predictors(&self) -> Option<&[Tensor<F>]> {
        self.predictors.as_ref().map(|(w, _)| w.as_slice())
    }

    fn layout(&self, output: &Tensor<F>) -> Result<Layout> {
        let shape = output.shape();
        if shape.len() < 3 || shape.contains(&0) {
            return Err(Error::shape(
                "InfoNCE stage output",
                "[batch, channels, positions, …] with no empty axis (the representation at \
                 every position of a sequence or patch grid)",
                shape,
            ));
        }
        let layout = Layout {
            batch: shape[0],
            channels: shape[1],
            steps: shape[2],
            across: shape[3..].iter().product(),
        };
        let k = self.config.prediction_steps;
        let skip = self.config.skip_steps;
        if layout.steps <= k + skip {
            return Err(Error::invalid(
                "InfoNCE prediction steps K (plus the skipped steps)",
                &format!(
                    "should be below the {} positions along axis 2 of the stage output \
                     {shape:?} (K = {k}, skipped = {skip})",
                    layout.steps
                ),
                k + skip,
            ));
        }
        self.config
            .sampling
            .check(layout.batch, layout.positions())?;
        Ok(layout)
    }

    /// The predictors, drawn for `channels` if they are not yet.
    fn predictors_for(&mut self, channels: usize) -> Result<&[Tensor<F>]> {
        match &self.predictors {
            Some((_, built)) if *built != channels => {
                return Err(Error::shape(
                    "InfoNCE: the predictors W_k were built for stage outputs",
                    format!("[batch, {built}, positions, …]"),
                    &[channels],
                ))
            }
            Some(_) => {}
            None => {
                let mut rng = seeded_rng(self.config.seed);
                let w = (0..self.config.prediction_steps)
                    .map(|_| {
                        Init::TorchDefault.sample::<F>(
                            &[channels, channels],
                            channels,
                            channels,
                            &mut rng,
                        )
                    })
                    .collect::<Result<Vec<_>>>()?;
                self.predictors = Some((w, channels));
            }
        }
        Ok(&self.predictors.as_ref().expect("set above").0)
    }
}

/// The output `[batch, channels, steps, …]` as rows `[batch · positions, channels]`, row
/// `b · positions + t · across + s`.
fn to_rows<F: Float>(output: &Tensor<F>, l: &Layout) -> Result<Array2<F>> {
    let planes = output
        .to_shape((l.batch, l.channels, l.positions()))
        .map_err(|_| {
            Error::shape(
                "InfoNCE stage output",
                "a contiguous tensor",
                output.shape(),
            )
        })?;
    let mut rows = Array3::zeros((l.batch, l.positions(), l.channels));
    rows.assign(&planes.permuted_axes([0, 2, 1]));
    Ok(rows
        .into_shape_with_order((l.batch * l.positions(), l.channels))
        .expect("a fresh standard-layout array reshapes"))
}

/// The inverse of [`to_rows`].
fn from_rows<F: Float>(rows: Array2<F>, l: &Layout, shape: &[usize]) -> Tensor<F> {
    let rows = rows
        .into_shape_with_order((l.batch, l.positions(), l.channels))
        .expect("rows were made by to_rows");
    let mut out = Array3::zeros((l.batch, l.channels, l.positions()));
    out.assign(&rows.permuted_axes([0, 2, 1]));
    out.into_shape_with_order(shape.to_vec())
        .expect("the same number of values as the output")
}

/// `⟨a, b⟩` with eight independent partial sums, which the compiler turns into SIMD (a
/// single running sum cannot be reordered, so it would not be).
fn dot<F: Float>(a: &[F], b: &[F]) -> F {
    let mut lanes = [F::zero(); 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .fold(F::zero(), |s, (&x, &y)| s + x * y);
    for (x, y) in a8.zip(b8) {
        for i in 0..8 {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().fold(tail, |s, &l| s + l)
}

fn axpy<F: Float>(alpha: F, x: &[F], y: &mut [F]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// One prediction step's share of the loss and gradients.
struct StepResult<F> {
    loss: F,
    bound: f64,
    grad_w: Array2<F>,
}

/// Loss, `∂/∂W_k` and (added into `grad_z`) `∂/∂z` of prediction step `k`, with each
/// gradient scaled by `scale` (`1/K`).
#[allow(clippy::too_many_arguments)]
fn predict_step<F: Float>(
    z: &Array2<F>,
    w: ArrayView2<'_, F>,
    l: &Layout,
    k: usize,
    config: &InfoNceConfig,
    step: u64,
    scale: F,
    grad_z: &mut Array2<F>,
) -> Result<StepResult<F>> {
    let d = l.channels;
    let positions = l.positions();
    let shift = k * l.across;
    let anchors: Vec<usize> = (0..l.batch)
        .flat_map(|b| (0..(l.steps - k) * l.across).map(move |p| b * positions + p))
        .collect();
    let context = z.select(Axis(0), &anchors);
    let predictions = matmul(&context.view(), &w);
    let n = config.negatives + 1;
    let mut rng = seeded_rng(config.seed ^ (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.set_stream(step);
    let mut candidates = Vec::with_capacity(anchors.len() * n);
    for &a in &anchors {
        candidates.push(a + shift);
        config.sampling.draw(
            (l.batch, positions),
            a + shift,
            config.negatives,
            &mut rng,
            &mut candidates,
        );
    }
    let zs = z.as_slice().expect("rows are in standard layout");
    let row = |r: usize| &zs[r * d..(r + 1) * d];
    let mut scores = Array2::zeros((anchors.len(), n));
    for (a, p) in predictions.outer_iter().enumerate() {
        let p = p.as_slice().expect("a fresh product is in standard layout");
        for j in 0..n {
            scores[[a, j]] = dot(p, row(candidates[a * n + j]));
        }
    }
    let bound = info_nce(scores.view(), Positives::FirstColumn)?;
    let mut grad_predictions = Array2::zeros((anchors.len(), d));
    {
        let gz = grad_z
            .as_slice_mut()
            .expect("a fresh array is in standard layout");
        for (a, (p, mut gp)) in predictions
            .outer_iter()
            .zip(grad_predictions.outer_iter_mut())
            .enumerate()
        {
            let p = p.as_slice().expect("standard layout");
            let gp = gp.as_slice_mut().expect("standard layout");
            for j in 0..n {
                let g = bound.grad_scores[[a, j]] * scale;
                let r = candidates[a * n + j];
                axpy(g, row(r), gp);
                axpy(g, p, &mut gz[r * d..(r + 1) * d]);
            }
        }
    }
    // p = c W: ∂W = cᵀ ∂p, ∂c = ∂p Wᵀ.
    let grad_w = matmul(&context.t(), &grad_predictions.view());
    let grad_context = matmul(&grad_predictions.view(), &w.t());
    for (&a, g) in anchors.iter().zip(grad_context.outer_iter()) {
        let mut target = grad_z.row_mut(a);
        target += &g;
    }
    Ok(StepResult {
        loss: bound.loss,
        bound: bound.bound,
        grad_w,
    })
}

impl<F: Float> LocalObjective<F> for InfoNce<F> {
    fn name(&self) -> String {
        let skip = match self.config.skip_steps {
            0 => String::new(),
            s => format!(", skip {s}"),
        };
        format!(
            "infonce(K={}{skip}, N={}, {})",
            self.config.prediction_steps,
            self.config.negatives + 1,
            self.config.sampling.short_name()
        )
    }

    fn signal(&mut self, ctx: &StageContext<'_, F>, mode: Mode) -> Result<LocalSignal<F>> {
        let l = self.layout(ctx.output)?;
        check_finite(ctx.output, "InfoNCE stage output")?;
        let z = to_rows(ctx.output, &l)?;
        let config = self.config;
        let predictors = self.predictors_for(l.channels)?;
        let k_count = config.prediction_steps;
        let scale = F::one() / F::cast(k_count as f64);
        let mut grad_z = Array2::zeros(z.dim());
        let mut loss = F::zero();
        let mut bound = 0.0;
        let mut grads_w = Vec::with_capacity(k_count);
        for (i, w) in predictors.iter().enumerate() {
            let w = w.view().into_dimensionality().map_err(|_| {
                Error::shape("InfoNCE predictor", "[channels, channels]", w.shape())
            })?;
            let k = config.skip_steps + i + 1;
            let s = predict_step(&z, w, &l, k, &config, ctx.step, scale, &mut grad_z)?;
            loss += s.loss * scale;
            bound += s.bound / k_count as f64;
            grads_w.push((s.grad_w * scale).into_dyn());
        }
        if mode == Mode::Learn {
            let (w, _) = self.predictors.as_mut().expect("built above");
            let params = w
                .iter_mut()
                .enumerate()
                .map(|(i, value)| ParamMut {
                    name: format!("W_{}", config.skip_steps + i + 1),
                    value,
                })
                .collect();
            self.optimizer.step(params, &grads_w)?;
            self.last_bound = Some(bound);
        }
        Ok(LocalSignal {
            loss,
            grad_output: from_rows(grad_z, &l, ctx.output.shape()),
        })
    }

    fn metrics(&self) -> Vec<(String, f64)> {
        self.last_bound
            .map(|b| vec![("infonce_bound".to_string(), b)])
            .unwrap_or_default()
    }

    /// The predictors `W_k`, once drawn, as `predictor.<k>` (`[channels, channels]`),
    /// and their optimizer under `optimizer.`.
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        if let Some(v) = self.last_bound {
            let v: Vec<f64> = vec![v];
            state.put_floats(format!("{prefix}last"), &v);
        }
        if let Some((w, _)) = &self.predictors {
            for (k, wk) in w.iter().enumerate() {
                state.put_tensor(format!("{prefix}predictor.{k}"), wk.clone());
            }
        }
        save_optimizer(
            self.optimizer.as_ref(),
            &format!("{prefix}optimizer."),
            state,
        );
    }

    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        if let Some(v) = state.take_floats_if_present(&format!("{prefix}last"), 1)? {
            self.last_bound = Some(v[0]);
        }
        let first = format!("{prefix}predictor.0");
        if let Some(StateValue::Tensor(w0)) = state.get(&first) {
            let channels = w0.shape().first().copied().unwrap_or(0);
            self.predictors = None;
            self.predictors_for(channels)?;
            let (w, _) = self.predictors.as_mut().expect("drawn above");
            for (k, wk) in w.iter_mut().enumerate() {
                *wk = state.take_tensor(
                    &format!("{prefix}predictor.{k}"),
                    Some(&[channels, channels]),
                )?;
            }
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

    fn sequence(batch: usize, channels: usize, steps: usize) -> Tensor<f64> {
        Tensor::from_shape_fn(vec![batch, channels, steps], |i| {
            (((i[0] * 7 + i[1] * 3 + i[2] * 5) % 11) as f64 - 5.0) / 5.0
        })
    }

    #[test]
    fn evaluate_is_pure_and_learn_moves_only_the_predictors() {
        let z = sequence(3, 4, 6);
        let mut o = InfoNceConfig::new(1)
            .with_prediction_steps(2)
            .build::<f64>()
            .unwrap();
        let ctx = StageContext::new(&z, &z).with_step(5);
        let a = o.signal(&ctx, Mode::Evaluate).unwrap();
        let b = o.signal(&ctx, Mode::Evaluate).unwrap();
        assert_eq!(a.loss, b.loss);
        assert_eq!(a.grad_output, b.grad_output);
        let before = o.predictors().unwrap().to_vec();
        let learned = o.signal(&ctx, Mode::Learn).unwrap();
        assert_eq!(learned.loss, a.loss);
        assert_ne!(o.predictors().unwrap(), &before[..]);
        // Another step draws other negatives.
        let other = o.signal(&ctx.with_step(6), Mode::Evaluate).unwrap();
        assert_ne!(other.loss, o.signal(&ctx, Mode::Evaluate).unwrap().loss);
    }

    /// The loss of a one-step predictor `W` on a grid whose channel `r` is 1 in row `r`.
    fn loss_on_row_grid(w: Tensor<f64>) -> f64 {
        loss_on_row_grid_skipping(w, 0)
    }

    /// As [`loss_on_row_grid`], predicting `skip + 1` rows below.
    fn loss_on_row_grid_skipping(w: Tensor<f64>, skip: usize) -> f64 {
        let grid = Tensor::from_shape_fn(vec![2, 4, 4, 3], |i| f64::from(u8::from(i[1] == i[2])));
        let mut o = InfoNceConfig::new(0)
            .with_prediction_steps(1)
            .with_skip_steps(skip)
            .build::<f64>()
            .unwrap();
        o.signal(&StageContext::new(&grid, &grid), Mode::Evaluate)
            .unwrap();
        o.predictors.as_mut().unwrap().0[0] = w;
        o.signal(&StageContext::new(&grid, &grid), Mode::Evaluate)
            .unwrap()
            .loss
    }

    #[test]
    fn grids_predict_the_rows_below() {
        // A predictor mapping row r's code to row r + 1's picks out the positive (the
        // patch below); the one mapping to row r − 1 scores it lowest; zero is uniform.
        let shift = |down: bool| {
            Tensor::from_shape_fn(vec![4, 4], |i| {
                let (from, to) = if down { (i[0], i[1]) } else { (i[1], i[0]) };
                f64::from(u8::from(to == from + 1))
            })
        };
        let uniform = 17f64.ln();
        assert!((loss_on_row_grid(Tensor::zeros(vec![4, 4])) - uniform).abs() < 1e-12);
        let down = loss_on_row_grid(shift(true));
        let up = loss_on_row_grid(shift(false));
        assert!(down < uniform - 0.3, "{down} vs {uniform}");
        assert!(up > uniform, "{up} vs {uniform}");
    }

    /// The predictor `W` sending row `r`'s code to row `r + offset`'s.
    fn row_shift(offset: usize) -> Tensor<f64> {
        Tensor::from_shape_fn(vec![4, 4], |i| f64::from(u8::from(i[1] == i[0] + offset)))
    }

    #[test]
    fn skipped_steps_move_the_target_further_ahead() {
        // With one step skipped, the single predictor is scored on the row two below:
        // the map to r + 2 solves it, the map to r + 1 (right without the skip) does not.
        let uniform = 17f64.ln();
        let two = loss_on_row_grid_skipping(row_shift(2), 1);
        let one = loss_on_row_grid_skipping(row_shift(1), 1);
        assert!(two < uniform - 0.3, "{two} vs {uniform}");
        assert!(one >= uniform - 1e-9, "{one} vs {uniform}");
        assert!(loss_on_row_grid(row_shift(1)) < uniform - 0.3);
        let o = InfoNceConfig::new(0)
            .with_skip_steps(2)
            .build::<f32>()
            .unwrap();
        assert_eq!(o.name(), "infonce(K=3, skip 2, N=17, batch)");
        // K + skipped must stay below the positions: 4 rows cannot take K = 1 with 3 skipped.
        let grid = Tensor::<f64>::zeros(vec![2, 4, 4, 3]);
        let mut too_far = InfoNceConfig::new(0)
            .with_prediction_steps(1)
            .with_skip_steps(3)
            .build::<f64>()
            .unwrap();
        let e = too_far
            .signal(&StageContext::new(&grid, &grid), Mode::Evaluate)
            .unwrap_err();
        assert!(e.to_string().contains("skipped = 3"), "{e}");
    }

    #[test]
    fn bad_outputs_and_settings_are_named() {
        let mut o = InfoNceConfig::new(0).build::<f64>().unwrap();
        let flat = Tensor::zeros(vec![4, 8]);
        let e = o
            .signal(&StageContext::new(&flat, &flat), Mode::Evaluate)
            .unwrap_err();
        assert!(e.to_string().contains("positions"), "{e}");
        let short = sequence(2, 3, 3);
        let e = o
            .signal(&StageContext::new(&short, &short), Mode::Evaluate)
            .unwrap_err();
        assert!(e.to_string().contains("prediction steps"), "{e}");
        let z = sequence(2, 3, 6);
        o.signal(&StageContext::new(&z, &z), Mode::Learn).unwrap();
        let wider = sequence(2, 5, 6);
        let e = o
            .signal(&StageContext::new(&wider, &wider), Mode::Learn)
            .unwrap_err();
        assert!(e.to_string().contains("predictors"), "{e}");
        let mut nan = z.clone();
        nan[[1, 2, 3]] = f64::NAN;
        let e = o
            .signal(&StageContext::new(&nan, &nan), Mode::Learn)
            .unwrap_err();
        assert!(matches!(e, Error::NonFinite { .. }), "{e}");
        let mut other = InfoNceConfig::new(0)
            .with_sampling(NegativeSampling::OtherSamples)
            .build::<f64>()
            .unwrap();
        let single = sequence(1, 3, 6);
        let e = other
            .signal(&StageContext::new(&single, &single), Mode::Learn)
            .unwrap_err();
        assert!(e.to_string().contains("other-samples"), "{e}");
        for bad in [
            InfoNceConfig::new(0).with_prediction_steps(0),
            InfoNceConfig::new(0).with_negatives(0),
            InfoNceConfig::new(0).with_optimizer(OptimizerConfig::Adam(AdamConfig::new(-1.0))),
        ] {
            assert!(bad.build::<f32>().is_err());
        }
    }
}
