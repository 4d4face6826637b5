use locus_core::init::{child_seed, Init};
use locus_core::{
    seeded_rng, Activation, Error as CoreError, Flatten, Float, LayerNormConfig, LinearConfig,
    Module, OptimizerConfig, Sequential,
};
use locus_objectives::LocalObjective;
use serde::{Deserialize, Serialize};

use locus_sched::{Error, Result, Stage};

/// The fully connected network of Forward-Forward (Hinton 2022): every stage is
/// `length normalisation → dense layer → activation`, one stage per layer, and there is
/// no output layer: predictions come from the layers' goodness or from a read-out (see
/// [`ForwardForwardTrainer`](locus_sched::ForwardForwardTrainer)).
///
/// The normalisation ([`LayerNormConfig::length`]) at the *start* of each stage is what
/// the paper puts between layers: the goodness a stage was trained on lives in the
/// length of its output, and the stage above sees only the direction. The first stage
/// normalises the input too, as the public reimplementations do, and flattens it, so
/// image batches can be fed directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForwardForwardMlp {
    /// Input width, then the width of every layer (at least two entries).
    pub sizes: Vec<usize>,
    /// Activation of every layer (default ReLU, the paper's).
    pub activation: Activation,
    /// Weight initialisation of every layer (default PyTorch's).
    pub init: Init,
}

impl ForwardForwardMlp {
    /// A network with the given widths, ReLU and PyTorch's initialisation.
    pub fn new(sizes: Vec<usize>) -> Self {
        ForwardForwardMlp {
            sizes,
            activation: Activation::Relu,
            init: Init::TorchDefault,
        }
    }

    /// Sets the activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets the weight initialisation.
    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Checks the widths, activation and initialisation.
    ///
    /// # Errors
    /// [`Error::Config`] for fewer than two sizes or a zero width; the core's error for a
    /// bad activation or initialisation.
    pub fn check(&self) -> Result<()> {
        crate::mlp::check_dense_network(
            &self.sizes,
            self.activation,
            self.init,
            "a Forward-Forward network needs an input width and at least one layer",
            "forward-forward network config",
        )
    }

    /// Builds one stage per layer, bottom first, weights drawn from `seed`;
    /// `objective_for(i, num_stages)` gives stage `i` its objective (typically a
    /// [`ForwardForward`](locus_objectives::ForwardForward) for every stage), and each
    /// stage gets a fresh optimizer from `optimizer`.
    ///
    /// # Errors
    /// As [`ForwardForwardMlp::check`], and the optimizer's configuration errors.
    pub fn build<F: Float>(
        &self,
        seed: u64,
        optimizer: &OptimizerConfig,
        mut objective_for: impl FnMut(usize, usize) -> Box<dyn LocalObjective<F>>,
    ) -> Result<Vec<Stage<F>>> {
        self.check()?;
        let mut rng = seeded_rng(seed);
        let count = self.sizes.len() - 1;
        (0..count)
            .map(|l| {
                let name = format!("stage{}", l + 1);
                let wrap = |e: CoreError| Error::Stage {
                    stage: name.clone(),
                    source: e,
                };
                let mut layer_rng = seeded_rng(child_seed(&mut rng));
                let (inputs, outputs) = (self.sizes[l], self.sizes[l + 1]);
                let mut module = Sequential::new();
                if l == 0 {
                    module = module.push(Flatten);
                }
                let module: Box<dyn Module<F>> = Box::new(
                    module
                        .push(LayerNormConfig::length(inputs).init::<F>().map_err(wrap)?)
                        .push(
                            LinearConfig::new(inputs, outputs)
                                .with_init(self.init)
                                .init::<F>(&mut layer_rng)
                                .map_err(wrap)?,
                        )
                        .push(self.activation),
                );
                let optimizer = optimizer.build::<F>().map_err(wrap)?;
                Ok(Stage::new(
                    name.clone(),
                    module,
                    objective_for(l, count),
                    optimizer,
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::{SgdConfig, Tensor};
    use locus_objectives::ForwardForwardConfig;

    #[test]
    fn stages_normalise_then_transform() {
        let opt = OptimizerConfig::Sgd(SgdConfig::new(0.1));
        let stages = ForwardForwardMlp::new(vec![12, 5, 4])
            .build::<f32>(0, &opt, |_, _| {
                Box::new(ForwardForwardConfig::default().build().unwrap())
            })
            .unwrap();
        assert_eq!(stages.len(), 2);
        assert_eq!(
            stages[0].module().name(),
            "Sequential[Flatten, LayerNorm([12], rms), Linear(12→5), ReLU]"
        );
        assert_eq!(
            stages[1].module().name(),
            "Sequential[LayerNorm([5], rms), Linear(5→4), ReLU]"
        );
        // Scaling the input does not change the output: only its direction counts.
        let x = Tensor::<f32>::from_shape_fn(vec![2, 3, 4], |i| (i[1] * 4 + i[2]) as f32 - 5.0);
        let a = stages[0].module().infer(&x).unwrap();
        let b = stages[0].module().infer(&(&x * 3.0)).unwrap();
        assert!(a.iter().zip(&b).all(|(u, v)| (u - v).abs() < 1e-4));
    }

    #[test]
    fn bad_widths_are_named() {
        let opt = OptimizerConfig::Sgd(SgdConfig::new(0.1));
        let ff = |_, _| -> Box<dyn LocalObjective<f32>> {
            Box::new(ForwardForwardConfig::default().build().unwrap())
        };
        assert!(ForwardForwardMlp::new(vec![4]).build(0, &opt, ff).is_err());
        let e = ForwardForwardMlp::new(vec![4, 0])
            .build(0, &opt, ff)
            .unwrap_err();
        assert!(e.to_string().contains("width 1"), "{e}");
    }
}
