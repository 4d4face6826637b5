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

    /// A copy of the running state (momentum buffers, moment estimates, step count), for
    /// checkpoints that resume training exactly where it stopped. Empty before the first
    /// step.
    fn state(&self) -> OptimizerState<F>;

    /// Replaces the running state with one taken by [`Optimizer::state`] from an optimizer
    /// of the same kind and settings, serving the same parameters. Whether the buffers fit
    /// the parameters is checked at the next step.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] when the number of buffers cannot belong to this
    /// optimizer, paired buffers differ in shape, or a value is not finite.
    fn load_state(&mut self, state: OptimizerState<F>) -> Result<()>;
}

/// An optimizer's running state: its per-parameter buffers in the optimizer's own order
/// (SGD: one velocity per parameter when it has momentum; Adam: first and second moment
/// per parameter, interleaved) and the number of steps it has taken.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimizerState<F> {
    /// Steps taken (Adam's bias correction depends on it).
    pub steps: u64,
    /// The buffers, `slots` per parameter, parameter by parameter.
    pub buffers: Vec<Tensor<F>>,
}

impl<F> Default for OptimizerState<F> {
    fn default() -> Self {
        OptimizerState {
            steps: 0,
            buffers: Vec::new(),
        }
    }
}

/// Checks a state about to be loaded into an optimizer `name` that keeps
/// `slots_per_param` buffers per parameter: a whole number of parameters' buffers (none
/// for an optimizer without state), each parameter's buffers of one shape, all finite.
pub(crate) fn check_state<F: Float>(
    name: &str,
    state: &OptimizerState<F>,
    slots_per_param: usize,
) -> Result<()> {
    let buffers = state.buffers.len();
    let fits = if slots_per_param == 0 {
        buffers == 0
    } else {
        buffers % slots_per_param == 0
    };
    if !fits {
        return Err(Error::invalid(
            &format!("{name} state"),
            &format!("should hold {slots_per_param} buffers per parameter"),
            buffers,
        ));
    }
    for (p, group) in state.buffers.chunks(slots_per_param.max(1)).enumerate() {
        if group.iter().any(|b| b.shape() != group[0].shape()) {
            return Err(Error::invalid(
                &format!("{name} state of parameter {p}"),
                "should have buffers of one shape",
                format!("{:?}", group.iter().map(|b| b.shape()).collect::<Vec<_>>()),
            ));
        }
        if group.iter().any(|b| !crate::tensor::all_finite(b)) {
            return Err(Error::invalid(
                &format!("{name} state of parameter {p}"),
                "should be finite",
                "a NaN or infinite value",
            ));
        }
    }
    Ok(())
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
        Err(Error::invalid(
            "learning rate",
            "should be finite and > 0",
            lr,
        ))
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
        if !crate::tensor::all_finite(g) {
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
    if slots_per_param == 0 {
        return Ok(());
    }
    for (i, p) in params.iter().enumerate() {
        let s = &state[i * slots_per_param];
        if s.shape() != p.value.shape() {
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

/// Runs `update` on every element of a parameter `w`, its gradient `g` and the state
/// tensors of its shape that the optimizer keeps (none, its momentum, or Adam's two
/// moments), as one pass over contiguous slices compiled for the CPU's widest vectors (as
/// [`crate::kernels`]' element-wise helpers do for one output; an update writes several),
/// or through `ndarray::Zip` when a tensor is not in standard layout. Element-wise, so how it runs cannot change the
/// result.
macro_rules! update_elements {
    ($w:expr, $g:expr, [$($s:expr),*], |$wv:ident, $gv:ident $(, $sv:ident)*| $body:block) => {{
        let w: &mut $crate::Tensor<_> = $w;
        let g: &$crate::Tensor<_> = $g;
        if w.is_standard_layout() && g.is_standard_layout() $(&& $s.is_standard_layout())* {
            let w = w.as_slice_mut().expect("standard layout checked above");
            let g = g.as_slice().expect("standard layout checked above");
            $(let $sv = $s.as_slice_mut().expect("standard layout checked above");)*
            $crate::kernels::vectorised(
                #[inline(always)]
                || {
                    let n = w.len();
                    let g = &g[..n];
                    $(let $sv = &mut $sv[..n];)*
                    for i in 0..n {
                        let $wv = &mut w[i];
                        let $gv = g[i];
                        $(let $sv = &mut $sv[i];)*
                        $body
                    }
                },
            );
        } else {
            ndarray::Zip::from(w).and(g)$(.and(&mut $s))*.for_each(|$wv, &$gv $(, $sv)*| $body);
        }
    }};
}
pub(crate) use update_elements;

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn one_param(w: &mut Tensor<f64>) -> Vec<ParamMut<'_, f64>> {
        vec![ParamMut {
            name: "w".into(),
            value: w,
        }]
    }

    #[test]
    fn plain_sgd_takes_a_gradient_step() {
        let mut w = array![1.0, -2.0].into_dyn();
        let g = array![0.5, 1.0].into_dyn();
        let mut opt = SgdConfig::new(0.1).build::<f64>().unwrap();
        opt.step(one_param(&mut w), std::slice::from_ref(&g))
            .unwrap();
        assert_eq!(w, array![0.95, -2.1].into_dyn());
    }

    #[test]
    fn momentum_and_weight_decay_follow_the_torch_update() {
        // g' = g + λw; v = μv + g'; w -= ηv
        let mut w = array![1.0].into_dyn();
        let g = array![0.5].into_dyn();
        let mut opt = SgdConfig::new(0.1)
            .with_momentum(0.9)
            .with_weight_decay(0.1)
            .build::<f64>()
            .unwrap();
        opt.step(one_param(&mut w), std::slice::from_ref(&g))
            .unwrap();
        assert!((w[0] - (1.0 - 0.1 * 0.6)).abs() < 1e-15);
        let w1 = w[0];
        opt.step(one_param(&mut w), std::slice::from_ref(&g))
            .unwrap();
        let v2 = 0.9 * 0.6 + (0.5 + 0.1 * w1);
        assert!((w[0] - (w1 - 0.1 * v2)).abs() < 1e-15);
    }

    #[test]
    fn adam_first_step_moves_by_the_learning_rate() {
        // With bias correction, the first Adam step is lr · g / (|g| + ε') ≈ lr · sign(g).
        let mut w = array![0.0, 0.0].into_dyn();
        let g = array![3.0, -0.01].into_dyn();
        let mut opt = AdamConfig::new(0.01).build::<f64>().unwrap();
        opt.step(one_param(&mut w), std::slice::from_ref(&g))
            .unwrap();
        assert!(
            (w[0] + 0.01).abs() < 1e-8 && (w[1] - 0.01).abs() < 1e-6,
            "{w}"
        );
    }

    /// Three steps straight, or one step, then the state moved into a fresh optimizer
    /// and two more steps: the same parameters, bit for bit.
    #[test]
    fn a_loaded_state_continues_the_run_exactly() {
        let grads = [
            array![0.5, -1.0].into_dyn(),
            array![0.25, 2.0].into_dyn(),
            array![-0.75, 0.5].into_dyn(),
        ];
        for config in [
            OptimizerConfig::Sgd(SgdConfig::new(0.1).with_momentum(0.9)),
            OptimizerConfig::Adam(AdamConfig::new(0.01)),
        ] {
            let mut straight = array![1.0, -2.0].into_dyn();
            let mut opt = config.build::<f64>().unwrap();
            for g in &grads {
                opt.step(one_param(&mut straight), std::slice::from_ref(g))
                    .unwrap();
            }
            let mut resumed = array![1.0, -2.0].into_dyn();
            let mut first = config.build::<f64>().unwrap();
            first
                .step(one_param(&mut resumed), std::slice::from_ref(&grads[0]))
                .unwrap();
            let mut second = config.build::<f64>().unwrap();
            second.load_state(first.state()).unwrap();
            for g in &grads[1..] {
                second
                    .step(one_param(&mut resumed), std::slice::from_ref(g))
                    .unwrap();
            }
            assert_eq!(straight, resumed, "{config:?}");
            assert_eq!(second.state(), opt.state(), "{config:?}");
            // Without the state the second leg differs: the check can fail.
            let mut restarted = array![1.0, -2.0].into_dyn();
            let mut leg = config.build::<f64>().unwrap();
            leg.step(one_param(&mut restarted), std::slice::from_ref(&grads[0]))
                .unwrap();
            let mut fresh = config.build::<f64>().unwrap();
            for g in &grads[1..] {
                fresh
                    .step(one_param(&mut restarted), std::slice::from_ref(g))
                    .unwrap();
            }
            assert_ne!(straight, restarted, "{config:?}");
        }
    }

    #[test]
    fn states_that_cannot_belong_to_the_optimizer_are_refused() {
        let v = |n: usize| Tensor::<f64>::zeros(vec![n]);
        let adam = |buffers| OptimizerState { steps: 1, buffers };
        let mut opt = AdamConfig::new(0.01).build::<f64>().unwrap();
        let e = opt.load_state(adam(vec![v(2)])).unwrap_err();
        assert!(e.to_string().contains("2 buffers per parameter"), "{e}");
        let e = opt.load_state(adam(vec![v(2), v(3)])).unwrap_err();
        assert!(e.to_string().contains("buffers of one shape"), "{e}");
        let mut nan = v(2);
        nan[0] = f64::NAN;
        let e = opt.load_state(adam(vec![v(2), nan])).unwrap_err();
        assert!(e.to_string().contains("finite"), "{e}");
        let mut plain = SgdConfig::new(0.1).build::<f64>().unwrap();
        let e = plain.load_state(adam(vec![v(2)])).unwrap_err();
        assert!(e.to_string().contains("0 buffers per parameter"), "{e}");
        // A state for other shapes is caught at the next step.
        let mut sgd = SgdConfig::new(0.1)
            .with_momentum(0.9)
            .build::<f64>()
            .unwrap();
        sgd.load_state(adam(vec![v(3)])).unwrap();
        let mut w = array![1.0, 2.0].into_dyn();
        let g = array![1.0, 1.0].into_dyn();
        let e = sgd
            .step(one_param(&mut w), std::slice::from_ref(&g))
            .unwrap_err();
        assert!(e.to_string().contains("changed shape"), "{e}");
    }

    #[test]
    fn mismatches_and_bad_settings_are_errors() {
        let mut w = array![1.0, 2.0].into_dyn();
        let mut opt = SgdConfig::new(0.1).build::<f64>().unwrap();
        let e = opt.step(one_param(&mut w), &[]).unwrap_err();
        assert!(
            e.to_string().contains("1 parameters but 0 gradients"),
            "{e}"
        );
        let e = opt
            .step(one_param(&mut w), &[array![1.0].into_dyn()])
            .unwrap_err();
        assert!(e.to_string().contains("parameter w has shape [2]"), "{e}");
        let e = opt
            .step(one_param(&mut w), &[array![f64::NAN, 0.0].into_dyn()])
            .unwrap_err();
        assert!(matches!(e, Error::NonFinite { .. }), "{e}");
        let e = SgdConfig::new(-1.0).check().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid learning rate: should be finite and > 0, but it is -1"
        );
        assert!(SgdConfig::new(0.1).with_momentum(1.0).check().is_err());
        assert!(AdamConfig {
            beta2: 1.5,
            ..AdamConfig::default()
        }
        .check()
        .is_err());
        let mut adam = AdamConfig::default().build::<f64>().unwrap();
        adam.step(one_param(&mut w), &[array![1.0, 1.0].into_dyn()])
            .unwrap();
        let mut other = array![1.0, 2.0, 3.0].into_dyn();
        let e = adam
            .step(one_param(&mut other), &[array![1.0, 1.0, 1.0].into_dyn()])
            .unwrap_err();
        assert!(e.to_string().contains("changed shape"), "{e}");
    }
}
