//! How far a learning rule's updates are from backpropagation's, stage by stage.
//!
//! Feedback-alignment papers judge a rule by the angle between the update it makes and the
//! true gradient on the same batch (Lillicrap et al. 2016, fig. 2; Nøkland 2016, fig. 3):
//! below 90° the rule still descends the loss. [`measure_alignment`] computes, on one
//! batch and without changing any weight:
//! - the gradients each stage's rule would apply (the same top-down pass as
//!   [`Lockstep`](locus_sched::Lockstep), with objectives in [`Mode::Evaluate`]);
//! - the true gradients of the top stage's loss, by exact backpropagation through every
//!   stage ([`Module::backward_exact`]);
//! - their angle per stage, over all of the stage's parameters.

use locus_core::{angle_deg_concat, Float, Tensor};
use locus_objectives::{Mode, StageContext};
use locus_sched::{Error, Result, Stage};

/// One stage's alignment on a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct StageAlignment {
    /// The stage's name.
    pub stage: String,
    /// Angle in degrees between the rule's parameter gradient and the true one: 0 for
    /// backpropagation, 90 for an update unrelated to the loss. NaN when either gradient is
    /// zero (e.g. a dead layer).
    pub update_angle_deg: f64,
    /// The module's own diagnostics, such as `weight_alignment_deg` (the angle between a
    /// layer's weights and its feedback matrix).
    pub module_diagnostics: Vec<(String, f64)>,
}

/// Measures every stage's alignment with backpropagation on one batch: the angle between
/// the parameter gradients each stage's rule would apply (the same top-down pass as
/// [`Lockstep`](locus_sched::Lockstep), objectives in [`Mode::Evaluate`]) and the true
/// gradients of the top stage's loss ([`Module::backward_exact`](locus_core::Module) through
/// every stage). No parameter is updated and no step is counted; an objective with a
/// lazily drawn state (such as a feedback matrix) may draw it, and a
/// [`BatchNorm1d`](locus_core::BatchNorm1d) folds the batch into its running statistics,
/// as every training forward pass does.
///
/// # Errors
/// [`Error::Config`] for an empty stack or a top stage that needs a message;
/// [`Error::Stage`] naming the stage whose module or objective failed.
pub fn measure_alignment<F: Float>(
    stages: &mut [Stage<F>],
    inputs: &Tensor<F>,
    labels: &[usize],
) -> Result<Vec<StageAlignment>> {
    let Some(top) = stages.len().checked_sub(1) else {
        return Err(Error::Config("there are no stages".into()));
    };
    let mut activations = vec![inputs.clone()];
    let mut caches = Vec::with_capacity(stages.len());
    for stage in stages.iter() {
        let (y, cache) = stage.forward(&activations[activations.len() - 1])?;
        activations.push(y);
        caches.push(cache);
    }

    let mut rule_message: Option<Tensor<F>> = None;
    let mut true_message: Option<Tensor<F>> = None;
    let mut global_error: Option<Tensor<F>> = None;
    let mut out = Vec::with_capacity(stages.len());
    for i in (0..=top).rev() {
        let stage = &mut stages[i];
        let ctx = StageContext {
            input: &activations[i],
            output: &activations[i + 1],
            labels: Some(labels),
            global_error: global_error.as_ref(),
            message: rule_message.as_ref(),
            network_input: stage.network_input_for(Some(inputs))?,
            step: stage.steps(),
        };
        let signal = stage
            .objective_mut()
            .signal(&ctx, Mode::Evaluate)
            .map_err(|e| stage.wrap(e))?;
        let need_rule_input = i > 0 && stages[i - 1].objective().needs_message();
        let stage = &stages[i];
        let rule = stage
            .module()
            .backward(&caches[i], &signal.grad_output, need_rule_input)
            .map_err(|e| stage.wrap(e))?;
        // The true gradient of the network loss: the top stage's own signal, then exact
        // backpropagation of it through every stage below.
        let true_grad_output = if i == top {
            signal.grad_output.clone()
        } else {
            true_message.take().ok_or_else(|| {
                Error::Config("internal: no exact gradient from the stage above".into())
            })?
        };
        let exact = stage
            .module()
            .backward_exact(&caches[i], &true_grad_output, i > 0)
            .map_err(|e| stage.wrap(e))?;
        out.push(StageAlignment {
            stage: stage.name().to_string(),
            update_angle_deg: angle_deg_concat(&rule.params, &exact.params),
            module_diagnostics: stage.module().diagnostics(),
        });
        if i == top {
            global_error = Some(signal.grad_output);
        }
        rule_message = rule.input;
        true_message = exact.input;
    }
    out.reverse();
    Ok(out)
}
