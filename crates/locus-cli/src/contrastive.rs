//! `locus train --algo gim|cpc|bp-encoder`: train an encoder without labels (GIM, CPC) or
//! with them (bp-encoder), then read every stage out with a linear probe.
//!
//! `test_accuracy` is the test accuracy of a linear probe on the top encoder stage's
//! frozen, pooled features (GIM's protocol); every stage reports its own
//! `probe_accuracy`. `train_loss` and `test_loss` are the top stage's own loss (InfoNCE
//! in nats for gim and cpc, cross-entropy for bp-encoder).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use locus_core::{Float, OptimizerConfig};
use locus_data::{gather, Dataset, Split};
use locus_eval::{EpochRecord, FeaturePooling, LinearProbe, ProbeConfig, RunReport, StageReport};
use locus_objectives::{Mode, StageContext};
use locus_sched::{
    cache_stage_inputs, evaluate, pooled_stage_features, predict, probe_stages_pooled,
    train_epoch_on_frozen, EpochPlan, EpochReport, Lockstep, LrSchedule, Scheduler, Stage,
    StageStats, StatsLog,
};
use serde_json::json;

use crate::args::{ModelKind, ScheduleKind, TrainArgs};
use crate::contrastive_args::GimSchedule;
use crate::contrastive_model::{build_stages, infonce_config, Encoder, Family};
use crate::memory::{peak_rss_kib, reset_peak_rss, StepBytes};
use crate::progress::ProgressBar;
use crate::{data, train};

/// Samples per batch when computing features, losses and caches (no training).
const EVAL_BATCH: usize = 500;

/// Everything one run needs besides the stages.
struct Run<'a> {
    args: &'a TrainArgs,
    family: Family,
    split: Split,
    pooling: FeaturePooling,
    probe: ProbeConfig,
    schedule: LrSchedule,
    optimizer: OptimizerConfig,
    /// Encoder stages (bp-encoder has one more stage, its head).
    encoder_stages: usize,
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
    let split = data::load(args)?;
    let shape = split.train.sample_shape().to_vec();
    // The family's defaults for this kind of sample, resolved once so that every later
    // reader (the objectives, results.json) sees the values the run used.
    let encoder = Encoder::for_samples(&shape, c)?;
    let mut resolved = given.clone();
    resolved.contrastive.prediction_skip = Some(match &c.prediction_skip {
        Some(given) => given.clone(),
        None => encoder.default_prediction_skip(),
    });
    let (args, c) = (&resolved, &resolved.contrastive);
    let classes = split.train.num_classes().max(split.test.num_classes());
    let mut stages = build_stages(family, &encoder, c, args.seed, &optimizer, classes, &shape)?;
    let encoder_stages = match family {
        Family::BpEncoder => stages.len() - 1,
        _ => stages.len(),
    };
    let run = Run {
        args,
        family,
        pooling: c.probe_pool,
        split,
        probe,
        schedule: match args.lr_schedule {
            ScheduleKind::Constant => LrSchedule::Constant,
            ScheduleKind::Cosine => LrSchedule::Cosine,
        },
        optimizer,
        encoder_stages,
    };
    eprintln!(
        "locus train: {} on {} ({} train / {} test samples), {} encoder stages of {}, probes on {} features",
        args.algo,
        args.dataset.name(),
        run.split.train.len(),
        run.split.test.len(),
        encoder_stages,
        encoder.kind(),
        run.pooling.short_name()
    );
    let start = Instant::now();
    let init_probes = if c.probe_init {
        Some(run.probe_all(&stages)?)
    } else {
        None
    };
    // The peak of the training alone (data and model included, as they stay resident);
    // measured before the final probes, whose features would otherwise set it.
    let peak_reset = reset_peak_rss();
    crate::scheduler::check_stages(args, &stages)?;
    let mut training = run.train(&mut stages, scheduler.as_mut())?;
    let peak_rss = peak_rss_kib();
    let first = {
        let n = run.split.train.len().min(args.batch_size);
        gather::<f32>(&run.split.train, &(0..n).collect::<Vec<_>>())?
    };
    let step_bytes = StepBytes::measure(&stages, &first.inputs)?;
    let probes = run.probe_all(&stages)?;
    let classifier = match family {
        Family::BpEncoder => Some(evaluate(&mut stages, &run.split.test, EVAL_BATCH)?),
        _ => None,
    };
    let memory = run.memory_report(&step_bytes, training.cache_bytes, peak_rss, peak_reset);
    // The last epoch's probe is the final probe of the top encoder stage.
    if let Some(last) = training.history.last_mut() {
        last.0.test_accuracy = probes[encoder_stages - 1];
        last.1 = true;
    }
    let history = training
        .history
        .into_iter()
        .filter_map(|(record, probed)| probed.then_some(record))
        .collect();
    eprintln!("memory: {memory}");

    let stage_reports = stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut metrics: BTreeMap<String, f64> = s.objective().metrics().into_iter().collect();
            metrics.insert("step_bytes".into(), step_bytes.stage(i) as f64);
            if let Some(&p) = probes.get(i) {
                metrics.insert("probe_accuracy".into(), p);
            }
            if let Some(&p) = init_probes.as_ref().and_then(|v| v.get(i)) {
                metrics.insert("probe_accuracy_init".into(), p);
            }
            if let Some(Some(t)) = training.stage_stats.get(i) {
                metrics.insert("staleness".into(), t.staleness_mean);
                metrics.insert("staleness_max".into(), t.staleness_max as f64);
                metrics.insert("busy_fraction".into(), t.busy_fraction());
                if let Some(m) = t.message_staleness_mean {
                    metrics.insert("message_staleness".into(), m);
                }
            }
            if i == encoder_stages {
                if let Some(e) = &classifier {
                    metrics.insert("classifier_accuracy".into(), e.accuracy);
                }
            }
            StageReport {
                name: s.name().to_string(),
                module: s.module().name(),
                objective: s.objective().name(),
                params: s.module().num_params(),
                final_loss: training.final_losses[i],
                metrics,
            }
        })
        .collect();
    let test_loss = run.top_loss(&mut stages, &run.split.test)?;
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
        ("train_samples", json!(run.split.train.len())),
        ("test_samples", json!(run.split.test.len())),
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
        test_accuracy: probes[encoder_stages - 1],
        test_loss,
        train_loss: training.final_losses[stages.len() - 1],
        wall_s: start.elapsed().as_secs_f64(),
        samples_per_s: training.samples as f64 / training.train_s.max(1e-9),
        stages: stage_reports,
        config,
        history,
        warnings: Vec::new(),
    };
    crate::train::write_run(args, &mut report)?;
    if args.json {
        println!("{}", report.to_json_line()?);
    } else {
        let per_stage: Vec<String> = probes.iter().map(|p| format!("{p:.4}")).collect();
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

/// What training produced, besides the trained stages.
struct Training {
    /// Every epoch's record, and whether its probe ran (only those are reported).
    history: Vec<(EpochRecord, bool)>,
    /// Each stage's mean loss over its last epoch.
    final_losses: Vec<f64>,
    /// Samples passed through a training step (each stage counts its own under a
    /// stage-at-a-time schedule).
    samples: usize,
    train_s: f64,
    /// The largest input cache held (cached GIM schedule), in bytes.
    cache_bytes: usize,
    /// What the scheduler measured of each stage over the last epoch it trained.
    stage_stats: Vec<Option<StageStats>>,
}

impl Run<'_> {
    /// Trains: all stages together (gim lockstep, cpc, bp-encoder), or one GIM stage at a
    /// time for `--epochs` each.
    /// All stages together run under `scheduler` (`--scheduler`); one stage at a time runs
    /// in lockstep.
    fn train(
        &self,
        stages: &mut [Stage<f32>],
        scheduler: &mut dyn Scheduler<f32>,
    ) -> anyhow::Result<Training> {
        let mut t = Training {
            history: Vec::new(),
            final_losses: vec![f64::NAN; stages.len()],
            samples: 0,
            train_s: 0.0,
            cache_bytes: 0,
            stage_stats: vec![None; stages.len()],
        };
        let schedule = self.args.contrastive.gim_schedule;
        let per_stage = self.family == Family::Gim && schedule != GimSchedule::Lockstep;
        let rounds: Vec<usize> = if per_stage {
            (0..stages.len()).collect()
        } else {
            vec![stages.len() - 1]
        };
        let total_epochs = self.args.epochs * rounds.len() as u64;
        let mut bar = ProgressBar::new(total_epochs);
        let train = &self.split.train;
        for &top in &rounds {
            let lower = if per_stage { top } else { 0 };
            let cached = match (per_stage, schedule) {
                (true, GimSchedule::Cached) if top > 0 => {
                    let c = cache_stage_inputs(&stages[..top], train, EVAL_BATCH)?;
                    let bytes = std::mem::size_of_val(c.features_all());
                    t.cache_bytes = t.cache_bytes.max(bytes);
                    eprintln!(
                        "stage{}: cached the inputs of {} samples ({:.1} MiB)",
                        top + 1,
                        c.len(),
                        bytes as f64 / (1 << 20) as f64
                    );
                    Some(c)
                }
                _ => None,
            };
            for epoch in 0..self.args.epochs {
                let lr = if per_stage {
                    self.schedule
                        .rate(self.optimizer.learning_rate(), epoch, self.args.epochs)
                } else {
                    crate::scheduler::learning_rate(
                        self.args,
                        self.schedule,
                        self.optimizer.learning_rate(),
                        stages.len(),
                        epoch,
                    )?
                };
                for stage in stages.iter_mut() {
                    stage.optimizer_mut().set_learning_rate(lr)?;
                }
                let plan = EpochPlan {
                    batch_size: self.args.batch_size,
                    seed: self.args.seed,
                    epoch,
                };
                let (frozen, trained) = stages.split_at_mut(lower);
                let trained = &mut trained[..=top - lower];
                let mut stats = StatsLog::default();
                let observer = &mut (&mut bar, &mut stats);
                let report: EpochReport = match &cached {
                    Some(c) => Lockstep.train_epoch(trained, c, plan, observer)?,
                    None if lower > 0 => {
                        train_epoch_on_frozen(frozen, trained, train, plan, observer)?
                    }
                    None => scheduler.train_epoch(trained, train, plan, observer)?,
                };
                let figures = stats.last().unwrap_or_default();
                // The stage whose loss `report.loss` is: the top one, or under
                // --scheduler greedy the one whose turn it is.
                let learner = lower
                    + figures
                        .iter()
                        .rposition(|f| f.updates > 0)
                        .unwrap_or(top - lower);
                for (i, f) in figures.iter().enumerate() {
                    t.stage_stats[lower + i] = Some(f.clone());
                }
                bar.clear();
                t.train_s += report.wall_s;
                t.samples += report.samples;
                locus_train::keep_losses_of_learners(
                    &mut t.final_losses[lower..],
                    &report.stage_losses,
                    Some(figures),
                );
                if !report.loss.is_finite() {
                    anyhow::bail!(
                        "training diverged at epoch {} (loss {}); try a smaller --lr",
                        epoch + 1,
                        report.loss
                    );
                }
                let probe_top = top.min(self.encoder_stages - 1);
                let index = t.history.len() as u64 + 1;
                let every = self.args.contrastive.probe_every;
                let accuracy = if every > 0 && index % every == 0 && index < total_epochs {
                    Some(self.probe_one(&stages[..=probe_top])?)
                } else {
                    None
                };
                let test_loss = self.top_loss(&mut stages[..=top], &self.split.test)?;
                eprintln!(
                    "epoch {index:>3}/{total_epochs}  stage{} loss {:.4}  test loss {:.4}  {}  {:.1}s",
                    learner + 1,
                    report.loss,
                    test_loss,
                    accuracy.map_or_else(String::new, |a| format!("probe acc (stage{}) {a:.4}", probe_top + 1)),
                    report.wall_s
                );
                let stage_metrics = stages
                    .iter()
                    .enumerate()
                    .flat_map(|(i, s)| {
                        let loss = (format!("{}.loss", s.name()), t.final_losses[i]);
                        let objective = s
                            .objective()
                            .metrics()
                            .into_iter()
                            .map(move |(k, v)| (format!("{}.{k}", s.name()), v));
                        std::iter::once(loss).chain(objective)
                    })
                    .filter(|(_, v)| v.is_finite())
                    .collect();
                let record = EpochRecord {
                    epoch: index,
                    train_loss: report.loss,
                    test_accuracy: accuracy.unwrap_or(f64::NAN),
                    test_loss,
                    train_s: report.wall_s,
                    stage_metrics,
                };
                t.history.push((record, accuracy.is_some()));
            }
        }
        Ok(t)
    }

    /// The probe accuracy of every encoder stage.
    fn probe_all(&self, stages: &[Stage<f32>]) -> anyhow::Result<Vec<f64>> {
        Ok(probe_stages_pooled(
            &stages[..self.encoder_stages],
            &self.split.train,
            &self.split.test,
            &self.probe,
            self.pooling,
        )?)
    }

    /// The probe accuracy of the top of `stages` only.
    fn probe_one(&self, stages: &[Stage<f32>]) -> anyhow::Result<f64> {
        let classes = self
            .split
            .train
            .num_classes()
            .max(self.split.test.num_classes());
        let (train, train_labels) =
            pooled_stage_features(stages, &self.split.train, EVAL_BATCH, self.pooling)?;
        let (test, test_labels) =
            pooled_stage_features(stages, &self.split.test, EVAL_BATCH, self.pooling)?;
        let top = stages.len() - 1;
        let probe = LinearProbe::fit(&train[top], &train_labels, classes, &self.probe)?;
        Ok(probe.accuracy(&test[top], &test_labels)?)
    }

    /// The mean loss of the top of `stages` on `data`, its objective in
    /// [`Mode::Evaluate`] (step 0, so the same negatives every time).
    fn top_loss(&self, stages: &mut [Stage<f32>], data: &dyn Dataset) -> anyhow::Result<f64> {
        let (below, top) = stages.split_at_mut(stages.len() - 1);
        let top = &mut top[0];
        let indices: Vec<usize> = (0..data.len()).collect();
        let mut sum = 0.0;
        for chunk in indices.chunks(EVAL_BATCH) {
            let batch = gather::<f32>(data, chunk)?;
            let hidden = predict(below, &batch.inputs)?;
            let output = top.module().infer(&hidden)?;
            let ctx = StageContext::new(&hidden, &output).with_labels(&batch.labels);
            let signal = top
                .objective_mut()
                .signal(&ctx, Mode::Evaluate)
                .with_context(|| {
                    format!("the loss of stage '{}' on {}", top.name(), data.name())
                })?;
            sum += signal.loss.as_f64() * chunk.len() as f64;
        }
        Ok(sum / data.len().max(1) as f64)
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
        let per_stage = self.family == Family::Gim
            && self.args.contrastive.gim_schedule != GimSchedule::Lockstep;
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
