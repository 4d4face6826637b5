//! `locus train --algo gim|cpc|bp-encoder`: train an encoder without labels (GIM, CPC) or
//! with them (bp-encoder), then read every stage out with a linear probe.
//!
//! `test_accuracy` is the test accuracy of a linear probe on the top encoder stage's
//! frozen, pooled features (GIM's protocol); every stage reports its own
//! `probe_accuracy`. `train_loss` and `test_loss` are the top stage's own loss (InfoNCE
//! in nats for gim and cpc, cross-entropy for bp-encoder).

use std::collections::BTreeMap;

use anyhow::Context;
use locus_core::OptimizerConfig;
use locus_data::gather;
use locus_eval::{FeaturePooling, ProbeConfig, RunReport};
use locus_sched::{GreedyLayerWise, LrSchedule, Scheduler, Stage, StageBudget};
use locus_train::{EpochDone, Evaluate, Evaluated, LinearProbes, Trainer};
use serde_json::json;

use crate::args::{ModelKind, ScheduleKind, TrainArgs};
use crate::contrastive_args::GimSchedule;
use crate::contrastive_model::{build_stages, infonce_config, Encoder, Family};
use crate::memory::{peak_rss_kib, reset_peak_rss, StepBytes};
use crate::progress::ProgressBar;
use crate::run_state::Checkpointing;
use crate::scheduler::SchedulerKind;
use crate::{data, train};

/// Samples per batch when computing features, losses and caches (no training).
const EVAL_BATCH: usize = 500;

/// Everything one run needs besides the stages.
struct Run<'a> {
    args: &'a TrainArgs,
    family: Family,
    data: data::RunData,
    pooling: FeaturePooling,
    probe: ProbeConfig,
    schedule: LrSchedule,
    optimizer: OptimizerConfig,
}

/// Runs `locus train` for a contrastive-family algorithm.
pub fn run(given: &TrainArgs, family: Family) -> anyhow::Result<()> {
    let (args, c) = (given, &given.contrastive);
    if args.hidden.is_some() || args.model != ModelKind::Mlp {
        anyhow::bail!(
            "--hidden and --model set the MLP and LeNet of the other algorithms; {} uses an \
             encoder set by --enc-widths, --enc-layers, --patch and --patch-stride",
            args.algo
        );
    }
    if family != Family::Gim && c.gim_schedule != GimSchedule::Lockstep {
        anyhow::bail!("--gim-schedule applies to --algo gim only");
    }
    let probe = ProbeConfig {
        epochs: args.probe_epochs.unwrap_or(100),
        lr: c.probe_lr,
        ..ProbeConfig::new(args.seed)
    };
    probe
        .check()
        .context("invalid probe settings (--probe-epochs, --probe-lr)")?;
    if c.gim_schedule != GimSchedule::Lockstep {
        args.schedule.require_lockstep(
            &args.algo,
            "one stage at a time under --gim-schedule cached|recompute (--scheduler applies \
             to --gim-schedule lockstep)",
        )?;
    }
    let (mut scheduler, scheduler_settings) = crate::scheduler::build(args)?;
    let optimizer = train::optimizer(args, crate::algo::find(&args.algo)?.optimizer_defaults())?;
    optimizer
        .build::<f32>()
        .context("invalid optimizer settings")?;
    let data = data::load_for_run(args)?;
    let shape = data.train().sample_shape().to_vec();
    // The family's defaults for this kind of sample, resolved once so that every later
    // reader (the objectives, results.json) sees the values the run used.
    let encoder = Encoder::for_samples(&shape, c)?;
    let mut resolved = given.clone();
    resolved.contrastive.prediction_skip = Some(match &c.prediction_skip {
        Some(given) => given.clone(),
        None => encoder.default_prediction_skip(),
    });
    let (args, c) = (&resolved, &resolved.contrastive);
    let classes = data.classes();
    let mut stages = build_stages(family, &encoder, c, args.seed, &optimizer, classes, &shape)?;
    let encoder_stages = match family {
        Family::BpEncoder => stages.len() - 1,
        _ => stages.len(),
    };
    let run = Run {
        args,
        family,
        pooling: c.probe_pool,
        data,
        probe,
        schedule: match args.schedule_kind() {
            ScheduleKind::Constant => LrSchedule::Constant,
            ScheduleKind::Cosine => LrSchedule::Cosine,
        },
        optimizer,
    };
    if crate::scheduler::reports() {
        eprintln!(
            "locus train: {} on {} ({} train / {} test samples), {} encoder stages of {}, probes on {} features",
            args.algo,
            args.dataset.name(),
            run.data.train().len(),
            run.data.test().len(),
            encoder_stages,
            encoder.kind(),
            run.pooling.short_name()
        );
    }
    let schedule = run.schedule;
    // --gim-schedule cached|recompute is greedy layer-wise training with each stage
    // learning for --epochs epochs, its inputs cached once per turn or recomputed on every
    // batch.
    let per_stage = run.per_stage();
    let epochs = if per_stage {
        args.epochs * stages.len() as u64
    } else {
        args.epochs
    };
    let mut greedy = None;
    let (scheduler, rates): (&mut (dyn Scheduler<f32> + 'static), Vec<f64>) = if per_stage {
        let mut layer_wise = GreedyLayerWise::new(StageBudget::Each(args.epochs))?;
        if c.gim_schedule == GimSchedule::Cached {
            layer_wise = layer_wise.with_cached_inputs(EVAL_BATCH)?;
        }
        let rates = (0..epochs)
            .map(|e| schedule.rate(run.optimizer.learning_rate(), e % args.epochs, args.epochs))
            .collect();
        (greedy.insert(layer_wise), rates)
    } else {
        crate::scheduler::check_stages(args, &stages)?;
        let rates = (0..epochs)
            .map(|e| {
                crate::scheduler::learning_rate(
                    args,
                    schedule,
                    run.optimizer.learning_rate(),
                    stages.len(),
                    e,
                )
            })
            .collect::<anyhow::Result<_>>()?;
        (scheduler.as_mut(), rates)
    };
    let mut probes = LinearProbes::new(
        run.data.train(),
        run.data.test(),
        run.probe,
        run.pooling,
        epochs,
        encoder_stages,
    );
    if per_stage {
        probes = probes.with_greedy_budget(StageBudget::Each(args.epochs));
    } else if args.schedule.scheduler == SchedulerKind::Greedy {
        probes = probes.with_greedy_budget(crate::scheduler::budget(args));
    }
    if family == Family::BpEncoder {
        probes = probes.with_classifier_head();
    }
    // Rank 0 alone probes in an MPI run: the other ranks hold no samples.
    let init_probes = if c.probe_init && crate::scheduler::reports() {
        Some(probes.probe_all(&stages)?)
    } else {
        None
    };
    // The peak of the training alone (data and model included, as they stay resident);
    // measured before the final probes, whose features would otherwise set it.
    let peak_reset = reset_peak_rss();
    let mut evaluation = PeakBeforeLast {
        inner: probes,
        last_epoch: epochs - 1,
        peak_rss: None,
    };
    let mut bar = ProgressBar::new(args, epochs, run.data.train().len());
    let (checkpoints, progress) = Checkpointing::start(args, epochs, &mut stages, scheduler)?;
    let trained = Trainer::new(epochs, args.batch_size, args.seed)
        .with_learning_rates(rates)
        .evaluate_every(c.probe_every)
        .resume(progress)
        .run(
            &mut stages,
            scheduler,
            run.data.train(),
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
    // In an MPI run, rank 0 alone holds the samples and reports.
    if !crate::scheduler::reports() {
        return Ok(());
    }
    let peak_rss = evaluation.peak_rss;
    let cache_bytes = greedy
        .as_ref()
        .map_or(0, GreedyLayerWise::largest_cache_bytes);
    let first = {
        let n = run.data.train().len().min(args.batch_size);
        gather::<f32>(run.data.train(), &(0..n).collect::<Vec<_>>())?
    };
    let step_bytes = StepBytes::measure(&stages, &first.inputs)?;
    let memory = run.memory_report(&step_bytes, cache_bytes, peak_rss, peak_reset);
    eprintln!("memory: {memory}");
    let mut stage_reports = trained.stage_reports(&stages);
    for (i, report) in stage_reports.iter_mut().enumerate() {
        report
            .metrics
            .insert("step_bytes".into(), step_bytes.stage(i) as f64);
        if let Some(&p) = init_probes.as_ref().and_then(|v| v.get(i)) {
            report.metrics.insert("probe_accuracy_init".into(), p);
        }
    }
    let probe_accuracies: Vec<f64> = stage_reports[..encoder_stages]
        .iter()
        .filter_map(|r| r.metrics.get("probe_accuracy").copied())
        .collect();
    let config: BTreeMap<String, serde_json::Value> = [
        ("model", json!(encoder.kind())),
        ("network", encoder.to_json()),
        ("infonce", json!(infonce_config(c, args.seed, 0))),
        ("prediction_skip", json!(c.prediction_skip)),
        ("optimizer", json!(run.optimizer)),
        ("batch_size", json!(args.batch_size)),
        ("lr_schedule", json!(run.schedule)),
        (
            "gim_schedule",
            json!(format!("{:?}", c.gim_schedule).to_lowercase()),
        ),
        ("scheduler", json!(args.schedule.scheduler.name())),
        ("scheduler_config", scheduler_settings),
        ("probe", json!(run.probe)),
        ("probe_pooling", json!(run.pooling.short_name())),
        ("train_samples", json!(run.data.train().len())),
        ("test_samples", json!(run.data.test().len())),
        ("data_seed", json!(args.data_seed)),
        ("float", json!("f32")),
        ("memory", memory.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut report = RunReport {
        algo: args.algo.clone(),
        dataset: args.dataset.name().to_string(),
        epochs: args.epochs,
        seed: args.seed,
        test_accuracy: trained.test_accuracy,
        test_loss: trained.test_loss,
        train_loss: trained.train_loss,
        wall_s: checkpoints.wall_s(),
        samples_per_s: trained.samples_per_s(run.data.train().len()),
        stages: stage_reports,
        config,
        history: trained.history,
        warnings: Vec::new(),
    };
    crate::train::write_run(args, &mut report)?;
    if args.json {
        println!("{}", report.to_json_line()?);
    } else {
        let per_stage: Vec<String> = probe_accuracies.iter().map(|p| format!("{p:.4}")).collect();
        println!(
            "{} on {}: linear-probe test accuracy {:.4} (stages {}) after {} epochs, {:.0} samples/s",
            report.algo,
            report.dataset,
            report.test_accuracy,
            per_stage.join(", "),
            report.epochs,
            report.samples_per_s
        );
    }
    Ok(())
}

/// An evaluation that reads the process's peak memory just before the last epoch's
/// evaluation (the final probes' features would otherwise set it).
struct PeakBeforeLast<E> {
    inner: E,
    last_epoch: u64,
    peak_rss: Option<u64>,
}

impl<E: Evaluate<f32>> Evaluate<f32> for PeakBeforeLast<E> {
    fn evaluate(
        &mut self,
        stages: &mut [Stage<f32>],
        scheduler: &(dyn Scheduler<f32> + 'static),
        epoch: u64,
    ) -> locus_train::Result<Evaluated> {
        if epoch == self.last_epoch {
            self.peak_rss = peak_rss_kib();
        }
        self.inner.evaluate(stages, scheduler, epoch)
    }
}

/// Prints an epoch's line on stderr: the learning stage's training loss and, when the
/// epoch was probed, its test loss and probe accuracy.
fn log_epoch(done: &EpochDone<'_, f32, dyn Scheduler<f32>>) {
    let probed = done.record.map_or_else(String::new, |r| {
        format!(
            "  test loss {:.4}  probe acc {:.4}",
            r.test_loss, r.test_accuracy
        )
    });
    eprintln!(
        "epoch {:>3}/{}  train loss {:.4}{probed}  {:.1}s",
        done.epoch, done.epochs, done.train_loss, done.epoch_s
    );
}

impl Run<'_> {
    /// Whether the stages learn one at a time (`--gim-schedule cached|recompute`).
    fn per_stage(&self) -> bool {
        self.family == Family::Gim && self.args.contrastive.gim_schedule != GimSchedule::Lockstep
    }

    /// The memory figures of the run, as JSON: the peak resident set measured after
    /// training (data, model, caches and all), and the bytes of activations and forward
    /// caches one training batch holds under this schedule (accounted), with the input
    /// cache of the cached GIM schedule.
    fn memory_report(
        &self,
        step: &StepBytes,
        cache_bytes: usize,
        peak_rss: Option<u64>,
        peak_reset: bool,
    ) -> serde_json::Value {
        let per_stage = self.per_stage();
        json!({
            "peak_rss_kib": peak_rss,
            "peak_rss_of": if peak_reset { "training (peak reset before it)" } else { "the whole process" },
            "step_activation_bytes": if per_stage { step.one_at_a_time() } else { step.all_at_once() },
            "input_cache_bytes": cache_bytes,
            "accounting": if per_stage {
                "one stage at a time: the largest of a stage's input batch, forward cache and output"
            } else {
                "all stages at once: the input batch and every stage's forward cache and output"
            },
        })
    }
}
