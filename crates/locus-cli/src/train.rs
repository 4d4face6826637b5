//! `locus train`: build the stages, train, evaluate, report.

use std::collections::BTreeMap;

use anyhow::Context;
use locus_core::init::Init;
use locus_core::{Activation, AdamConfig, Module, OptimizerConfig, SgdConfig};
use locus_eval::{EpochRecord, RunReport};
use locus_models::{LeNetConfig, MlpConfig};
use locus_objectives::{
    BottleneckKernel, DfaFeedbackInit, ForwardForwardConfig, Goodness, HeadKind,
    HsicBottleneckConfig, HsicEstimator, LocalClassifierConfig, SgModel, SgTarget,
    SyntheticGradientConfig,
};
use locus_sched::{LrSchedule, ReadoutLast, Stage};
use locus_train::{Classification, Trainer};
use serde_json::json;

use crate::algo::{HiddenSignal, ObjectiveSettings, OptimizerDefaults};
use crate::args::{
    ActivationKind, DfaFeedbackKind, GoodnessKind, HeadKindArg, HsicEstimatorKind, InitKind,
    ModelKind, OptimizerKind, ScheduleKind, SgModelKind, SgTargetKind, TrainArgs,
};
use crate::progress::ProgressBar;
use crate::run_state::Checkpointing;
use crate::{algo, data};

/// Hidden widths of the MLP when --hidden is not given.
pub(crate) const DEFAULT_HIDDEN: [usize; 2] = [1000, 1000];

/// Checks the arguments clap cannot check by type.
pub(crate) fn check(args: &TrainArgs) -> anyhow::Result<()> {
    if args.epochs == 0 {
        anyhow::bail!("--epochs should be >= 1, but it is 0");
    }
    if args.batch_size == 0 {
        anyhow::bail!("--batch-size should be >= 1, but it is 0");
    }
    if args.probe_epochs.is_some() && !algo::find(&args.algo).is_ok_and(|a| a.probed()) {
        anyhow::bail!(
            "--probe-epochs applies to --algo {}; --algo {} fits no linear probes",
            algo::names_where(algo::Algorithm::probed),
            args.algo
        );
    }
    if let Some(hidden) = &args.hidden {
        if args.model == ModelKind::Lenet {
            anyhow::bail!("--hidden sets the widths of --model mlp; a LeNet has fixed widths");
        }
        if let Some(i) = hidden.iter().position(|&h| h == 0) {
            anyhow::bail!(
                "--hidden width {} (position {}) should be >= 1",
                hidden[i],
                i + 1
            );
        }
    }
    Ok(())
}

/// The stages' optimizer: `--optimizer`, or `defaults.kind` when it is not given, at
/// `--lr` or the default rate of the chosen kind.
///
/// # Errors
/// `--adam-eps` with SGD.
pub(crate) fn optimizer(
    args: &TrainArgs,
    defaults: OptimizerDefaults,
) -> anyhow::Result<OptimizerConfig> {
    let kind = args.optimizer.unwrap_or(defaults.kind);
    if kind == OptimizerKind::Sgd && args.adam_eps.is_some() {
        anyhow::bail!("--adam-eps applies to --optimizer adam, and the stages here use sgd");
    }
    let lr = args.lr.unwrap_or(defaults.lr(kind));
    Ok(match kind {
        OptimizerKind::Sgd => OptimizerConfig::Sgd(
            SgdConfig::new(lr)
                .with_momentum(args.momentum)
                .with_weight_decay(args.weight_decay),
        ),
        OptimizerKind::Adam => OptimizerConfig::Adam(AdamConfig {
            weight_decay: args.weight_decay,
            eps: args.adam_eps.unwrap_or(AdamConfig::default().eps),
            ..AdamConfig::new(lr)
        }),
    })
}

/// The hidden activation `--activation` names.
pub(crate) fn activation(args: &TrainArgs) -> Activation {
    match args.activation {
        ActivationKind::Tanh => Activation::Tanh,
        ActivationKind::Relu => Activation::Relu,
        ActivationKind::ReluFullGrad => Activation::ReluFullGradient,
    }
}

/// The name `--activation` was given, as the command line spells it (recorded in results).
pub(crate) fn activation_name(args: &TrainArgs) -> String {
    clap::ValueEnum::to_possible_value(&args.activation)
        .map(|v| v.get_name().to_string())
        .unwrap_or_default()
}

/// The synthetic-gradient objective the `--sg-*` options describe (gradient model and its
/// optimizer); callers add BP(λ), annealing and warm-up where they apply.
pub(crate) fn synthetic_gradient(args: &TrainArgs) -> SyntheticGradientConfig {
    SyntheticGradientConfig::new(args.seed)
        .with_model(match args.sg_model {
            SgModelKind::Linear => SgModel::Linear,
            SgModelKind::Mlp => SgModel::Mlp {
                hidden: args.sg_hidden,
            },
            SgModelKind::NormMlp => SgModel::NormalizedMlp {
                hidden: args.sg_hidden,
                layers: args.sg_layers,
            },
        })
        .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(args.sg_lr)))
        .with_target(match args.sg_target_kind() {
            SgTargetKind::Bootstrapped => SgTarget::Bootstrapped,
            SgTargetKind::True => SgTarget::TrueGradient,
        })
}

/// The weight initialisation `--init` names.
pub(crate) fn init(args: &TrainArgs) -> Init {
    match args.init {
        InitKind::Torch => Init::TorchDefault,
        InitKind::Zeros => Init::Zeros,
        InitKind::Xavier => Init::XavierUniform,
        InitKind::He => Init::HeNormal,
        InitKind::Lecun => Init::LeCunNormal,
    }
}

/// The learning-rate schedule `--lr-schedule` names.
pub(crate) fn lr_schedule(args: &TrainArgs) -> LrSchedule {
    match args.schedule_kind() {
        ScheduleKind::Constant => LrSchedule::Constant,
        ScheduleKind::Cosine => LrSchedule::Cosine,
    }
}

/// `args` with the defaults of its algorithm ([`algo::Algorithm::training_defaults`])
/// where a flag was not given: the learning-rate schedule, and for the plain MLP and
/// LeNet rules batch normalisation (MLP only, not beside `--layer-norm`) and the
/// synthetic-gradient target (a true target only under the schedulers that allow one).
/// Every reader of the arguments, and results.json, then sees the values the run used.
pub(crate) fn with_algorithm_defaults(args: &TrainArgs) -> TrainArgs {
    let mut resolved = args.clone();
    let Ok(algorithm) = algo::find(&args.algo) else {
        return resolved;
    };
    let defaults = algorithm.training_defaults(args.dataset);
    resolved.lr_schedule.get_or_insert(defaults.lr_schedule);
    let plain = algorithm.plain() && !crate::sequence::wants_sequences(args);
    if plain && args.model == ModelKind::Mlp && !args.layer_norm {
        resolved.batch_norm.get_or_insert(defaults.batch_norm);
    }
    let allows_true_target = matches!(
        args.schedule.scheduler,
        crate::scheduler::SchedulerKind::Lockstep
            | crate::scheduler::SchedulerKind::ForwardUnlocked
    );
    if plain && algorithm.synthetic() && allows_true_target {
        resolved.sg_target.get_or_insert(defaults.sg_target);
    }
    if plain && args.schedule.scheduler == crate::scheduler::SchedulerKind::Lockstep {
        resolved.format_epochs.get_or_insert(defaults.format_epochs);
    }
    if matches!(algorithm.hidden, HiddenSignal::HsicBottleneck) {
        resolved
            .hsic_lambda_y
            .get_or_insert(HsicBottleneckConfig::DEFAULT_LAMBDA_Y);
        resolved
            .hsic_sigma
            .get_or_insert(HsicBottleneckConfig::DEFAULT_SIGMA);
        resolved
            .hsic_estimator
            .get_or_insert(HsicEstimatorKind::Nocco);
    }
    resolved
}

/// The HSIC-bottleneck objective the `--hsic-*` flags describe, for `classes` classes:
/// λx = 1, λy, one width-scaled Gaussian kernel of bandwidth σ for Z, X and Y, and the
/// estimator.
pub(crate) fn hsic_bottleneck(args: &TrainArgs, classes: usize) -> HsicBottleneckConfig {
    HsicBottleneckConfig::new(classes)
        .with_lambdas(
            HsicBottleneckConfig::DEFAULT_LAMBDA_X,
            args.hsic_lambda_y
                .unwrap_or(HsicBottleneckConfig::DEFAULT_LAMBDA_Y),
        )
        .with_kernel(BottleneckKernel::WidthScaledGaussian {
            sigma: args
                .hsic_sigma
                .unwrap_or(HsicBottleneckConfig::DEFAULT_SIGMA),
        })
        .with_estimator(
            match args.hsic_estimator.unwrap_or(HsicEstimatorKind::Nocco) {
                HsicEstimatorKind::Nocco => HsicEstimator::NormalizedCca { epsilon: 1e-5 },
                HsicEstimatorKind::Normalized => HsicEstimator::Normalized,
                HsicEstimatorKind::Biased => HsicEstimator::Biased,
                HsicEstimatorKind::Unbiased => HsicEstimator::Unbiased,
            },
        )
}

/// Refuses `--layer-norm` and `--sg-warmup-epochs` where nothing would use them, and a
/// warm-up that leaves no epoch to learn in.
pub(crate) fn check_dni_options(args: &TrainArgs) -> anyhow::Result<()> {
    let plain = algo::find(&args.algo).ok().filter(|a| a.plain());
    let plain_mlp =
        plain.is_some() && args.model == ModelKind::Mlp && !crate::sequence::wants_sequences(args);
    if args.layer_norm && args.batch_norm == Some(true) {
        anyhow::bail!(
            "--batch-norm and --layer-norm put a normalisation in the same place: give one"
        );
    }
    for (set, flag) in [
        (args.layer_norm, "--layer-norm"),
        (args.batch_norm.is_some(), "--batch-norm"),
    ] {
        if set && !plain_mlp {
            let model = format!("{:?}", args.model).to_lowercase();
            anyhow::bail!(
                "{flag} applies to --model mlp trained by {}; --algo {} with --model {} does \
                 not use it",
                algo::names_where(algo::Algorithm::plain),
                args.algo,
                model
            );
        }
    }
    for (flag, given) in [
        ("--sg-warmup-epochs", args.sg_warmup_epochs > 0),
        (
            "--sg-lambda-anneal-epochs",
            args.sg_lambda_anneal_epochs > 0,
        ),
        ("--sg-target", args.sg_target.is_some()),
    ] {
        let synthetic = plain.is_some_and(algo::Algorithm::synthetic);
        if given && (!synthetic || !plain_mlp && args.model != ModelKind::Lenet) {
            anyhow::bail!(
                "{flag} applies to --algo {} on an MLP or a LeNet; it is not used with --algo \
                 {}{}",
                algo::names_where(algo::Algorithm::synthetic),
                args.algo,
                if crate::sequence::wants_sequences(args) {
                    " on a sequence task"
                } else {
                    ""
                }
            );
        }
    }
    if args.sg_warmup_epochs > 0 && args.sg_warmup_epochs >= args.epochs {
        anyhow::bail!(
            "--sg-warmup-epochs {} should be below --epochs {}: the hidden stages would never \
             learn",
            args.sg_warmup_epochs,
            args.epochs
        );
    }
    Ok(())
}

/// Runs `locus train`.
pub fn run(given: &TrainArgs) -> anyhow::Result<()> {
    check_dni_options(given)?;
    let resolved = with_algorithm_defaults(given);
    let args = &resolved;
    // Before the dispatch, so that every family of algorithms refuses it.
    let forward_forward = algo::find(&args.algo).is_ok_and(|a| a.is_forward_forward());
    let ff_names = algo::names_where(algo::Algorithm::is_forward_forward);
    if args.eval_every.is_some() && !forward_forward {
        anyhow::bail!(
            "--eval-every applies to the Forward-Forward algorithms ({ff_names}), not --algo {} \
             ({} space their probes with --probe-every)",
            args.algo,
            algo::names_where(|a| a.contrastive().is_some()),
        );
    }
    if given.format_epochs.is_some_and(|n| n > 0)
        && (!algo::find(&args.algo).is_ok_and(|a| a.plain())
            || crate::sequence::wants_sequences(args))
    {
        anyhow::bail!(
            "--format-epochs applies to --algo {} on an MLP or a LeNet; --algo {} has no \
             separate read-out to train after its hidden stages",
            algo::names_where(algo::Algorithm::plain),
            args.algo
        );
    }
    if args.ff_peer_norm != 0.0 && !forward_forward {
        anyhow::bail!(
            "--ff-peer-norm applies to the Forward-Forward algorithms ({ff_names}), not \
             --algo {}",
            args.algo
        );
    }
    // Written as the run starts, so a run that stops early can still be run again; with
    // the resolved options, so the file says what this run used.
    if let Some(dir) = &args.out {
        crate::config_toml::write(args, dir)?;
    }
    if args.dfa_feedback_init != DfaFeedbackKind::Uniform && args.algo != "dfa" {
        anyhow::bail!(
            "--dfa-feedback-init applies to --algo dfa, not --algo {} (fa's feedback \
             matrices are drawn like the weights: set --init)",
            args.algo
        );
    }
    let hsic_flags = [
        ("--hsic-lambda-y", args.hsic_lambda_y.is_some()),
        ("--hsic-sigma", args.hsic_sigma.is_some()),
        ("--hsic-estimator", args.hsic_estimator.is_some()),
    ];
    if let Some((flag, _)) = hsic_flags.iter().find(|(_, given)| *given) {
        let hsic = |a: &algo::Algorithm| matches!(a.hidden, HiddenSignal::HsicBottleneck);
        if !hsic(algo::find(&args.algo)?) {
            anyhow::bail!(
                "{flag} applies to the HSIC bottleneck (--algo {}), not --algo {}",
                algo::names_where(hsic),
                args.algo
            );
        }
    }
    if crate::sequence::wants_sequences(args) {
        if args.standardize {
            anyhow::bail!(
                "--standardize applies to data sets of samples, not to the copy tasks \
                 (--dataset {}), whose inputs are bits",
                args.dataset.name()
            );
        }
        return crate::sequence::run(args);
    }
    if crate::greedy::is_greedy(&args.algo) {
        return crate::greedy::run(args);
    }
    args.greedy.refuse_for(
        &args.algo,
        args.schedule.scheduler == crate::scheduler::SchedulerKind::Greedy,
    )?;
    check(args)?;
    let algorithm = algo::find(&args.algo)?;
    if let Some(family) = algorithm.contrastive() {
        return crate::contrastive::run(args, family);
    }
    let optimizer = optimizer(args, algorithm.optimizer_defaults())?;
    // Build one optimizer up front so bad hyper-parameters fail before data loading.
    optimizer
        .build::<f32>()
        .context("invalid optimizer settings")?;
    // Forward-Forward's trainer runs the scheduler itself: under --scheduler mpi it takes
    // the MPI scheduler, made here, before the data (which only rank 0 reads).
    let mut forward_forward_mpi = None;
    let (mut scheduler, scheduler_settings) = if args.format_epochs() > 0 {
        args.schedule.require_lockstep(
            &args.algo,
            "the hidden stages, then the read-out, under --format-epochs",
        )?;
        let readout_last = ReadoutLast::new(args.epochs)?;
        let settings = json!(readout_last);
        (
            Box::new(readout_last) as Box<dyn locus_sched::Scheduler<f32>>,
            settings,
        )
    } else if forward_forward && args.schedule.scheduler == crate::scheduler::SchedulerKind::Mpi {
        forward_forward_mpi = Some(crate::scheduler::mpi(args)?);
        let unused: Box<dyn locus_sched::Scheduler<f32>> = Box::new(locus_sched::Lockstep);
        (unused, json!(null))
    } else {
        crate::scheduler::build(args)?
    };
    // The epochs of the whole run: the read-out's after the hidden stages'.
    let epochs = args.epochs + args.format_epochs();
    let data = data::load_for_run(args)?;
    let classes = data.classes();
    // Stage updates per epoch, to turn the epoch counts of the DNI options into steps.
    let batches_per_epoch = data.train().len().div_ceil(args.batch_size) as u64;
    let (activation, init) = (activation(args), init(args));
    let settings = ObjectiveSettings {
        seed: args.seed,
        classes,
        synthetic: synthetic_gradient(args)
            .with_lambda(args.sg_lambda)
            .with_lambda_anneal_steps(args.sg_lambda_anneal_epochs * batches_per_epoch)
            .with_warmup_steps(args.sg_warmup_epochs * batches_per_epoch),
        local_classifier: LocalClassifierConfig::new(classes, args.seed)
            .with_head(match args.head {
                HeadKindArg::Linear => HeadKind::Linear,
                HeadKindArg::Mlp => HeadKind::Mlp {
                    hidden: args.head_hidden,
                },
            })
            .with_optimizer(optimizer),
        forward_forward: ForwardForwardConfig::default()
            .with_goodness(match args.ff_goodness {
                GoodnessKind::Sum => Goodness::SumOfSquares,
                GoodnessKind::Mean => Goodness::MeanOfSquares,
            })
            .with_threshold(args.ff_threshold)
            .with_peer_normalization(
                args.ff_peer_norm,
                ForwardForwardConfig::default().peer_momentum,
            ),
        dfa_feedback: match args.dfa_feedback_init {
            DfaFeedbackKind::Uniform => DfaFeedbackInit::Uniform,
            DfaFeedbackKind::LecunNormal => DfaFeedbackInit::LeCunNormal,
        },
        hsic: hsic_bottleneck(args, classes),
    };
    algorithm.check(&settings)?;
    if args.hsic_estimator == Some(HsicEstimatorKind::Unbiased) {
        let last = match data.train().len() % args.batch_size {
            0 => args.batch_size,
            rest => rest,
        };
        if args.batch_size.min(last) < 4 {
            anyhow::bail!(
                "--hsic-estimator unbiased needs batches of at least 4 samples, but with \
                 --batch-size {} the {} training samples leave a last batch of {last}",
                args.batch_size,
                data.train().len()
            );
        }
    }
    if let Some(supervised) = algorithm.forward_forward() {
        return crate::forward_forward::run(
            args,
            &settings,
            &optimizer,
            &data,
            supervised,
            forward_forward_mpi,
        );
    }
    let objective = |i, n| algorithm.objective(i, n, &settings);
    let (mut stages, model_config): (Vec<Stage<f32>>, serde_json::Value) = match args.model {
        ModelKind::Mlp => {
            let inputs: usize = data.train().sample_shape().iter().product();
            let mut sizes = vec![inputs];
            sizes.extend(args.hidden.as_deref().unwrap_or(&DEFAULT_HIDDEN));
            sizes.push(classes);
            let mlp = MlpConfig::new(sizes)
                .with_activation(activation)
                .with_init(init)
                .with_feedback(algorithm.feedback)
                .with_layer_norm(args.layer_norm)
                .with_batch_norm(args.batch_norm_on());
            (mlp.build(args.seed, &optimizer, objective)?, json!(mlp))
        }
        ModelKind::Lenet => {
            let input =
                LeNetConfig::input_of(data.train().sample_shape()).context("--model lenet")?;
            let lenet = LeNetConfig::new(input, classes)
                .with_activation(activation)
                .with_init(init)
                .with_feedback(algorithm.feedback);
            (lenet.build(args.seed, &optimizer, objective)?, json!(lenet))
        }
        // Dispatched to crate::sequence at the top of `run`.
        ModelKind::Lstm => anyhow::bail!("--model lstm trains the sequence tasks only"),
    };
    crate::scheduler::check_stages(args, &stages)?;
    if crate::scheduler::reports() {
        eprintln!(
            "locus train: {} on {} ({} train / {} test samples), {} stages, {}, {} scheduler",
            algorithm.name,
            args.dataset.name(),
            data.train().len(),
            data.test().len(),
            stages.len(),
            Module::<f32>::name(stages[0].module()),
            scheduler.name(),
        );
    }
    // After every epoch: the test set, each stage's update against the true gradient on a
    // fixed batch of training samples, and each local head's own accuracy (on rank 0 alone
    // in an MPI run: the other ranks hold no samples and do not evaluate).
    let mut evaluation = Classification::new(data.test());
    if let data::RunData::Held(split) = &data {
        evaluation = evaluation.with_alignment_on(&split.train)?;
    }
    if matches!(algorithm.hidden, HiddenSignal::HsicBottleneck) {
        // A hidden stage as wide as the classes is also read without its format step.
        evaluation = evaluation.with_unformatted_accuracy(classes);
    }
    if matches!(algorithm.hidden, HiddenSignal::LocalClassifier) {
        evaluation = evaluation.with_stage_accuracies();
    }
    let schedule = lr_schedule(args);
    let rates = (0..epochs)
        .map(|epoch| {
            if args.format_epochs() > 0 {
                // Each phase runs its own schedule.
                let (at, of) = if epoch < args.epochs {
                    (epoch, args.epochs)
                } else {
                    (epoch - args.epochs, args.format_epochs())
                };
                return Ok(schedule.rate(optimizer.learning_rate(), at, of));
            }
            crate::scheduler::learning_rate(
                args,
                schedule,
                optimizer.learning_rate(),
                stages.len(),
                epoch,
            )
        })
        .collect::<anyhow::Result<Vec<f64>>>()?;
    let mut bar = ProgressBar::new(args, epochs, data.train().len());
    let (checkpoints, progress) =
        Checkpointing::start(args, epochs, &mut stages, scheduler.as_mut())?;
    let trained = Trainer::new(epochs, args.batch_size, args.seed)
        .with_learning_rates(rates)
        .resume(progress)
        .run(
            &mut stages,
            scheduler.as_mut(),
            data.train(),
            &mut evaluation,
            &mut bar,
            &mut |done| {
                if !args.quiet {
                    log_epoch(
                        done.epoch,
                        done.epochs,
                        done.train_loss,
                        done.epoch_s,
                        done.record,
                    );
                }
                checkpoints.after_epoch(done)
            },
        )?;
    if !trained.finished {
        checkpoints.report_stop(trained.epochs_done);
        return Ok(());
    }
    let mut config: BTreeMap<String, serde_json::Value> = [
        ("model", json!(format!("{:?}", args.model).to_lowercase())),
        ("network", model_config),
        ("activation", json!(activation_name(args))),
        ("optimizer", json!(optimizer)),
        ("batch_size", json!(args.batch_size)),
        ("lr_schedule", json!(schedule)),
        ("scheduler", json!(scheduler.name())),
        ("scheduler_config", scheduler_settings),
        ("format_epochs", json!(args.format_epochs())),
        (
            "matmul_threads",
            json!(std::env::var("MATMUL_NUM_THREADS").unwrap_or_else(|_| "default".into())),
        ),
        ("train_samples", json!(data.train().len())),
        ("test_samples", json!(data.test().len())),
        ("data_seed", json!(args.data_seed)),
        ("float", json!("f32")),
        ("synthetic_gradient", json!(settings.synthetic)),
        ("local_classifier", json!(settings.local_classifier)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if matches!(algorithm.hidden, HiddenSignal::HsicBottleneck) {
        config.insert("hsic_bottleneck".into(), json!(settings.hsic));
    }
    let run = RunReport {
        algo: algorithm.name.to_string(),
        dataset: args.dataset.name().to_string(),
        epochs: args.epochs,
        seed: args.seed,
        test_accuracy: trained.test_accuracy,
        test_loss: trained.test_loss,
        train_loss: trained.train_loss,
        wall_s: checkpoints.wall_s(),
        samples_per_s: trained.samples_per_s(data.train().len()),
        stages: trained.stage_reports(&stages),
        config,
        history: trained.history,
        warnings: Vec::new(),
    };
    finish(args, run)
}

/// Adds a warning for every collapsed stage ([`locus_eval::collapse_warnings`]) to the
/// report and prints each on stderr, then writes `results.json`, `epochs.csv` and the
/// plots into `--out`, when it is given (beside the `config.toml` [`run`] wrote).
pub(crate) fn write_run(args: &TrainArgs, run: &mut RunReport) -> anyhow::Result<()> {
    run.warnings
        .extend(locus_eval::collapse_warnings(&run.stages));
    for warning in &run.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(dir) = &args.out {
        run.write_to_dir(dir)
            .with_context(|| format!("writing results into {}", dir.display()))?;
        eprintln!("wrote {}/results.json and epochs.csv", dir.display());
    }
    Ok(())
}

/// Writes the run's files when `--out` is given and prints its summary (one JSON line
/// with `--json`).
pub(crate) fn finish(args: &TrainArgs, mut run: RunReport) -> anyhow::Result<()> {
    // Under --scheduler mpi every rank holds the trained stack; rank 0 reports.
    if !crate::scheduler::reports() {
        return Ok(());
    }
    crate::scheduler::record_placement(&mut run);
    if let Some(stats) = crate::data::standardization() {
        run.config
            .insert("input_standardization".into(), serde_json::json!(stats));
    }
    write_run(args, &mut run)?;
    if args.json {
        println!("{}", run.to_json_line()?);
    } else {
        println!(
            "{} on {}: test accuracy {:.4} ({:.2}% error) after {} epochs, {:.0} samples/s",
            run.algo,
            run.dataset,
            run.test_accuracy,
            100.0 * (1.0 - run.test_accuracy),
            run.epochs,
            run.samples_per_s
        );
    }
    Ok(())
}

/// Prints an epoch's summary line on stderr (with its test figures when it was
/// evaluated); the epoch's progress bar has cleared itself by then.
pub(crate) fn log_epoch(
    epoch: u64,
    epochs: u64,
    train_loss: f64,
    seconds: f64,
    record: Option<&EpochRecord>,
) {
    if !crate::scheduler::reports() {
        return;
    }
    let test = record.map_or_else(String::new, |r| {
        format!(
            "  test loss {:.4}  test acc {:.4}",
            r.test_loss, r.test_accuracy
        )
    });
    eprintln!("epoch {epoch:>3}/{epochs}  train loss {train_loss:.4}{test}  {seconds:.1}s");
    if let Some(sent) = record.map(|r| bytes_sent(&r.stage_metrics)) {
        if !sent.is_empty() {
            eprintln!("  sent to other ranks per batch (bytes, by stage): {sent}");
        }
    }
}

/// What each stage of an MPI run sent to other ranks per batch, from the stage figures:
/// `stage1 0, stage2 254512 (activations 254512), stage3 2576 (global errors 2571,
/// credits 5; 83 in reports to rank 0)`, the kinds it sent none of left out; empty for
/// other schedulers.
fn bytes_sent(figures: &BTreeMap<String, f64>) -> String {
    let mut parts = Vec::new();
    for (key, total) in figures {
        let Some(stage) = key.strip_suffix(".bytes_per_batch") else {
            continue;
        };
        let of = |kind: &str| figures.get(&format!("{stage}.{kind}_bytes_per_batch"));
        let kinds: Vec<String> = [
            ("activations", "activation"),
            ("gradients", "gradient"),
            ("global errors", "global_error"),
            ("credits", "credit"),
        ]
        .into_iter()
        .filter_map(|(name, kind)| {
            of(kind)
                .filter(|b| **b > 0.0)
                .map(|b| format!("{name} {b:.0}"))
        })
        .collect();
        let mut details = kinds.join(", ");
        if let Some(b) = of("report").filter(|b| **b > 0.0) {
            let sep = if details.is_empty() { "" } else { "; " };
            details = format!("{details}{sep}{b:.0} in reports to rank 0");
        }
        parts.push(if details.is_empty() {
            format!("{stage} {total:.0}")
        } else {
            format!("{stage} {total:.0} ({details})")
        });
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_sent_names_each_stage_and_leaves_out_what_it_did_not_send() {
        let figures: BTreeMap<String, f64> = [
            ("stage1.bytes_per_batch", 0.0),
            ("stage1.activation_bytes_per_batch", 0.0),
            ("stage1.report_bytes_per_batch", 0.0),
            ("stage2.bytes_per_batch", 254512.0),
            ("stage2.activation_bytes_per_batch", 254512.0),
            ("stage3.bytes_per_batch", 2576.0),
            ("stage3.global_error_bytes_per_batch", 2571.0),
            ("stage3.credit_bytes_per_batch", 5.0),
            ("stage3.report_bytes_per_batch", 83.0),
            ("stage3.loss", 1.5),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(
            bytes_sent(&figures),
            "stage1 0, stage2 254512 (activations 254512), stage3 2576 (global errors 2571, \
             credits 5; 83 in reports to rank 0)"
        );
        assert_eq!(bytes_sent(&BTreeMap::new()), "");
    }
}
