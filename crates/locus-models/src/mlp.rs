use locus_core::init::{child_seed, Init};
use locus_core::{
    seeded_rng, Activation, BatchNormConfig, Error as CoreError, FeedbackRule, Flatten, Float,
    LayerNormConfig, LinearConfig, Module, OptimizerConfig, Sequential,
};
use locus_objectives::LocalObjective;
use serde::{Deserialize, Serialize};

use locus_sched::{Error, Result, Stage};

/// How the layers of a network are grouped into gradient-isolated stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum StageLayout {
    /// One stage per dense layer (with its activation): the finest split, and the one
    /// local-learning papers use for MLPs.
    #[default]
    PerLayer,
    /// The whole network as one stage: plain end-to-end training.
    Single,
}

/// A multi-layer perceptron `sizes[0] → sizes[1] → … → sizes[n]`, with an activation after
/// every layer but the last, split into stages by a [`StageLayout`].
///
/// The first stage flattens its input, so image batches (`[batch, 28, 28]`) can be fed
/// directly when `sizes[0]` is the number of pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Layer widths, input first and number of classes last (at least two entries).
    pub sizes: Vec<usize>,
    /// Hidden activation (default tanh).
    pub activation: Activation,
    /// Weight initialisation of every layer (default PyTorch's).
    pub init: Init,
    /// Grouping of layers into stages (default one stage per layer).
    pub layout: StageLayout,
    /// Backward rule of every layer (default [`FeedbackRule::Transpose`]:
    /// backpropagation); feedback alignment and sign symmetry change only this.
    #[serde(default)]
    pub feedback: FeedbackRule,
    /// A [`LayerNorm`](locus_core::LayerNorm) (learned scale and shift) after every
    /// hidden layer's linear map, before its activation — where the DNI paper puts batch
    /// normalisation (default false: none).
    #[serde(default)]
    pub layer_norm: bool,
    /// A [`BatchNorm1d`](locus_core::BatchNorm1d) (learned scale and shift, running
    /// statistics for evaluation) in the same place: the DNI paper's own choice
    /// (Jaderberg et al. 2016, section 3.1). Default false; not together with
    /// `layer_norm`.
    #[serde(default)]
    pub batch_norm: bool,
}

impl MlpConfig {
    /// An MLP with the given widths and the defaults above.
    pub fn new(sizes: Vec<usize>) -> Self {
        MlpConfig {
            sizes,
            activation: Activation::Tanh,
            init: Init::TorchDefault,
            layout: StageLayout::PerLayer,
            feedback: FeedbackRule::Transpose,
            layer_norm: false,
            batch_norm: false,
        }
    }

    /// Puts a LayerNorm after every hidden layer's linear map (before the activation).
    pub fn with_layer_norm(mut self, layer_norm: bool) -> Self {
        self.layer_norm = layer_norm;
        self
    }

    /// Puts a batch normalisation after every hidden layer's linear map (before the
    /// activation).
    pub fn with_batch_norm(mut self, batch_norm: bool) -> Self {
        self.batch_norm = batch_norm;
        self
    }

    /// Sets the backward rule of every layer.
    pub fn with_feedback(mut self, feedback: FeedbackRule) -> Self {
        self.feedback = feedback;
        self
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

    /// Sets the stage layout.
    pub fn with_layout(mut self, layout: StageLayout) -> Self {
        self.layout = layout;
        self
    }

    /// Checks the widths, activation and initialisation.
    ///
    /// # Errors
    /// [`Error::Config`] for fewer than two sizes or a zero width; the core's error for a
    /// bad activation or initialisation.
    pub fn check(&self) -> Result<()> {
        check_dense_network(
            &self.sizes,
            self.activation,
            self.init,
            "an MLP needs at least an input and an output size",
            "mlp config",
        )?;
        if self.layer_norm && self.batch_norm {
            return Err(Error::Config(
                "mlp config: layer_norm and batch_norm are both set; choose one normalisation"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The normalisation after a hidden linear map of `width` units, if any.
    fn hidden_norm<F: Float>(
        &self,
        width: usize,
    ) -> std::result::Result<Option<Box<dyn Module<F>>>, CoreError> {
        Ok(if self.layer_norm {
            Some(Box::new(LayerNormConfig::new(vec![width]).init::<F>()?))
        } else if self.batch_norm {
            Some(Box::new(BatchNormConfig::new(width).init::<F>()?))
        } else {
            None
        })
    }

    /// Number of stages the layout produces.
    pub fn num_stages(&self) -> usize {
        match self.layout {
            StageLayout::PerLayer => self.sizes.len() - 1,
            StageLayout::Single => 1,
        }
    }

    /// Builds the stages, bottom first. Weights are drawn from `seed`;
    /// `objective_for(i, num_stages)` gives stage `i` its objective, and each stage gets a
    /// fresh optimizer from `optimizer`.
    ///
    /// For end-to-end backpropagation give the top stage a
    /// [`SupervisedLoss`](locus_objectives::SupervisedLoss) and the others an
    /// [`UpstreamGradient`](locus_objectives::UpstreamGradient).
    ///
    /// # Errors
    /// As [`MlpConfig::check`], and the optimizer's configuration errors.
    pub fn build<F: Float>(
        &self,
        seed: u64,
        optimizer: &OptimizerConfig,
        mut objective_for: impl FnMut(usize, usize) -> Box<dyn LocalObjective<F>>,
    ) -> Result<Vec<Stage<F>>> {
        self.check()?;
        let mut rng = seeded_rng(seed);
        let layers = self.sizes.len() - 1;
        let mut modules: Vec<Sequential<F>> = Vec::new();
        let mut current = Sequential::new().push(Flatten);
        for l in 0..layers {
            let mut layer_rng = seeded_rng(child_seed(&mut rng));
            let linear = LinearConfig::new(self.sizes[l], self.sizes[l + 1])
                .with_init(self.init)
                .with_feedback(self.feedback)
                .init::<F>(&mut layer_rng)
                .map_err(|e| Error::Stage {
                    stage: format!("layer {}", l + 1),
                    source: e,
                })?;
            current = current.push(linear);
            if l + 1 < layers {
                if let Some(norm) =
                    self.hidden_norm::<F>(self.sizes[l + 1])
                        .map_err(|e| Error::Stage {
                            stage: format!("layer {}", l + 1),
                            source: e,
                        })?
                {
                    current = current.push_boxed(norm);
                }
                current = current.push(self.activation);
            }
            if self.layout == StageLayout::PerLayer || l + 1 == layers {
                modules.push(std::mem::take(&mut current));
            }
        }
        let count = modules.len();
        modules
            .into_iter()
            .enumerate()
            .map(|(i, module)| {
                let optimizer = optimizer.build::<F>().map_err(|e| Error::Stage {
                    stage: format!("stage{}", i + 1),
                    source: e,
                })?;
                let module: Box<dyn Module<F>> = Box::new(module);
                Ok(Stage::new(
                    format!("stage{}", i + 1),
                    module,
                    objective_for(i, count),
                    optimizer,
                ))
            })
            .collect()
    }
}

/// The checks every stack of dense layers shares: at least two widths (`too_few` says
/// what is missing), none of them zero, and a valid activation and initialisation (core
/// errors are wrapped as a stage named `what`).
pub(crate) fn check_dense_network(
    sizes: &[usize],
    activation: Activation,
    init: Init,
    too_few: &str,
    what: &str,
) -> Result<()> {
    if sizes.len() < 2 {
        return Err(Error::Config(format!("{too_few}, got {sizes:?}")));
    }
    if let Some(i) = sizes.iter().position(|&s| s == 0) {
        return Err(Error::Config(format!(
            "layer width {i} of {sizes:?} is 0; every width should be >= 1"
        )));
    }
    let core = |e: CoreError| Error::Stage {
        stage: what.into(),
        source: e,
    };
    activation.check().map_err(core)?;
    init.check().map_err(core)
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::SgdConfig;
    use locus_objectives::UpstreamGradient;

    #[test]
    fn layer_norm_goes_between_every_hidden_linear_map_and_its_activation() {
        let opt = OptimizerConfig::Sgd(SgdConfig::new(0.1));
        let config = MlpConfig::new(vec![6, 5, 4, 3]).with_activation(Activation::Relu);
        let plain = config
            .clone()
            .build::<f64>(2, &opt, |_, _| Box::new(UpstreamGradient))
            .unwrap();
        let normed = config
            .with_layer_norm(true)
            .build::<f64>(2, &opt, |_, _| Box::new(UpstreamGradient))
            .unwrap();
        let names: Vec<String> = normed.iter().map(|s| s.module().name()).collect();
        assert_eq!(
            names,
            [
                "Sequential[Flatten, Linear(6→5), LayerNorm([5], affine), ReLU]",
                "Sequential[Linear(5→4), LayerNorm([4], affine), ReLU]",
                "Sequential[Linear(4→3)]",
            ]
        );
        // The same linear weights as without normalisation, plus γ and β per hidden layer.
        for (p, n) in plain.iter().zip(&normed) {
            let extra = n.module().num_params() - p.module().num_params();
            let width = p.module().params()[1].value.len();
            let hidden = p.name() != "stage3";
            assert_eq!(extra, if hidden { 2 * width } else { 0 });
            assert_eq!(p.module().params()[0].value, n.module().params()[0].value);
        }
    }

    #[test]
    fn batch_norm_goes_in_the_same_place_and_excludes_layer_norm() {
        let opt = OptimizerConfig::Sgd(SgdConfig::new(0.1));
        let config = MlpConfig::new(vec![6, 5, 3])
            .with_activation(Activation::Relu)
            .with_batch_norm(true);
        let stages = config
            .build::<f64>(2, &opt, |_, _| Box::new(UpstreamGradient))
            .unwrap();
        let names: Vec<String> = stages.iter().map(|s| s.module().name()).collect();
        assert_eq!(
            names,
            [
                "Sequential[Flatten, Linear(6→5), BatchNorm1d(5, affine), ReLU]",
                "Sequential[Linear(5→3)]",
            ]
        );
        let both = config.with_layer_norm(true);
        let e = both.check().unwrap_err().to_string();
        assert!(e.contains("layer_norm") && e.contains("batch_norm"), "{e}");
    }
}
