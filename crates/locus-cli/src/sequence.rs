//! `locus train --model lstm --dataset copy|repeat-copy`: an LSTM trained by truncated
//! BPTT, with (`--algo dni`) or without (`--algo bp`) synthetic gradients at the
//! truncation boundaries, on a curriculum of growing sequence lengths.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use locus_core::Module;
use locus_data::CopyTask;
use locus_eval::{EpochRecord, RunReport, StageReport};
use locus_train::{
    load_curriculum_state, run_curriculum_from, save_curriculum_state, CurriculumConfig,
    CurriculumReport, CurriculumRound, Flow, Manifest, RecurrentConfig,
};
use serde::Serialize;
use serde_json::json;

use crate::args::{DatasetKind, ModelKind, TrainArgs};

/// LSTM units when --hidden is not given (the DNI paper's copy-task LSTM).
const DEFAULT_HIDDEN: usize = 256;

/// The options of the sequence tasks (`--model lstm`).
#[derive(Debug, Clone, Args, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SequenceArgs {
    /// Steps per chunk of truncated BPTT, T (--model lstm).
    #[arg(long, default_value_t = 3)]
    pub truncation: usize,
    /// Sequence length N the curriculum starts at (--model lstm).
    #[arg(long, default_value_t = 1)]
    pub start_length: usize,
    /// The run stops once this length is solved (--model lstm) [default: no limit].
    #[arg(long)]
    pub max_length: Option<usize>,
    /// A length is solved when the evaluation's cross-entropy is below this many bits
    /// per output step (--model lstm).
    #[arg(long, default_value_t = 0.15, allow_negative_numbers = true)]
    pub curriculum_threshold: f64,
    /// Training batches per epoch; the curriculum is checked after each epoch
    /// (--model lstm).
    #[arg(long, default_value_t = 50)]
    pub batches_per_epoch: usize,
    /// Fresh sequences the curriculum is checked on after each epoch (--model lstm).
    #[arg(long, default_value_t = 256)]
    pub eval_size: usize,
    /// Largest repeat count of --dataset repeat-copy (each sequence draws one in 1..=R).
    #[arg(long, default_value_t = 2)]
    pub max_repeats: usize,
}

/// Whether the arguments ask for a sequence task.
pub fn wants_sequences(args: &TrainArgs) -> bool {
    args.model == ModelKind::Lstm
        || matches!(args.dataset, DatasetKind::Copy | DatasetKind::RepeatCopy)
}

/// The JSON object of a sequence run: the `locus train --json` contract keys, plus the
/// curriculum's outcome.
#[derive(Debug, Serialize)]
struct SequenceRunReport<'a> {
    #[serde(flatten)]
    run: &'a RunReport,
    curriculum: CurriculumSummary,
}

/// What the curriculum reached, for results.json.
#[derive(Debug, Serialize)]
struct CurriculumSummary {
    task: CopyTask,
    truncation: usize,
    threshold_bits_per_step: f64,
    start_length: usize,
    longest_solved: usize,
    final_length: usize,
    solved_at: Vec<(usize, usize)>,
    batches: usize,
    sequences: usize,
}

fn check(args: &TrainArgs) -> anyhow::Result<(CopyTask, usize)> {
    let task = match args.dataset {
        DatasetKind::Copy => CopyTask::copy(8),
        DatasetKind::RepeatCopy => CopyTask::repeat_copy(8, args.sequence.max_repeats),
        other => anyhow::bail!(
            "--model lstm trains the sequence tasks (--dataset copy or repeat-copy), not \
             --dataset {}",
            other.name()
        ),
    };
    if args.model != ModelKind::Lstm {
        anyhow::bail!(
            "--dataset {} is a sequence task: train it with --model lstm, not --model {}",
            args.dataset.name(),
            format!("{:?}", args.model).to_lowercase()
        );
    }
    if !matches!(args.algo.as_str(), "bp" | "dni") {
        anyhow::bail!(
            "--algo {:?} has no recurrent form here: --model lstm takes bp (truncated BPTT, \
             the gradient cut at every boundary) or dni (synthetic gradients at the \
             boundaries)",
            args.algo
        );
    }
    if args.epochs == 0 {
        anyhow::bail!("--epochs should be >= 1, but it is 0");
    }
    if args.sequence.max_repeats == 0 {
        anyhow::bail!("--max-repeats should be >= 1, but it is 0");
    }
    if args.sg_lambda != 0.0 && args.algo == "dni" {
        anyhow::bail!(
            "--sg-lambda {} asks for BP(λ), which the recurrent trainer does not implement \
             (its targets arrive one chunk later); leave it at 0",
            args.sg_lambda
        );
    }
    let hidden = match args.hidden.as_deref() {
        None => DEFAULT_HIDDEN,
        Some([h]) if *h >= 1 => *h,
        Some([h]) => anyhow::bail!("--hidden (the LSTM's units) should be >= 1, but it is {h}"),
        Some(more) => anyhow::bail!(
            "--hidden takes one width for --model lstm (its units), got {}",
            more.len()
        ),
    };
    task.check().context("invalid sequence task")?;
    Ok((task, hidden))
}

/// Runs `locus train --model lstm`.
pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let (task, hidden) = check(args)?;
    args.schedule.require_lockstep(
        &args.algo,
        "an LSTM by truncated BPTT with its own trainer (--model lstm)",
    )?;
    // The LSTM tasks train bp and dni alike with SGD unless told otherwise.
    let optimizer = crate::train::optimizer(args, crate::algo::OptimizerDefaults::SGD)?;
    let mut config = RecurrentConfig::new(
        task.input_width(),
        hidden,
        task.target_width(),
        args.sequence.truncation,
        optimizer,
    )
    .with_seed(args.seed);
    let synthetic = (args.algo == "dni").then(|| crate::train::synthetic_gradient(args));
    if let Some(sg) = synthetic {
        config = config.with_synthetic_gradient(sg);
    }
    let mut trainer = config
        .build::<f32>()
        .context("invalid recurrent settings")?;
    let curriculum = CurriculumConfig {
        task,
        start_length: args.sequence.start_length,
        max_length: args.sequence.max_length.unwrap_or(usize::MAX),
        threshold_bits: args.sequence.curriculum_threshold,
        batch_size: args.batch_size,
        batches_per_round: args.sequence.batches_per_epoch,
        rounds: usize::try_from(args.epochs).unwrap_or(usize::MAX),
        eval_size: args.sequence.eval_size,
        seed: args.seed,
    };
    curriculum.check().context("invalid curriculum settings")?;

    eprintln!(
        "locus train: {} (T={}) on {}, LSTM of {hidden} units, {} parameters{}",
        args.algo,
        args.sequence.truncation,
        task.name(),
        trainer.num_params(),
        if synthetic.is_some() {
            ", synthetic gradients at the boundaries"
        } else {
            ", gradient cut at the boundaries"
        }
    );
    let start = Instant::now();
    let epochs = args.epochs;
    // Checkpoints: the rounds are the epochs of --save-every, --stop-after and --resume.
    crate::run_state::check_flags(args)?;
    let settings = crate::run_state::settings_of(args);
    let (mut wall_before, mut resumed_after, mut progress) = (0.0, Vec::new(), None);
    if let Some(dir) = &args.resume {
        let manifest = load_curriculum_state(dir, &args.algo, &settings, &mut trainer)
            .with_context(|| format!("--resume {}", dir.display()))?;
        crate::run_state::announce_resume(dir, &manifest, epochs)?;
        wall_before = manifest.wall_s;
        resumed_after = manifest.resumed_after;
        resumed_after.push(manifest.epochs_done);
        progress = manifest.curriculum;
    }
    let resumed_at = progress.as_ref().map_or(0, |p| p.rounds_done as u64);
    let (report, finished) = run_curriculum_from(
        &mut trainer,
        &curriculum,
        progress,
        |r, now, trainer| {
            if !args.quiet {
                eprintln!(
                "epoch {:>3}/{epochs}  N={:<3} train {:.4} eval {:.4} bits/step  bit error {:.4}{}{}  {:.1}s",
                r.round,
                r.length,
                r.train_bits,
                r.eval_bits,
                r.eval_bit_error,
                r.alignment_deg
                    .map(|a| format!("  alignment {a:.1}°"))
                    .unwrap_or_default(),
                if r.solved { "  solved" } else { "" },
                r.train_s
            );
            }
            let round = r.round as u64;
            let stop = args.stop_after.is_some_and(|n| round - resumed_at >= n);
            if let Some(dir) = &args.save_state {
                let due = stop || round == epochs || round % args.save_every.unwrap_or(1) == 0;
                if due {
                    let wall_s = wall_before + start.elapsed().as_secs_f64();
                    let mut manifest =
                        Manifest::for_curriculum::<f32>(&args.algo, settings.clone(), now, wall_s);
                    manifest.resumed_after.clone_from(&resumed_after);
                    save_curriculum_state(dir, &manifest, trainer).map_err(|e| {
                        locus_sched::Error::Checkpoint {
                            path: dir.clone(),
                            reason: format!("--save-state: {e}"),
                        }
                    })?;
                }
            }
            Ok(if stop { Flow::Stop } else { Flow::Continue })
        },
    )?;
    if !finished {
        if let Some(dir) = &args.save_state {
            eprintln!(
                "locus train: stopped after epoch {} of {epochs}, the state saved in {}; go on \
                 with the same command and --resume {}",
                report.rounds.len(),
                dir.display(),
                dir.display()
            );
        }
        return Ok(());
    }
    let last = *report.rounds.last().context("no epoch ran")?;
    let run = run_report(
        args,
        &trainer,
        &report,
        &last,
        wall_before + start.elapsed().as_secs_f64(),
    );
    let summary = CurriculumSummary {
        task,
        truncation: args.sequence.truncation,
        threshold_bits_per_step: curriculum.threshold_bits,
        start_length: curriculum.start_length,
        longest_solved: report.longest_solved,
        final_length: report.final_length,
        solved_at: report.solved_at.clone(),
        batches: report.batches,
        sequences: report.sequences,
    };
    let full = SequenceRunReport {
        run: &run,
        curriculum: summary,
    };
    if let Some(dir) = &args.out {
        run.write_to_dir(dir)
            .with_context(|| format!("writing results into {}", dir.display()))?;
        let path = dir.join("results.json");
        std::fs::write(&path, serde_json::to_string_pretty(&full)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {}/results.json and epochs.csv", dir.display());
    }
    if args.json {
        println!("{}", serde_json::to_string(&full)?);
    } else {
        println!(
            "{} (T={}) on {}: longest length solved {} (below {} bits per output step) after \
             {} batches, {:.0} sequences/s",
            run.algo,
            args.sequence.truncation,
            task.name(),
            report.longest_solved,
            curriculum.threshold_bits,
            report.batches,
            run.samples_per_s
        );
    }
    Ok(())
}

/// The run in the `locus train` report format: one epoch record per curriculum round,
/// `test_accuracy` the fraction of evaluation bits right in the last round, the LSTM and
/// the read-out as the two stages.
fn run_report(
    args: &TrainArgs,
    trainer: &locus_train::RecurrentTrainer<f32>,
    report: &CurriculumReport,
    last: &CurriculumRound,
    wall_s: f64,
) -> RunReport {
    let history: Vec<EpochRecord> = report
        .rounds
        .iter()
        .map(|r| EpochRecord {
            epoch: r.round as u64,
            train_loss: r.train_bits,
            test_accuracy: 1.0 - r.eval_bit_error,
            test_loss: r.eval_bits,
            train_s: r.train_s,
            stage_metrics: round_metrics(r),
        })
        .collect();
    let lstm_metrics: BTreeMap<String, f64> = [
        // The last measured angle: rounds at a length with one chunk have none.
        (
            "alignment_deg",
            report.rounds.iter().rev().find_map(|r| r.alignment_deg),
        ),
        ("sg_loss", last.sg_loss),
        ("sg_relative_error", last.sg_relative_error),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| v.is_finite()).map(|v| (k.to_string(), v)))
    .collect();
    let t = trainer.config().truncation;
    let stages = vec![
        StageReport {
            name: "lstm".into(),
            module: trainer.cell().name(),
            objective: if args.algo == "dni" {
                format!("synthetic-gradient at chunk boundaries (DNI, T={t})")
            } else {
                format!("truncated-bptt (T={t})")
            },
            params: trainer.cell().num_params(),
            final_loss: last.train_bits,
            metrics: lstm_metrics,
        },
        StageReport {
            name: "readout".into(),
            module: trainer.readout().name(),
            objective: "sigmoid-cross-entropy".into(),
            params: trainer.readout().num_params(),
            final_loss: last.train_bits,
            metrics: BTreeMap::new(),
        },
    ];
    let config: BTreeMap<String, serde_json::Value> = [
        ("model", json!("lstm")),
        ("network", json!(trainer.config())),
        ("batch_size", json!(args.batch_size)),
        ("batches_per_epoch", json!(args.sequence.batches_per_epoch)),
        ("eval_size", json!(args.sequence.eval_size)),
        ("float", json!("f32")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    RunReport {
        algo: args.algo.clone(),
        dataset: args.dataset.name().to_string(),
        epochs: report.rounds.len() as u64,
        seed: args.seed,
        test_accuracy: 1.0 - last.eval_bit_error,
        test_loss: last.eval_bits,
        train_loss: last.train_bits,
        wall_s,
        samples_per_s: report.sequences as f64 / report.train_s.max(1e-9),
        stages,
        config,
        history,
        warnings: Vec::new(),
    }
}

/// One round's figures as `epochs.csv` columns.
fn round_metrics(r: &CurriculumRound) -> BTreeMap<String, f64> {
    [
        ("curriculum.length", Some(r.length as f64)),
        ("curriculum.solved", Some(f64::from(u8::from(r.solved)))),
        (
            "curriculum.sequences_correct",
            Some(r.eval_sequences_correct),
        ),
        ("lstm.alignment_deg", r.alignment_deg),
        ("lstm.sg_loss", r.sg_loss),
        ("lstm.sg_relative_error", r.sg_relative_error),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.filter(|v| v.is_finite()).map(|v| (k.to_string(), v)))
    .collect()
}
