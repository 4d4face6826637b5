//! The flags of the greedy layer-wise algorithms (`--algo sae|sarm`), flattened into
//! `locus train`'s arguments.

use clap::{Args, ValueEnum};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecoderKind {
    /// A decoder of its own, trained by Adam at --decoder-lr.
    Linear,
    /// Tied weights: the decoder is the transpose of the stage's weight.
    Tied,
    /// A closed-form ridge regression (--ridge-lambda), refit per --ridge-refit.
    Ridge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReconLossKind {
    /// Squared error, linear output.
    Mse,
    /// Binary cross-entropy, sigmoid output (inputs in [0, 1]).
    Bce,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RidgeRefitKind {
    /// Solve on every batch.
    Batch,
    /// Solve once per pass over the pretraining rows.
    Epoch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NoiseKind {
    /// Plain autoencoders.
    None,
    /// Masking noise: each input set to 0 with probability --noise-level.
    Mask,
    /// Additive Gaussian noise of standard deviation --noise-level.
    Gaussian,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FeatureKind {
    /// Compute the frozen stages' outputs once per stage.
    Cache,
    /// Recompute them for every batch.
    Stream,
}

/// Greedy layer-wise training (sae, sarm).
#[derive(Debug, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct GreedyArgs {
    /// Epochs each stage below the top trains alone (its greedy budget). sae, sarm:
    /// [default: 1]; 0 leaves them untrained, the random-features control. --scheduler
    /// greedy: >= 1, the top stage learning for the rest of --epochs [default: --epochs
    /// split evenly over the stages, the top taking the remainder].
    #[arg(long)]
    pub stage_epochs: Option<u64>,
    /// sae, sarm: epochs of the supervised top on the frozen features
    /// [default: --epochs, or 1 with --finetune].
    #[arg(long)]
    pub top_epochs: Option<u64>,
    /// sae, sarm: after greedy training, fine-tune every stage end to end by
    /// backpropagation for --epochs.
    #[arg(long)]
    pub finetune: bool,
    /// sae, sarm: fraction of the training set, in (0, 1], the stages below the top learn
    /// from (a seeded random subset; the top and fine-tuning use all of it).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub pretrain_fraction: f64,
    /// sae, sarm: learning rate of the stages while they pretrain [default: 0.002 for
    /// sgd, --lr for adam]. A reconstruction loss sums over the input's features, so it
    /// takes a smaller rate than the supervised phases.
    #[arg(long, allow_negative_numbers = true)]
    pub pretrain_lr: Option<f64>,
    /// sae, sarm: the reconstruction objective's decoder.
    #[arg(long, value_enum, default_value_t = DecoderKind::Tied)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub decoder: DecoderKind,
    /// sae, sarm: reconstruction loss (bce needs inputs in [0, 1]).
    #[arg(long, value_enum, default_value_t = ReconLossKind::Mse)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub recon_loss: ReconLossKind,
    /// sae, sarm: Adam learning rate of the decoder's own parameters.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub decoder_lr: f64,
    /// sae, sarm: penalty λ of --decoder ridge.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub ridge_lambda: f64,
    /// sae, sarm: when --decoder ridge is solved.
    #[arg(long, value_enum, default_value_t = RidgeRefitKind::Epoch)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub ridge_refit: RidgeRefitKind,
    /// sae, sarm: input corruption while a stage pretrains (denoising autoencoders).
    #[arg(long, value_enum, default_value_t = NoiseKind::None)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub noise: NoiseKind,
    /// sae, sarm: masking probability or Gaussian standard deviation of --noise.
    #[arg(long, default_value_t = 0.25, allow_negative_numbers = true)]
    pub noise_level: f64,
    /// sae, sarm: how frozen stages feed the stage in training.
    #[arg(long, value_enum, default_value_t = FeatureKind::Cache)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub features: FeatureKind,
    /// sarm: unrolled ISTA steps of each sparse-coding stage.
    #[arg(long, default_value_t = 3)]
    pub ista_steps: usize,
    /// sarm: ISTA step size η.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    pub ista_step: f64,
    /// sarm: ℓ1 penalty λ of the sparse codes.
    #[arg(long, default_value_t = 0.1, allow_negative_numbers = true)]
    pub l1: f64,
    /// sarm: non-negative sparse codes.
    #[arg(long)]
    pub nonnegative: bool,
}

impl GreedyArgs {
    /// For algorithms other than sae and sarm: refuses the flags that only they read, so
    /// a mistyped --algo is not silently trained without them; `--stage-epochs` is also
    /// the budget of `--scheduler greedy` (`greedy_scheduler`).
    pub fn refuse_for(&self, algo: &str, greedy_scheduler: bool) -> anyhow::Result<()> {
        let greedy = crate::algo::names_where(crate::algo::Algorithm::greedy);
        if self.stage_epochs.is_some() && !greedy_scheduler {
            anyhow::bail!(
                "--stage-epochs applies to the greedy algorithms ({greedy}) and to --scheduler \
                 greedy, not to --algo {algo} under another scheduler"
            );
        }
        let given = [
            ("--finetune", self.finetune),
            ("--top-epochs", self.top_epochs.is_some()),
            ("--pretrain-fraction", self.pretrain_fraction != 1.0),
            ("--pretrain-lr", self.pretrain_lr.is_some()),
            ("--noise", self.noise != NoiseKind::None),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
            anyhow::bail!("{flag} applies to the greedy algorithms ({greedy}), not --algo {algo}");
        }
        Ok(())
    }
}
