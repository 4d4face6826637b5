use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// Train deep networks with local learning rules and compare them with backpropagation.
#[derive(Debug, Parser)]
#[command(name = "locus", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train one algorithm on one data set and report test accuracy.
    Train(Box<TrainArgs>),
    /// List the algorithms `--algo` takes: family, paper, default optimizer.
    List(crate::list::ListArgs),
    /// Draw the learning curves of finished runs (their results.json files) as a PNG or SVG.
    Plot(crate::plot::PlotArgs),
    /// Draw one figure of finished runs against another, a point per run (e.g. accuracy
    /// against a simulated delay), as a PNG or SVG.
    PlotPoints(crate::plot_points::PlotPointsArgs),
    /// Draw a finished run's own plots (curves, loss, alignment, stage accuracy) again from
    /// its results.json, beside it.
    Redraw(crate::redraw::RedrawArgs),
    /// Compare finished runs: a table of their figures, grouped by configuration, with the
    /// mean ± sample standard deviation over each group's seeds; with --out, the tables
    /// (compare.md), the groups (compare.json) and the runs' learning curves (curves.png).
    Compare(crate::compare::CompareArgs),
    /// Download MNIST or Fashion-MNIST from public mirrors (`locus data fetch mnist`), or
    /// check a copy (`locus data verify mnist`), against built-in SHA-256 sums.
    Data(crate::data_files::DataArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatasetKind {
    /// MNIST-1D generated in memory (standard 4000/1000 split, no files needed).
    Mnist1d,
    /// MNIST: the four standard IDX files in --data-dir or $LOCUS_DATA/mnist (`locus data
    /// fetch mnist` downloads them).
    Mnist,
    /// Any data set in the four MNIST IDX files (raw or .gz) in --data-dir, e.g.
    /// Fashion-MNIST (`locus data fetch fashion-mnist` downloads it).
    Idx,
    /// x_train.npy, y_train.npy, x_test.npy, y_test.npy in --data-dir.
    Npy,
    /// The copy task (Graves et al. 2014), generated in memory; needs --model lstm.
    Copy,
    /// The repeat-copy task (Graves et al. 2014), generated in memory; needs --model lstm.
    RepeatCopy,
}

impl DatasetKind {
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist1d => "mnist1d",
            DatasetKind::Mnist => "mnist",
            DatasetKind::Idx => "idx",
            DatasetKind::Npy => "npy",
            DatasetKind::Copy => "copy",
            DatasetKind::RepeatCopy => "repeat-copy",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerKind {
    Sgd,
    Adam,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleKind {
    /// The same rate every epoch.
    Constant,
    /// Cosine annealing from --lr to 0 over the run.
    Cosine,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelKind {
    /// Multi-layer perceptron, one stage per dense layer.
    Mlp,
    /// LeNet-5-style CNN: two conv/pool stages and three dense stages.
    Lenet,
    /// An LSTM and a sigmoid read-out trained by truncated BPTT (copy tasks only).
    Lstm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SgModelKind {
    /// One affine layer, zero-initialised (the paper's choice).
    Linear,
    /// A hidden ReLU layer of --sg-hidden units, last layer zero-initialised.
    Mlp,
    /// --sg-layers hidden layers of --sg-hidden units, each affine, LayerNorm, ReLU; last
    /// layer zero-initialised (the paper's DNI model, with LayerNorm for batch norm).
    NormMlp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SgTargetKind {
    /// The stage above passes down its own prediction, backpropagated (the paper's
    /// bootstrapping; the default).
    Bootstrapped,
    /// The stage above passes down the true gradient it received, backpropagated.
    True,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HeadKindArg {
    /// One dense layer to the classes.
    Linear,
    /// A hidden ReLU layer of --head-hidden units, then the classes.
    Mlp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GoodnessKind {
    /// Sum of squared activities (Hinton 2022).
    Sum,
    /// Mean of squared activities.
    Mean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabelPlacementKind {
    /// Over the first pixels of each sample (the paper's, for images with a blank border).
    FirstPixels,
    /// Before each sample, as extra inputs (nothing is overwritten).
    Prepend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InitKind {
    /// PyTorch's default: uniform on ±1/sqrt(fan_in).
    Torch,
    /// All weights zero.
    Zeros,
    /// Glorot uniform.
    Xavier,
    /// He normal (suits ReLU).
    He,
    /// LeCun normal, N(0, 1/fan_in): the standard FA/DFA protocol's (suits tanh). FA's and
    /// frSF's feedback matrices are drawn like the weights, so they follow it.
    Lecun,
}

/// The HSIC estimator of the HSIC bottleneck's loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HsicEstimatorKind {
    /// The normalised HSIC tr(R_K R_L), R_K = KH(KH + εbI)⁻¹, ε = 1e-5, as the reference
    /// code trains with (after NOCCO, Fukumizu et al. 2008).
    Nocco,
    /// The centred kernel alignment HSIC(K, L)/√(HSIC(K, K)·HSIC(L, L)).
    Normalized,
    /// The biased V-statistic tr(KHLH)/(b − 1)² (Gretton et al. 2005).
    Biased,
    /// The unbiased U-statistic (Song et al. 2012); needs batches of at least 4.
    Unbiased,
}

/// How DFA draws its feedback matrices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DfaFeedbackKind {
    /// Uniform on ±1/sqrt(width), PyTorch's scale for a width → classes layer.
    Uniform,
    /// N(0, 1/classes): the fan-in normal of the map from the error to the layer, as the
    /// standard FA/DFA protocol draws it (a signal about sqrt(width/classes) times larger).
    LecunNormal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActivationKind {
    Tanh,
    Relu,
    /// ReLU forward, identity backward (straight-through): silent units still get gradient.
    ReluFullGrad,
}

/// The flags of `locus train`. Serialized (kebab-case, as the flags are spelled) it is the
/// run's `config.toml` ([`crate::config_toml`]); the fields marked `skip` say where and
/// how the process runs, not what it trains.
#[derive(Debug, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TrainArgs {
    /// Read the run's flags from a TOML file, one key per flag with the flag's long name
    /// (`algo = "dfa"`, `batch-size = 64`, `hidden = [256, 256]`, `layer-norm = true`), as
    /// in the config.toml that --out writes. Flags given beside --config override the
    /// file's.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Start from a standard protocol's settings (the book's "Standard protocols" lists
    /// them with their sources); --config and flags given beside it override them.
    /// nokland2016: the FA/DFA MNIST protocol (784-1000-1000-10 tanh, LeCun-normal weights
    /// and feedback, SGD momentum 0.9, lr 0.01, batch 128, 20 epochs, standardised inputs).
    #[arg(long, value_enum)]
    #[serde(skip)]
    pub preset: Option<crate::presets::Preset>,
    /// Learning algorithm (`locus list` shows each with its paper and defaults).
    #[arg(long, default_value = "bp", value_parser = crate::algo::names())]
    pub algo: String,
    /// Data set.
    #[arg(long, value_enum, default_value_t = DatasetKind::Mnist1d)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub dataset: DatasetKind,
    /// Directory of the data files (for mnist, idx and npy). For mnist, defaults to
    /// $LOCUS_DATA/mnist.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Passes over the training set.
    #[arg(long, default_value_t = 10)]
    pub epochs: u64,
    /// Samples per training batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Learning rate [default: 0.05 for sgd, 0.001 for adam; 0.001 for both with ff and
    /// ff-unsup; 0.0003 for adam with dni and cdni; `locus list` shows each algorithm's].
    #[arg(long, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Optimizer of the stages [default: sgd; adam for dni and cdni, whose stages follow
    /// a learned gradient model that SGD at the default rate drives to overflow, and for
    /// gim, cpc and bp-encoder, whose upper InfoNCE stages collapse under SGD].
    #[arg(long, value_enum)]
    #[serde(serialize_with = "crate::config_toml::optional_value_name")]
    pub optimizer: Option<OptimizerKind>,
    /// Learning-rate schedule over the epochs [default: cosine for dni and cdni, as on
    /// their results page, and for hsic on mnist and idx (in each of its two phases);
    /// constant for the others].
    #[arg(long, value_enum)]
    #[serde(serialize_with = "crate::config_toml::optional_value_name")]
    pub lr_schedule: Option<ScheduleKind>,
    /// SGD momentum, in [0, 1).
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    pub momentum: f64,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub weight_decay: f64,
    /// Adam's ε, added to the root of the second-moment estimate (with --optimizer adam).
    /// Adam scales a gradient by its running magnitude, so with ε far below a stage's
    /// gradients even a tiny, noisy signal moves the weights a full step; a larger ε damps
    /// steps whose gradients stay below it [default: 1e-8].
    #[arg(long, allow_negative_numbers = true)]
    pub adam_eps: Option<f64>,
    /// Network: an MLP (widths from --hidden) or a LeNet-5-style CNN (image data only).
    #[arg(long, value_enum, default_value_t = ModelKind::Mlp)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub model: ModelKind,
    /// Hidden layer widths of the MLP, comma-separated [default: 1000,1000].
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Weight initialisation of every layer (zeros: all weights 0, which DFA can train
    /// from; biases keep PyTorch's default).
    #[arg(long, value_enum, default_value_t = InitKind::Torch)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub init: InitKind,
    /// How dfa draws each hidden stage's feedback matrix B ([classes, width]).
    #[arg(long, value_enum, default_value_t = DfaFeedbackKind::Uniform)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub dfa_feedback_init: DfaFeedbackKind,
    /// Weight λy of nHSIC(Z, Y) in every hidden stage's HSIC-bottleneck loss
    /// nHSIC(Z, X) − λy·nHSIC(Z, Y) (hsic) [default: 50, the reference configuration's].
    #[arg(long, allow_negative_numbers = true)]
    pub hsic_lambda_y: Option<f64>,
    /// Bandwidth σ of the HSIC bottleneck's Gaussian kernels, in the reference code's
    /// convention: the squared distances of rows d wide are divided by 2σ²·d (hsic)
    /// [default: 5, the reference configuration's].
    #[arg(long, allow_negative_numbers = true)]
    pub hsic_sigma: Option<f64>,
    /// The HSIC estimator of the bottleneck's loss (hsic) [default: nocco, the reference
    /// code's].
    #[arg(long, value_enum)]
    #[serde(serialize_with = "crate::config_toml::optional_value_name")]
    pub hsic_estimator: Option<HsicEstimatorKind>,
    /// Standardise the inputs with one mean and standard deviation measured on the
    /// training split (recorded in results.json as config.input_standardization), as
    /// the standard MNIST protocols do.
    #[arg(long)]
    pub standardize: bool,
    /// Hidden activation.
    #[arg(long, value_enum, default_value_t = ActivationKind::Relu)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub activation: ActivationKind,
    /// Gradient model of the synthetic-gradient stages (dni, cdni).
    #[arg(long, value_enum, default_value_t = SgModelKind::Linear)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub sg_model: SgModelKind,
    /// Hidden width of --sg-model mlp and norm-mlp.
    #[arg(long, default_value_t = 256)]
    pub sg_hidden: usize,
    /// Number of hidden layers of --sg-model norm-mlp.
    #[arg(long, default_value_t = 2)]
    pub sg_layers: usize,
    /// What the gradient models of the hidden stages regress onto (dni, cdni on an MLP or
    /// LeNet, lockstep schedulers): `bootstrapped` (each model onto the prediction of the
    /// model above, backpropagated through the stage between) or `true` (onto the gradient
    /// backpropagation gives; the stages still update at once from the prediction)
    /// [default: true for dni under lockstep and forward-unlocked, its best result on the
    /// results page; bootstrapped for cdni, and under pipelined and simulated, where a
    /// true target would make the stage below wait on the whole backward pass].
    #[arg(long, value_enum)]
    #[serde(serialize_with = "crate::config_toml::optional_value_name")]
    pub sg_target: Option<SgTargetKind>,
    /// Adam learning rate of the gradient models.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub sg_lr: f64,
    /// BP(λ): stages learn from λ·true + (1−λ)·synthetic gradient, λ in [0, 1].
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub sg_lambda: f64,
    /// Warm-up of the synthetic-gradient stages (dni, cdni), in epochs: during the first N
    /// epochs the gradient models learn but the hidden stages do not apply their
    /// predictions (they stay as initialised; the top stage trains as usual). Must be
    /// below --epochs. 0: none.
    #[arg(long, default_value_t = 0)]
    pub sg_warmup_epochs: u64,
    /// BP(λ) annealing (dni, cdni): λ falls linearly from --sg-lambda to 0 over each
    /// hidden stage's first N epochs of updates, then stays 0 (purely synthetic). Needs
    /// --sg-lambda > 0. 0: λ constant.
    #[arg(long, default_value_t = 0)]
    pub sg_lambda_anneal_epochs: u64,
    /// MLP only: a LayerNorm (learned scale and shift) after every hidden layer's linear
    /// map, before the activation (where the DNI paper puts batch normalisation).
    #[arg(long)]
    pub layer_norm: bool,
    /// MLP only: a batch normalisation (learned scale and shift, running statistics for
    /// evaluation, momentum 0.1) in the same place: the DNI paper's own choice. `--batch-norm
    /// false` leaves it out [default: on for dni and cdni on an MLP without --layer-norm,
    /// as on their results page; off for the others].
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub batch_norm: Option<bool>,
    #[command(flatten)]
    #[serde(flatten)]
    pub schedule: crate::scheduler::SchedulerArgs,
    /// Auxiliary classifier head of every hidden stage (dgl).
    #[arg(long, value_enum, default_value_t = HeadKindArg::Linear)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub head: HeadKindArg,
    /// Hidden width of --head mlp.
    #[arg(long, default_value_t = 256)]
    pub head_hidden: usize,
    /// Goodness of a Forward-Forward layer (ff, ff-unsup).
    #[arg(long, value_enum, default_value_t = GoodnessKind::Sum)]
    #[serde(serialize_with = "crate::config_toml::value_name")]
    pub ff_goodness: GoodnessKind,
    /// Forward-Forward threshold, as the mean squared activity per unit at which a sample
    /// is judged positive with probability 1/2 (θ = this × width for --ff-goodness sum).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub ff_threshold: f64,
    /// Weight of Forward-Forward peer normalisation (ff, ff-unsup), which keeps each
    /// unit's running mean activity near its peers' average; 0.03 in Löwe's public
    /// reimplementation [default: 0, off].
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub ff_peer_norm: f64,
    /// Where ff writes the label into a sample [default: first-pixels for image data
    /// (mnist, idx), prepend otherwise].
    #[arg(long, value_enum)]
    #[serde(serialize_with = "crate::config_toml::optional_value_name")]
    pub ff_label: Option<LabelPlacementKind>,
    /// Adam learning rate of the Forward-Forward softmax read-outs (ff, ff-unsup).
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub readout_lr: f64,
    /// Evaluate on the test set every N epochs (ff, ff-unsup; an error with the other
    /// algorithms) [default: 1]. The last epoch is always evaluated and gives the final
    /// figures; the epochs not evaluated are left out of the learning curve (history in
    /// results.json, epochs.csv). 0: only after the last epoch.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub eval_every: Option<u64>,
    /// The plain MLP/LeNet rules whose hidden stages learn from their own objective
    /// (hsic, dgl): train the hidden stages together for --epochs, then the top read-out
    /// alone for N more epochs on their frozen output (the HSIC bottleneck's "format"
    /// step), instead of the read-out learning alongside them; lockstep only. 0: none
    /// [default: 20 for hsic under lockstep (the reference's format step takes 5; the
    /// read-out still learns after them); 0 otherwise].
    #[arg(long, value_name = "N")]
    pub format_epochs: Option<u64>,
    /// Save the full training state into DIR/checkpoint.safetensors (every stage's
    /// weights in PyTorch's layout, optimizer moments, auxiliary models, running
    /// statistics, step counters, the scheduler's own state, and the run's settings and
    /// learning curve in its manifest) every --save-every epochs and after the last,
    /// replacing the previous checkpoint atomically. `--resume DIR` goes on from it.
    /// Every algorithm; for the copy tasks the curriculum's rounds are the epochs.
    #[arg(long, value_name = "DIR")]
    #[serde(skip)]
    pub save_state: Option<PathBuf>,
    /// With --save-state: save every N epochs (and after the last) [default: 1].
    #[arg(long, value_name = "N")]
    #[serde(skip)]
    pub save_every: Option<u64>,
    /// Go on with a run from the checkpoint in DIR (written by --save-state), with the
    /// same options otherwise (checked: a difference is an error naming it); the run ends
    /// with the figures of the uninterrupted run of the same seed.
    #[arg(long, value_name = "DIR")]
    #[serde(skip)]
    pub resume: Option<PathBuf>,
    /// With --save-state: stop after N epochs of this process, the state saved, to go on
    /// later with --resume (a long run split over several sessions).
    #[arg(long, value_name = "N")]
    #[serde(skip)]
    pub stop_after: Option<u64>,
    /// Seed of the weights and the batch order.
    #[arg(long, default_value_t = 0)]
    #[serde(serialize_with = "crate::config_toml::large_integer")]
    pub seed: u64,
    /// Train the same run once per seed, comma-separated (`--seeds 0,1,2`), each into its
    /// own run directory DIR/seed-N under --out DIR (needed), then write their comparison
    /// into DIR as `locus compare` does (compare.md, compare.json, curves.png) and print
    /// its table. Not with --seed, --resume or --stop-after; --save-state S keeps each
    /// run's state in S/seed-N.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "N,N,...",
        conflicts_with = "seed"
    )]
    #[serde(skip)]
    pub seeds: Option<Vec<u64>>,
    /// Seed of the generated MNIST-1D data (42 gives the standard split).
    #[arg(long, default_value_t = 42)]
    #[serde(serialize_with = "crate::config_toml::large_integer")]
    pub data_seed: u64,
    /// Use only the first N training samples (e.g. for quick runs).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Write results.json, epochs.csv and config.toml (the run's flags, for --config) into
    /// this directory.
    #[arg(long)]
    #[serde(skip)]
    pub out: Option<PathBuf>,
    /// Print the run's summary as one JSON object on the last line of stdout. With
    /// --seeds: one such line per run, then the comparison (compare.json's object) last.
    #[arg(long)]
    pub json: bool,
    /// No progress on stderr: no progress bar and no line per epoch (the summary,
    /// warnings and errors still print). The bar is drawn only when stderr is a terminal.
    #[arg(long)]
    pub quiet: bool,
    /// Adam epochs of the linear probe fit on each stage's frozen features [default: 5 for
    /// sae and sarm (0: no probes); 100 for gim, cpc and bp-encoder, whose pooled MNIST-1D
    /// probes were far from converged after 20].
    #[arg(long)]
    pub probe_epochs: Option<usize>,
    #[command(flatten)]
    #[serde(flatten)]
    pub greedy: Box<crate::greedy_args::GreedyArgs>,
    /// Settings of gim, cpc and bp-encoder.
    #[command(flatten)]
    #[serde(flatten)]
    pub contrastive: Box<crate::contrastive_args::ContrastiveArgs>,
    /// Sequence tasks: the options of `--model lstm`.
    #[command(flatten)]
    #[serde(flatten)]
    pub sequence: crate::sequence::SequenceArgs,
}

impl TrainArgs {
    /// `--lr-schedule`, or constant when neither it nor an algorithm default was set.
    pub fn schedule_kind(&self) -> ScheduleKind {
        self.lr_schedule.unwrap_or(ScheduleKind::Constant)
    }

    /// `--batch-norm`, or off when neither it nor an algorithm default was set.
    pub fn batch_norm_on(&self) -> bool {
        self.batch_norm.unwrap_or(false)
    }

    /// `--format-epochs`, or 0 when neither it nor an algorithm default was set.
    pub fn format_epochs(&self) -> u64 {
        self.format_epochs.unwrap_or(0)
    }

    /// `--sg-target`, or bootstrapped when neither it nor an algorithm default was set.
    pub fn sg_target_kind(&self) -> SgTargetKind {
        self.sg_target.unwrap_or(SgTargetKind::Bootstrapped)
    }
}
