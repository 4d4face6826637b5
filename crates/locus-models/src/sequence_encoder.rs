use locus_core::init::{child_seed, Init};
use locus_core::{
    seeded_rng, Activation, Conv1dConfig, Float, OptimizerConfig, Reshape, Sequential,
};
use locus_objectives::LocalObjective;
use serde::{Deserialize, Serialize};

use crate::build_stages::stages_from_modules;
use locus_sched::{Error, Result, Stage};

/// One stage of a [`SequenceEncoderConfig`]: a 1-D convolution and its activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv1dStage {
    /// Output channels.
    pub channels: usize,
    /// Kernel length.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding at each end.
    pub padding: usize,
}

/// A convolutional encoder of sequences split into gradient-isolated stages, one
/// [`Conv1d`](locus_core::Conv1d) and activation each: the shape of CPC's and Greedy
/// InfoMax's audio encoders (Oord et al. 2018, §3.1; Löwe et al. 2019, §4.2), whose
/// stage outputs `[batch, channels, length]` have one representation per time step for
/// an [`InfoNce`](locus_objectives::InfoNce) objective to predict ahead.
///
/// [`SequenceEncoderConfig::mnist1d`] is the encoder used for MNIST-1D's 40-step signals.
/// (LayerNorm between stages is an option the papers use; this encoder has none.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceEncoderConfig {
    /// `(channels, length)` of one input sequence; `[batch, length]` inputs are read as one
    /// channel.
    pub input: (usize, usize),
    /// The stages, bottom first.
    pub stages: Vec<Conv1dStage>,
    /// Activation after every convolution (default ReLU).
    pub activation: Activation,
    /// Weight initialisation (default PyTorch's).
    pub init: Init,
}

impl SequenceEncoderConfig {
    /// An encoder of `(channels, length)` sequences with the given stages, ReLU and
    /// PyTorch's initialisation.
    pub fn new(input: (usize, usize), stages: Vec<Conv1dStage>) -> Self {
        SequenceEncoderConfig {
            input,
            stages,
            activation: Activation::Relu,
            init: Init::TorchDefault,
        }
    }

    /// The encoder for MNIST-1D (`(1, 40)`): three stages of 128, 128 and 256 channels,
    /// kernel 5 with padding 2 and stride 1 (every stage keeps all 40 positions). With
    /// InfoNCE skipping the offsets each stage's receptive field overlaps
    /// ([`SequenceEncoderConfig::overlapping_offsets`]), the best Greedy InfoMax encoder
    /// measured on MNIST-1D (the book's contrastive results).
    pub fn mnist1d() -> Self {
        let stage = |channels| Conv1dStage {
            channels,
            kernel: 5,
            stride: 1,
            padding: 2,
        };
        Self::new((1, 40), vec![stage(128), stage(128), stage(256)])
    }

    /// The output length of every stage, bottom first.
    ///
    /// # Errors
    /// [`Error::Config`] when a kernel does not fit the sequence reaching it, or a size is 0.
    pub fn lengths(&self) -> Result<Vec<usize>> {
        let (mut channels, mut length) = self.input;
        let mut out = Vec::with_capacity(self.stages.len());
        for (i, s) in self.stages.iter().enumerate() {
            let conv = Conv1dConfig::new(channels, s.channels, s.kernel)
                .with_stride(s.stride)
                .with_padding(s.padding);
            conv.check().map_err(|e| Error::Stage {
                stage: format!("stage{}", i + 1),
                source: e,
            })?;
            length = (length + 2 * s.padding)
                .checked_sub(s.kernel)
                .map(|l| l / s.stride + 1)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "stage{}: kernel {} does not fit a sequence of {length} steps with padding {}",
                        i + 1,
                        s.kernel,
                        s.padding
                    ))
                })?;
            channels = s.channels;
            out.push(length);
        }
        Ok(out)
    }

    /// For every stage, bottom first, how many of its positions ahead share input samples
    /// with the position itself: its receptive field `r` (in input samples) spans
    /// `(r - 1) / spacing` further positions, `spacing` being the product of the strides
    /// so far. InfoNCE that predicts only past these offsets (`skip_steps`) cannot be
    /// solved by recognising shared input: `[4, 8, 12]` for [`SequenceEncoderConfig::mnist1d`].
    pub fn overlapping_offsets(&self) -> Vec<usize> {
        let (mut field, mut spacing) = (1, 1);
        self.stages
            .iter()
            .map(|s| {
                field += (s.kernel.max(1) - 1) * spacing;
                spacing *= s.stride.max(1);
                (field - 1) / spacing
            })
            .collect()
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Config`] for no stage, zero input channels or length, or a kernel that does
    /// not fit; the core's errors for a bad size, activation or initialisation.
    pub fn check(&self) -> Result<()> {
        if self.stages.is_empty() || self.input.0 == 0 || self.input.1 == 0 {
            return Err(Error::Config(format!(
                "a sequence encoder needs at least one stage and a non-empty input, got {} stages \
                 for input {:?}",
                self.stages.len(),
                self.input
            )));
        }
        self.lengths()?;
        let core = |e| Error::Stage {
            stage: "sequence encoder".into(),
            source: e,
        };
        self.activation.check().map_err(core)?;
        self.init.check().map_err(core)
    }

    /// Builds the stages, bottom first, as [`MlpConfig::build`](crate::MlpConfig::build)
    /// does. The first stage takes `[batch, length]` or `[batch, channels, length]`.
    ///
    /// # Errors
    /// As [`SequenceEncoderConfig::check`], and the optimizer's errors.
    pub fn build<F: Float>(
        &self,
        seed: u64,
        optimizer: &OptimizerConfig,
        objective_for: impl FnMut(usize, usize) -> Box<dyn LocalObjective<F>>,
    ) -> Result<Vec<Stage<F>>> {
        self.check()?;
        let mut rng = seeded_rng(seed);
        let (mut channels, length) = self.input;
        let mut modules = Vec::with_capacity(self.stages.len());
        for (i, s) in self.stages.iter().enumerate() {
            let wrap = |e| Error::Stage {
                stage: format!("stage{}", i + 1),
                source: e,
            };
            let mut module = Sequential::new();
            if i == 0 {
                module = module.push(Reshape::new(vec![channels, length]).map_err(wrap)?);
            }
            let conv = Conv1dConfig::new(channels, s.channels, s.kernel)
                .with_stride(s.stride)
                .with_padding(s.padding)
                .with_init(self.init)
                .init::<F>(&mut seeded_rng(child_seed(&mut rng)))
                .map_err(wrap)?;
            modules.push(module.push(conv).push(self.activation));
            channels = s.channels;
        }
        stages_from_modules(modules, optimizer, objective_for)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_offsets_follow_receptive_fields_and_strides() {
        assert_eq!(
            SequenceEncoderConfig::mnist1d().overlapping_offsets(),
            [4, 8, 12]
        );
        let stage = |kernel, stride| Conv1dStage {
            channels: 8,
            kernel,
            stride,
            padding: 0,
        };
        // Fields of 5, 9 and 17 samples, positions 1, 2 and 2 samples apart.
        let strided =
            SequenceEncoderConfig::new((1, 40), vec![stage(5, 1), stage(5, 2), stage(5, 1)]);
        assert_eq!(strided.overlapping_offsets(), [4, 4, 8]);
        // Non-overlapping windows share nothing.
        let windows = SequenceEncoderConfig::new((1, 40), vec![stage(4, 4), stage(1, 1)]);
        assert_eq!(windows.overlapping_offsets(), [0, 0]);
    }
}
