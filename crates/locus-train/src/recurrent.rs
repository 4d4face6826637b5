//! Truncated backpropagation through time, with or without synthetic gradients at the
//! truncation boundaries (Jaderberg et al. 2016, "Decoupled neural interfaces using
//! synthetic gradients", sect. 3.1 and fig. 2).

use locus_core::{
    angle_deg, load_optimizer, save_optimizer, seeded_rng, Error as CoreError, Float, Linear,
    LinearConfig, LstmCell, LstmConfig, LstmState, Module, Optimizer, OptimizerConfig, StateDict,
    Tensor,
};
use locus_data::SequenceBatch;
use locus_objectives::{
    LocalObjective, Mode, StageContext, SyntheticGradient, SyntheticGradientConfig,
};
use locus_sched::{Error, Result};
use ndarray::{Array2, Array3, ArrayView3, Axis, Slice};
use serde::Serialize;

use crate::bit_loss::{accumulate, masked_bit_loss, BitTotals};

/// What the LSTM's state receives at the end of a chunk, from the future it does not
/// backpropagate into.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum BoundaryGradient {
    /// BPTT(T): nothing; the gradient is cut at every boundary.
    Truncated,
    /// DNI(T): a synthetic gradient `M(h_T, c_T)` from a learned model, trained by
    /// regression onto the bootstrapped gradient at the start of the next chunk.
    Synthetic(SyntheticGradientConfig),
}

/// Configuration of a [`RecurrentTrainer`]: an LSTM and a sigmoid read-out trained over
/// chunks of `truncation` steps, checked before any weight is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RecurrentConfig {
    /// Input channels per step.
    pub inputs: usize,
    /// LSTM units (the DNI paper uses 256 on the copy tasks).
    pub hidden: usize,
    /// Output channels per step (one logit per target bit).
    pub outputs: usize,
    /// Steps per chunk, `T` (>= 1).
    pub truncation: usize,
    /// What the state receives at a chunk's end.
    pub boundary: BoundaryGradient,
    /// Optimizer of the LSTM and the read-out (each has its own state).
    pub optimizer: OptimizerConfig,
    /// Initial forget-gate bias of the LSTM (see [`LstmConfig::forget_bias`]).
    pub forget_bias: f64,
    /// Seed of the weights.
    pub seed: u64,
}

impl RecurrentConfig {
    /// An LSTM of `hidden` units from `inputs` to `outputs` channels, trained by
    /// truncated BPTT with `truncation` steps per chunk and the given optimizer, forget
    /// bias 1, seed 0.
    pub fn new(
        inputs: usize,
        hidden: usize,
        outputs: usize,
        truncation: usize,
        optimizer: OptimizerConfig,
    ) -> Self {
        RecurrentConfig {
            inputs,
            hidden,
            outputs,
            truncation,
            boundary: BoundaryGradient::Truncated,
            optimizer,
            forget_bias: 1.0,
            seed: 0,
        }
    }

    /// Synthetic gradients at the boundaries, with this gradient-model configuration.
    pub fn with_synthetic_gradient(mut self, config: SyntheticGradientConfig) -> Self {
        self.boundary = BoundaryGradient::Synthetic(config);
        self
    }

    /// Sets the seed of the weights.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Stage`] naming the bad value: a zero truncation or width, a bad optimizer
    /// or gradient-model setting, a conditional (cDNI) gradient model (a sequence has no
    /// class label to condition on).
    pub fn check(&self) -> Result<()> {
        let wrap = |source| Error::Stage {
            stage: "recurrent trainer".into(),
            source,
        };
        if self.truncation == 0 {
            return Err(wrap(CoreError::invalid(
                "truncation length T (steps per chunk)",
                "should be >= 1",
                0,
            )));
        }
        if self.outputs == 0 {
            return Err(wrap(CoreError::invalid(
                "read-out width",
                "should be >= 1",
                0,
            )));
        }
        LstmConfig::new(self.inputs, self.hidden)
            .with_forget_bias(self.forget_bias)
            .check()
            .map_err(wrap)?;
        self.optimizer.build::<f64>().map_err(wrap)?;
        if let BoundaryGradient::Synthetic(sg) = self.boundary {
            sg.check().map_err(wrap)?;
            if sg.conditional {
                return Err(wrap(CoreError::invalid(
                    "synthetic gradient at a truncation boundary",
                    "should not be conditional (cDNI): a sequence step has no class label",
                    "conditional",
                )));
            }
        }
        Ok(())
    }

    /// Checks the configuration and draws the weights.
    ///
    /// # Errors
    /// As [`RecurrentConfig::check`].
    pub fn build<F: Float>(&self) -> Result<RecurrentTrainer<F>> {
        self.check()?;
        let wrap = |source| Error::Stage {
            stage: "recurrent trainer".into(),
            source,
        };
        let mut rng = seeded_rng(self.seed);
        let cell = LstmConfig::new(self.inputs, self.hidden)
            .with_forget_bias(self.forget_bias)
            .init::<F>(&mut rng)
            .map_err(wrap)?;
        let readout = LinearConfig::new(self.hidden, self.outputs)
            .init::<F>(&mut rng)
            .map_err(wrap)?;
        let synthetic = match self.boundary {
            BoundaryGradient::Truncated => None,
            BoundaryGradient::Synthetic(sg) => Some(sg.build().map_err(wrap)?),
        };
        Ok(RecurrentTrainer {
            config: *self,
            cell,
            readout,
            cell_optimizer: self.optimizer.build().map_err(wrap)?,
            readout_optimizer: self.optimizer.build().map_err(wrap)?,
            synthetic,
            batches: 0,
        })
    }
}

/// What one training batch produced.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RecurrentBatchReport {
    /// Cross-entropy in bits per output step (the curriculum criterion).
    pub bits_per_step: f64,
    /// Fraction of target bits predicted wrongly.
    pub bit_error: f64,
    /// Chunks the sequences were cut into.
    pub chunks: usize,
    /// Mean regression loss of the gradient model over the boundaries it learned at
    /// (DNI only; `None` for BPTT or a single chunk).
    pub sg_loss: Option<f64>,
}

/// How the synthetic gradients at the truncation boundaries of a batch compare with the
/// true gradients there ([`RecurrentTrainer::boundary_alignment`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BoundaryAlignment {
    /// Mean over the boundaries of the angle in degrees between the synthetic gradient
    /// `M(s)` and the true gradient at `s` (each over the whole batch): 0 is a perfect
    /// direction, 90 no information. NaN when every synthetic gradient is zero (a fresh,
    /// zero-initialised model).
    pub angle_deg: f64,
    /// `Σ‖M(s) − g‖² / Σ‖g‖²` over the boundaries: the gradient model's regression error
    /// relative to predicting zero (1 for a fresh model, 0 for a perfect one).
    pub relative_error: f64,
    /// Number of boundaries measured.
    pub boundaries: usize,
}

/// Figures of a batch evaluated without learning.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RecurrentEvaluation {
    /// Cross-entropy in bits per output step.
    pub bits_per_step: f64,
    /// Fraction of target bits predicted wrongly.
    pub bit_error: f64,
    /// Fraction of sequences with every counted bit right.
    pub sequences_correct: f64,
}

/// Trains an LSTM and a linear read-out with sigmoid outputs on sequences cut into chunks
/// of `T` steps, carrying the state across chunks but cutting the gradient at each
/// boundary: truncated BPTT, BPTT(T). With [`BoundaryGradient::Synthetic`] it is the DNI
/// paper's recurrent setting (Jaderberg et al. 2016, sect. 3.1, fig. 2): at the end of a
/// chunk, the gradient with respect to the state `s_T = (h_T, c_T)` is the synthetic
/// gradient `ĝ = M(s_T)` instead of zero, so errors from beyond the chunk reach its
/// weights; and `M` learns by regression onto the bootstrapped target
/// `δ = ∂L_chunk/∂s_T + (∂s_{2T}/∂s_T)ᵀ M(s_{2T})`, the gradient at the start of the next
/// chunk, which already includes `M`'s own prediction at that chunk's end (the paper's
/// temporal-difference-like target). The last chunk of a sequence receives zero: no loss
/// lies beyond it, so its target is exact.
///
/// The gradient model is a [`SyntheticGradient`] objective from locus-objectives
/// (linear and zero-initialised by default, as in the paper) whose "stage output" is the
/// state `[h | c]`; it predicts and learns through
/// [`LocalObjective::signal`] ([`Mode::Evaluate`] to predict, [`Mode::Learn`] with the
/// bootstrapped target as the message). The weights are updated after every chunk, by
/// both algorithms.
///
/// The loss is [`masked_bit_loss`](crate::masked_bit_loss): the mean over the batch of
/// each sequence's summed cross-entropy, so gradients are batch means as the
/// `SyntheticGradient` scale convention expects.
pub struct RecurrentTrainer<F: Float> {
    config: RecurrentConfig,
    cell: LstmCell<F>,
    readout: Linear<F>,
    cell_optimizer: Box<dyn Optimizer<F>>,
    readout_optimizer: Box<dyn Optimizer<F>>,
    synthetic: Option<SyntheticGradient<F>>,
    batches: u64,
}

impl<F: Float> std::fmt::Debug for RecurrentTrainer<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecurrentTrainer")
            .field("config", &self.config)
            .field("batches", &self.batches)
            .finish()
    }
}

/// One chunk's forward pass: the unroll, the read-out cache and the loss.
struct ChunkForward<F: Float> {
    unroll: locus_core::layers::LstmUnroll<F>,
    readout_cache: locus_core::Cache<F>,
    loss: crate::bit_loss::BitLoss<F>,
}

fn stage_error(stage: &str) -> impl Fn(CoreError) -> Error + '_ {
    move |source| Error::Stage {
        stage: stage.to_string(),
        source,
    }
}

/// Steps `start..end` of a `[time, …]` array.
fn steps<A: Clone, D: ndarray::RemoveAxis>(
    a: &ndarray::Array<A, D>,
    start: usize,
    end: usize,
) -> ndarray::ArrayView<'_, A, D> {
    a.slice_axis(Axis(0), Slice::from(start..end))
}

impl<F: Float> RecurrentTrainer<F> {
    /// The configuration it was built from.
    pub fn config(&self) -> &RecurrentConfig {
        &self.config
    }

    /// The LSTM cell.
    pub fn cell(&self) -> &LstmCell<F> {
        &self.cell
    }

    /// The read-out layer.
    pub fn readout(&self) -> &Linear<F> {
        &self.readout
    }

    /// The gradient model's objective (DNI only).
    pub fn synthetic_gradient(&self) -> Option<&SyntheticGradient<F>> {
        self.synthetic.as_ref()
    }

    /// Batches trained on so far.
    pub fn batches(&self) -> u64 {
        self.batches
    }

    /// Writes everything the trainer needs to go on exactly where it stopped under
    /// `prefix`: the cell (`cell.`, as PyTorch's `nn.LSTMCell`: `weight_ih`, `weight_hh`,
    /// `bias_ih`, `bias_hh`), the read-out (`readout.`, PyTorch's `[out, in]`), both optimizers
    /// (`cell_optimizer.`, `readout_optimizer.`), the synthetic-gradient objective
    /// (`synthetic.`, DNI only) and the batch count (`batches`).
    pub fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        self.cell.save_state(&format!("{prefix}cell."), state);
        self.readout.save_state(&format!("{prefix}readout."), state);
        save_optimizer(
            self.cell_optimizer.as_ref(),
            &format!("{prefix}cell_optimizer."),
            state,
        );
        save_optimizer(
            self.readout_optimizer.as_ref(),
            &format!("{prefix}readout_optimizer."),
            state,
        );
        if let Some(sg) = &self.synthetic {
            sg.save_state(&format!("{prefix}synthetic."), state);
        }
        state.put_counter(format!("{prefix}batches"), self.batches);
    }

    /// Reads what [`RecurrentTrainer::save_state`] wrote under `prefix` into a trainer
    /// built from the same configuration.
    ///
    /// # Errors
    /// [`Error::Stage`] naming the entry that is missing, of another shape or not finite.
    pub fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        let wrap = stage_error("recurrent trainer");
        self.cell
            .load_state(&format!("{prefix}cell."), state)
            .map_err(&wrap)?;
        self.readout
            .load_state(&format!("{prefix}readout."), state)
            .map_err(&wrap)?;
        load_optimizer(
            self.cell_optimizer.as_mut(),
            &format!("{prefix}cell_optimizer."),
            state,
        )
        .map_err(&wrap)?;
        load_optimizer(
            self.readout_optimizer.as_mut(),
            &format!("{prefix}readout_optimizer."),
            state,
        )
        .map_err(&wrap)?;
        if let Some(sg) = &mut self.synthetic {
            sg.load_state(&format!("{prefix}synthetic."), state)
                .map_err(&wrap)?;
        }
        self.batches = state
            .take_counter(&format!("{prefix}batches"))
            .map_err(&wrap)?;
        Ok(())
    }

    /// Checks that a batch fits the trainer's widths.
    fn check_batch(&self, batch: &SequenceBatch<F>) -> Result<()> {
        let (time, rows, inputs) = batch.inputs.dim();
        let fail = |what: &str, expected: String, got: &[usize]| {
            Err(stage_error("recurrent trainer")(CoreError::shape(
                format!("sequence batch {what}"),
                expected,
                got,
            )))
        };
        if time == 0 || rows == 0 || inputs != self.config.inputs {
            return fail(
                "inputs",
                format!("[time >= 1, batch >= 1, {}]", self.config.inputs),
                batch.inputs.shape(),
            );
        }
        if batch.targets.dim() != (time, rows, self.config.outputs) {
            return fail(
                "targets",
                format!("[{time}, {rows}, {}]", self.config.outputs),
                batch.targets.shape(),
            );
        }
        if batch.mask.dim() != (time, rows) {
            return fail("mask", format!("[{time}, {rows}]"), batch.mask.shape());
        }
        let finite = [
            ("inputs", batch.inputs.iter().all(|v| v.is_finite())),
            ("targets", batch.targets.iter().all(|v| v.is_finite())),
            ("mask", batch.mask.iter().all(|v| v.is_finite())),
        ];
        if let Some((name, _)) = finite.iter().find(|(_, ok)| !ok) {
            return Err(stage_error("recurrent trainer")(CoreError::NonFinite {
                context: format!("sequence batch {name}"),
            }));
        }
        Ok(())
    }

    /// Runs the cell over `inputs` from `state` and the read-out over every step, and
    /// measures the loss.
    fn forward_chunk(
        &self,
        inputs: ArrayView3<'_, F>,
        targets: ArrayView3<'_, F>,
        mask: ndarray::ArrayView2<'_, F>,
        state: &LstmState<F>,
    ) -> Result<ChunkForward<F>> {
        let unroll = self
            .cell
            .unroll(inputs, state)
            .map_err(stage_error("lstm"))?;
        let (time, batch, hidden) = unroll.hidden.dim();
        let flat = unroll
            .hidden
            .to_shape((time * batch, hidden))
            .expect("a standard-layout array reshapes")
            .to_owned()
            .into_dyn();
        let (logits, readout_cache) = self
            .readout
            .forward(&flat)
            .map_err(stage_error("readout"))?;
        let logits = logits
            .into_shape_with_order((time, batch, self.config.outputs))
            .expect("the read-out keeps one row per step and sequence");
        let loss = masked_bit_loss(logits.view(), targets, mask).map_err(stage_error("readout"))?;
        Ok(ChunkForward {
            unroll,
            readout_cache,
            loss,
        })
    }

    /// The read-out's backward pass: its parameter gradients and `∂L/∂h_t` per step.
    fn readout_backward(&self, chunk: &ChunkForward<F>) -> Result<(Vec<Tensor<F>>, Array3<F>)> {
        let (time, batch, outputs) = chunk.loss.grad.dim();
        let flat = chunk
            .loss
            .grad
            .to_shape((time * batch, outputs))
            .expect("a standard-layout array reshapes")
            .to_owned()
            .into_dyn();
        let grads = self
            .readout
            .backward(&chunk.readout_cache, &flat, true)
            .map_err(stage_error("readout"))?;
        let grad_hidden = grads
            .input
            .expect("asked for the input gradient")
            .into_shape_with_order((time, batch, self.config.hidden))
            .expect("one row per step and sequence");
        Ok((grads.params, grad_hidden))
    }

    /// The synthetic gradient `M(s)/batch` at state `s` (zero-input [`Mode::Evaluate`]
    /// call: `M` does not change).
    fn predict(&mut self, state: &LstmState<F>) -> Result<Option<LstmState<F>>> {
        let Some(sg) = self.synthetic.as_mut() else {
            return Ok(None);
        };
        let s = state.to_tensor();
        let signal = sg
            .signal(&StageContext::new(&s, &s), Mode::Evaluate)
            .map_err(stage_error("synthetic gradient"))?;
        let predicted = LstmState::from_tensor(&signal.grad_output, self.config.hidden)
            .map_err(stage_error("synthetic gradient"))?;
        Ok(Some(predicted))
    }

    /// Trains on one batch of sequences, chunk after chunk, updating the weights after
    /// each chunk (and, for DNI, the gradient model after each chunk but the first).
    ///
    /// # Errors
    /// [`Error::Stage`] naming the part that failed: `"recurrent trainer"` for a batch
    /// whose shapes do not fit or holds NaN, `"lstm"`, `"readout"` or
    /// `"synthetic gradient"` for a failure inside one of them (e.g. a NaN from a
    /// diverging run).
    pub fn train_batch(&mut self, batch: &SequenceBatch<F>) -> Result<RecurrentBatchReport> {
        self.check_batch(batch)?;
        let (time, rows, _) = batch.inputs.dim();
        let t_len = self.config.truncation;
        let mut state = LstmState::zeros(rows, self.config.hidden);
        let mut totals = BitTotals::default();
        // The boundary state at which M predicted the gradient the previous chunk used.
        let mut previous_boundary: Option<Tensor<F>> = None;
        let (mut sg_sum, mut sg_count) = (0.0, 0usize);
        let mut chunks = 0;
        for start in (0..time).step_by(t_len) {
            let end = (start + t_len).min(time);
            chunks += 1;
            let chunk = self.forward_chunk(
                steps(&batch.inputs, start, end),
                steps(&batch.targets, start, end),
                steps(&batch.mask, start, end),
                &state,
            )?;
            accumulate(&mut totals, &chunk.loss);
            let (readout_grads, grad_hidden) = self.readout_backward(&chunk)?;
            let last = end == time;
            let grad_final = if last {
                None
            } else {
                self.predict(&chunk.unroll.final_state)?
            };
            let grad_final =
                grad_final.unwrap_or_else(|| LstmState::zeros(rows, self.config.hidden));
            let grads = self
                .cell
                .unroll_backward(&chunk.unroll, grad_hidden.view(), &grad_final)
                .map_err(stage_error("lstm"))?;
            if let (Some(sg), Some(boundary)) = (self.synthetic.as_mut(), &previous_boundary) {
                let target = grads.initial_state.to_tensor();
                let ctx = StageContext::new(boundary, boundary).with_message(&target);
                let signal = sg
                    .signal(&ctx, Mode::Learn)
                    .map_err(stage_error("synthetic gradient"))?;
                sg_sum += signal.loss.as_f64();
                sg_count += 1;
            }
            self.cell_optimizer
                .step(self.cell.params_mut(), &grads.params)
                .map_err(stage_error("lstm"))?;
            self.readout_optimizer
                .step(self.readout.params_mut(), &readout_grads)
                .map_err(stage_error("readout"))?;
            if self.synthetic.is_some() && !last {
                previous_boundary = Some(chunk.unroll.final_state.to_tensor());
            }
            state = chunk.unroll.final_state;
        }
        self.batches += 1;
        Ok(RecurrentBatchReport {
            bits_per_step: totals.bits_per_step(),
            bit_error: totals.bit_error(),
            chunks,
            sg_loss: (sg_count > 0).then(|| sg_sum / sg_count as f64),
        })
    }

    /// The network's figures on a batch, run over the whole sequences with nothing
    /// learned.
    ///
    /// # Errors
    /// As [`RecurrentTrainer::train_batch`].
    pub fn evaluate(&self, batch: &SequenceBatch<F>) -> Result<RecurrentEvaluation> {
        self.check_batch(batch)?;
        let logits = self.predict_logits(batch.inputs.view())?;
        let loss = masked_bit_loss(logits.view(), batch.targets.view(), batch.mask.view())
            .map_err(stage_error("readout"))?;
        let mut totals = BitTotals::default();
        accumulate(&mut totals, &loss);
        let rows = batch.batch();
        let right = |t: usize, b: usize| {
            (0..self.config.outputs).all(|k| {
                (logits[[t, b, k]] > F::zero()) == (batch.targets[[t, b, k]].as_f64() > 0.5)
            })
        };
        let correct = (0..rows)
            .filter(|&b| {
                (0..batch.steps())
                    .filter(|&t| batch.mask[[t, b]] != F::zero())
                    .all(|t| right(t, b))
            })
            .count();
        Ok(RecurrentEvaluation {
            bits_per_step: totals.bits_per_step(),
            bit_error: totals.bit_error(),
            sequences_correct: correct as f64 / rows as f64,
        })
    }

    /// How well the synthetic gradients at the truncation boundaries match the true
    /// gradients there, from full BPTT over the rest of the sequence (which is all that
    /// the state at a boundary influences). Nothing is learned.
    ///
    /// Returns `None` for BPTT(T) (nothing predicts) or when the sequences fit in one
    /// chunk (no boundary).
    ///
    /// # Errors
    /// As [`RecurrentTrainer::train_batch`].
    pub fn boundary_alignment(
        &mut self,
        batch: &SequenceBatch<F>,
    ) -> Result<Option<BoundaryAlignment>> {
        self.check_batch(batch)?;
        if self.synthetic.is_none() {
            return Ok(None);
        }
        let (time, rows, _) = batch.inputs.dim();
        let t_len = self.config.truncation;
        let mut state = LstmState::zeros(rows, self.config.hidden);
        let mut chunks = Vec::new();
        for start in (0..time).step_by(t_len) {
            let end = (start + t_len).min(time);
            let chunk = self.forward_chunk(
                steps(&batch.inputs, start, end),
                steps(&batch.targets, start, end),
                steps(&batch.mask, start, end),
                &state,
            )?;
            state = chunk.unroll.final_state.clone();
            chunks.push(chunk);
        }
        if chunks.len() < 2 {
            return Ok(None);
        }
        // Full BPTT, chunk by chunk from the end: the gradient at a chunk's start is the
        // exact gradient of everything after it.
        let mut grad_final = LstmState::zeros(rows, self.config.hidden);
        let mut angles = Vec::new();
        let (mut residual, mut norm) = (0.0f64, 0.0f64);
        for k in (0..chunks.len()).rev() {
            let (_, grad_hidden) = self.readout_backward(&chunks[k])?;
            if k + 1 < chunks.len() {
                if let Some(predicted) = self.predict(&chunks[k].unroll.final_state)? {
                    let (p, g) = (predicted.to_tensor(), grad_final.to_tensor());
                    let angle = angle_deg(&p, &g);
                    if angle.is_finite() {
                        angles.push(angle);
                    }
                    for (a, b) in p.iter().zip(&g) {
                        let (a, b) = (a.as_f64(), b.as_f64());
                        residual += (a - b) * (a - b);
                        norm += b * b;
                    }
                }
            }
            let grads = self
                .cell
                .unroll_backward(&chunks[k].unroll, grad_hidden.view(), &grad_final)
                .map_err(stage_error("lstm"))?;
            grad_final = grads.initial_state;
        }
        Ok(Some(BoundaryAlignment {
            angle_deg: if angles.is_empty() {
                f64::NAN
            } else {
                angles.iter().sum::<f64>() / angles.len() as f64
            },
            relative_error: if norm > 0.0 {
                residual / norm
            } else {
                f64::NAN
            },
            boundaries: chunks.len() - 1,
        }))
    }

    /// The number of trainable parameters of the LSTM and the read-out (the gradient
    /// model excluded).
    pub fn num_params(&self) -> usize {
        self.cell.num_params() + self.readout.num_params()
    }

    /// The read-out's logits at every step, `[time, batch, outputs]`, for `inputs`
    /// (`[time, batch, inputs]`) read from the zero state, with nothing learned.
    ///
    /// # Errors
    /// [`Error::Stage`] when the input does not fit the cell.
    pub fn predict_logits(&self, inputs: ArrayView3<'_, F>) -> Result<Array3<F>> {
        let (time, rows, _) = inputs.dim();
        let state = LstmState::zeros(rows, self.config.hidden);
        let unroll = self
            .cell
            .unroll(inputs, &state)
            .map_err(stage_error("lstm"))?;
        let flat: Array2<F> = unroll
            .hidden
            .to_shape((time * rows, self.config.hidden))
            .expect("a standard-layout array reshapes")
            .to_owned();
        let logits = self
            .readout
            .infer(&flat.into_dyn())
            .map_err(stage_error("readout"))?;
        Ok(logits
            .into_shape_with_order((time, rows, self.config.outputs))
            .expect("one row per step and sequence"))
    }
}
