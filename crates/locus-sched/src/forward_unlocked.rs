use std::time::Instant;

use locus_core::{scratch, Float, StateDict, Tensor};
use locus_data::Dataset;

use crate::lockstep::{check_stack, learn_top_down, run_epoch, Turn};
use crate::synthetic_input::{SyntheticInput, SyntheticInputConfig};
use crate::{BatchReport, EpochPlan, EpochReport, Error, Observer, Result, Scheduler, Stage};

/// Lockstep training with **synthetic inputs** (Jaderberg et al. 2016, §3.4): every stage
/// above the first runs forward on `ĥ = I(x)`, a prediction of its input from the network
/// input `x`, instead of waiting for the stage below, so no stage is forward-locked.
/// With [`SyntheticGradient`](locus_objectives::SyntheticGradient) objectives the stages are
/// also update-unlocked: the paper's fully decoupled network (its fig. 8).
///
/// For each batch:
/// 1. the true forward chain `h₁ = f₁(x), h₂ = f₂(h₁), …` with the current weights, the
///    regression targets of the input models (nothing learns from it otherwise);
/// 2. stage 1 runs on `x`, stage `k > 1` on `ĥₖ₋₁ = Iₖ(x)`;
/// 3. the stages learn top-down from those forward passes exactly as in
///    [`Lockstep`](crate::Lockstep): the top stage's output gradient is the global error,
///    a stage that needs a message gets the input gradient of the stage above (with
///    respect to that stage's *synthetic* input), and a stage that needs the network
///    input gets `x`;
/// 4. each `Iₖ` takes one regression step towards the true `hₖ₋₁`.
///
/// Evaluation ([`predict`](crate::predict), on which `locus-train`'s `evaluate` builds)
/// uses the true forward chain: the input models exist only to unlock training.
#[derive(Debug)]
pub struct ForwardUnlocked<F: Float> {
    config: SyntheticInputConfig,
    /// One input model per stage above the first, built on the first batch.
    models: Vec<SyntheticInput<F>>,
}

impl<F: Float> ForwardUnlocked<F> {
    /// A scheduler whose input models follow `config` (each stage derives its own seed).
    ///
    /// # Errors
    /// [`Error::Config`] when the configuration is invalid.
    pub fn new(config: SyntheticInputConfig) -> Result<Self> {
        config
            .check()
            .map_err(|e| Error::Config(format!("synthetic input settings: {e}")))?;
        Ok(ForwardUnlocked {
            config,
            models: Vec::new(),
        })
    }

    /// The regression loss of each stage's input model on the last batch, for stages 2, 3,
    /// … (stage 1 reads the data itself).
    pub fn input_losses(&self) -> Vec<f64> {
        self.models
            .iter()
            .map(|m| m.last_loss().unwrap_or(f64::NAN))
            .collect()
    }

    /// Trains on one batch (see the type's docs for the order of events).
    ///
    /// # Errors
    /// [`Error::Config`] for an empty stack, a top stage that waits for a message, or a
    /// stack whose size changed since the first batch; [`Error::Stage`] naming the stage
    /// (or the stage whose input model) failed.
    pub fn train_batch(
        &mut self,
        stages: &mut [Stage<F>],
        inputs: &Tensor<F>,
        labels: &[usize],
    ) -> Result<BatchReport> {
        self.timed_batch(stages, inputs, labels, &mut vec![0.0; stages.len()])
    }

    /// [`ForwardUnlocked::train_batch`], adding each stage's computing time (its forward
    /// pass on the synthetic input and its update, in seconds) to `busy`.
    fn timed_batch(
        &mut self,
        stages: &mut [Stage<F>],
        inputs: &Tensor<F>,
        labels: &[usize],
        busy: &mut [f64],
    ) -> Result<BatchReport> {
        let top = check_stack(stages)?;
        if self.models.is_empty() {
            self.make_models(stages.len())?;
        } else if self.models.len() + 1 != stages.len() {
            return Err(Error::Config(format!(
                "the scheduler has input models for {} stages but was given {}",
                self.models.len() + 1,
                stages.len()
            )));
        }
        // 1. True inputs of every stage, the targets of the input models.
        let mut truth = Vec::with_capacity(top);
        let mut h = inputs.clone();
        for stage in &stages[..top] {
            h = stage.module().infer(&h).map_err(|e| stage.wrap(e))?;
            truth.push(h.clone());
        }
        // 2. Forward passes on synthetic inputs (the first stage reads the data). Until an
        //    input model has seen one target it cannot predict, so on the very first batch
        //    the stage runs on its true input.
        let mut stage_inputs = Vec::with_capacity(stages.len());
        stage_inputs.push(inputs.clone());
        for (k, model) in self.models.iter().enumerate() {
            let input = match model.last_loss() {
                Some(_) => model.predict(inputs).map_err(|e| stages[k + 1].wrap(e))?,
                None => truth[k].clone(),
            };
            stage_inputs.push(input);
        }
        let mut outputs = Vec::with_capacity(stages.len());
        let mut caches = Vec::with_capacity(stages.len());
        for ((stage, input), busy) in stages.iter().zip(&stage_inputs).zip(busy.iter_mut()) {
            let started = Instant::now();
            let (y, cache) = stage.forward(input)?;
            *busy += started.elapsed().as_secs_f64();
            outputs.push(y);
            caches.push(cache);
        }
        // 3. Top-down learning, as in Lockstep.
        let stage_losses = learn_top_down(
            stages,
            &stage_inputs,
            &outputs,
            &caches,
            inputs,
            labels,
            busy,
        )?;
        // 4. The input models regress onto the true inputs.
        for (k, model) in self.models.iter_mut().enumerate() {
            model
                .learn(inputs, &truth[k])
                .map_err(|e| stages[k + 1].wrap(e))?;
        }
        scratch::recycle_all(truth.into_iter().chain(stage_inputs).chain(outputs));
        for cache in caches {
            cache.recycle();
        }
        Ok(BatchReport {
            loss: stage_losses[top],
            stage_losses,
        })
    }

    /// One input model for every stage above the first of a stack of `stages`, each with
    /// its own seed.
    fn make_models(&mut self, stages: usize) -> Result<()> {
        for k in 1..stages {
            let mut config = self.config;
            config.seed = config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k as u64;
            let model = SyntheticInput::new(config)
                .map_err(|e| Error::Config(format!("synthetic input settings: {e}")))?;
            self.models.push(model);
        }
        Ok(())
    }
}

impl<F: Float> Scheduler<F> for ForwardUnlocked<F> {
    fn name(&self) -> String {
        "forward-unlocked".into()
    }

    fn train_epoch(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        plan: EpochPlan,
        observer: &mut dyn Observer,
    ) -> Result<EpochReport> {
        let turn = Turn::all(stages.len());
        run_epoch(
            stages,
            data,
            plan,
            observer,
            turn,
            |stages, inputs, labels, busy| self.timed_batch(stages, inputs, labels, busy),
        )
    }

    /// Each stage's input model under `<prefix>input<k>.` (stages 2 and up have one).
    fn save_state(&self, _stages: &[Stage<F>], prefix: &str, state: &mut StateDict<F>) {
        for (k, model) in self.models.iter().enumerate() {
            model.save_state(&format!("{prefix}input{k}."), state);
        }
    }

    fn load_state(
        &mut self,
        stages: &mut [Stage<F>],
        _epochs_done: u64,
        prefix: &str,
        state: &mut StateDict<F>,
    ) -> Result<()> {
        // The models are made on the first epoch, one per stage above the first.
        if self.models.is_empty() && state.has_prefix(&format!("{prefix}input")) {
            self.make_models(stages.len())?;
        }
        for (k, model) in self.models.iter_mut().enumerate() {
            model
                .load_state(&format!("{prefix}input{k}."), state)
                .map_err(|source| Error::Stage {
                    stage: format!("synthetic input {}", k + 1),
                    source,
                })?;
        }
        Ok(())
    }
}
