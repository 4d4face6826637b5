//! Linear probes: how much class information a frozen representation holds.
//!
//! A linear probe is a multinomial logistic regression trained on the *frozen* features of
//! one stage and scored on held-out data. It is the evaluation protocol of Greedy InfoMax
//! (Löwe et al. 2019, §4) and CPC (Oord et al. 2018, §3), and a fair way to compare the
//! stages of any local-learning stack: a stage whose probe accuracy exceeds the one below
//! has made the classes more linearly separable.
//!
//! The probe minimises the softmax cross-entropy
//! `L(W, b) = -(1/n) Σ_i log softmax(W x̃_i + b)[y_i] + (λ/2)|W|²`
//! over standardised features `x̃ = (x - μ) / σ` (μ, σ from the training features), with
//! Adam on shuffled mini-batches. The problem is convex, so the result depends on the seed
//! only through the order of the batches.

use locus_core::layers::LinearConfig;
use locus_core::loss::argmax_rows;
use locus_core::{
    as_matrix, check_finite, seeded_rng, AdamConfig, Error, Float, Linear, Loss, Module, Optimizer,
    Result, Tensor,
};
use ndarray::{Array1, Array2, Axis};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// How a [`LinearProbe`] is trained.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    /// Passes over the training features (default 20).
    pub epochs: usize,
    /// Samples per Adam step (default 256).
    pub batch_size: usize,
    /// Adam learning rate (default 1e-3).
    pub lr: f64,
    /// L2 penalty λ on the weights (default 0).
    pub weight_decay: f64,
    /// Seed of the batch order.
    pub seed: u64,
    /// Whether features are standardised with the training mean and deviation first
    /// (default true; features of different stages then need no tuning of `lr`).
    pub standardize: bool,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            epochs: 20,
            batch_size: 256,
            lr: 1e-3,
            weight_decay: 0.0,
            seed: 0,
            standardize: true,
        }
    }
}

impl ProbeConfig {
    /// The defaults with the given seed.
    pub fn new(seed: u64) -> Self {
        ProbeConfig {
            seed,
            ..ProbeConfig::default()
        }
    }

    /// Sets the number of epochs.
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets the learning rate.
    pub fn with_lr(mut self, lr: f64) -> Self {
        self.lr = lr;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the first field out of range.
    pub fn check(&self) -> Result<()> {
        if self.epochs == 0 {
            return Err(Error::invalid("probe epochs", "should be >= 1", 0));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid("probe batch_size", "should be >= 1", 0));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::invalid(
                "probe lr",
                "should be finite and > 0",
                self.lr,
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(Error::invalid(
                "probe weight_decay",
                "should be finite and >= 0",
                self.weight_decay,
            ));
        }
        Ok(())
    }
}

/// A trained linear read-out of frozen features (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct LinearProbe<F: Float> {
    linear: Linear<F>,
    mean: Array1<F>,
    scale: Array1<F>,
    train_loss: f64,
}

impl<F: Float> LinearProbe<F> {
    /// Trains a probe on `features` (`[n, ...]`, flattened per sample) with class labels
    /// `labels` in `0..classes`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a bad configuration or fewer than 2 classes;
    /// [`Error::Shape`] when the features do not have one row per label;
    /// [`Error::NonFinite`] for NaN or infinite features; [`Error::LabelOutOfRange`].
    pub fn fit(
        features: &Tensor<F>,
        labels: &[usize],
        classes: usize,
        config: &ProbeConfig,
    ) -> Result<Self> {
        config.check()?;
        if classes < 2 {
            return Err(Error::invalid("probe classes", "should be >= 2", classes));
        }
        let x = flatten(features, labels.len(), "linear probe training features")?;
        if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
            return Err(Error::LabelOutOfRange {
                context: "linear probe training labels".into(),
                row,
                label,
                num_classes: classes,
            });
        }
        let dim = x.ncols();
        let (mean, scale) = if config.standardize {
            standardizer(&x)
        } else {
            (Array1::zeros(dim), Array1::ones(dim))
        };
        let x = (&x - &mean) * &scale;
        let mut rng = seeded_rng(config.seed);
        let mut linear: Linear<F> = LinearConfig::new(dim, classes)
            .with_init(locus_core::init::Init::Zeros)
            .with_bias_init(locus_core::init::Init::Zeros)
            .init(&mut rng)?;
        let mut adam = AdamConfig {
            weight_decay: config.weight_decay,
            ..AdamConfig::new(config.lr)
        }
        .build::<F>()?;
        let mut order: Vec<usize> = (0..labels.len()).collect();
        let mut train_loss = f64::NAN;
        for _ in 0..config.epochs {
            order.shuffle(&mut rng);
            let mut loss_sum = 0.0;
            for chunk in order.chunks(config.batch_size) {
                let xb = x.select(Axis(0), chunk).into_dyn();
                let yb: Vec<usize> = chunk.iter().map(|&i| labels[i]).collect();
                let (logits, cache) = linear.forward(&xb)?;
                let (loss, grad) = Loss::SoftmaxCrossEntropy.evaluate(&logits, &yb)?;
                let grads = linear.backward(&cache, &grad, false)?;
                adam.step(linear.params_mut(), &grads.params)?;
                loss_sum += loss.as_f64() * chunk.len() as f64;
            }
            train_loss = loss_sum / labels.len() as f64;
        }
        Ok(LinearProbe {
            linear,
            mean,
            scale,
            train_loss,
        })
    }

    /// Mean training cross-entropy of the last epoch.
    pub fn train_loss(&self) -> f64 {
        self.train_loss
    }

    /// The predicted class of every sample of `features` (`[n, ...]`).
    ///
    /// # Errors
    /// [`Error::Shape`] when a sample does not have the width the probe was trained on;
    /// [`Error::NonFinite`] for NaN or infinite features.
    pub fn predict(&self, features: &Tensor<F>) -> Result<Vec<usize>> {
        let rows = features.shape().first().copied().unwrap_or(0);
        let x = flatten(features, rows, "linear probe features")?;
        if x.ncols() != self.mean.len() {
            return Err(Error::shape(
                "linear probe features",
                format!("[n, {}] (the width it was trained on)", self.mean.len()),
                features.shape(),
            ));
        }
        let x = ((&x - &self.mean) * &self.scale).into_dyn();
        let logits = self.linear.infer(&x)?;
        Ok(argmax_rows(as_matrix(
            &logits,
            None,
            "linear probe logits",
        )?))
    }

    /// The fraction of samples whose predicted class is their label, in `[0, 1]`.
    ///
    /// # Errors
    /// As [`LinearProbe::predict`], and [`Error::Shape`] when `labels` does not have one
    /// entry per sample.
    pub fn accuracy(&self, features: &Tensor<F>, labels: &[usize]) -> Result<f64> {
        let rows = features.shape().first().copied().unwrap_or(0);
        if rows != labels.len() {
            return Err(Error::shape(
                "linear probe features",
                format!("[{} (one row per label), ...]", labels.len()),
                features.shape(),
            ));
        }
        if rows == 0 {
            return Err(Error::invalid(
                "linear probe test set",
                "should hold at least one sample",
                0,
            ));
        }
        let predicted = self.predict(features)?;
        let correct = predicted.iter().zip(labels).filter(|(p, y)| p == y).count();
        Ok(correct as f64 / rows as f64)
    }
}

/// Trains a probe on the training features and returns its accuracy on the test features:
/// the number GIM reports per stage as `probe_accuracy`.
///
/// # Errors
/// As [`LinearProbe::fit`] and [`LinearProbe::accuracy`].
pub fn probe_accuracy<F: Float>(
    train: (&Tensor<F>, &[usize]),
    test: (&Tensor<F>, &[usize]),
    classes: usize,
    config: &ProbeConfig,
) -> Result<f64> {
    LinearProbe::fit(train.0, train.1, classes, config)?.accuracy(test.0, test.1)
}

/// `[n, ...]` features as an `[n, d]` matrix, checking the row count and finiteness.
fn flatten<F: Float>(features: &Tensor<F>, rows: usize, context: &str) -> Result<Array2<F>> {
    let shape = features.shape();
    if shape.len() < 2 || shape[0] != rows || shape[1..].iter().product::<usize>() == 0 {
        return Err(Error::shape(
            context,
            format!("[{rows} (one row per sample), features...]"),
            shape,
        ));
    }
    check_finite(features, context)?;
    let dim: usize = shape[1..].iter().product();
    let flat = features
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((rows, dim))
        .map_err(|_| Error::shape(context, "a contiguous [n, features...] tensor", shape))?;
    Ok(flat)
}

/// Per-feature mean and inverse deviation; a constant feature gets scale 1 (it becomes 0).
fn standardizer<F: Float>(x: &Array2<F>) -> (Array1<F>, Array1<F>) {
    let n = F::from(x.nrows()).unwrap_or_else(F::one);
    let mean = x.sum_axis(Axis(0)) / n;
    let mut var: Array1<F> = Array1::zeros(x.ncols());
    for row in x.axis_iter(Axis(0)) {
        let d = &row - &mean;
        var = var + &d * &d;
    }
    let var = var / n;
    let eps = F::from(1e-12).unwrap_or_else(F::zero);
    let scale = var.mapv(|v| {
        if v > eps {
            F::one() / v.sqrt()
        } else {
            F::one()
        }
    });
    (mean, scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand_distr::{Distribution, Normal};

    /// Two Gaussian blobs per class along different axes: linearly separable.
    fn blobs(n: usize, seed: u64) -> (Tensor<f64>, Vec<usize>) {
        let mut rng = seeded_rng(seed);
        let noise = Normal::new(0.0, 0.3).unwrap();
        let mut x = Array2::zeros((n, 4));
        let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
        for (i, &y) in labels.iter().enumerate() {
            for j in 0..4 {
                x[[i, j]] = noise.sample(&mut rng) + if j == y { 2.0 } else { 0.0 };
            }
        }
        (x.into_dyn(), labels)
    }

    #[test]
    fn separable_classes_are_read_out() {
        let (x, y) = blobs(300, 1);
        let (xt, yt) = blobs(150, 2);
        let acc =
            probe_accuracy((&x, &y), (&xt, &yt), 3, &ProbeConfig::new(0).with_lr(1e-2)).unwrap();
        assert!(acc > 0.95, "accuracy {acc}");
    }

    #[test]
    fn random_labels_are_not_read_out_on_held_out_data() {
        let (x, _) = blobs(300, 1);
        let (xt, _) = blobs(300, 2);
        let mut rng = seeded_rng(5);
        let mut y: Vec<usize> = (0..300).map(|i| i % 3).collect();
        y.shuffle(&mut rng);
        let mut yt = y.clone();
        yt.shuffle(&mut rng);
        let acc = probe_accuracy((&x, &y), (&xt, &yt), 3, &ProbeConfig::new(0)).unwrap();
        assert!(
            acc < 0.5,
            "accuracy {acc} on labels independent of the features"
        );
    }

    #[test]
    fn same_seed_same_probe() {
        let (x, y) = blobs(120, 3);
        let a = LinearProbe::fit(&x, &y, 3, &ProbeConfig::new(4)).unwrap();
        let b = LinearProbe::fit(&x, &y, 3, &ProbeConfig::new(4)).unwrap();
        assert_eq!(a.train_loss(), b.train_loss());
        assert_eq!(a.predict(&x).unwrap(), b.predict(&x).unwrap());
    }

    #[test]
    fn higher_dimensional_features_are_flattened() {
        let (x, y) = blobs(90, 3);
        let x3 = x.into_shape_with_order(vec![90, 2, 2]).unwrap();
        let probe = LinearProbe::fit(&x3, &y, 3, &ProbeConfig::new(0).with_lr(1e-2)).unwrap();
        assert!(probe.accuracy(&x3, &y).unwrap() > 0.9);
    }

    #[test]
    fn bad_inputs_are_named() {
        let (x, y) = blobs(30, 3);
        let err = LinearProbe::fit(&x, &y[..29], 3, &ProbeConfig::default()).unwrap_err();
        assert!(err.to_string().contains("training features"), "{err}");
        let mut nan = x.clone();
        nan[[4, 1]] = f64::NAN;
        let err = LinearProbe::fit(&nan, &y, 3, &ProbeConfig::default()).unwrap_err();
        assert!(err.to_string().contains("training features"), "{err}");
        let err = LinearProbe::fit(&x, &y, 2, &ProbeConfig::default()).unwrap_err();
        assert!(err.to_string().contains("label"), "{err}");
        let err = LinearProbe::fit(&x, &y, 3, &ProbeConfig::default().with_epochs(0)).unwrap_err();
        assert!(err.to_string().contains("epochs"), "{err}");
        let probe = LinearProbe::fit(&x, &y, 3, &ProbeConfig::default()).unwrap();
        let narrow = Array2::<f64>::zeros((5, 3)).into_dyn();
        let err = probe.predict(&narrow).unwrap_err();
        assert!(err.to_string().contains("trained on"), "{err}");
        let err = probe.accuracy(&x, &y[..10]).unwrap_err();
        assert!(err.to_string().contains("one row per label"), "{err}");
    }
}
