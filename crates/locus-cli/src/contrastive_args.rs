//! The flags of the contrastive algorithms (`--algo gim|cpc|bp-encoder`).

use clap::{Args, ValueEnum};
use locus_eval::FeaturePooling;
use locus_objectives::NegativeSampling;
use serde::Serialize;

/// How Greedy InfoMax's stages are scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GimSchedule {
    /// Every stage learns on every batch from its own loss (the GIM code's way).
    Lockstep,
    /// One stage at a time for --epochs each, on the outputs of the frozen stages below
    /// computed once and cached in memory.
    Cached,
    /// One stage at a time for --epochs each, on the outputs of the frozen stages below
    /// recomputed for every batch (no cache).
    Recompute,
}

/// Where InfoNCE draws negatives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SamplingKind {
    /// Any position of any sample of the batch.
    Batch,
    /// Other positions of the same sample.
    SameSample,
    /// Positions of the other samples.
    OtherSamples,
}

impl SamplingKind {
    pub fn sampling(self) -> NegativeSampling {
        match self {
            SamplingKind::Batch => NegativeSampling::Batch,
            SamplingKind::SameSample => NegativeSampling::SameSample,
            SamplingKind::OtherSamples => NegativeSampling::OtherSamples,
        }
    }
}

/// Flags of `--algo gim`, `cpc` and `bp-encoder` (ignored by the other algorithms).
#[derive(Debug, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ContrastiveArgs {
    /// Channels of each encoder stage, comma-separated (one stage per entry) [default:
    /// 128,128,128 for image patches, 128,128,256 for sequences].
    #[arg(long, value_delimiter = ',')]
    pub enc_widths: Option<Vec<usize>>,
    /// Kernel of each stage of the sequence encoder, comma-separated [default: 5,5,5].
    #[arg(long, value_delimiter = ',')]
    pub seq_kernels: Option<Vec<usize>>,
    /// Stride of each stage of the sequence encoder [default: 1,1,1].
    #[arg(long, value_delimiter = ',')]
    pub seq_strides: Option<Vec<usize>>,
    /// Zero padding of each stage of the sequence encoder [default: 2,2,2].
    #[arg(long, value_delimiter = ',')]
    pub seq_paddings: Option<Vec<usize>>,
    /// Dense (1×1) layers per stage of the image-patch encoder.
    #[arg(long, default_value_t = 1)]
    pub enc_layers: usize,
    /// Patch size of the image-patch encoder (square).
    #[arg(long, default_value_t = 8)]
    pub patch: usize,
    /// Step between patches (square); below --patch the patches overlap.
    #[arg(long, default_value_t = 4)]
    pub patch_stride: usize,
    /// InfoNCE prediction steps K (positions ahead, or patch rows below).
    #[arg(long, default_value_t = 3)]
    pub prediction_steps: usize,
    /// InfoNCE offsets right ahead that are not predicted, so each stage predicts k = s+1
    /// ..= s+K positions ahead: one value for every stage, or one per stage,
    /// comma-separated. Skipping the offsets whose receptive fields overlap the context's
    /// keeps the prediction from being solved by copying shared input [default for
    /// sequences: each stage's overlapping offsets, 4,8,12 for the default encoder; 0 for
    /// image patches].
    #[arg(long, value_delimiter = ',')]
    pub prediction_skip: Option<Vec<usize>>,
    /// InfoNCE negatives per anchor (N = negatives + 1 candidates).
    #[arg(long, default_value_t = 16)]
    pub negatives: usize,
    /// Where InfoNCE draws its negatives.
    #[arg(long, value_enum, default_value_t = SamplingKind::Batch)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub negative_sampling: SamplingKind,
    /// Adam learning rate of the InfoNCE predictors W_k.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub predictor_lr: f64,
    /// How GIM's stages are scheduled (with cached/recompute, --epochs is per stage).
    #[arg(long, value_enum, default_value_t = GimSchedule::Lockstep)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub gim_schedule: GimSchedule,
    /// Pooling of each stage's features before its linear probe: mean (over all positions,
    /// GIM's protocol), flatten, or gridN (average over N cells per position axis).
    #[arg(long, value_parser = parse_pooling, default_value = "mean")]
    #[serde(serialize_with = "serialize_pooling")]
    pub probe_pool: FeaturePooling,
    /// Adam learning rate of the linear probes.
    #[arg(long, default_value_t = 1e-2, allow_negative_numbers = true)]
    pub probe_lr: f64,
    /// Probe the top stage every N epochs for the learning curve (0: only after the last
    /// epoch; use 0 when measuring memory, as the probe's features count in the peak).
    #[arg(long, default_value_t = 1)]
    pub probe_every: u64,
    /// Also probe the untrained encoder (same seed): `probe_accuracy_init` per stage.
    #[arg(long)]
    pub probe_init: bool,
}

fn parse_pooling(text: &str) -> Result<FeaturePooling, String> {
    match text {
        "mean" => Ok(FeaturePooling::Mean),
        "flatten" => Ok(FeaturePooling::Flatten),
        _ => text
            .strip_prefix("grid")
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n >= 1)
            .map(FeaturePooling::Grid)
            .ok_or_else(|| format!("{text:?} is not mean, flatten or gridN with N >= 1")),
    }
}

/// `pooling` as `--probe-pool` spells it: the inverse of [`parse_pooling`].
fn pooling_name(pooling: FeaturePooling) -> String {
    match pooling {
        FeaturePooling::Mean => "mean".to_string(),
        FeaturePooling::Flatten => "flatten".to_string(),
        FeaturePooling::Grid(n) => format!("grid{n}"),
    }
}

fn serialize_pooling<S: serde::Serializer>(
    pooling: &FeaturePooling,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&pooling_name(*pooling))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_names_parse_back() {
        for pooling in [
            FeaturePooling::Mean,
            FeaturePooling::Flatten,
            FeaturePooling::Grid(3),
        ] {
            assert_eq!(parse_pooling(&pooling_name(pooling)), Ok(pooling));
        }
    }
}
