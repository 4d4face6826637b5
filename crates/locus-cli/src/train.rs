//! `locus train`: build the stages, train, evaluate, report.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use locus_core::init::Init;
use locus_core::{Activation, AdamConfig, Module, OptimizerConfig, SgdConfig};
use locus_data::gather;
use locus_data::Dataset;
use locus_eval::{EpochRecord, RunReport, StageReport};
use locus_objectives::{SgModel, SyntheticGradientConfig};
use locus_sched::{
    evaluate, measure_alignment, EpochPlan, LeNetConfig, Lockstep, LrSchedule, MlpConfig,
    Scheduler, Stage, StageAlignment,
};
use serde_json::json;

use crate::algo::ObjectiveSettings;
use crate::args::{
    ActivationKind, InitKind, ModelKind, OptimizerKind, ScheduleKind, SgModelKind, TrainArgs,
};
use crate::progress::ProgressBar;
use crate::{algo, data};

/// Samples per evaluation batch; evaluation keeps no caches, so this only bounds memory.
const EVAL_BATCH: usize = 1000;

/// Hidden widths of the MLP when --hidden is not given.
const DEFAULT_HIDDEN: [usize; 2] = [1000, 1000];

/// Training samples on which alignment with backpropagation is measured each epoch.
const ALIGNMENT_PROBE: usize = 256;

/// Checks the arguments clap cannot check by type.
fn check(args: &TrainArgs) -> anyhow::Result<()> {
    if args.epochs == 0 {
        anyhow::bail!("--epochs should be >= 1, but it is 0");
    }
    if args.batch_size == 0 {
        anyhow::bail!("--batch-size should be >= 1, but it is 0");
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

pub(crate) fn optimizer(args: &TrainArgs) -> OptimizerConfig {
    match args.optimizer {
        OptimizerKind::Sgd => OptimizerConfig::Sgd(
            SgdConfig::new(args.lr.unwrap_or(0.05))
                .with_momentum(args.momentum)
                .with_weight_decay(args.weight_decay),
        ),
        OptimizerKind::Adam => OptimizerConfig::Adam(AdamConfig {
            weight_decay: args.weight_decay,
            ..AdamConfig::new(args.lr.unwrap_or(1e-3))
        }),
    }
}

/// Runs `locus train`.
pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    if crate::sequence::wants_sequences(args) {
        return crate::sequence::run(args);
    }
    check(args)?;
    let algorithm = algo::find(&args.algo)?;
    let optimizer = optimizer(args);
    // Build one optimizer up front so bad hyper-parameters fail before data loading.
    optimizer
        .build::<f32>()
        .context("invalid optimizer settings")?;
    let split = data::load(args)?;
    let classes = split.train.num_classes().max(split.test.num_classes());
    let activation = match args.activation {
        ActivationKind::Tanh => Activation::Tanh,
        ActivationKind::Relu => Activation::Relu,
    };
    let init = match args.init {
        InitKind::Torch => Init::TorchDefault,
        InitKind::Zeros => Init::Zeros,
        InitKind::Xavier => Init::XavierUniform,
        InitKind::He => Init::HeNormal,
    };
    let settings = ObjectiveSettings {
        seed: args.seed,
        classes,
        synthetic: SyntheticGradientConfig::new(args.seed)
            .with_model(match args.sg_model {
                SgModelKind::Linear => SgModel::Linear,
                SgModelKind::Mlp => SgModel::Mlp {
                    hidden: args.sg_hidden,
                },
            })
            .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(args.sg_lr)))
            .with_lambda(args.sg_lambda),
    };
    algorithm.check(&settings)?;
    let objective = |i, n| algorithm.objective(i, n, &settings);
    let (mut stages, model_config): (Vec<Stage<f32>>, serde_json::Value) = match args.model {
        ModelKind::Mlp => {
            let inputs: usize = split.train.sample_shape().iter().product();
            let mut sizes = vec![inputs];
            sizes.extend(args.hidden.as_deref().unwrap_or(&DEFAULT_HIDDEN));
            sizes.push(classes);
            let mlp = MlpConfig::new(sizes)
                .with_activation(activation)
                .with_init(init)
                .with_feedback(algorithm.feedback);
            (mlp.build(args.seed, &optimizer, objective)?, json!(mlp))
        }
        ModelKind::Lenet => {
            let input =
                LeNetConfig::input_of(split.train.sample_shape()).context("--model lenet")?;
            let lenet = LeNetConfig::new(input, classes)
                .with_activation(activation)
                .with_init(init)
                .with_feedback(algorithm.feedback);
            (lenet.build(args.seed, &optimizer, objective)?, json!(lenet))
        }
        // Dispatched to crate::sequence at the top of `run`.
        ModelKind::Lstm => anyhow::bail!("--model lstm trains the sequence tasks only"),
    };
    // A fixed batch of training samples on which, after every epoch, each stage's update
    // is compared with the true gradient.
    let probe = {
        let n = split.train.len().min(ALIGNMENT_PROBE);
        gather::<f32>(&split.train, &(0..n).collect::<Vec<_>>())?
    };
    let mut scheduler = Lockstep;

    let log = |line: String| eprintln!("{line}");
    log(format!(
        "locus train: {} on {} ({} train / {} test samples), {} stages, {}",
        algorithm.name,
        args.dataset.name(),
        split.train.len(),
        split.test.len(),
        stages.len(),
        Module::<f32>::name(stages[0].module()),
    ));
    let start = Instant::now();
    let mut train_s = 0.0;
    let mut history = Vec::new();
    let mut last = None;
    let mut bar = ProgressBar::new(args.epochs);
    let schedule = match args.lr_schedule {
        ScheduleKind::Constant => LrSchedule::Constant,
        ScheduleKind::Cosine => LrSchedule::Cosine,
    };
    for epoch in 0..args.epochs {
        let lr = schedule.rate(optimizer.learning_rate(), epoch, args.epochs);
        for stage in &mut stages {
            stage.optimizer_mut().set_learning_rate(lr)?;
        }
        let plan = EpochPlan {
            batch_size: args.batch_size,
            seed: args.seed,
            epoch,
        };
        let report = scheduler.train_epoch(&mut stages, &split.train, plan, &mut bar)?;
        train_s += report.wall_s;
        let test = evaluate(&mut stages, &split.test, EVAL_BATCH)?;
        let alignment = measure_alignment(&mut stages, &probe.inputs, &probe.labels)?;
        bar.clear();
        log(format!(
            "epoch {:>3}/{}  train loss {:.4}  test loss {:.4}  test acc {:.4}  {:.1}s",
            epoch + 1,
            args.epochs,
            report.loss,
            test.loss,
            test.accuracy,
            report.wall_s
        ));
        if !report.loss.is_finite() {
            anyhow::bail!(
                "training diverged at epoch {} (loss {}); try a smaller --lr",
                epoch + 1,
                report.loss
            );
        }
        history.push(EpochRecord {
            epoch: epoch + 1,
            train_loss: report.loss,
            test_accuracy: test.accuracy,
            test_loss: test.loss,
            train_s: report.wall_s,
            stage_metrics: stages
                .iter()
                .zip(&alignment)
                .flat_map(|(s, a)| {
                    stage_metrics(s, a)
                        .into_iter()
                        .map(move |(k, v)| (format!("{}.{k}", s.name()), v))
                })
                .collect(),
        });
        last = Some((report, test, alignment));
    }
    let (report, test, alignment) = last.context("no epoch ran")?;
    let stage_reports = stages
        .iter()
        .zip(&report.stage_losses)
        .zip(&alignment)
        .map(|((s, &loss), a)| StageReport {
            name: s.name().to_string(),
            module: s.module().name(),
            objective: s.objective().name(),
            params: s.module().num_params(),
            final_loss: loss,
            metrics: stage_metrics(s, a),
        })
        .collect();
    let config: BTreeMap<String, serde_json::Value> = [
        ("model", json!(format!("{:?}", args.model).to_lowercase())),
        ("network", model_config),
        (
            "activation",
            json!(format!("{:?}", args.activation).to_lowercase()),
        ),
        ("optimizer", json!(optimizer)),
        ("batch_size", json!(args.batch_size)),
        ("lr_schedule", json!(schedule)),
        ("scheduler", json!(Scheduler::<f32>::name(&scheduler))),
        ("train_samples", json!(split.train.len())),
        ("test_samples", json!(split.test.len())),
        ("data_seed", json!(args.data_seed)),
        ("float", json!("f32")),
        ("synthetic_gradient", json!(settings.synthetic)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let run = RunReport {
        algo: algorithm.name.to_string(),
        dataset: args.dataset.name().to_string(),
        epochs: args.epochs,
        seed: args.seed,
        test_accuracy: test.accuracy,
        test_loss: test.loss,
        train_loss: report.loss,
        wall_s: start.elapsed().as_secs_f64(),
        samples_per_s: (split.train.len() as f64 * args.epochs as f64) / train_s.max(1e-9),
        stages: stage_reports,
        config,
        history,
    };
    if let Some(dir) = &args.out {
        run.write_to_dir(dir)
            .with_context(|| format!("writing results into {}", dir.display()))?;
        log(format!(
            "wrote {}/results.json and epochs.csv",
            dir.display()
        ));
    }
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

/// A stage's figures for the report: its objective's metrics, `alignment_deg` (the angle
/// between its update and the true gradient, on the probe batch after the last epoch) and
/// its module's diagnostics such as `weight_alignment_deg` (averaged when the stage has
/// several layers reporting one). NaN figures (no angle to measure) are left out.
fn stage_metrics(stage: &Stage<f32>, alignment: &StageAlignment) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let all = stage
        .objective()
        .metrics()
        .into_iter()
        .chain([("alignment_deg".to_string(), alignment.update_angle_deg)])
        .chain(alignment.module_diagnostics.iter().cloned());
    for (name, value) in all.filter(|(_, v)| v.is_finite()) {
        let entry = sums.entry(name).or_insert((0.0, 0));
        entry.0 += value;
        entry.1 += 1;
    }
    sums.into_iter()
        .map(|(k, (sum, n))| (k, sum / n as f64))
        .collect()
}
