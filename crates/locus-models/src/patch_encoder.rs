use locus_core::init::{child_seed, Init};
use locus_core::{
    seeded_rng, Activation, Conv2dConfig, Float, OptimizerConfig, Patches, Reshape, Sequential,
};
use locus_objectives::LocalObjective;
use serde::{Deserialize, Serialize};

use crate::build_stages::stages_from_modules;
use locus_sched::{Error, Result, Stage};

/// An encoder of image patches, split into gradient-isolated stages, as Greedy InfoMax
/// and CPC encode images (Löwe et al. 2019, §4.1; Oord et al. 2018, §3.2): the image is
/// cut into a grid of overlapping patches ([`Patches`]) and every stage applies
/// `layers_per_stage` dense layers (1×1 convolutions) with an activation to every patch
/// alone, so a stage's output `[batch, width, grid_rows, grid_columns]` holds one
/// representation per patch, on which an [`InfoNce`](locus_objectives::InfoNce)
/// objective predicts the rows below.
///
/// The defaults cut 28×28 MNIST digits into a 6×6 grid of 8×8 patches with 4 pixels of
/// overlap (50%, like the papers' grids) and stack three stages of 128 channels with ReLU.
/// Patches never see each other, so nothing but the data relates a patch to the one below
/// it. (LayerNorm between layers is an option the papers use; this encoder has none.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchEncoderConfig {
    /// `(channels, height, width)` of one image.
    pub image: (usize, usize, usize),
    /// Patch size `(height, width)` (default 8×8).
    pub patch: (usize, usize),
    /// Step between patches (default 4×4).
    pub stride: (usize, usize),
    /// Output channels of each stage, bottom first (default `[128, 128, 128]`).
    pub widths: Vec<usize>,
    /// Dense layers per stage (default 1).
    pub layers_per_stage: usize,
    /// Activation after every layer (default ReLU).
    pub activation: Activation,
    /// Weight initialisation (default PyTorch's).
    pub init: Init,
}

impl PatchEncoderConfig {
    /// The defaults above for images of `(channels, height, width)`.
    pub fn new(image: (usize, usize, usize)) -> Self {
        PatchEncoderConfig {
            image,
            patch: (8, 8),
            stride: (4, 4),
            widths: vec![128; 3],
            layers_per_stage: 1,
            activation: Activation::Relu,
            init: Init::TorchDefault,
        }
    }

    /// Sets the patch size and stride.
    pub fn with_patches(mut self, patch: (usize, usize), stride: (usize, usize)) -> Self {
        self.patch = patch;
        self.stride = stride;
        self
    }

    /// Sets the stage widths (one stage per entry).
    pub fn with_widths(mut self, widths: Vec<usize>) -> Self {
        self.widths = widths;
        self
    }

    /// Sets the number of dense layers in every stage.
    pub fn with_layers_per_stage(mut self, layers: usize) -> Self {
        self.layers_per_stage = layers;
        self
    }

    /// The patch grid `(rows, columns)`.
    ///
    /// # Errors
    /// [`Error::Config`] when not one patch fits in the image, or a size is 0.
    pub fn grid(&self) -> Result<(usize, usize)> {
        let patches = Patches::new(self.patch, self.stride).map_err(|e| Error::Stage {
            stage: "patch encoder".into(),
            source: e,
        })?;
        let (_, h, w) = self.image;
        patches.grid_size(h, w).ok_or_else(|| {
            Error::Config(format!(
                "{}×{} patches do not fit in {h}×{w} images",
                self.patch.0, self.patch.1
            ))
        })
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Config`] for no stage, a zero width, channel count or layer count, or a
    /// grid that does not fit; the core's errors for a bad activation or initialisation.
    pub fn check(&self) -> Result<()> {
        if self.widths.is_empty() || self.widths.contains(&0) {
            return Err(Error::Config(format!(
                "a patch encoder needs at least one stage and no zero width, got widths {:?}",
                self.widths
            )));
        }
        if self.layers_per_stage == 0 || self.image.0 == 0 {
            return Err(Error::Config(format!(
                "a patch encoder needs >= 1 layer per stage and >= 1 image channel, got {} and {}",
                self.layers_per_stage, self.image.0
            )));
        }
        self.grid()?;
        let core = |e| Error::Stage {
            stage: "patch encoder".into(),
            source: e,
        };
        self.activation.check().map_err(core)?;
        self.init.check().map_err(core)
    }

    /// Builds the stages, bottom first, as [`MlpConfig::build`](crate::MlpConfig::build)
    /// does: weights from `seed`, `objective_for(i, count)` for stage `i`, a fresh
    /// optimizer per stage. The first stage takes `[batch, height, width]` or `[batch,
    /// channels, height, width]` images.
    ///
    /// # Errors
    /// As [`PatchEncoderConfig::check`], and the optimizer's errors.
    pub fn build<F: Float>(
        &self,
        seed: u64,
        optimizer: &OptimizerConfig,
        objective_for: impl FnMut(usize, usize) -> Box<dyn LocalObjective<F>>,
    ) -> Result<Vec<Stage<F>>> {
        self.check()?;
        let (c, h, w) = self.image;
        let core = |stage: usize| {
            move |e| Error::Stage {
                stage: format!("stage{}", stage + 1),
                source: e,
            }
        };
        let mut rng = seeded_rng(seed);
        let mut inputs = c * self.patch.0 * self.patch.1;
        let mut modules = Vec::with_capacity(self.widths.len());
        for (i, &width) in self.widths.iter().enumerate() {
            let mut module = Sequential::new();
            if i == 0 {
                module = module
                    .push(Reshape::new(vec![c, h, w]).map_err(core(i))?)
                    .push(Patches::new(self.patch, self.stride).map_err(core(i))?);
            }
            for _ in 0..self.layers_per_stage {
                let layer = Conv2dConfig::new(inputs, width, (1, 1))
                    .with_init(self.init)
                    .init::<F>(&mut seeded_rng(child_seed(&mut rng)))
                    .map_err(core(i))?;
                module = module.push(layer).push(self.activation);
                inputs = width;
            }
            modules.push(module);
        }
        stages_from_modules(modules, optimizer, objective_for)
    }
}
