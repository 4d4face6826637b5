use serde::{Deserialize, Serialize};

use super::{
    align_state, check_lr, check_non_negative, check_state, check_unit_interval, update_elements,
    Optimizer, OptimizerState,
};
use crate::{Error, Float, ParamMut, Result, Tensor};

/// Configuration of [`Adam`] (Kingma & Ba 2015, Algorithm 1), with PyTorch's defaults and
/// its L2-style weight decay (`g ← g + λ w`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate (default 1e-3).
    pub lr: f64,
    /// Decay of the first-moment estimate, β₁ in `[0, 1)` (default 0.9).
    pub beta1: f64,
    /// Decay of the second-moment estimate, β₂ in `[0, 1)` (default 0.999).
    pub beta2: f64,
    /// ε > 0 added to the denominator (default 1e-8).
    pub eps: f64,
    /// L2 weight decay λ ≥ 0 (default 0).
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl AdamConfig {
    /// Defaults with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        AdamConfig {
            lr,
            ..Self::default()
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the bad field.
    pub fn check(&self) -> Result<()> {
        check_lr(self.lr)?;
        check_unit_interval("Adam beta1", self.beta1)?;
        check_unit_interval("Adam beta2", self.beta2)?;
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(Error::invalid(
                "Adam eps",
                "should be finite and > 0",
                self.eps,
            ));
        }
        check_non_negative("weight decay", self.weight_decay)
    }

    /// Checks and builds the optimizer.
    ///
    /// # Errors
    /// As [`AdamConfig::check`].
    pub fn build<F: Float>(&self) -> Result<Adam<F>> {
        self.check()?;
        Ok(Adam {
            config: *self,
            moments: Vec::new(),
            steps: 0,
        })
    }
}

/// Adam: per-parameter step sizes from bias-corrected moment estimates.
#[derive(Debug, Clone)]
pub struct Adam<F> {
    config: AdamConfig,
    /// `[m_0, v_0, m_1, v_1, …]`.
    moments: Vec<Tensor<F>>,
    steps: u64,
}

impl<F: Float> Optimizer<F> for Adam<F> {
    fn name(&self) -> String {
        let c = &self.config;
        format!(
            "Adam(lr={}, betas=({}, {}), eps={}, weight_decay={})",
            c.lr, c.beta1, c.beta2, c.eps, c.weight_decay
        )
    }

    fn step(&mut self, mut params: Vec<ParamMut<'_, F>>, grads: &[Tensor<F>]) -> Result<()> {
        let c = self.config;
        align_state("Adam step", &params, grads, &mut self.moments, 2)?;
        self.steps += 1;
        let t = self.steps as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2 = 1.0 - c.beta2.powi(t);
        let (b1, b2, eps, wd) = (
            F::cast(c.beta1),
            F::cast(c.beta2),
            F::cast(c.eps),
            F::cast(c.weight_decay),
        );
        let step = F::cast(c.lr / bc1);
        let inv_sqrt_bc2 = F::cast(1.0 / bc2.sqrt());
        let (one_b1, one_b2) = (F::one() - b1, F::one() - b2);
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            let (ms, vs) = self.moments[2 * i..2 * i + 2].split_at_mut(1);
            update_elements!(&mut *p.value, g, [ms[0], vs[0]], |w, g, m, v| {
                let g = g + wd * *w;
                *m = b1 * *m + one_b1 * g;
                *v = b2 * *v + one_b2 * g * g;
                *w -= step * *m / ((*v).sqrt() * inv_sqrt_bc2 + eps);
            });
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        check_lr(lr)?;
        self.config.lr = lr;
        Ok(())
    }

    fn state(&self) -> OptimizerState<F> {
        OptimizerState {
            steps: self.steps,
            buffers: self.moments.clone(),
        }
    }

    fn load_state(&mut self, state: OptimizerState<F>) -> Result<()> {
        check_state("Adam", &state, 2)?;
        self.moments = state.buffers;
        self.steps = state.steps;
        Ok(())
    }
}
