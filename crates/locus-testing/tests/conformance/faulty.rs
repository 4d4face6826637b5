//! Deliberately broken modules and objectives, one fault each, to prove the checks can
//! fail.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use locus_core::{
    as_matrix, seeded_rng, Cache, Error, Gradients, Linear, LinearConfig, Loss, Module, Param,
    ParamMut, Result, Tensor,
};
use locus_objectives::{LocalObjective, LocalSignal, Mode, StageContext};
use ndarray::{Axis, Slice};

/// How a [`FaultyLinear`] breaks the `Module` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleFault {
    /// The weight gradient is 10% too large.
    ScaledWeightGrad,
    /// The input gradient is 10% too large.
    ScaledInputGrad,
    /// Gradients come back as `[bias, weight]`.
    SwappedGradOrder,
    /// Both parameters are called "weight".
    DuplicateNames,
    /// An input gradient comes back even when not asked for.
    InputGradWhenNotAsked,
    /// `infer` forgets the bias.
    InferWithoutBias,
    /// Every forward call adds a tiny, growing offset.
    NoisyForward,
    /// Backward uses the input of the *last* forward call, kept inside the module, not the
    /// cache.
    StashedInput,
    /// Forward multiplies without checking the input width, so ndarray panics.
    PanicsOnWrongShape,
    /// Backward silently uses the first `outputs` columns of a too-wide grad_output.
    IgnoresGradOutputShape,
}

/// A bias-carrying [`Linear`] layer with one [`ModuleFault`].
pub struct FaultyLinear {
    inner: Linear<f64>,
    fault: ModuleFault,
    last_input: Mutex<Option<Tensor<f64>>>,
    calls: AtomicU64,
}

impl FaultyLinear {
    /// A faulty `inputs → outputs` layer drawn from `seed`.
    pub fn boxed(
        inputs: usize,
        outputs: usize,
        fault: ModuleFault,
        seed: u64,
    ) -> Box<dyn Module<f64>> {
        let inner = LinearConfig::new(inputs, outputs)
            .init(&mut seeded_rng(seed))
            .unwrap();
        Box::new(FaultyLinear {
            inner,
            fault,
            last_input: Mutex::new(None),
            calls: AtomicU64::new(0),
        })
    }
}

impl Module<f64> for FaultyLinear {
    fn name(&self) -> String {
        format!("Faulty{}", self.inner.name())
    }

    fn forward(&self, input: &Tensor<f64>) -> Result<(Tensor<f64>, Cache<f64>)> {
        let y = match self.fault {
            ModuleFault::PanicsOnWrongShape => {
                let x = input.view().into_dimensionality::<ndarray::Ix2>().unwrap();
                (x.dot(&self.inner.weight()) + self.inner.bias().unwrap()).into_dyn()
            }
            ModuleFault::NoisyForward => {
                let noise = 1e-9 * self.calls.fetch_add(1, Ordering::SeqCst) as f64;
                self.inner.infer(input)? + noise
            }
            _ => self.inner.infer(input)?,
        };
        *self.last_input.lock().unwrap() = Some(input.clone());
        Ok((y, Cache::from_tensors(vec![input.clone()])))
    }

    fn infer(&self, input: &Tensor<f64>) -> Result<Tensor<f64>> {
        match self.fault {
            ModuleFault::InferWithoutBias => {
                let x = as_matrix(input, Some(self.inner.inputs()), "FaultyLinear")?;
                Ok(x.dot(&self.inner.weight()).into_dyn())
            }
            _ => self.forward(input).map(|(y, _)| y),
        }
    }

    fn backward(
        &self,
        cache: &Cache<f64>,
        grad_output: &Tensor<f64>,
        need_input_grad: bool,
    ) -> Result<Gradients<f64>> {
        let mut cache = cache.clone();
        if self.fault == ModuleFault::StashedInput {
            let stashed = self.last_input.lock().unwrap().clone();
            cache = Cache::from_tensors(vec![stashed.ok_or_else(|| Error::Cache {
                context: "FaultyLinear".into(),
                reason: "no forward yet".into(),
            })?]);
        }
        let mut grad_output = grad_output.clone();
        if self.fault == ModuleFault::IgnoresGradOutputShape && grad_output.ndim() == 2 {
            let outputs = self.inner.outputs().min(grad_output.shape()[1]);
            grad_output = grad_output
                .slice_axis(Axis(1), Slice::from(..outputs))
                .to_owned();
        }
        let asked = need_input_grad || self.fault == ModuleFault::InputGradWhenNotAsked;
        let mut g = self.inner.backward(&cache, &grad_output, asked)?;
        match self.fault {
            ModuleFault::ScaledWeightGrad => g.params[0] *= 1.1,
            ModuleFault::ScaledInputGrad => {
                if let Some(gi) = &mut g.input {
                    *gi *= 1.1;
                }
            }
            ModuleFault::SwappedGradOrder => g.params.swap(0, 1),
            _ => {}
        }
        Ok(g)
    }

    fn params(&self) -> Vec<Param<'_, f64>> {
        let mut p = self.inner.params();
        if self.fault == ModuleFault::DuplicateNames {
            p[1].name = p[0].name.clone();
        }
        p
    }

    fn params_mut(&mut self) -> Vec<ParamMut<'_, f64>> {
        let duplicate = self.fault == ModuleFault::DuplicateNames;
        let mut p = self.inner.params_mut();
        if duplicate {
            p[1].name = p[0].name.clone();
        }
        p
    }
}

/// How a [`FaultyObjective`] breaks the `LocalObjective` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectiveFault {
    /// Mean squared error whose gradient misses the factor 2.
    HalfGradient,
    /// Mean squared error that turns NaN outputs into 0 before evaluating.
    NanToZero,
    /// Mean squared error whose loss drifts with every call, even in Mode::Evaluate.
    ImpureEvaluate,
    /// Mean squared error that needs labels but says it does not.
    UndeclaredLabels,
    /// Mean squared error whose gradient has one column too many.
    WrongGradShape,
    /// Upstream gradient that needs a message but says it does not.
    UndeclaredMessage,
    /// Upstream gradient that pads or truncates a message of the wrong shape.
    UncheckedMessageShape,
    /// Upstream gradient that needs a message but learns from zeros without one.
    ZeroWithoutMessage,
    /// A loss of the network input that needs it but says it does not.
    UndeclaredNetworkInput,
    /// A loss of the network input that needs it but takes zeros without one.
    ZeroWithoutNetworkInput,
}

/// A mean-squared-error or upstream-gradient objective with one [`ObjectiveFault`].
pub struct FaultyObjective {
    fault: ObjectiveFault,
    calls: u64,
}

impl FaultyObjective {
    /// The faulty objective, boxed.
    pub fn boxed(fault: ObjectiveFault) -> Box<dyn LocalObjective<f64>> {
        Box::new(FaultyObjective { fault, calls: 0 })
    }

    fn mse(&mut self, ctx: &StageContext<'_, f64>) -> Result<LocalSignal<f64>> {
        let labels = ctx
            .labels
            .ok_or_else(|| Error::invalid("labels", "needed", "none"))?;
        let output = match self.fault {
            ObjectiveFault::NanToZero => ctx.output.mapv(|v| if v.is_nan() { 0.0 } else { v }),
            _ => ctx.output.clone(),
        };
        let (mut loss, mut grad_output) = Loss::Mse.evaluate(&output, labels)?;
        match self.fault {
            ObjectiveFault::HalfGradient => grad_output *= 0.5,
            ObjectiveFault::ImpureEvaluate => {
                self.calls += 1;
                loss += 1e-3 * self.calls as f64;
            }
            ObjectiveFault::WrongGradShape => {
                let zeros = Tensor::zeros(vec![grad_output.shape()[0], 1]);
                grad_output =
                    ndarray::concatenate(Axis(1), &[grad_output.view(), zeros.view()]).unwrap();
            }
            _ => {}
        }
        Ok(LocalSignal { loss, grad_output })
    }

    fn upstream(&self, ctx: &StageContext<'_, f64>) -> Result<LocalSignal<f64>> {
        let zeros = Tensor::zeros(ctx.output.shape());
        let message = match (ctx.message, self.fault) {
            (None, ObjectiveFault::ZeroWithoutMessage) => &zeros,
            (m, _) => m.ok_or_else(|| Error::invalid("message", "needed", "none"))?,
        };
        locus_core::check_finite(ctx.output, "output")?;
        locus_core::check_finite(message, "message")?;
        let grad_output = match self.fault {
            ObjectiveFault::UncheckedMessageShape => {
                let padded = message.iter().copied().chain(std::iter::repeat(0.0));
                let values = padded.take(ctx.output.len()).collect();
                Tensor::from_shape_vec(ctx.output.shape(), values).unwrap()
            }
            _ => {
                if message.shape() != ctx.output.shape() {
                    return Err(Error::shape(
                        "message",
                        "the output's shape",
                        message.shape(),
                    ));
                }
                message.clone()
            }
        };
        let loss = grad_output
            .iter()
            .zip(ctx.output.iter())
            .map(|(m, h)| m * h)
            .sum();
        Ok(LocalSignal { loss, grad_output })
    }
}

impl FaultyObjective {
    /// `Σ_ij h_ij·s_i`, `s_i` the sum of row `i` of the network input: gradient `s_i`.
    fn of_network_input(&self, ctx: &StageContext<'_, f64>) -> Result<LocalSignal<f64>> {
        let zeros = Tensor::zeros(vec![ctx.output.shape()[0], 1]);
        let x = match (ctx.network_input, self.fault) {
            (None, ObjectiveFault::ZeroWithoutNetworkInput) => &zeros,
            (x, _) => x.ok_or_else(|| Error::invalid("network input", "needed", "none"))?,
        };
        locus_core::check_finite(ctx.output, "output")?;
        let h = as_matrix(ctx.output, None, "output")?;
        let sums = as_matrix(x, None, "network input")?.sum_axis(Axis(1));
        let grad_output = h.mapv(|_| 0.0) + &sums.insert_axis(Axis(1));
        let loss = (&h * &grad_output).sum();
        Ok(LocalSignal {
            loss,
            grad_output: grad_output.into_dyn(),
        })
    }
}

impl LocalObjective<f64> for FaultyObjective {
    fn name(&self) -> String {
        format!("{:?}", self.fault)
    }

    fn signal(&mut self, ctx: &StageContext<'_, f64>, _mode: Mode) -> Result<LocalSignal<f64>> {
        match self.fault {
            ObjectiveFault::UndeclaredMessage
            | ObjectiveFault::UncheckedMessageShape
            | ObjectiveFault::ZeroWithoutMessage => self.upstream(ctx),
            ObjectiveFault::UndeclaredNetworkInput | ObjectiveFault::ZeroWithoutNetworkInput => {
                self.of_network_input(ctx)
            }
            _ => self.mse(ctx),
        }
    }

    fn needs_network_input(&self) -> bool {
        self.fault == ObjectiveFault::ZeroWithoutNetworkInput
    }

    fn needs_labels(&self) -> bool {
        !matches!(
            self.fault,
            ObjectiveFault::UndeclaredLabels
                | ObjectiveFault::UndeclaredMessage
                | ObjectiveFault::UncheckedMessageShape
                | ObjectiveFault::ZeroWithoutMessage
                | ObjectiveFault::UndeclaredNetworkInput
                | ObjectiveFault::ZeroWithoutNetworkInput
        )
    }

    fn needs_message(&self) -> bool {
        matches!(
            self.fault,
            ObjectiveFault::UncheckedMessageShape | ObjectiveFault::ZeroWithoutMessage
        )
    }
}
