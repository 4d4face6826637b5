use serde::{Deserialize, Serialize};

use super::{
    align_state, check_lr, check_non_negative, check_state, check_unit_interval, update_elements,
    Optimizer, OptimizerState,
};
use crate::{Float, ParamMut, Result, Tensor};

/// Configuration of [`Sgd`].
///
/// The update follows PyTorch's `torch.optim.SGD`: with `g ← g + λ w` (weight decay),
/// `v ← μ v + g` and `w ← w - η v` (or `w ← w - η (g + μ v)` with Nesterov).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// Learning rate η (no default: required).
    pub lr: f64,
    /// Momentum μ in `[0, 1)` (default 0).
    pub momentum: f64,
    /// L2 weight decay λ ≥ 0 (default 0).
    pub weight_decay: f64,
    /// Nesterov momentum (default false).
    pub nesterov: bool,
}

impl SgdConfig {
    /// Plain SGD with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        SgdConfig {
            lr,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }

    /// Sets the momentum.
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the weight decay.
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Turns Nesterov momentum on or off.
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`](crate::Error::InvalidParameter) naming the bad field.
    pub fn check(&self) -> Result<()> {
        check_lr(self.lr)?;
        check_unit_interval("momentum", self.momentum)?;
        check_non_negative("weight decay", self.weight_decay)
    }

    /// Checks and builds the optimizer.
    ///
    /// # Errors
    /// As [`SgdConfig::check`].
    pub fn build<F: Float>(&self) -> Result<Sgd<F>> {
        self.check()?;
        Ok(Sgd {
            config: *self,
            velocity: Vec::new(),
        })
    }
}

/// Stochastic gradient descent with optional momentum and weight decay.
#[derive(Debug, Clone)]
pub struct Sgd<F> {
    config: SgdConfig,
    velocity: Vec<Tensor<F>>,
}

impl<F: Float> Optimizer<F> for Sgd<F> {
    fn name(&self) -> String {
        let c = &self.config;
        format!(
            "SGD(lr={}, momentum={}, weight_decay={}{})",
            c.lr,
            c.momentum,
            c.weight_decay,
            if c.nesterov { ", nesterov" } else { "" }
        )
    }

    fn step(&mut self, mut params: Vec<ParamMut<'_, F>>, grads: &[Tensor<F>]) -> Result<()> {
        let c = self.config;
        let slots = usize::from(c.momentum > 0.0);
        align_state("SGD step", &params, grads, &mut self.velocity, slots)?;
        let (lr, mu, wd) = (F::cast(c.lr), F::cast(c.momentum), F::cast(c.weight_decay));
        for (i, (p, g)) in params.iter_mut().zip(grads).enumerate() {
            if slots == 0 {
                update_elements!(&mut *p.value, g, [], |w, g| {
                    *w -= lr * (g + wd * *w);
                });
            } else if c.nesterov {
                update_elements!(&mut *p.value, g, [self.velocity[i]], |w, g, v| {
                    let g = g + wd * *w;
                    *v = mu * *v + g;
                    *w -= lr * (g + mu * *v);
                });
            } else {
                update_elements!(&mut *p.value, g, [self.velocity[i]], |w, g, v| {
                    let g = g + wd * *w;
                    *v = mu * *v + g;
                    *w -= lr * *v;
                });
            }
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
            steps: 0,
            buffers: self.velocity.clone(),
        }
    }

    fn load_state(&mut self, state: OptimizerState<F>) -> Result<()> {
        check_state("SGD", &state, usize::from(self.config.momentum > 0.0))?;
        self.velocity = state.buffers;
        Ok(())
    }
}
