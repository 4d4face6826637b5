//! An [`LstmCell`] unrolled over a sequence, forward and backward through time.

use ndarray::{Array3, ArrayView3, Axis};

use super::lstm::{LstmCell, LstmState, LstmStepCache};
use crate::{Error, Float, Result, Tensor};

/// The forward pass of [`LstmCell::unroll`]: the hidden state at every step, the state
/// after the last step, and the per-step caches its backward pass needs.
#[derive(Debug, Clone)]
pub struct LstmUnroll<F> {
    /// `h` after each step, `[time, batch, hidden]`.
    pub hidden: Array3<F>,
    /// The state after the last step (where the next chunk of a long sequence starts).
    pub final_state: LstmState<F>,
    caches: Vec<LstmStepCache<F>>,
}

impl<F: Float> LstmUnroll<F> {
    /// Number of steps unrolled.
    pub fn steps(&self) -> usize {
        self.caches.len()
    }

    /// Bytes of activations kept for the backward pass: what truncating at `T` steps
    /// bounds.
    pub fn cache_bytes(&self) -> usize {
        self.caches.iter().map(LstmStepCache::bytes).sum()
    }
}

/// The gradients of [`LstmCell::unroll_backward`].
#[derive(Debug, Clone)]
pub struct LstmUnrollGradients<F> {
    /// `∂L/∂x_t` for every step, `[time, batch, inputs]`.
    pub inputs: Array3<F>,
    /// `∂L/∂h_0` and `∂L/∂c_0`: the gradient with respect to the state the unroll started
    /// from. Under truncated BPTT it is where the gradient is cut; with synthetic
    /// gradients it is the bootstrapped target of the gradient model's previous
    /// prediction (Jaderberg et al. 2016, sect. 3.1).
    pub initial_state: LstmState<F>,
    /// `∂L/∂W` and `∂L/∂b` summed over the steps, in the order of `params()`.
    pub params: Vec<Tensor<F>>,
}

impl<F: Float> LstmCell<F> {
    /// Runs the cell over `inputs` (`[time, batch, inputs]`) from `state`, keeping what
    /// [`LstmCell::unroll_backward`] needs.
    ///
    /// # Errors
    /// [`Error::Shape`] when the input width or the state does not fit the cell, or the
    /// sequence has no step.
    pub fn unroll(&self, inputs: ArrayView3<'_, F>, state: &LstmState<F>) -> Result<LstmUnroll<F>> {
        let (time, batch, _) = inputs.dim();
        if time == 0 {
            return Err(Error::shape(
                format!("{} unroll input", crate::Module::<F>::name(self)),
                "[time >= 1, batch, inputs]",
                inputs.shape(),
            ));
        }
        let mut hidden = Array3::zeros((time, batch, self.hidden()));
        let mut caches = Vec::with_capacity(time);
        let mut current = state.clone();
        for (t, x) in inputs.axis_iter(Axis(0)).enumerate() {
            let (next, cache) = self.step(x, &current)?;
            hidden.index_axis_mut(Axis(0), t).assign(&next.h);
            caches.push(cache);
            current = next;
        }
        Ok(LstmUnroll {
            hidden,
            final_state: current,
            caches,
        })
    }

    /// Backpropagation through time over an unroll: `grad_hidden` (`[time, batch,
    /// hidden]`) is `∂L/∂h_t` from the losses at each step, `grad_final` the gradient
    /// arriving at the final state from beyond the unroll (zero for truncated BPTT, a
    /// synthetic gradient for DNI).
    ///
    /// # Errors
    /// [`Error::Shape`] when `grad_hidden` is not the shape of the unroll's hidden states
    /// or `grad_final` not that of its final state.
    pub fn unroll_backward(
        &self,
        unroll: &LstmUnroll<F>,
        grad_hidden: ArrayView3<'_, F>,
        grad_final: &LstmState<F>,
    ) -> Result<LstmUnrollGradients<F>> {
        let context = format!("{} unroll backward", crate::Module::<F>::name(self));
        if grad_hidden.dim() != unroll.hidden.dim() {
            return Err(Error::shape(
                format!("{context} (grad_hidden)"),
                format!("{:?}", unroll.hidden.shape()),
                grad_hidden.shape(),
            ));
        }
        let (time, batch, hidden) = unroll.hidden.dim();
        for (name, m) in [("h", &grad_final.h), ("c", &grad_final.c)] {
            if m.dim() != (batch, hidden) {
                return Err(Error::shape(
                    format!("{context} (grad_final.{name})"),
                    format!("[{batch}, {hidden}]"),
                    m.shape(),
                ));
            }
        }
        let mut inputs = Array3::zeros((time, batch, self.inputs()));
        let mut params: Option<Vec<Tensor<F>>> = None;
        let mut grad = grad_final.clone();
        for t in (0..time).rev() {
            grad.h += &grad_hidden.index_axis(Axis(0), t);
            let step = self.step_backward(&unroll.caches[t], &grad)?;
            inputs.index_axis_mut(Axis(0), t).assign(&step.input);
            match params.as_mut() {
                None => params = Some(step.params),
                Some(sum) => {
                    for (s, g) in sum.iter_mut().zip(&step.params) {
                        *s += g;
                    }
                }
            }
            grad = step.state;
        }
        Ok(LstmUnrollGradients {
            inputs,
            initial_state: grad,
            params: params.expect("the unroll has at least one step"),
        })
    }
}
