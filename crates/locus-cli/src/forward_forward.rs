//! `locus train --algo ff|ff-unsup`: Forward-Forward trains and predicts its own way.
//!
//! The network is a `ForwardForwardMlp` (length normalisation, dense layer, activation per
//! stage; no output layer) of the `--hidden` widths. Each batch is doubled into positive and
//! negative data by a `ForwardForwardTrainer`; the test accuracy is by goodness over all
//! labels for `ff` and by the softmax read-out for `ff-unsup`, and every stage reports its
//! own accuracy as `probe_accuracy` (by its goodness alone for `ff`, by its own read-out
//! for `ff-unsup`). The test set is evaluated after every `--eval-every` epochs and after
//! the last one, whose evaluation gives the final figures; the learning curve holds the
//! evaluated epochs only.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use locus_core::{AdamConfig, Module, OptimizerConfig};
use locus_data::forward_forward::{LabelEmbedding, LabelPlacement, MaskConfig, NegativeData};
use locus_data::{gather, Dataset, Split};
use locus_eval::{EpochRecord, RunReport, StageReport};
use locus_models::ForwardForwardMlp;
use locus_sched::{
    evaluate_forward_forward, EpochPlan, ForwardForwardEvaluation, ForwardForwardTrainer,
    LrSchedule, ReadoutConfig, Scheduler, Stage,
};
use serde_json::json;

use crate::algo::{self, ObjectiveSettings};
use crate::args::{DatasetKind, LabelPlacementKind, ModelKind, ScheduleKind, TrainArgs};
use crate::progress::ProgressBar;
use crate::saved_run::{self, SavedRun};
use crate::train::{activation, finish, init, DEFAULT_HIDDEN, EVAL_BATCH};

/// Trains and evaluates `--algo ff` (`supervised`) or `--algo ff-unsup`.
pub fn run(
    args: &TrainArgs,
    settings: &ObjectiveSettings,
    optimizer: &OptimizerConfig,
    split: Split,
    supervised: bool,
) -> anyhow::Result<()> {
    let algorithm = algo::find(&args.algo)?;
    args.schedule.require_lockstep(
        &args.algo,
        "its layers with its own lockstep trainer (positive and negative passes on every batch)",
    )?;
    if args.model == ModelKind::Lenet {
        anyhow::bail!(
            "--algo {} trains a fully connected network (--model mlp); --model lenet is not \
             supported",
            algorithm.name
        );
    }
    if !supervised && args.ff_label.is_some() {
        anyhow::bail!("--ff-label applies to --algo ff; ff-unsup writes no label into the input");
    }
    let readout_optimizer = OptimizerConfig::Adam(AdamConfig::new(args.readout_lr));
    readout_optimizer
        .build::<f32>()
        .context("invalid --readout-lr")?;
    let negatives = if supervised {
        let placement = match args.ff_label {
            Some(LabelPlacementKind::FirstPixels) => LabelPlacement::FirstPixels,
            Some(LabelPlacementKind::Prepend) => LabelPlacement::Prepend,
            // Images have black first pixels to write the label over; other data does not.
            None if matches!(args.dataset, DatasetKind::Mnist | DatasetKind::Idx) => {
                LabelPlacement::FirstPixels
            }
            None => LabelPlacement::Prepend,
        };
        NegativeData::WrongLabel(LabelEmbedding::new(placement, settings.classes)?)
    } else {
        NegativeData::Hybrid(MaskConfig::default())
    };
    let inputs: usize = negatives
        .sample_shape(split.train.sample_shape())
        .iter()
        .product();
    let mut sizes = vec![inputs];
    sizes.extend(args.hidden.as_deref().unwrap_or(&DEFAULT_HIDDEN));
    let network = ForwardForwardMlp::new(sizes)
        .with_activation(activation(args))
        .with_init(init(args));
    let mut stages: Vec<Stage<f32>> = network.build(args.seed, optimizer, |i, n| {
        algorithm.objective(i, n, settings)
    })?;
    let readout = ReadoutConfig::new(args.seed).with_optimizer(readout_optimizer);
    let mut trainer = ForwardForwardTrainer::new(negatives).with_readout(readout);
    let goodness = settings.forward_forward.goodness;

    eprintln!(
        "locus train: {} on {} ({} train / {} test samples), {} stages, {} negatives, {}",
        algorithm.name,
        args.dataset.name(),
        split.train.len(),
        split.test.len(),
        stages.len(),
        negatives.name(),
        Module::<f32>::name(stages[0].module()),
    );
    let start = Instant::now();
    let mut last = None;
    let mut bar = ProgressBar::new(args.epochs);
    let schedule = match args.lr_schedule {
        ScheduleKind::Constant => LrSchedule::Constant,
        ScheduleKind::Cosine => LrSchedule::Cosine,
    };
    let eval_every = args.eval_every.unwrap_or(1);
    let mut config: BTreeMap<String, serde_json::Value> = [
        ("model", json!("ff-mlp")),
        ("network", json!(network)),
        ("activation", json!(crate::train::activation_name(args))),
        ("optimizer", json!(optimizer)),
        ("batch_size", json!(args.batch_size)),
        ("lr_schedule", json!(schedule)),
        ("eval_every", json!(eval_every)),
        ("scheduler", json!(Scheduler::<f32>::name(&trainer))),
        ("train_samples", json!(split.train.len())),
        ("test_samples", json!(split.test.len())),
        ("data_seed", json!(args.data_seed)),
        ("float", json!("f32")),
        ("forward_forward", json!(settings.forward_forward)),
        ("negatives", json!(negatives)),
        ("readout", json!(readout)),
        (
            "prediction",
            json!(if supervised {
                "goodness accumulated over every stage but the first, for each label"
            } else {
                "softmax read-out of the normalised activities of every stage but the first"
            }),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    // What must stay the same when a saved run is resumed.
    let run_settings = json!({
        "algo": algorithm.name,
        "dataset": args.dataset.name(),
        "epochs": args.epochs,
        "seed": args.seed,
        "config": config,
    });
    let mut saved = match &args.resume {
        Some(dir) => {
            let sample = gather::<f32>(&split.train, &[0])?;
            let sample = trainer.negatives().neutral(&sample.inputs)?;
            let classes = split.train.num_classes();
            let readout = trainer.readout_mut().map(|r| (r, &sample, classes));
            let mut run = saved_run::resume(dir, &run_settings, args.epochs, &mut stages, readout)?;
            eprintln!(
                "locus train: resuming {} after epoch {} of {}",
                dir.display(),
                run.epochs_done,
                args.epochs
            );
            run.resumed_after.push(run.epochs_done);
            run
        }
        None => SavedRun::new(run_settings),
    };
    let mut history = std::mem::take(&mut saved.history);
    let mut train_s = saved.train_s;
    // Time spent before this process (by the parts of a resumed run).
    let wall_before = saved.wall_s;
    let resumed_at = saved.epochs_done;
    for epoch in saved.epochs_done..args.epochs {
        let lr = schedule.rate(optimizer.learning_rate(), epoch, args.epochs);
        for stage in &mut stages {
            stage.optimizer_mut().set_learning_rate(lr)?;
        }
        let plan = EpochPlan {
            batch_size: args.batch_size,
            seed: args.seed,
            epoch,
        };
        let report = trainer.train_epoch(&mut stages, &split.train, plan, &mut bar)?;
        train_s += report.wall_s;
        let number = epoch + 1;
        // Evaluation reads the stages and the trainer but changes neither (its negatives
        // come from their own seed), so skipping it leaves the training as it was.
        let evaluated = number == args.epochs || (eval_every > 0 && number % eval_every == 0);
        let test = if evaluated && report.loss.is_finite() {
            Some(evaluate_forward_forward(
                &mut stages,
                &trainer,
                &split.test,
                goodness,
                EVAL_BATCH,
            )?)
        } else {
            None
        };
        bar.clear();
        eprintln!(
            "epoch {:>3}/{}  train loss {:.4}{}  {:.1}s",
            number,
            args.epochs,
            report.loss,
            test.as_ref().map_or_else(String::new, |test| format!(
                "  test loss {:.4}  test acc {:.4}{}",
                test.loss,
                test.accuracy,
                match (test.goodness_accuracy, test.readout_accuracy) {
                    (Some(_), Some(r)) => format!(" (read-out {r:.4})"),
                    _ => String::new(),
                }
            )),
            report.wall_s
        );
        if !report.loss.is_finite() {
            anyhow::bail!(
                "training diverged at epoch {} (loss {}); try a smaller --lr",
                number,
                report.loss
            );
        }
        // An epoch not evaluated (--eval-every) is left out of the learning curve, as gim
        // leaves out the epochs it does not probe: no test figure is carried over.
        if let Some(test) = test {
            let mut stage_metrics: BTreeMap<String, f64> = stages
                .iter()
                .enumerate()
                .flat_map(|(i, s)| {
                    stage_metrics(s, &test, i)
                        .into_iter()
                        .map(move |(k, v)| (format!("{}.{k}", s.name()), v))
                })
                .collect();
            if let (Some(_), Some(r)) = (test.goodness_accuracy, test.readout_accuracy) {
                stage_metrics.insert("readout.accuracy".into(), r);
            }
            history.push(EpochRecord {
                epoch: number,
                train_loss: report.loss,
                test_accuracy: test.accuracy,
                test_loss: test.loss,
                train_s: report.wall_s,
                stage_metrics,
            });
            last = Some((report, test));
        }
        if let Some(dir) = &args.save_state {
            saved.epochs_done = number;
            saved.train_s = train_s;
            saved.wall_s = wall_before + start.elapsed().as_secs_f64();
            saved.history.clone_from(&history);
            saved_run::save(dir, &saved, &stages, trainer.readout())
                .with_context(|| format!("--save-state {}", dir.display()))?;
            let done_here = number - resumed_at;
            if number < args.epochs && args.stop_after.is_some_and(|n| done_here >= n) {
                eprintln!(
                    "locus train: stopped after epoch {number} of {}, the state saved in {}; \
                     go on with the same command and --resume {}",
                    args.epochs,
                    dir.display(),
                    dir.display()
                );
                return Ok(());
            }
        }
    }
    // The last epoch is always evaluated, so these are its figures.
    let (report, test) = last.context("no epoch ran")?;
    let stage_reports = stages
        .iter()
        .zip(&report.stage_losses)
        .enumerate()
        .map(|(i, (s, &loss))| StageReport {
            name: s.name().to_string(),
            module: s.module().name(),
            objective: s.objective().name(),
            params: s.module().num_params(),
            final_loss: loss,
            metrics: stage_metrics(s, &test, i),
        })
        .collect();
    config.insert(
        "test_goodness_accuracy".into(),
        json!(test.goodness_accuracy),
    );
    config.insert("test_readout_accuracy".into(), json!(test.readout_accuracy));
    // The epochs after which this run was resumed from --save-state (empty: one process).
    config.insert("resumed_after".into(), json!(saved.resumed_after));
    let run = RunReport {
        algo: algorithm.name.to_string(),
        dataset: args.dataset.name().to_string(),
        epochs: args.epochs,
        seed: args.seed,
        test_accuracy: test.accuracy,
        test_loss: test.loss,
        train_loss: report.loss,
        wall_s: wall_before + start.elapsed().as_secs_f64(),
        samples_per_s: (split.train.len() as f64 * args.epochs as f64) / train_s.max(1e-9),
        stages: stage_reports,
        config,
        history,
        warnings: Vec::new(),
    };
    finish(args, run)
}

/// A Forward-Forward stage's figures: its objective's metrics (mean goodness of positive
/// and negative data, how many it separates), `probe_accuracy` (its own test accuracy: by
/// its goodness alone for supervised data, by its own read-out otherwise) and, for
/// supervised data, `readout_accuracy` (its own read-out's).
fn stage_metrics(
    stage: &Stage<f32>,
    test: &ForwardForwardEvaluation,
    index: usize,
) -> BTreeMap<String, f64> {
    let mut metrics: BTreeMap<String, f64> = stage
        .objective()
        .metrics()
        .into_iter()
        .filter(|(_, v)| v.is_finite())
        .collect();
    if let Some(a) = test.stage_accuracy(index) {
        metrics.insert("probe_accuracy".into(), a);
    }
    if !test.stage_goodness_accuracy.is_empty() {
        if let Some(&r) = test.stage_readout_accuracy.get(index) {
            metrics.insert("readout_accuracy".into(), r);
        }
    }
    metrics
}
