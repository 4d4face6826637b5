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

use anyhow::Context;
use locus_core::{AdamConfig, Module, OptimizerConfig};
use locus_data::forward_forward::{LabelEmbedding, LabelPlacement, MaskConfig, NegativeData};
use locus_eval::RunReport;
use locus_models::ForwardForwardMlp;
use locus_sched::{ForwardForwardTrainer, LrSchedule, ReadoutConfig, Scheduler, Stage};
use locus_train::{EpochDone, ForwardForwardTest, Trainer};
use serde_json::json;

use crate::algo::{self, ObjectiveSettings};
use crate::args::{DatasetKind, LabelPlacementKind, ModelKind, ScheduleKind, TrainArgs};
use crate::data::RunData;
use crate::progress::ProgressBar;
use crate::run_state::Checkpointing;
use crate::scheduler::{MpiScheduler, SchedulerKind};
use crate::train::{activation, finish, init, DEFAULT_HIDDEN};

/// Trains and evaluates `--algo ff` (`supervised`) or `--algo ff-unsup`; under
/// `--scheduler mpi` with the MPI scheduler `mpi` made before the data was loaded (on
/// the ranks above 0, `data` holds its description only).
pub fn run(
    args: &TrainArgs,
    settings: &ObjectiveSettings,
    optimizer: &OptimizerConfig,
    data: &RunData,
    supervised: bool,
    mpi: Option<(MpiScheduler, serde_json::Value)>,
) -> anyhow::Result<()> {
    let algorithm = algo::find(&args.algo)?;
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
        .sample_shape(data.train().sample_shape())
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
    // The stages are local: they run under the schedulers that feed batches up, the
    // trainer making the positive and negative data at the feed.
    args.schedule.check_stage_times(stages.len())?;
    let scheduler_settings = match args.schedule.scheduler {
        SchedulerKind::Lockstep => json!(null),
        SchedulerKind::Pipelined => {
            let pipelined = args.schedule.pipelined(args.seed)?;
            let settings = json!(pipelined.config());
            trainer = trainer.with_pipelined(pipelined);
            settings
        }
        SchedulerKind::Simulated => {
            let simulated = args.schedule.simulated(args.seed)?;
            let settings = json!(simulated.config());
            trainer = trainer.with_simulated(simulated);
            settings
        }
        SchedulerKind::Mpi => {
            let (mpi, settings) = mpi.context("the MPI scheduler was not made")?;
            trainer = with_mpi(trainer, mpi);
            settings
        }
        other => anyhow::bail!(
            "--algo {} runs under --scheduler {}; not under --scheduler {}",
            algorithm.name,
            algorithm.schedulers().join(", "),
            other.name()
        ),
    };
    let goodness = settings.forward_forward.goodness;

    if crate::scheduler::reports() {
        eprintln!(
            "locus train: {} on {} ({} train / {} test samples), {} stages, {} negatives, {}",
            algorithm.name,
            args.dataset.name(),
            data.train().len(),
            data.test().len(),
            stages.len(),
            negatives.name(),
            Module::<f32>::name(stages[0].module()),
        );
    }
    let mut bar = ProgressBar::new(args, args.epochs, data.train().len());
    let schedule = match args.schedule_kind() {
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
        ("scheduler_config", scheduler_settings),
        ("train_samples", json!(data.train().len())),
        ("test_samples", json!(data.test().len())),
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
    let (checkpoints, progress) =
        Checkpointing::start(args, args.epochs, &mut stages, &mut trainer)?;
    let rates = (0..args.epochs)
        .map(|epoch| schedule.rate(optimizer.learning_rate(), epoch, args.epochs))
        .collect();
    // Evaluation reads the stages and the trainer but changes neither (its negatives come
    // from their own seed), so skipping it (--eval-every) leaves the training as it was;
    // an epoch not evaluated is left out of the learning curve.
    let mut evaluation = ForwardForwardTest::new(data.test(), goodness);
    let trained = Trainer::new(args.epochs, args.batch_size, args.seed)
        .with_learning_rates(rates)
        .evaluate_every(eval_every)
        .resume(progress)
        .run(
            &mut stages,
            &mut trainer,
            data.train(),
            &mut evaluation,
            &mut bar,
            &mut |done| {
                if !args.quiet && crate::scheduler::reports() {
                    log_epoch(done);
                }
                checkpoints.after_epoch(done)
            },
        )?;
    if !trained.finished {
        checkpoints.report_stop(trained.epochs_done);
        return Ok(());
    }
    // In an MPI run, rank 0 alone evaluates and reports.
    if !crate::scheduler::reports() {
        return Ok(());
    }
    // The last epoch is always evaluated, so these are its figures.
    let test = evaluation
        .last()
        .context("the last epoch was not evaluated")?;
    config.insert(
        "test_goodness_accuracy".into(),
        json!(test.goodness_accuracy),
    );
    config.insert("test_readout_accuracy".into(), json!(test.readout_accuracy));
    // The epochs after which this run was resumed from --save-state (empty: one process).
    config.insert("resumed_after".into(), json!(checkpoints.resumed_after()));
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

/// Prints an epoch's line on stderr: its training loss and, when it was evaluated, its
/// test figures (with the read-out's accuracy when labels are written into the input).
fn log_epoch(done: &EpochDone<'_, f32, ForwardForwardTrainer<f32>>) {
    let test = done.record.map_or_else(String::new, |r| {
        format!(
            "  test loss {:.4}  test acc {:.4}{}",
            r.test_loss,
            r.test_accuracy,
            r.stage_metrics
                .get("readout.accuracy")
                .map_or_else(String::new, |a| format!(" (read-out {a:.4})"))
        )
    });
    eprintln!(
        "epoch {:>3}/{}  train loss {:.4}{test}  {:.1}s",
        done.epoch, done.epochs, done.train_loss, done.epoch_s
    );
}

/// `trainer` running its stages under the MPI scheduler `mpi`.
#[cfg(feature = "mpi")]
fn with_mpi(trainer: ForwardForwardTrainer<f32>, mpi: MpiScheduler) -> ForwardForwardTrainer<f32> {
    trainer.with_mpi(mpi)
}

/// Without the cargo feature `mpi` there is no MPI scheduler to run under.
#[cfg(not(feature = "mpi"))]
fn with_mpi(_: ForwardForwardTrainer<f32>, mpi: MpiScheduler) -> ForwardForwardTrainer<f32> {
    match mpi {}
}
