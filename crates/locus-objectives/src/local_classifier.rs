use locus_core::{
    check_finite, AdamConfig, Error, Float, OptimizerConfig, Result, StateDict, Tensor,
};
use serde::{Deserialize, Serialize};

use crate::{ClassifierHead, HeadKind, LocalObjective, LocalSignal, Mode, StageContext};

/// Configuration of a [`LocalClassifier`], checked by [`LocalClassifierConfig::build`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LocalClassifierConfig {
    /// The auxiliary head (default [`HeadKind::Linear`]).
    pub head: HeadKind,
    /// Number of classes the head scores.
    pub classes: usize,
    /// The head's optimizer (default Adam with learning rate 1e-3; give it the stages'
    /// own optimizer to train head and stage alike).
    pub optimizer: OptimizerConfig,
    /// Seed of the head's initial weights.
    pub seed: u64,
}

impl LocalClassifierConfig {
    /// A linear head over `classes`, trained by Adam at 1e-3, drawn from `seed`.
    pub fn new(classes: usize, seed: u64) -> Self {
        LocalClassifierConfig {
            head: HeadKind::Linear,
            classes,
            optimizer: OptimizerConfig::Adam(AdamConfig::new(1e-3)),
            seed,
        }
    }

    /// Sets the head.
    pub fn with_head(mut self, head: HeadKind) -> Self {
        self.head = head;
        self
    }

    /// Sets the head's optimizer.
    pub fn with_optimizer(mut self, optimizer: OptimizerConfig) -> Self {
        self.optimizer = optimizer;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for zero classes, a zero hidden width or a bad
    /// optimizer setting.
    pub fn check(&self) -> Result<()> {
        self.head.check()?;
        if self.classes == 0 {
            return Err(Error::invalid(
                "number of classes of a local classifier",
                "should be >= 1",
                0,
            ));
        }
        self.optimizer.build::<f64>().map(|_| ())
    }

    /// Checks the configuration and builds the objective; the head itself is built on
    /// the first call, when the stage's output width is known.
    ///
    /// # Errors
    /// As [`LocalClassifierConfig::check`].
    pub fn build<F: Float>(&self) -> Result<LocalClassifier<F>> {
        self.check()?;
        Ok(LocalClassifier {
            config: *self,
            head: None,
            last_loss: None,
        })
    }
}

/// Decoupled greedy learning (Belilovsky, Eickenberg & Oyallon 2020, "Decoupled Greedy
/// Learning of CNNs", Algorithm 1; the greedy layer-wise form in Belilovsky et al. 2019):
/// an auxiliary classifier head `a` on the stage's output `h` is trained with softmax
/// cross-entropy, and the stage learns from the gradient of that same auxiliary loss,
///
/// `L = CE(a(h), y)`, signal `∂L/∂h`,
///
/// so no gradient crosses the stages: each one solves its own small classification
/// problem, and the one above learns from its output as it is.
///
/// In [`Mode::Learn`] the head also takes one step of its own optimizer on `L` (after the
/// signal was computed with the head as it was). The signal is the exact gradient of the
/// loss, so the conformance suite checks it by finite differences.
///
/// [`LocalObjective::class_scores`] gives the head's scores, so every stage's accuracy
/// can be measured (per-layer accuracy); [`LocalObjective::metrics`] reports the last
/// training loss of the head as `head_loss`. In a network built with
/// `locus_models::MlpConfig` the top stage is an ordinary supervised layer
/// ([`SupervisedLoss`](crate::SupervisedLoss)) on the last hidden stage: it plays the
/// role of the last auxiliary head, and is the model's prediction.
///
/// # Shapes
/// output `[batch, …]` (flattened per sample), labels `[batch]`.
///
/// # Errors
/// [`Error::InvalidParameter`] for missing labels; [`Error::Shape`] for a label list whose
/// length is not the batch, an empty output, or a width other than the one the head was
/// built for; [`Error::LabelOutOfRange`]; [`Error::NonFinite`] for a NaN in the output.
pub struct LocalClassifier<F: Float> {
    config: LocalClassifierConfig,
    head: Option<ClassifierHead<F>>,
    last_loss: Option<f64>,
}

impl<F: Float> std::fmt::Debug for LocalClassifier<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalClassifier")
            .field("config", &self.config)
            .field("head", &self.head)
            .finish()
    }
}

impl<F: Float> LocalClassifier<F> {
    /// The configuration.
    pub fn config(&self) -> &LocalClassifierConfig {
        &self.config
    }

    /// The head, once it has been built (on the first call).
    pub fn head(&self) -> Option<&ClassifierHead<F>> {
        self.head.as_ref()
    }

    fn head_for(&mut self, width: usize) -> Result<&mut ClassifierHead<F>> {
        if let Some(head) = &self.head {
            if head.width() != width {
                return Err(Error::shape(
                    "local classifier: the head was built for outputs",
                    format!("[batch, {}] (per sample)", head.width()),
                    &[width],
                ));
            }
        } else {
            self.head = Some(ClassifierHead::new(
                self.config.head,
                width,
                self.config.classes,
                &self.config.optimizer,
                self.config.seed,
            )?);
        }
        Ok(self.head.as_mut().expect("set above"))
    }
}

impl<F: Float> LocalObjective<F> for LocalClassifier<F> {
    fn name(&self) -> String {
        match self.config.head {
            HeadKind::Linear => "local-classifier(linear)".into(),
            HeadKind::Mlp { hidden } => format!("local-classifier(mlp {hidden})"),
        }
    }

    fn signal(&mut self, ctx: &StageContext<'_, F>, mode: Mode) -> Result<LocalSignal<F>> {
        let batch = ctx.output.shape().first().copied().unwrap_or(0);
        if batch == 0 || ctx.output.is_empty() {
            return Err(Error::shape(
                "local classifier: stage output",
                "[batch >= 1, …] with no empty axis",
                ctx.output.shape(),
            ));
        }
        let labels = ctx.labels.ok_or_else(|| {
            Error::invalid(
                "stage context for a local classifier",
                "should carry labels",
                "a context without labels",
            )
        })?;
        if labels.len() != batch {
            return Err(Error::shape(
                "local classifier: labels",
                format!("[{batch}] (one per row of the output)"),
                &[labels.len()],
            ));
        }
        check_finite(ctx.output, "local classifier: stage output")?;
        let width = ctx.output.len() / batch;
        let head = self.head_for(width)?;
        let pass = head.pass(ctx.output, labels, true)?;
        let grad_output = pass
            .grad_features
            .expect("asked for")
            .into_shape_with_order(ctx.output.shape())
            .map_err(|_| Error::shape("local classifier: signal", "the output's", &[]))?;
        if mode == Mode::Learn {
            head.apply(&pass.grad_params)?;
            self.last_loss = Some(pass.loss.as_f64());
        }
        Ok(LocalSignal {
            loss: pass.loss,
            grad_output,
        })
    }

    fn needs_labels(&self) -> bool {
        true
    }

    fn metrics(&self) -> Vec<(String, f64)> {
        self.last_loss
            .map(|l| vec![("head_loss".to_string(), l)])
            .unwrap_or_default()
    }

    fn class_scores(&self, output: &Tensor<F>) -> Option<Result<Tensor<F>>> {
        Some(match &self.head {
            Some(head) => head.scores(output),
            None => Err(Error::invalid(
                "local classifier head",
                "is built on the first training batch, so it cannot score yet",
                "a head that has not seen a batch",
            )),
        })
    }

    /// The head, once built, under `head.`, and the width it was built for (`width`).
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        if let Some(v) = self.last_loss {
            let v: Vec<f64> = vec![v];
            state.put_floats(format!("{prefix}last"), &v);
        }
        if let Some(head) = &self.head {
            state.put_counter(format!("{prefix}width"), head.width() as u64);
            head.save_state(&format!("{prefix}head."), state);
        }
    }

    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        if let Some(v) = state.take_floats_if_present(&format!("{prefix}last"), 1)? {
            self.last_loss = Some(v[0]);
        }
        if state.contains(&format!("{prefix}width")) {
            let width = state.take_size(&format!("{prefix}width"))?;
            self.head = None;
            self.head_for(width)?
                .load_state(&format!("{prefix}head."), state)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::SgdConfig;
    use ndarray::arr2;

    fn classifier() -> LocalClassifier<f64> {
        LocalClassifierConfig::new(3, 1)
            .with_optimizer(OptimizerConfig::Sgd(SgdConfig::new(0.5)))
            .build()
            .unwrap()
    }

    #[test]
    fn the_head_learns_and_the_signal_is_its_input_gradient() {
        let h = arr2(&[[1.0, 0.0, 0.5], [0.0, 1.0, -0.5], [0.5, 0.5, 2.0]]).into_dyn();
        let labels = [0, 1, 2];
        let ctx = StageContext::new(&h, &h).with_labels(&labels);
        let mut obj = classifier();
        assert!(obj.class_scores(&h).unwrap().is_err(), "no head yet");
        let first = obj.signal(&ctx, Mode::Learn).unwrap();
        let mut last = first.clone();
        for _ in 0..200 {
            last = obj.signal(&ctx, Mode::Learn).unwrap();
        }
        assert!(
            last.loss < 0.1 * first.loss,
            "{} → {}",
            first.loss,
            last.loss
        );
        let scores = obj.class_scores(&h).unwrap().unwrap();
        let predicted = locus_core::loss::argmax_rows(scores.view().into_dimensionality().unwrap());
        assert_eq!(predicted, vec![0, 1, 2]);
        assert_eq!(obj.metrics()[0].0, "head_loss");
        // The signal is the head's input gradient: for a linear head, δh = δz Wᵀ.
        let head = obj.head().unwrap();
        let pass = head.pass(&h, &labels, true).unwrap();
        let s = obj.signal(&ctx, Mode::Evaluate).unwrap();
        assert_eq!(s.grad_output, pass.grad_features.unwrap());
    }

    #[test]
    fn evaluate_changes_nothing_and_learn_does() {
        let h = arr2(&[[1.0, 0.0], [0.0, 1.0]]).into_dyn();
        let labels = [0, 2];
        let ctx = StageContext::new(&h, &h).with_labels(&labels);
        let mut obj = classifier();
        let a = obj.signal(&ctx, Mode::Evaluate).unwrap();
        let b = obj.signal(&ctx, Mode::Evaluate).unwrap();
        assert_eq!(a.grad_output, b.grad_output);
        assert!(obj.metrics().is_empty());
        let c = obj.signal(&ctx, Mode::Learn).unwrap();
        assert_eq!(
            c.grad_output, a.grad_output,
            "the signal comes before the step"
        );
        let d = obj.signal(&ctx, Mode::Evaluate).unwrap();
        assert!(d.loss < a.loss);
    }

    #[test]
    fn bad_contexts_and_settings_are_errors() {
        let h = arr2(&[[1.0, 0.0], [0.0, 1.0]]).into_dyn();
        let mut obj = classifier();
        let e = obj
            .signal(&StageContext::new(&h, &h), Mode::Learn)
            .unwrap_err();
        assert!(e.to_string().contains("labels"), "{e}");
        assert!(obj
            .signal(&StageContext::new(&h, &h).with_labels(&[0]), Mode::Learn)
            .is_err());
        assert!(matches!(
            obj.signal(&StageContext::new(&h, &h).with_labels(&[0, 3]), Mode::Learn),
            Err(Error::LabelOutOfRange { .. })
        ));
        obj.signal(&StageContext::new(&h, &h).with_labels(&[0, 1]), Mode::Learn)
            .unwrap();
        let wide = Tensor::<f64>::zeros(vec![2, 3]);
        let e = obj
            .signal(
                &StageContext::new(&wide, &wide).with_labels(&[0, 1]),
                Mode::Learn,
            )
            .unwrap_err();
        assert!(e.to_string().contains("built for"), "{e}");
        assert!(LocalClassifierConfig::new(0, 0).build::<f64>().is_err());
        assert!(LocalClassifierConfig::new(2, 0)
            .with_head(HeadKind::Mlp { hidden: 0 })
            .build::<f64>()
            .is_err());
    }
}
