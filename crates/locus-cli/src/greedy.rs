//! `locus train --algo sae|sarm`: greedy layer-wise training of reconstruction stages,
//! then a supervised top, optionally end-to-end fine-tuning; linear probes on every stage.

use std::collections::BTreeMap;

use anyhow::Context;
use locus_core::{
    seeded_rng, AdamConfig, Flatten, LinearConfig, Loss, OptimizerConfig, Sequential,
    SparseCodingConfig,
};
use locus_data::Dataset;
use locus_eval::{probe_accuracy, ProbeConfig, RunReport, StageReport};
use locus_models::MlpConfig;
use locus_objectives::{
    Corruption, Decoder, LocalObjective, ReconstructionConfig, ReconstructionLoss, SupervisedLoss,
};
use locus_sched::{FeatureSource, Greedy, GreedyConfig, Phase, Stage};
use locus_train::probe_stages;
use locus_train::{Classification, EpochDone, Trainer};
use serde_json::json;

use crate::args::TrainArgs;
use crate::greedy_args::{DecoderKind, FeatureKind, NoiseKind, ReconLossKind, RidgeRefitKind};
use crate::progress::ProgressBar;
use crate::run_state::Checkpointing;
use crate::train;

/// Whether `--algo` names a greedy algorithm (sae, sarm).
pub fn is_greedy(algo: &str) -> bool {
    crate::algo::find(algo).is_ok_and(|a| a.greedy())
}

/// The reconstruction objective of every stage below the top.
fn reconstruction(args: &TrainArgs, batches_per_epoch: usize) -> ReconstructionConfig {
    let g = &args.greedy;
    let decoder = match g.decoder {
        DecoderKind::Linear => Decoder::Linear,
        DecoderKind::Tied => Decoder::Tied,
        DecoderKind::Ridge => Decoder::Ridge {
            lambda: g.ridge_lambda,
            refit_every: match g.ridge_refit {
                RidgeRefitKind::Batch => 1,
                RidgeRefitKind::Epoch => batches_per_epoch.max(1),
            },
        },
    };
    ReconstructionConfig::new(decoder)
        .with_loss(match g.recon_loss {
            ReconLossKind::Mse => ReconstructionLoss::Mse,
            ReconLossKind::Bce => ReconstructionLoss::BinaryCrossEntropy,
        })
        .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(g.decoder_lr)))
}

fn corruption(args: &TrainArgs) -> Corruption {
    match args.greedy.noise {
        NoiseKind::None => Corruption::None,
        NoiseKind::Mask => Corruption::Masking(args.greedy.noise_level),
        NoiseKind::Gaussian => Corruption::Gaussian(args.greedy.noise_level),
    }
}

/// The stages of `--algo sarm`: `[Flatten,] SparseCoding` per hidden width, and a linear
/// supervised top.
fn sarm_stages(
    args: &TrainArgs,
    sizes: &[usize],
    optimizer: &OptimizerConfig,
    objective: &dyn Fn(usize) -> Box<dyn LocalObjective<f32>>,
) -> anyhow::Result<Vec<Stage<f32>>> {
    let mut rng = seeded_rng(args.seed);
    let top = sizes.len() - 2;
    let mut stages = Vec::with_capacity(top + 1);
    for i in 0..=top {
        let mut module = Sequential::<f32>::new();
        if i == 0 {
            module = module.push(Flatten);
        }
        module = if i < top {
            module.push(
                SparseCodingConfig::new(sizes[i], sizes[i + 1])
                    .with_steps(args.greedy.ista_steps)
                    .with_step_size(args.greedy.ista_step)
                    .with_l1(args.greedy.l1)
                    .with_nonnegative(args.greedy.nonnegative)
                    .init::<f32>(&mut rng)
                    .context("invalid sparse-coding settings (--ista-steps, --ista-step, --l1)")?,
            )
        } else {
            module.push(LinearConfig::new(sizes[i], sizes[i + 1]).init::<f32>(&mut rng)?)
        };
        let objective = if i < top {
            objective(i)
        } else {
            Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
        };
        stages.push(Stage::new(
            format!("stage{}", i + 1),
            Box::new(module),
            objective,
            optimizer.build()?,
        ));
    }
    Ok(stages)
}

/// Epochs of the linear probes on each stage: `--probe-epochs`, 5 by default (0: none).
fn probe_epochs(args: &TrainArgs) -> usize {
    args.probe_epochs.unwrap_or(5)
}

/// Runs `locus train --algo sae|sarm`.
pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    if args.model != crate::args::ModelKind::Mlp {
        anyhow::bail!(
            "--algo {} builds its own dense stages; --model lenet is not supported",
            args.algo
        );
    }
    // Its own trainer is greedy layer-wise already: `--scheduler greedy` names it too.
    if args.schedule.scheduler != crate::scheduler::SchedulerKind::Greedy {
        args.schedule.require_lockstep(
            &args.algo,
            "with its own greedy layer-wise trainer (one stage at a time; --scheduler greedy \
             names it too)",
        )?;
    }
    train::check(args)?;
    let g = &args.greedy;
    let sarm = args.algo == "sarm";
    let optimizer = train::optimizer(args, crate::algo::find(&args.algo)?.optimizer_defaults())?;
    optimizer
        .build::<f32>()
        .context("invalid optimizer settings")?;
    let pretrain_lr = g.pretrain_lr.or(match optimizer {
        OptimizerConfig::Sgd(_) => Some(0.002),
        OptimizerConfig::Adam(_) => None,
    });
    let pretrain_optimizer = match pretrain_lr {
        None => optimizer,
        Some(lr) => match optimizer {
            OptimizerConfig::Sgd(c) => OptimizerConfig::Sgd(locus_core::SgdConfig { lr, ..c }),
            OptimizerConfig::Adam(c) => OptimizerConfig::Adam(AdamConfig { lr, ..c }),
        },
    };
    let top_epochs = g
        .top_epochs
        .unwrap_or(if g.finetune { 1 } else { args.epochs });
    let config = GreedyConfig {
        stage_epochs: g.stage_epochs.unwrap_or(1),
        top_epochs,
        finetune_epochs: if g.finetune { args.epochs } else { 0 },
        batch_size: args.batch_size,
        seed: args.seed,
        pretrain_fraction: g.pretrain_fraction,
        corruption: corruption(args),
        features: match g.features {
            FeatureKind::Cache => FeatureSource::Cache,
            FeatureKind::Stream => FeatureSource::Stream,
        },
        pretrain_optimizer,
        top_optimizer: optimizer,
        finetune_optimizer: optimizer,
        lr_schedule: train::lr_schedule(args),
    };
    let mut greedy = Greedy::new(config).context("invalid greedy settings")?;
    let split = crate::data::load(args)?;
    let classes = split.train.num_classes().max(split.test.num_classes());
    let pretrain_rows = greedy.pretrain_rows(split.train.len()).len();
    let recon = reconstruction(args, pretrain_rows.div_ceil(args.batch_size));
    recon.check().context("invalid reconstruction settings")?;
    let objective = |i: usize| -> Box<dyn LocalObjective<f32>> {
        Box::new(
            recon
                .with_seed(args.seed.wrapping_add(1000 + i as u64))
                .build::<f32>()
                .expect("checked above"),
        )
    };

    let inputs: usize = split.train.sample_shape().iter().product();
    let mut sizes = vec![inputs];
    sizes.extend(args.hidden.as_deref().unwrap_or(&train::DEFAULT_HIDDEN));
    sizes.push(classes);
    let mut stages = if sarm {
        sarm_stages(args, &sizes, &optimizer, &objective)?
    } else {
        MlpConfig::new(sizes.clone())
            .with_activation(train::activation(args))
            .with_init(train::init(args))
            .build(args.seed, &optimizer, |i, n| {
                if i + 1 == n {
                    Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
                } else {
                    objective(i)
                }
            })?
    };
    let top = stages.len() - 1;
    eprintln!(
        "locus train: {} on {} ({} train / {} test samples; stages below the top pretrain on {}), \
         {} stages: {}",
        args.algo,
        args.dataset.name(),
        split.train.len(),
        split.test.len(),
        pretrain_rows,
        stages.len(),
        stages
            .iter()
            .map(|s| s.module().name())
            .collect::<Vec<_>>()
            .join(" | "),
    );

    // The phases are the greedy scheduler's epochs: pretraining (not evaluated: there is
    // no classifier yet), then the supervised top and fine-tuning, evaluated after each.
    let epochs = greedy.epochs(stages.len());
    let pretrain_epochs = epochs - top_epochs - greedy.config().finetune_epochs;
    let mut bar = ProgressBar::new(args, epochs, split.train.len());
    let (checkpoints, progress) = Checkpointing::start(args, epochs, &mut stages, &mut greedy)?;
    let trained = Trainer::new(epochs, args.batch_size, args.seed)
        .evaluate_after(pretrain_epochs)
        .resume(progress)
        .run(
            &mut stages,
            &mut greedy,
            &split.train,
            &mut Classification::new(&split.test),
            &mut bar,
            &mut |done| {
                if !args.quiet {
                    log_epoch(done);
                }
                checkpoints.after_epoch(done)
            },
        )?;
    if !trained.finished {
        checkpoints.report_stop(trained.epochs_done);
        return Ok(());
    }
    let log = greedy.log().to_vec();
    let pretrain_loss: BTreeMap<usize, f64> = log
        .iter()
        .filter_map(|e| match e.phase {
            Phase::Pretrain { index } => Some((index, e.loss)),
            _ => None,
        })
        .collect();
    let (train_loss, test_accuracy, test_loss) =
        (trained.train_loss, trained.test_accuracy, trained.test_loss);
    let train_s: f64 = log.iter().map(|e| e.wall_s).sum();
    let samples: usize = log.iter().map(|e| e.samples).sum();

    // Linear probes on the frozen features of every stage below the top, and on the raw
    // input for reference.
    let mut probes = vec![f64::NAN; stages.len()];
    let mut input_probe = f64::NAN;
    if probe_epochs(args) > 0 {
        let probe = ProbeConfig::new(args.seed).with_epochs(probe_epochs(args));
        eprintln!(
            "linear probes ({} epochs) on every stage...",
            probe_epochs(args)
        );
        // The top stage is a classifier: its accuracy is the network's test accuracy, as
        // with DGL's heads, not a probe fitted on its ten logits.
        probes = probe_stages(&stages[..top], &split.train, &split.test, &probe)?;
        probes.push(test_accuracy);
        input_probe = raw_probe(&split, classes, &probe)?;
        eprintln!(
            "probe accuracy: input {:.4}, {}",
            input_probe,
            probes
                .iter()
                .enumerate()
                .map(|(i, p)| format!("stage{} {p:.4}", i + 1))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let stage_reports = stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut metrics: BTreeMap<String, f64> = s.objective().metrics().into_iter().collect();
            if probes[i].is_finite() {
                metrics.insert("probe_accuracy".into(), probes[i]);
            }
            if let Some(&l) = pretrain_loss.get(&i) {
                metrics.insert("pretrain_loss".into(), l);
            }
            StageReport {
                name: s.name().to_string(),
                module: s.module().name(),
                objective: if i < top && g.finetune {
                    format!(
                        "{} (pretraining), upstream-gradient (fine-tuning)",
                        s.objective().name()
                    )
                } else {
                    s.objective().name()
                },
                params: s.module().num_params(),
                final_loss: if i == top {
                    train_loss
                } else {
                    pretrain_loss.get(&i).copied().unwrap_or(f64::NAN)
                },
                metrics,
            }
        })
        .collect();
    let run_config: BTreeMap<String, serde_json::Value> = [
        ("model", json!(if sarm { "sparse-coding stack" } else { "mlp" })),
        ("sizes", json!(sizes)),
        ("activation", json!(if sarm { "ista".to_string() } else { crate::train::activation_name(args) })),
        ("scheduler", json!("greedy")),
        ("greedy", json!(greedy.config())),
        ("reconstruction", json!(recon)),
        ("batch_size", json!(args.batch_size)),
        ("pretrain_rows", json!(pretrain_rows)),
        ("train_samples", json!(split.train.len())),
        ("test_samples", json!(split.test.len())),
        ("data_seed", json!(args.data_seed)),
        ("probe_epochs", json!(probe_epochs(args))),
        ("probe_input_accuracy", json!(finite_or_null(input_probe))),
        ("phases", json!(log)),
        ("float", json!("f32")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .chain(sarm.then(|| {
        (
            "sparse_coding".to_string(),
            json!({"ista_steps": g.ista_steps, "ista_step": g.ista_step, "l1": g.l1, "nonnegative": g.nonnegative}),
        )
    }))
    .collect();
    let mut run = RunReport {
        algo: args.algo.clone(),
        dataset: args.dataset.name().to_string(),
        epochs: args.epochs,
        seed: args.seed,
        test_accuracy,
        test_loss,
        train_loss,
        wall_s: checkpoints.wall_s(),
        samples_per_s: samples as f64 / train_s.max(1e-9),
        stages: stage_reports,
        config: run_config,
        history: trained.history,
        warnings: Vec::new(),
    };
    crate::train::write_run(args, &mut run)?;
    if args.json {
        println!("{}", run.to_json_line()?);
    } else {
        let probes = if probe_epochs(args) > 0 {
            format!(
                ", probe accuracy per stage {:?}",
                probes
                    .iter()
                    .map(|p| (p * 1e4).round() / 1e4)
                    .collect::<Vec<_>>()
            )
        } else {
            String::new()
        };
        println!(
            "{} on {}: test accuracy {:.4} ({:.2}% error){probes}, {:.0} samples/s",
            run.algo,
            run.dataset,
            run.test_accuracy,
            100.0 * (1.0 - run.test_accuracy),
            run.samples_per_s
        );
    }

    Ok(())
}

fn finite_or_null(v: f64) -> serde_json::Value {
    if v.is_finite() {
        json!(v)
    } else {
        serde_json::Value::Null
    }
}

/// A linear probe on the raw (flattened) input: what the stages are measured against.
fn raw_probe(
    split: &locus_data::Split,
    classes: usize,
    config: &ProbeConfig,
) -> anyhow::Result<f64> {
    let tensor = |d: &locus_data::InMemoryDataset| {
        locus_core::Tensor::from_shape_vec(vec![d.len(), d.sample_len()], d.features_all().to_vec())
    };
    Ok(probe_accuracy(
        (&tensor(&split.train)?, split.train.labels_all()),
        (&tensor(&split.test)?, split.test.labels_all()),
        classes,
        config,
    )?)
}

/// Prints an epoch's line on stderr: the phase, the learning stage's loss and, for the
/// supervised phases, the test figures.
fn log_epoch(done: &EpochDone<'_, f32, Greedy>) {
    let Some(e) = done.scheduler.log().last() else {
        return;
    };
    let what = match e.phase {
        Phase::Pretrain { index } => format!("pretrain stage{}", index + 1),
        Phase::Top => "top".to_string(),
        Phase::FineTune => "fine-tune".to_string(),
    };
    let test = done.record.map_or_else(String::new, |r| {
        format!(
            "  test loss {:.4}  test acc {:.4}",
            r.test_loss, r.test_accuracy
        )
    });
    eprintln!(
        "{what} epoch {:>3}/{}  train loss {:.4}{test}  {:.1}s",
        e.epoch + 1,
        e.epochs,
        e.loss,
        e.wall_s
    );
}
