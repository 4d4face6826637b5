use locus_core::init::Init;
use locus_core::{
    as_matrix, check_finite, seeded_rng, Error, Float, Result, StateDict, StateValue, Tensor,
};
use ndarray::Array2;

use crate::{LocalObjective, LocalSignal, Mode, StageContext};

/// Direct feedback alignment (Nøkland 2016): the network's output error `e`, broadcast from
/// the top stage, is projected straight onto this stage's output by a fixed random matrix
/// `B`: the stage learns from `δh = e B` (eq. 3 of the paper, with the derivative of the
/// stage's activation applied by the module's own backward pass). Nothing crosses the
/// layers between this stage and the top, so every hidden stage can update as soon as the
/// error is known, and training can start from all-zero weights.
///
/// `B` is `[classes, width]`, drawn on the first call (when the widths are known) from the
/// objective's seed, by default ([`DfaFeedbackInit::Uniform`]) uniform on `±1/sqrt(width)`:
/// the scale PyTorch gives the weights of a `width → classes` layer, so the signal has the
/// size backpropagation's would through a freshly initialised top layer.
/// [`DfaFeedbackInit::LeCunNormal`] draws it from `N(0, 1/classes)` instead, the fan-in
/// normal of `B` as the map from the error to the layer, as the standard FA/DFA protocol
/// does (Nøkland 2016 as reimplemented by BioTorch): a signal about `sqrt(width/classes)`
/// times larger (10× for a width of 1000).
///
/// Its loss is the linear surrogate `⟨e B, h⟩` (mean over the batch is already in `e`),
/// whose gradient with respect to `h` is exactly the signal; it is not a training loss to
/// report, the top stage reports that.
///
/// # Shapes
/// output `[batch, width]` (any rank, flattened per sample), global error
/// `[batch, classes]`.
///
/// # Errors
/// When the context has no global error, when its batch size differs from the output's,
/// or when the widths change after `B` was drawn; [`Error::NonFinite`] for a NaN in the
/// error or the output.
#[derive(Debug, Clone)]
pub struct DirectFeedback<F> {
    seed: u64,
    init: DfaFeedbackInit,
    feedback: Option<Array2<F>>,
}

/// How [`DirectFeedback`] draws its feedback matrix `B` (`[classes, width]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum DfaFeedbackInit {
    /// Uniform on `±1/sqrt(width)` (PyTorch's scale for a `width → classes` layer).
    #[default]
    Uniform,
    /// Normal with variance `1/classes`: LeCun's fan-in normal for `B` as the map from the
    /// `classes`-wide error to the layer (the standard FA/DFA protocol's scale).
    LeCunNormal,
}

impl<F: Float> DirectFeedback<F> {
    /// A DFA objective whose feedback matrix is drawn from `seed`; give every stage its
    /// own seed.
    pub fn new(seed: u64) -> Self {
        DirectFeedback {
            seed,
            init: DfaFeedbackInit::Uniform,
            feedback: None,
        }
    }

    /// Draws `B` by `init` instead of the default uniform.
    pub fn with_init(mut self, init: DfaFeedbackInit) -> Self {
        self.init = init;
        self
    }

    /// The feedback matrix `B` (`[classes, width]`), once it has been drawn.
    pub fn feedback(&self) -> Option<&Array2<F>> {
        self.feedback.as_ref()
    }

    fn matrix(&mut self, classes: usize, width: usize) -> Result<&Array2<F>> {
        if let Some(b) = &self.feedback {
            if b.dim() != (classes, width) {
                return Err(Error::shape(
                    "direct feedback: the feedback matrix was drawn for",
                    format!("[{}, {}]", b.nrows(), b.ncols()),
                    &[classes, width],
                ));
            }
        } else {
            let init = match self.init {
                DfaFeedbackInit::Uniform => Init::Uniform(1.0 / (width as f64).sqrt()),
                DfaFeedbackInit::LeCunNormal => Init::Normal(1.0 / (classes as f64).sqrt()),
            };
            let b = init.sample::<F>(
                &[classes, width],
                width,
                classes,
                &mut seeded_rng(self.seed),
            )?;
            self.feedback = Some(b.into_dimensionality().expect("sampled with a 2-D shape"));
        }
        Ok(self.feedback.as_ref().expect("set above"))
    }
}

impl<F: Float> LocalObjective<F> for DirectFeedback<F> {
    fn name(&self) -> String {
        "direct-feedback".into()
    }

    fn signal(&mut self, ctx: &StageContext<'_, F>, _mode: Mode) -> Result<LocalSignal<F>> {
        let error = ctx.global_error.ok_or_else(|| {
            Error::invalid(
                "stage context for direct feedback alignment",
                "should carry the global error broadcast from the top stage",
                "a context without one",
            )
        })?;
        let e = as_matrix(error, None, "direct feedback: global error")?;
        let batch = ctx.output.shape().first().copied().unwrap_or(0);
        if e.nrows() != batch {
            return Err(Error::shape(
                "direct feedback: global error",
                format!("[{batch}, classes] (the stage output's batch)"),
                error.shape(),
            ));
        }
        check_finite(error, "direct feedback: global error")?;
        // A NaN output would otherwise turn into a NaN loss without a word.
        check_finite(ctx.output, "direct feedback: stage output")?;
        let width = ctx.output.len() / batch.max(1);
        let delta = locus_core::matmul(&e, &self.matrix(e.ncols(), width)?.view());
        let grad_output: Tensor<F> = delta
            .into_shape_with_order(ctx.output.shape())
            .map_err(|_| Error::shape("direct feedback: signal", "the output's", &[]))?;
        let loss = ndarray::Zip::from(&grad_output)
            .and(ctx.output)
            .fold(F::zero(), |s, &g, &h| s + g * h);
        Ok(LocalSignal { loss, grad_output })
    }

    fn needs_labels(&self) -> bool {
        false
    }

    fn is_exact_gradient(&self) -> bool {
        // The signal is exactly the gradient of the linear surrogate loss, so finite
        // differences can check it.
        true
    }

    fn needs_global_error(&self) -> bool {
        true
    }

    /// The feedback matrix `B` (`[classes, width]`), once drawn, as `feedback`.
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        if let Some(b) = &self.feedback {
            state.put_tensor(format!("{prefix}feedback"), b.clone().into_dyn());
        }
    }

    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        let name = format!("{prefix}feedback");
        if let Some(StateValue::Tensor(b)) = state.get(&name) {
            if b.ndim() != 2 {
                return Err(Error::shape(
                    format!("state entry '{name}'"),
                    "[classes, width]",
                    b.shape(),
                ));
            }
            let b = state.take_tensor(&name, None)?;
            self.feedback = Some(b.into_dimensionality().expect("2-D, checked above"));
        } else if state.contains(&name) {
            state.take_tensor(&name, None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn signal_is_the_error_times_a_fixed_matrix() {
        let h = Tensor::<f64>::zeros(vec![2, 3]);
        let e = arr2(&[[1.0, 0.0], [0.0, 2.0]]).into_dyn();
        let mut dfa = DirectFeedback::<f64>::new(5);
        let ctx = StageContext::new(&h, &h).with_global_error(&e);
        let s1 = dfa.signal(&ctx, Mode::Learn).unwrap();
        let b = dfa.feedback().unwrap().clone();
        assert_eq!(b.dim(), (2, 3));
        assert!(b.iter().all(|v| v.abs() <= 1.0 / 3f64.sqrt()));
        let expected = e
            .clone()
            .into_dimensionality::<ndarray::Ix2>()
            .unwrap()
            .dot(&b);
        assert_eq!(s1.grad_output, expected.into_dyn());
        // Fixed: the same error gives the same signal, and a new objective with the same
        // seed draws the same matrix.
        let s2 = dfa.signal(&ctx, Mode::Learn).unwrap();
        assert_eq!(s1.grad_output, s2.grad_output);
        let mut again = DirectFeedback::<f64>::new(5);
        assert_eq!(
            again.signal(&ctx, Mode::Learn).unwrap().grad_output,
            s1.grad_output
        );
    }

    #[test]
    fn missing_or_mismatched_error_is_refused() {
        let h = Tensor::<f64>::zeros(vec![2, 3]);
        let mut dfa = DirectFeedback::<f64>::new(1);
        let err = dfa
            .signal(&StageContext::new(&h, &h), Mode::Learn)
            .unwrap_err();
        assert!(err.to_string().contains("global error"), "{err}");
        let e3 = Tensor::<f64>::zeros(vec![3, 2]);
        let ctx = StageContext::new(&h, &h).with_global_error(&e3);
        assert!(dfa.signal(&ctx, Mode::Learn).is_err());
        let nan = Tensor::<f64>::from_elem(vec![2, 2], f64::NAN);
        let ctx = StageContext::new(&h, &h).with_global_error(&nan);
        assert!(dfa.signal(&ctx, Mode::Learn).is_err());
    }

    #[test]
    fn widths_may_not_change_once_drawn() {
        let mut dfa = DirectFeedback::<f64>::new(1);
        let e = Tensor::<f64>::ones(vec![2, 2]);
        let h3 = Tensor::<f64>::zeros(vec![2, 3]);
        let h4 = Tensor::<f64>::zeros(vec![2, 4]);
        dfa.signal(
            &StageContext::new(&h3, &h3).with_global_error(&e),
            Mode::Learn,
        )
        .unwrap();
        let err = dfa
            .signal(
                &StageContext::new(&h4, &h4).with_global_error(&e),
                Mode::Learn,
            )
            .unwrap_err();
        assert!(err.to_string().contains("direct feedback"), "{err}");
    }

    #[test]
    fn the_lecun_normal_feedback_has_the_protocols_scale() {
        let (classes, width) = (10, 1000);
        let error = Tensor::from_elem(vec![1, classes], 0.0);
        let output = Tensor::from_elem(vec![1, width], 0.0);
        let ctx = StageContext::new(&output, &output).with_global_error(&error);
        let std = |init| {
            let mut dfa = DirectFeedback::<f64>::new(3).with_init(init);
            dfa.signal(&ctx, Mode::Learn).unwrap();
            let b = dfa.feedback().unwrap();
            (b.iter().map(|v| v * v).sum::<f64>() / b.len() as f64).sqrt()
        };
        // Uniform on ±1/sqrt(1000): std 1/sqrt(3000) ≈ 0.018; N(0, 1/10): std ≈ 0.316.
        assert!((std(DfaFeedbackInit::Uniform) - (1.0 / 3000f64).sqrt()).abs() < 0.001);
        assert!((std(DfaFeedbackInit::LeCunNormal) - 0.1f64.sqrt()).abs() < 0.01);
    }
}
