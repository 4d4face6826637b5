use locus_core::init::{child_seed, Init};
use locus_core::{
    seeded_rng, Activation, Conv2dConfig, FeedbackRule, Flatten, Float, LinearConfig,
    OptimizerConfig, Pool2dConfig, Reshape, Sequential,
};
use locus_objectives::LocalObjective;
use serde::{Deserialize, Serialize};

use locus_sched::{Error, Result, Stage};

use crate::build_stages::stages_from_modules;

/// A LeNet-5-style convolutional network (LeCun et al. 1998), split into five stages:
///
/// | stage | layers | output on 28×28 |
/// |---|---|---|
/// | 1 | Conv 5×5 → 6 channels (padding 2), activation, max-pool 2×2 | 6×14×14 |
/// | 2 | Conv 5×5 → 16 channels, activation, max-pool 2×2, flatten | 400 |
/// | 3 | Linear → 120, activation | 120 |
/// | 4 | Linear → 84, activation | 84 |
/// | 5 | Linear → classes | classes |
///
/// The first stage reshapes its input to `[channels, height, width]`, so `[batch, 28, 28]`
/// MNIST images can be fed directly. Every convolution and dense layer uses the same
/// [`FeedbackRule`], so feedback alignment and sign symmetry run on it unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeNetConfig {
    /// `(channels, height, width)` of one input sample (at least 12×12, so both
    /// convolutions and poolings fit).
    pub input: (usize, usize, usize),
    /// Number of classes.
    pub classes: usize,
    /// Hidden activation (default ReLU).
    pub activation: Activation,
    /// Weight initialisation of every layer (default PyTorch's).
    pub init: Init,
    /// Backward rule of every layer (default backpropagation).
    #[serde(default)]
    pub feedback: FeedbackRule,
}

impl LeNetConfig {
    /// A LeNet for samples of `(channels, height, width)` and `classes` classes.
    pub fn new(input: (usize, usize, usize), classes: usize) -> Self {
        LeNetConfig {
            input,
            classes,
            activation: Activation::Relu,
            init: Init::TorchDefault,
            feedback: FeedbackRule::Transpose,
        }
    }

    /// The `(channels, height, width)` of a data set's samples: `[h, w]` images get one
    /// channel, `[c, h, w]` are taken as they are.
    ///
    /// # Errors
    /// [`Error::Config`] for any other rank (e.g. MNIST-1D's `[40]`).
    pub fn input_of(sample_shape: &[usize]) -> Result<(usize, usize, usize)> {
        match *sample_shape {
            [h, w] => Ok((1, h, w)),
            [c, h, w] => Ok((c, h, w)),
            _ => Err(Error::Config(format!(
                "a LeNet takes image samples of shape [height, width] or [channels, height, \
                 width], but the samples have shape {sample_shape:?}"
            ))),
        }
    }

    /// Sets the hidden activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets the weight initialisation.
    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Sets the backward rule of every layer.
    pub fn with_feedback(mut self, feedback: FeedbackRule) -> Self {
        self.feedback = feedback;
        self
    }

    /// Number of stages (always 5).
    pub fn num_stages(&self) -> usize {
        5
    }

    /// Builds the stages, bottom first, as [`MlpConfig::build`](crate::MlpConfig::build)
    /// does: weights from `seed`, `objective_for(i, 5)` for stage `i`, a fresh optimizer
    /// per stage.
    ///
    /// # Errors
    /// [`Error::Config`] for zero channels or classes, or an input too small for the two
    /// convolutions and poolings; the core's errors for a bad activation, initialisation
    /// or optimizer.
    pub fn build<F: Float>(
        &self,
        seed: u64,
        optimizer: &OptimizerConfig,
        objective_for: impl FnMut(usize, usize) -> Box<dyn LocalObjective<F>>,
    ) -> Result<Vec<Stage<F>>> {
        let (c, h, w) = self.input;
        if c == 0 || self.classes == 0 {
            return Err(Error::Config(format!(
                "a LeNet needs at least one input channel and one class, got {c} channels and \
                 {} classes",
                self.classes
            )));
        }
        let core = |what: &str| {
            let what = what.to_string();
            move |e| Error::Stage {
                stage: format!("lenet {what}"),
                source: e,
            }
        };
        self.activation.check().map_err(core("activation"))?;
        let mut rng = seeded_rng(seed);
        let mut layer_rng = || seeded_rng(child_seed(&mut rng));
        let pool = Pool2dConfig::new((2, 2)).max().map_err(core("pooling"))?;

        let conv1 = Conv2dConfig::new(c, 6, (5, 5))
            .with_padding((2, 2))
            .with_init(self.init)
            .with_feedback(self.feedback)
            .init::<F>(&mut layer_rng())
            .map_err(core("conv1"))?;
        let too_small = || {
            Error::Config(format!(
                "a LeNet needs images of at least 12×12, got {h}×{w}"
            ))
        };
        let (h1, w1) = conv1.output_size(h, w).ok_or_else(too_small)?;
        let (h1, w1) = pool.output_size(h1, w1).ok_or_else(too_small)?;
        let conv2 = Conv2dConfig::new(6, 16, (5, 5))
            .with_init(self.init)
            .with_feedback(self.feedback)
            .init::<F>(&mut layer_rng())
            .map_err(core("conv2"))?;
        let (h2, w2) = conv2.output_size(h1, w1).ok_or_else(too_small)?;
        let (h2, w2) = pool.output_size(h2, w2).ok_or_else(too_small)?;
        let mut dense = |inputs: usize, outputs: usize, name: &str| {
            LinearConfig::new(inputs, outputs)
                .with_init(self.init)
                .with_feedback(self.feedback)
                .init::<F>(&mut layer_rng())
                .map_err(core(name))
        };
        let flat = 16 * h2 * w2;
        let (fc1, fc2, fc3) = (
            dense(flat, 120, "fc1")?,
            dense(120, 84, "fc2")?,
            dense(84, self.classes, "fc3")?,
        );
        let reshape = Reshape::new(vec![c, h, w]).map_err(core("input"))?;
        let act = self.activation;
        let modules: Vec<Sequential<F>> = vec![
            Sequential::new()
                .push(reshape)
                .push(conv1)
                .push(act)
                .push(pool),
            Sequential::new()
                .push(conv2)
                .push(act)
                .push(pool)
                .push(Flatten),
            Sequential::new().push(fc1).push(act),
            Sequential::new().push(fc2).push(act),
            Sequential::new().push(fc3),
        ];
        stages_from_modules(modules, optimizer, objective_for)
    }
}
