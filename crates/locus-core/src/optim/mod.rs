//! Optimizers. Each stage owns its own optimizer (and so its own state and learning rate).

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};

use serde::{Deserialize, Serialize};

use crate::{Error, Float, ParamMut, Result, Tensor};

/// Updates parameters from their gradients, keeping whatever state it needs (momentum,
/// moment estimates) itself. One optimizer serves one parameter list: the order and shapes
/// of `params` must be the same at every step.
pub trait Optimizer<F: Float>: Send {
    /// A short description, e.g. `"SGD(lr=0.1, momentum=0.9)"`.
    fn name(&self) -> String;

    /// Applies one update. `grads[i]` is the gradient of `params[i]`.
    ///
    /// # Errors
    /// [`Error::GradientMismatch`] when the lists differ in length or a shape differs from
    /// its parameter's (or from the state built at the first step).
    fn step(&mut self, params: Vec<ParamMut<'_, F>>, grads: &[Tensor<F>]) -> Result<()>;

    /// Current learning rate.
    fn learning_rate(&self) -> f64;

    /// Changes the learning rate (for schedules).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a rate that is not finite and > 0.
    fn set_learning_rate(&mut self, lr: f64) -> Result<()>;
}

/// Either optimizer's configuration, for code (like the CLI) that picks one at run time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum OptimizerConfig {
    /// Stochastic gradient descent.
    Sgd(SgdConfig),
    /// Adam.
    Adam(AdamConfig),
}

impl OptimizerConfig {
    /// Checks and builds a fresh optimizer (with empty state).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an out-of-range hyper-parameter.
    pub fn build<F: Float>(&self) -> Result<Box<dyn Optimizer<F>>> {
        Ok(match self {
            OptimizerConfig::Sgd(c) => Box::new(c.build::<F>()?),
            OptimizerConfig::Adam(c) => Box::new(c.build::<F>()?),
        })
    }

    /// The configured learning rate.
    pub fn learning_rate(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::Adam(c) => c.lr,
        }
    }
}

pub(crate) fn check_lr(lr: f64) -> Result<()> {
    if lr.is_finite() && lr > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid("learning rate", "should be finite and > 0", lr))
    }
}

pub(crate) fn check_unit_interval(name: &str, v: f64) -> Result<()> {
    if (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(Error::invalid(name, "should be in [0, 1)", v))
    }
}

pub(crate) fn check_non_negative(name: &str, v: f64) -> Result<()> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(name, "should be finite and >= 0", v))
    }
}

/// Checks that `grads` line up with `params` and with the optimizer's state slots, and
/// creates zeroed state slots (`slots_per_param` per parameter) at the first step.
pub(crate) fn align_state<F: Float>(
    context: &str,
    params: &[ParamMut<'_, F>],
    grads: &[Tensor<F>],
    state: &mut Vec<Tensor<F>>,
    slots_per_param: usize,
) -> Result<()> {
    let mismatch = |reason: String| Error::GradientMismatch {
        context: context.to_string(),
        reason,
    };
    if params.len() != grads.len() {
        return Err(mismatch(format!(
            "{} parameters but {} gradients",
            params.len(),
            grads.len()
        )));
    }
    for (p, g) in params.iter().zip(grads) {
        if p.value.shape() != g.shape() {
            return Err(mismatch(format!(
                "parameter {} has shape {:?} but its gradient {:?}",
                p.name,
                p.value.shape(),
                g.shape()
            )));
        }
        if !g.iter().all(|v| v.is_finite()) {
            return Err(Error::NonFinite {
                context: format!("{context}: gradient of {}", p.name),
            });
        }
    }
    if state.is_empty() {
        for p in params {
            for _ in 0..slots_per_param {
                state.push(Tensor::zeros(p.value.shape()));
            }
        }
    }
    if state.len() != params.len() * slots_per_param {
        return Err(mismatch(format!(
            "the optimizer was built for {} parameters, it now gets {}",
            state.len() / slots_per_param.max(1),
            params.len()
        )));
    }
    for (i, p) in params.iter().enumerate() {
        let s = &state[i * slots_per_param];
        if slots_per_param > 0 && s.shape() != p.value.shape() {
            return Err(mismatch(format!(
                "parameter {} changed shape from {:?} to {:?} between steps",
                p.name,
                s.shape(),
                p.value.shape()
            )));
        }
    }
    Ok(())
}
