//! The two halves of an update-unlocked step (Jaderberg et al. 2016): learn from the
//! objective's prediction now, hand it the message from above when that arrives.

use locus_core::{Cache, Float, Tensor};
use locus_objectives::{LocalObjective, Mode, StageContext};

use crate::{Result, Signals, Stage, StageUpdate};

impl<F: Float> Stage<F> {
    /// One learning step that does not wait for the message from above: the objective's
    /// signal is computed in [`Mode::Evaluate`] with no message (for an update-unlocked
    /// objective such as a synthetic gradient, its prediction), backpropagated through the
    /// module with `cache`, and applied by the optimizer. `signals.message` is ignored.
    /// An objective that [passes its message down](LocalObjective::passes_message_down)
    /// is refused when the input gradient is asked for.
    /// The message for this batch is given later to
    /// [`Stage::learn_from_late_message`].
    ///
    /// # Errors
    /// [`Error::Stage`](crate::Error::Stage) naming this stage when the objective, module
    /// or optimizer fails; [`Error::Config`](crate::Error::Config) when the objective
    /// needs the network input and `signals` has none.
    pub fn learn_unlocked(
        &mut self,
        input: &Tensor<F>,
        output: &Tensor<F>,
        cache: &Cache<F>,
        signals: Signals<'_, F>,
        need_input_grad: bool,
    ) -> Result<StageUpdate<F>> {
        if need_input_grad && self.objective.passes_message_down() {
            return Err(self.wrap(locus_core::Error::invalid(
                "update-unlocked step of a stage whose objective passes its message down \
                 (synthetic gradients with true-gradient targets)",
                "should be taken by a lockstep scheduler: the stage below's message is \
                 this stage's message backpropagated, which an unlocked step does not wait for",
                "an update-unlocked step",
            )));
        }
        let ctx = StageContext {
            input,
            output,
            labels: signals.labels,
            global_error: signals.global_error,
            message: None,
            network_input: self.network_input_for(signals.network_input)?,
            step: self.steps,
        };
        let signal = self
            .objective
            .signal(&ctx, Mode::Evaluate)
            .map_err(|e| self.wrap(e))?;
        let grads = self
            .module
            .backward(cache, &signal.grad_output, need_input_grad)
            .map_err(|e| self.wrap(e))?;
        self.apply_update(&grads.params)?;
        Ok(StageUpdate {
            loss: signal.loss,
            grad_output: signal.grad_output,
            grad_input: grads.input,
        })
    }

    /// Gives the objective the gradient message for a batch this stage already learned
    /// from with [`Stage::learn_unlocked`]: `input`, `output`, `labels` and
    /// `network_input` are that batch's, `step` the stage's step count when it learned
    /// from it. Only the
    /// objective's own parameters change
    /// ([`LocalObjective::learn_from_late_message`](locus_objectives::LocalObjective::learn_from_late_message));
    /// returns its auxiliary loss.
    ///
    /// # Errors
    /// [`Error::Stage`](crate::Error::Stage) naming this stage when the objective refuses
    /// the message (wrong shape, NaN, or an objective that is not update-unlocked);
    /// [`Error::Config`](crate::Error::Config) when the objective needs the network input
    /// and there is none.
    pub fn learn_from_late_message(
        &mut self,
        input: &Tensor<F>,
        output: &Tensor<F>,
        labels: Option<&[usize]>,
        network_input: Option<&Tensor<F>>,
        message: &Tensor<F>,
        step: u64,
    ) -> Result<F> {
        let ctx = StageContext {
            input,
            output,
            labels,
            global_error: None,
            message: Some(message),
            network_input: self.network_input_for(network_input)?,
            step,
        };
        self.objective
            .learn_from_late_message(&ctx)
            .map_err(|e| self.wrap(e))
    }
}
