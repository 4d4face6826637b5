use locus_core::{
    load_optimizer, save_optimizer, Cache, Float, Module, Optimizer, StateDict, Tensor,
};
use locus_objectives::{LocalObjective, Mode, StageContext};

use crate::{Error, Result};

mod unlocked;

/// A gradient-isolated piece of a network: a module, the objective it learns from, and its
/// own optimizer (so each stage has its own state and learning rate).
pub struct Stage<F: Float> {
    name: String,
    module: Box<dyn Module<F>>,
    objective: Box<dyn LocalObjective<F>>,
    optimizer: Box<dyn Optimizer<F>>,
    steps: u64,
}

/// What one learning step of a stage produced.
#[derive(Debug, Clone)]
pub struct StageUpdate<F> {
    /// The stage's local loss on the batch.
    pub loss: F,
    /// The signal's gradient with respect to the stage output (for a top stage, the
    /// network's output error).
    pub grad_output: Tensor<F>,
    /// Gradient with respect to the stage input, when it was asked for: the message the
    /// stage below learns from under backpropagation.
    pub grad_input: Option<Tensor<F>>,
}

/// The signals a stage receives from outside for one batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Signals<'a, F: Float> {
    /// Class labels of the batch.
    pub labels: Option<&'a [usize]>,
    /// The gradient message from the stage above.
    pub message: Option<&'a Tensor<F>>,
    /// The error broadcast from the top of the network.
    pub global_error: Option<&'a Tensor<F>>,
    /// The network's input batch (the data the first stage received), which the stage
    /// passes on only to an objective that
    /// [needs it](LocalObjective::needs_network_input).
    pub network_input: Option<&'a Tensor<F>>,
}

impl<F: Float> Stage<F> {
    /// A stage from its three parts.
    pub fn new(
        name: impl Into<String>,
        module: Box<dyn Module<F>>,
        objective: Box<dyn LocalObjective<F>>,
        optimizer: Box<dyn Optimizer<F>>,
    ) -> Self {
        Stage {
            name: name.into(),
            module,
            objective,
            optimizer,
            steps: 0,
        }
    }

    /// The stage's name (used in reports and error messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The module.
    pub fn module(&self) -> &dyn Module<F> {
        self.module.as_ref()
    }

    /// The module, mutably (e.g. to load weights).
    pub fn module_mut(&mut self) -> &mut dyn Module<F> {
        self.module.as_mut()
    }

    /// The objective.
    pub fn objective(&self) -> &dyn LocalObjective<F> {
        self.objective.as_ref()
    }

    /// The objective, mutably.
    pub fn objective_mut(&mut self) -> &mut dyn LocalObjective<F> {
        self.objective.as_mut()
    }

    /// The optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer<F> {
        self.optimizer.as_ref()
    }

    /// The optimizer, mutably (e.g. for a learning-rate schedule).
    pub fn optimizer_mut(&mut self) -> &mut dyn Optimizer<F> {
        self.optimizer.as_mut()
    }

    /// How many batches this stage has learned from.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Writes everything the stage needs to go on learning exactly where it stopped
    /// under `prefix`: the module (`module.`, see [`Module::save_state`]), the
    /// optimizer's moments and step count (`optimizer.`), the objective's own learned
    /// state (`objective.`, see [`LocalObjective::save_state`]) and the stage's step
    /// count (`steps`).
    pub fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        self.module.save_state(&format!("{prefix}module."), state);
        save_optimizer(
            self.optimizer.as_ref(),
            &format!("{prefix}optimizer."),
            state,
        );
        self.objective
            .save_state(&format!("{prefix}objective."), state);
        state.put_counter(format!("{prefix}steps"), self.steps);
    }

    /// Reads what [`Stage::save_state`] wrote under `prefix`, taking the entries out of
    /// `state`.
    ///
    /// # Errors
    /// [`Error::Stage`] naming the stage and the entry that is missing, of another shape
    /// or not finite, or optimizer buffers that cannot belong to the stage's optimizer.
    pub fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        let result = (|| -> locus_core::Result<u64> {
            self.module.load_state(&format!("{prefix}module."), state)?;
            load_optimizer(
                self.optimizer.as_mut(),
                &format!("{prefix}optimizer."),
                state,
            )?;
            self.objective
                .load_state(&format!("{prefix}objective."), state)?;
            state.take_counter(&format!("{prefix}steps"))
        })();
        self.steps = result.map_err(|e| self.wrap(e))?;
        Ok(())
    }

    /// Swaps in another objective and returns the old one; e.g. greedy layer-wise
    /// training fine-tunes a pretrained stage end to end with
    /// [`UpstreamGradient`](locus_objectives::UpstreamGradient) and then puts its
    /// pretraining objective back.
    pub fn replace_objective(
        &mut self,
        objective: Box<dyn LocalObjective<F>>,
    ) -> Box<dyn LocalObjective<F>> {
        std::mem::replace(&mut self.objective, objective)
    }

    /// Swaps in another optimizer (fresh state, another rule or rate) and returns the
    /// old one.
    pub fn replace_optimizer(&mut self, optimizer: Box<dyn Optimizer<F>>) -> Box<dyn Optimizer<F>> {
        std::mem::replace(&mut self.optimizer, optimizer)
    }

    /// `source`, a failure of this stage's module, objective or optimizer, as
    /// [`Error::Stage`] naming the stage: how code that runs a stack (a scheduler, an
    /// evaluation) reports which stage failed.
    pub fn wrap(&self, source: locus_core::Error) -> Error {
        Error::Stage {
            stage: self.name.clone(),
            source,
        }
    }

    /// What the objective gets of the network input a scheduler (or an evaluation)
    /// `supplied`: all of it
    /// when it [needs it](LocalObjective::needs_network_input), nothing otherwise, so an
    /// objective that uses it without saying so fails under every scheduler alike.
    ///
    /// # Errors
    /// [`Error::Config`] naming the stage, its objective and its need, when the objective
    /// needs the network input and none was supplied: the one place where a scheduler
    /// that cannot supply it is refused.
    pub fn network_input_for<'a>(
        &self,
        supplied: Option<&'a Tensor<F>>,
    ) -> Result<Option<&'a Tensor<F>>> {
        if !self.objective.needs_network_input() {
            return Ok(None);
        }
        supplied.map(Some).ok_or_else(|| {
            Error::Config(format!(
                "stage '{}' uses objective '{}', which needs the network input (the data \
                 batch the first stage receives), but its scheduler did not supply it",
                self.name,
                self.objective.name()
            ))
        })
    }

    /// One optimizer step on the module's parameters with `grads`, unless the objective
    /// holds this step's update ([`LocalObjective::holds_update`]); either way the step
    /// is counted.
    pub(crate) fn apply_update(&mut self, grads: &[Tensor<F>]) -> Result<()> {
        if !self.objective.holds_update(self.steps) {
            let params = self.module.params_mut();
            self.optimizer
                .step(params, grads)
                .map_err(|e| self.wrap(e))?;
        }
        self.steps += 1;
        Ok(())
    }

    /// Runs the module forward, keeping the cache for [`Stage::learn`].
    ///
    /// # Errors
    /// [`Error::Stage`] when the module rejects the input.
    pub fn forward(&self, input: &Tensor<F>) -> Result<(Tensor<F>, Cache<F>)> {
        self.module.forward(input).map_err(|e| self.wrap(e))
    }

    /// One learning step: asks the objective for its signal on `(input, output)`,
    /// backpropagates it through the module using `cache`, and lets the optimizer update
    /// the module's parameters. The input gradient is computed only when `need_input_grad`:
    /// of the signal, or of `signals.message` when the objective
    /// [passes its message down](LocalObjective::passes_message_down).
    ///
    /// # Errors
    /// [`Error::Stage`] naming this stage when the objective, module or optimizer fails
    /// (for example a backward-locked objective without a message); [`Error::Config`] when
    /// the objective needs the network input and `signals` has none.
    pub fn learn(
        &mut self,
        input: &Tensor<F>,
        output: &Tensor<F>,
        cache: &Cache<F>,
        signals: Signals<'_, F>,
        need_input_grad: bool,
    ) -> Result<StageUpdate<F>> {
        let ctx = StageContext {
            input,
            output,
            labels: signals.labels,
            global_error: signals.global_error,
            message: signals.message,
            network_input: self.network_input_for(signals.network_input)?,
            step: self.steps,
        };
        self.objective
            .attach_module(self.module.as_ref())
            .map_err(|e| self.wrap(e))?;
        let signal = self
            .objective
            .signal(&ctx, Mode::Learn)
            .map_err(|e| self.wrap(e))?;
        // A stage that passes its message down backpropagates the message for the stage
        // below, and its signal for its own weights only.
        let message_down = need_input_grad && self.objective.passes_message_down();
        let mut grads = self
            .module
            .backward(cache, &signal.grad_output, need_input_grad && !message_down)
            .map_err(|e| self.wrap(e))?;
        if message_down {
            let message = signals.message.ok_or_else(|| {
                self.wrap(locus_core::Error::invalid(
                    "signals of a stage whose objective passes its message down",
                    "should carry the message from the stage above",
                    "no message",
                ))
            })?;
            grads.input = self
                .module
                .backward(cache, message, true)
                .map_err(|e| self.wrap(e))?
                .input;
        }
        if let Some(extra) = self.objective.take_module_gradients() {
            add_gradients(&mut grads.params, extra).map_err(|e| self.wrap(e))?;
        }
        self.apply_update(&grads.params)?;
        locus_core::scratch::recycle_all(grads.params);
        Ok(StageUpdate {
            loss: signal.loss,
            grad_output: signal.grad_output,
            grad_input: grads.input,
        })
    }
}

/// Adds an objective's gradients along tied paths
/// ([`LocalObjective::take_module_gradients`]) to the module's own.
fn add_gradients<F: Float>(
    grads: &mut [Tensor<F>],
    extra: Vec<Tensor<F>>,
) -> std::result::Result<(), locus_core::Error> {
    let mismatch = |reason: String| locus_core::Error::GradientMismatch {
        context: "tied-parameter gradients from the objective".into(),
        reason,
    };
    if extra.len() != grads.len() {
        return Err(mismatch(format!(
            "{} gradients for a module with {} parameters",
            extra.len(),
            grads.len()
        )));
    }
    for (i, (g, e)) in grads.iter_mut().zip(extra).enumerate() {
        if g.shape() != e.shape() {
            return Err(mismatch(format!(
                "parameter {i} has gradient shape {:?} but the objective's is {:?}",
                g.shape(),
                e.shape()
            )));
        }
        *g += &e;
    }
    Ok(())
}

impl<F: Float> std::fmt::Debug for Stage<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stage")
            .field("name", &self.name)
            .field("module", &self.module.name())
            .field("objective", &self.objective.name())
            .field("optimizer", &self.optimizer.name())
            .field("steps", &self.steps)
            .finish()
    }
}
