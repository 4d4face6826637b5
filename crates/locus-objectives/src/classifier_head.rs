use locus_core::{
    load_optimizer, save_optimizer, seeded_rng, Activation, Error, Flatten, Float, LinearConfig,
    Loss, Module, Optimizer, OptimizerConfig, Result, Sequential, StateDict, Tensor,
};
use serde::{Deserialize, Serialize};

/// The shape of a [`ClassifierHead`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum HeadKind {
    /// One affine layer `width → classes`: a linear softmax classifier.
    #[default]
    Linear,
    /// `width → hidden → classes` with a ReLU between (Belilovsky et al. 2019 use small
    /// auxiliary networks on convolutional stages).
    Mlp {
        /// Hidden width (>= 1).
        hidden: usize,
    },
}

impl HeadKind {
    /// Checks the hidden width.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a zero hidden width.
    pub fn check(&self) -> Result<()> {
        if *self == (HeadKind::Mlp { hidden: 0 }) {
            return Err(Error::invalid(
                "hidden width of the classifier head",
                "should be >= 1",
                0,
            ));
        }
        Ok(())
    }
}

/// What one pass of a [`ClassifierHead`] over a labelled batch gives.
#[derive(Debug, Clone)]
pub struct HeadPass<F> {
    /// Mean softmax cross-entropy over the batch.
    pub loss: F,
    /// The head's scores, `[batch, classes]`.
    pub scores: Tensor<F>,
    /// Gradient of the loss with respect to the features, in their shape, when asked for.
    pub grad_features: Option<Tensor<F>>,
    /// Gradients of the loss with respect to the head's parameters.
    pub grad_params: Vec<Tensor<F>>,
}

/// A small softmax classifier on a batch of features, with its own optimizer: the
/// auxiliary head of a [`LocalClassifier`](crate::LocalClassifier) (decoupled greedy
/// learning), and the linear read-out Forward-Forward trains on its normalised
/// activities. Features of any rank are flattened per sample.
///
/// # Shapes
/// features `[batch, …]` with `width` values per sample → scores `[batch, classes]`.
pub struct ClassifierHead<F: Float> {
    module: Sequential<F>,
    optimizer: Box<dyn Optimizer<F>>,
    width: usize,
    classes: usize,
}

impl<F: Float> std::fmt::Debug for ClassifierHead<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassifierHead")
            .field("module", &self.module.name())
            .field("optimizer", &self.optimizer.name())
            .finish()
    }
}

impl<F: Float> ClassifierHead<F> {
    /// A head of `kind` from `width` features to `classes` scores, its weights drawn from
    /// `seed` (PyTorch's initialisation), trained by a fresh optimizer from `optimizer`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a zero width, zero classes, a zero hidden width or
    /// a bad optimizer setting.
    pub fn new(
        kind: HeadKind,
        width: usize,
        classes: usize,
        optimizer: &OptimizerConfig,
        seed: u64,
    ) -> Result<Self> {
        kind.check()?;
        if classes == 0 {
            return Err(Error::invalid(
                "number of classes of a classifier head",
                "should be >= 1",
                0,
            ));
        }
        let mut rng = seeded_rng(seed);
        let module = match kind {
            HeadKind::Linear => Sequential::new()
                .push(Flatten)
                .push(LinearConfig::new(width, classes).init::<F>(&mut rng)?),
            HeadKind::Mlp { hidden } => Sequential::new()
                .push(Flatten)
                .push(LinearConfig::new(width, hidden).init::<F>(&mut rng)?)
                .push(Activation::Relu)
                .push(LinearConfig::new(hidden, classes).init::<F>(&mut rng)?),
        };
        Ok(ClassifierHead {
            module,
            optimizer: optimizer.build()?,
            width,
            classes,
        })
    }

    /// Features per sample the head takes.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of classes it scores.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The head's layers.
    pub fn module(&self) -> &Sequential<F> {
        &self.module
    }

    /// The head's optimizer.
    pub fn optimizer(&self) -> &dyn Optimizer<F> {
        self.optimizer.as_ref()
    }

    /// The scores of a batch, `[batch, classes]`.
    ///
    /// # Errors
    /// [`Error::Shape`] when a sample does not have `width` values.
    pub fn scores(&self, features: &Tensor<F>) -> Result<Tensor<F>> {
        self.module.infer(features)
    }

    /// Scores, cross-entropy loss and its gradients on a labelled batch, without
    /// changing the head. The feature gradient is computed only when
    /// `need_feature_grad`.
    ///
    /// # Errors
    /// [`Error::Shape`] for features of the wrong width or a label count other than the
    /// batch; [`Error::LabelOutOfRange`]; [`Error::NonFinite`] for non-finite scores.
    pub fn pass(
        &self,
        features: &Tensor<F>,
        labels: &[usize],
        need_feature_grad: bool,
    ) -> Result<HeadPass<F>> {
        let (scores, cache) = self.module.forward(features)?;
        let (loss, grad_scores) = Loss::SoftmaxCrossEntropy.evaluate(&scores, labels)?;
        let grads = self
            .module
            .backward(&cache, &grad_scores, need_feature_grad)?;
        Ok(HeadPass {
            loss,
            scores,
            grad_features: grads.input,
            grad_params: grads.params,
        })
    }

    /// Applies parameter gradients from [`ClassifierHead::pass`] with the head's
    /// optimizer.
    ///
    /// # Errors
    /// [`Error::GradientMismatch`] when they do not fit the parameters.
    pub fn apply(&mut self, grad_params: &[Tensor<F>]) -> Result<()> {
        self.optimizer.step(self.module.params_mut(), grad_params)
    }

    /// One training step on a labelled batch; returns the loss before the step.
    ///
    /// # Errors
    /// As [`ClassifierHead::pass`].
    pub fn learn(&mut self, features: &Tensor<F>, labels: &[usize]) -> Result<F> {
        let pass = self.pass(features, labels, false)?;
        self.apply(&pass.grad_params)?;
        Ok(pass.loss)
    }

    /// Changes the learning rate of the head's optimizer (for schedules).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a rate that is not finite and > 0.
    pub fn set_learning_rate(&mut self, lr: f64) -> Result<()> {
        self.optimizer.set_learning_rate(lr)
    }

    /// Writes the head's layers under `prefix` and its optimizer under
    /// `<prefix>optimizer.`.
    pub fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        self.module.save_state(prefix, state);
        save_optimizer(
            self.optimizer.as_ref(),
            &format!("{prefix}optimizer."),
            state,
        );
    }

    /// Reads what [`ClassifierHead::save_state`] wrote under `prefix`.
    ///
    /// # Errors
    /// A missing, mis-shaped or non-finite entry, named.
    pub fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        self.module.load_state(prefix, state)?;
        load_optimizer(
            self.optimizer.as_mut(),
            &format!("{prefix}optimizer."),
            state,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::SgdConfig;
    use ndarray::arr2;

    #[test]
    fn a_linear_head_learns_a_separable_problem() {
        let x = arr2(&[[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.2, 0.8]]).into_dyn();
        let labels = [0, 1, 0, 1];
        for kind in [HeadKind::Linear, HeadKind::Mlp { hidden: 8 }] {
            let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.5));
            let mut head = ClassifierHead::<f64>::new(kind, 2, 2, &optimizer, 3).unwrap();
            let first = head.learn(&x, &labels).unwrap();
            let mut last = first;
            for _ in 0..300 {
                last = head.learn(&x, &labels).unwrap();
            }
            assert!(last < 0.1 * first, "{kind:?}: {first} → {last}");
            let scores = head.scores(&x).unwrap();
            assert_eq!(scores.shape(), &[4, 2]);
            assert!(scores[[0, 0]] > scores[[0, 1]] && scores[[1, 1]] > scores[[1, 0]]);
        }
    }

    #[test]
    fn bad_settings_and_inputs_are_refused() {
        let opt = OptimizerConfig::Sgd(SgdConfig::new(0.1));
        assert!(ClassifierHead::<f64>::new(HeadKind::Mlp { hidden: 0 }, 2, 2, &opt, 0).is_err());
        assert!(ClassifierHead::<f64>::new(HeadKind::Linear, 2, 0, &opt, 0).is_err());
        assert!(ClassifierHead::<f64>::new(HeadKind::Linear, 0, 2, &opt, 0).is_err());
        let head = ClassifierHead::<f64>::new(HeadKind::Linear, 2, 3, &opt, 0).unwrap();
        let x = Tensor::<f64>::zeros(vec![2, 2]);
        assert!(matches!(
            head.pass(&x, &[0, 3], false),
            Err(Error::LabelOutOfRange { label: 3, .. })
        ));
        assert!(head.pass(&x, &[0], false).is_err());
        assert!(head.scores(&Tensor::zeros(vec![2, 5])).is_err());
    }
}
