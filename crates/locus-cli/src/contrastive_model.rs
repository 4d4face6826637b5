//! The networks of `--algo gim|cpc|bp-encoder`: a patch encoder for images, a
//! convolutional sequence encoder for sequences, and each algorithm's objectives.

use anyhow::Context;
use locus_core::{
    seeded_rng, AdamConfig, Flatten, LinearConfig, Loss, Module, OptimizerConfig, Sequential,
};
use locus_models::{Conv1dStage, PatchEncoderConfig, SequenceEncoderConfig};
use locus_objectives::{InfoNceConfig, LocalObjective, SupervisedLoss, UpstreamGradient};
use locus_sched::Stage;
use serde_json::json;

use crate::contrastive_args::ContrastiveArgs;

/// Which of the three contrastive-family algorithms runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Greedy InfoMax: every stage learns from its own InfoNCE loss.
    Gim,
    /// End-to-end CPC: InfoNCE at the top stage, backpropagated through all.
    Cpc,
    /// The same encoder trained end to end by a supervised linear head.
    BpEncoder,
}

/// The encoder a data set's samples call for.
#[derive(Debug, Clone, PartialEq)]
pub enum Encoder {
    /// Images (`[height, width]` or `[channels, height, width]` samples).
    Patches(PatchEncoderConfig),
    /// Sequences (`[length]` samples).
    Sequence(SequenceEncoderConfig),
}

impl Encoder {
    /// The encoder for samples of `shape`: rank 1 is a sequence, ranks 2 and 3 an image.
    pub fn for_samples(shape: &[usize], args: &ContrastiveArgs) -> anyhow::Result<Encoder> {
        if args.enc_layers == 0 {
            anyhow::bail!("--enc-layers should be >= 1, but it is 0");
        }
        if let Some(w) = args.enc_widths.as_deref() {
            if w.is_empty() || w.contains(&0) {
                anyhow::bail!("--enc-widths should list widths >= 1, but it is {w:?}");
            }
        }
        let encoder = match *shape {
            [length] => {
                let mut config = SequenceEncoderConfig::mnist1d();
                config.input = (1, length);
                let lists = [
                    ("--enc-widths", &args.enc_widths),
                    ("--seq-kernels", &args.seq_kernels),
                    ("--seq-strides", &args.seq_strides),
                    ("--seq-paddings", &args.seq_paddings),
                ];
                let count = lists
                    .iter()
                    .filter_map(|(_, l)| l.as_ref().map(Vec::len))
                    .max();
                if let Some(count) = count {
                    for (flag, list) in lists {
                        if let Some(l) = list.as_ref().filter(|l| l.len() != count) {
                            anyhow::bail!(
                                "{flag} lists {} stages, another encoder flag {count}: give every \
                                 list one entry per stage",
                                l.len()
                            );
                        }
                    }
                    let template = config.stages.clone();
                    let pick = |list: &Option<Vec<usize>>, i: usize, default: usize| {
                        list.as_ref().map_or(default, |l| l[i])
                    };
                    config.stages = (0..count)
                        .map(|i| {
                            let t = template[i.min(template.len() - 1)];
                            Conv1dStage {
                                channels: pick(&args.enc_widths, i, t.channels),
                                kernel: pick(&args.seq_kernels, i, t.kernel),
                                stride: pick(&args.seq_strides, i, t.stride),
                                padding: pick(&args.seq_paddings, i, t.padding),
                            }
                        })
                        .collect();
                }
                config.check().context("the sequence encoder")?;
                Encoder::Sequence(config)
            }
            [h, w] | [_, h, w] => {
                let c = if shape.len() == 3 { shape[0] } else { 1 };
                let mut config = PatchEncoderConfig::new((c, h, w))
                    .with_patches(
                        (args.patch, args.patch),
                        (args.patch_stride, args.patch_stride),
                    )
                    .with_layers_per_stage(args.enc_layers);
                if let Some(widths) = &args.enc_widths {
                    config = config.with_widths(widths.clone());
                }
                config
                    .check()
                    .context("the patch encoder (--patch, --patch-stride, --enc-widths)")?;
                Encoder::Patches(config)
            }
            _ => anyhow::bail!(
                "gim, cpc and bp-encoder take sequences ([length]) or images ([height, width] or \
                 [channels, height, width]), but the samples have shape {shape:?}"
            ),
        };
        Ok(encoder)
    }

    /// InfoNCE's skipped offsets when `--prediction-skip` is not given: on sequences, the
    /// offsets each stage's receptive field overlaps
    /// ([`SequenceEncoderConfig::overlapping_offsets`]); on image patches none, the setting
    /// the MNIST-patch results were measured with.
    pub fn default_prediction_skip(&self) -> Vec<usize> {
        match self {
            Encoder::Sequence(c) => c.overlapping_offsets(),
            Encoder::Patches(_) => vec![0],
        }
    }

    /// `"patches"` or `"conv1d"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Encoder::Patches(_) => "patches",
            Encoder::Sequence(_) => "conv1d",
        }
    }

    /// The configuration, for results.json.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Encoder::Patches(c) => json!(c),
            Encoder::Sequence(c) => json!(c),
        }
    }

    fn build(
        &self,
        seed: u64,
        optimizer: &OptimizerConfig,
        objective_for: impl FnMut(usize, usize) -> Box<dyn LocalObjective<f32>>,
    ) -> anyhow::Result<Vec<Stage<f32>>> {
        Ok(match self {
            Encoder::Patches(c) => c.build(seed, optimizer, objective_for)?,
            Encoder::Sequence(c) => c.build(seed, optimizer, objective_for)?,
        })
    }
}

/// The InfoNCE settings of stage `index` (its own seed for predictors and negatives).
pub fn infonce_config(args: &ContrastiveArgs, seed: u64, index: usize) -> InfoNceConfig {
    InfoNceConfig::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64 + 1))
        .with_prediction_steps(args.prediction_steps)
        .with_skip_steps(prediction_skip(args, index))
        .with_negatives(args.negatives)
        .with_sampling(args.negative_sampling.sampling())
        .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(args.predictor_lr)))
}

/// The `--prediction-skip` of stage `index`: its own entry, or the single value every
/// stage shares (the list's length is checked against the stages in [`build_stages`]).
fn prediction_skip(args: &ContrastiveArgs, index: usize) -> usize {
    let skips = args.prediction_skip.as_deref().unwrap_or(&[]);
    skips.get(index).or(skips.last()).copied().unwrap_or(0)
}

/// The stages of `family` on `encoder`, bottom first; `bp-encoder` adds a head stage
/// (flatten, linear to `classes`) with the softmax cross-entropy.
pub fn build_stages(
    family: Family,
    encoder: &Encoder,
    args: &ContrastiveArgs,
    seed: u64,
    optimizer: &OptimizerConfig,
    classes: usize,
    sample_shape: &[usize],
) -> anyhow::Result<Vec<Stage<f32>>> {
    infonce_config(args, seed, 0)
        .check()
        .context("invalid InfoNCE settings")?;
    let infonce = |i| -> Box<dyn LocalObjective<f32>> {
        Box::new(
            infonce_config(args, seed, i)
                .build::<f32>()
                .expect("InfoNCE settings are checked above"),
        )
    };
    let mut stages = encoder.build(seed, optimizer, |i, n| match family {
        Family::Gim => infonce(i),
        Family::Cpc if i + 1 == n => infonce(i),
        Family::Cpc | Family::BpEncoder => Box::new(UpstreamGradient),
    })?;
    let skips = args.prediction_skip.as_ref().map_or(1, Vec::len);
    if skips != 1 && skips != stages.len() {
        anyhow::bail!(
            "--prediction-skip lists {skips} values for an encoder of {} stages: give one \
             value for every stage, or one per stage",
            stages.len()
        );
    }
    if family == Family::BpEncoder {
        let mut shape = vec![1];
        shape.extend_from_slice(sample_shape);
        let probe = locus_sched::predict(&stages, &locus_core::Tensor::zeros(shape))?;
        let width = probe.len();
        let linear =
            LinearConfig::new(width, classes).init::<f32>(&mut seeded_rng(seed ^ 0x4ead))?;
        let head: Box<dyn Module<f32>> = Box::new(Sequential::new().push(Flatten).push(linear));
        let name = format!("stage{}", stages.len() + 1);
        stages.push(Stage::new(
            name,
            head,
            Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy)),
            optimizer.build()?,
        ));
    }
    Ok(stages)
}
