//! The copy tasks' curriculum: train at one sequence length until the error is small,
//! then move to the next length, and report the longest length solved (Graves et al.
//! 2014; Jaderberg et al. 2016, sect. 3.1, which reports this length in its Table 1).

use std::time::Instant;

use locus_core::{seeded_rng, Error as CoreError, Float, SeededRng};
use locus_data::CopyTask;
use locus_sched::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::{Flow, RecurrentTrainer};

/// Stream of the training batches' generator (the evaluation batches use another).
const TRAIN_STREAM: u64 = 1;
/// Stream of the evaluation batches' generator.
const EVAL_STREAM: u64 = 2;

/// How a curriculum runs: the task, the lengths, the criterion and the budget. The budget
/// is counted in batches (not seconds), so a seed fixes the whole run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurriculumConfig {
    /// Copy or repeat copy.
    pub task: CopyTask,
    /// First sequence length (default 1).
    pub start_length: usize,
    /// The run stops once this length is solved (default 1000, i.e. the budget decides).
    pub max_length: usize,
    /// A length is solved when the evaluation batch's cross-entropy is below this many
    /// bits per output step (default 0.15, the DNI paper's criterion).
    pub threshold_bits: f64,
    /// Sequences per training batch (default 64).
    pub batch_size: usize,
    /// Training batches between two evaluations (default 50).
    pub batches_per_round: usize,
    /// Rounds at most: the budget is `rounds × batches_per_round` batches (default 100).
    pub rounds: usize,
    /// Fresh sequences in each evaluation batch (default 256).
    pub eval_size: usize,
    /// Seed of the sequences (the weights have their own, in the trainer's configuration).
    pub seed: u64,
}

impl CurriculumConfig {
    /// The curriculum of `task` with the defaults above.
    pub fn new(task: CopyTask) -> Self {
        CurriculumConfig {
            task,
            start_length: 1,
            max_length: 1000,
            threshold_bits: 0.15,
            batch_size: 64,
            batches_per_round: 50,
            rounds: 100,
            eval_size: 256,
            seed: 0,
        }
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Stage`] (stage `"curriculum"`) naming the bad value.
    pub fn check(&self) -> Result<()> {
        let fail = |name: &str, reason: &str, value: String| {
            Err(Error::Stage {
                stage: "curriculum".into(),
                source: CoreError::invalid(name, reason, value),
            })
        };
        self.task.check()?;
        if self.start_length == 0 {
            return fail("curriculum start length N", "should be >= 1", "0".into());
        }
        if self.max_length < self.start_length {
            return fail(
                "curriculum largest length",
                &format!("should be >= the start length {}", self.start_length),
                self.max_length.to_string(),
            );
        }
        if !(self.threshold_bits.is_finite() && self.threshold_bits > 0.0) {
            return fail(
                "curriculum threshold (bits per output step)",
                "should be finite and > 0",
                self.threshold_bits.to_string(),
            );
        }
        for (name, v) in [
            ("curriculum batch size", self.batch_size),
            ("curriculum batches per round", self.batches_per_round),
            ("curriculum rounds", self.rounds),
            ("curriculum evaluation size", self.eval_size),
        ] {
            if v == 0 {
                return fail(name, "should be >= 1", "0".into());
            }
        }
        Ok(())
    }
}

/// One round of the curriculum: training at one length, then an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurriculumRound {
    /// Round number, from 1.
    pub round: usize,
    /// The sequence length trained on in this round.
    pub length: usize,
    /// Mean training cross-entropy, bits per output step.
    pub train_bits: f64,
    /// Mean training bit error.
    pub train_bit_error: f64,
    /// Evaluation cross-entropy, bits per output step (the criterion).
    pub eval_bits: f64,
    /// Evaluation bit error.
    pub eval_bit_error: f64,
    /// Fraction of evaluation sequences copied without a wrong bit.
    pub eval_sequences_correct: f64,
    /// Mean angle between the synthetic and the true gradient at the boundaries of the
    /// evaluation batch (DNI only).
    pub alignment_deg: Option<f64>,
    /// The gradient model's squared error at those boundaries relative to predicting zero
    /// (DNI only; below 1 when it has learned something).
    pub sg_relative_error: Option<f64>,
    /// Mean regression loss of the gradient model in the round (DNI only).
    pub sg_loss: Option<f64>,
    /// Whether this round solved its length (the next round trains on the next).
    pub solved: bool,
    /// Training batches so far, this round included.
    pub batches: usize,
    /// Seconds spent training in this round (evaluation excluded).
    pub train_s: f64,
}

/// The outcome of a curriculum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurriculumReport {
    /// The longest length solved (0 when even the first was not).
    pub longest_solved: usize,
    /// The length being trained on when the run stopped.
    pub final_length: usize,
    /// `(length, batches trained when it was solved)`, in order.
    pub solved_at: Vec<(usize, usize)>,
    /// Every round.
    pub rounds: Vec<CurriculumRound>,
    /// Training batches run.
    pub batches: usize,
    /// Training sequences seen.
    pub sequences: usize,
    /// Seconds spent training (evaluation excluded).
    pub train_s: f64,
}

/// Runs the curriculum: rounds of `batches_per_round` training batches at the current
/// length, each followed by an evaluation on `eval_size` fresh sequences; when the
/// evaluation's cross-entropy is below `threshold_bits` per output step the length is
/// solved and the next round trains on the next length. Stops when `max_length` is solved
/// or after `rounds` rounds. `on_round` is called after every round (for logs and
/// progress).
///
/// # Errors
/// [`Error::Stage`] for a bad configuration, a batch that does not fit the trainer or a
/// failure while training (e.g. a diverging run's NaN); [`Error::Data`] when a batch
/// cannot be generated.
pub fn run_curriculum<F: Float>(
    trainer: &mut RecurrentTrainer<F>,
    config: &CurriculumConfig,
    mut on_round: impl FnMut(&CurriculumRound),
) -> Result<CurriculumReport> {
    let (report, _) = run_curriculum_from(trainer, config, None, |round, _, _| {
        on_round(round);
        Ok(Flow::Continue)
    })?;
    Ok(report)
}

/// How far a curriculum has come, to go on from with [`run_curriculum_from`]: the rounds
/// done, the length the next round trains on, the report so far and where the generators
/// of the training and evaluation batches stand (ChaCha word positions, low and high
/// halves).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurriculumProgress {
    /// Rounds done.
    pub rounds_done: usize,
    /// The length the next round trains on.
    pub length: usize,
    /// The report so far.
    pub report: CurriculumReport,
    /// Word position of the training batches' generator.
    pub train_words: [u64; 2],
    /// Word position of the evaluation batches' generator.
    pub eval_words: [u64; 2],
}

fn words(rng: &SeededRng) -> [u64; 2] {
    let w = rng.get_word_pos();
    [w as u64, (w >> 64) as u64]
}

fn at_words(seed: u64, stream: u64, words: [u64; 2]) -> SeededRng {
    let mut rng = seeded_rng(seed);
    rng.set_stream(stream);
    rng.set_word_pos(u128::from(words[0]) | (u128::from(words[1]) << 64));
    rng
}

/// [`run_curriculum`] that can go on from `progress` (saved from an earlier part of the
/// same run, with the trainer's state) and hands `on_round` each round's record, the
/// progress after it and the trainer, to save them or to stop the run ([`Flow::Stop`]).
/// Returns the report and whether the curriculum ran to its end. A run done in parts
/// draws the same batches and ends with the report of one run.
///
/// # Errors
/// As [`run_curriculum`]; `on_round`'s errors; a `progress` with no round left.
pub fn run_curriculum_from<F: Float>(
    trainer: &mut RecurrentTrainer<F>,
    config: &CurriculumConfig,
    progress: Option<CurriculumProgress>,
    mut on_round: impl FnMut(
        &CurriculumRound,
        &CurriculumProgress,
        &RecurrentTrainer<F>,
    ) -> Result<Flow>,
) -> Result<(CurriculumReport, bool)> {
    config.check()?;
    let progress = progress.unwrap_or_else(|| CurriculumProgress {
        rounds_done: 0,
        length: config.start_length,
        report: CurriculumReport {
            longest_solved: 0,
            final_length: config.start_length,
            solved_at: Vec::new(),
            rounds: Vec::new(),
            batches: 0,
            sequences: 0,
            train_s: 0.0,
        },
        train_words: [0, 0],
        eval_words: [0, 0],
    });
    if progress.rounds_done >= config.rounds {
        return Err(Error::Config(format!(
            "the curriculum has done {} of its {} rounds: nothing is left to train",
            progress.rounds_done, config.rounds
        )));
    }
    let mut train_rng = at_words(config.seed, TRAIN_STREAM, progress.train_words);
    let mut eval_rng = at_words(config.seed, EVAL_STREAM, progress.eval_words);
    let mut length = progress.length;
    let mut report = progress.report;
    for round in progress.rounds_done + 1..=config.rounds {
        let start = Instant::now();
        let (mut bits, mut errors) = (0.0, 0.0);
        let (mut sg_sum, mut sg_count) = (0.0, 0usize);
        for _ in 0..config.batches_per_round {
            let batch = config
                .task
                .batch::<F>(length, config.batch_size, &mut train_rng)?;
            let r = trainer.train_batch(&batch)?;
            bits += r.bits_per_step;
            errors += r.bit_error;
            if let Some(l) = r.sg_loss {
                sg_sum += l;
                sg_count += 1;
            }
        }
        let train_s = start.elapsed().as_secs_f64();
        report.batches += config.batches_per_round;
        report.sequences += config.batches_per_round * config.batch_size;
        report.train_s += train_s;
        let eval_batch = config
            .task
            .batch::<F>(length, config.eval_size, &mut eval_rng)?;
        let eval = trainer.evaluate(&eval_batch)?;
        let alignment = trainer.boundary_alignment(&eval_batch)?;
        let n = config.batches_per_round as f64;
        let solved = eval.bits_per_step < config.threshold_bits;
        let record = CurriculumRound {
            round,
            length,
            train_bits: bits / n,
            train_bit_error: errors / n,
            eval_bits: eval.bits_per_step,
            eval_bit_error: eval.bit_error,
            eval_sequences_correct: eval.sequences_correct,
            alignment_deg: alignment.map(|a| a.angle_deg).filter(|a| a.is_finite()),
            sg_relative_error: alignment.map(|a| a.relative_error),
            sg_loss: (sg_count > 0).then(|| sg_sum / sg_count as f64),
            solved,
            batches: report.batches,
            train_s,
        };
        report.rounds.push(record);
        if !record.train_bits.is_finite() {
            return Err(Error::Stage {
                stage: "curriculum".into(),
                source: CoreError::NonFinite {
                    context: format!("training loss at length {length}, round {round}"),
                },
            });
        }
        let mut done = false;
        if solved {
            report.longest_solved = length;
            report.solved_at.push((length, report.batches));
            if length >= config.max_length {
                done = true;
            } else {
                length += 1;
                report.final_length = length;
            }
        }
        let now = CurriculumProgress {
            rounds_done: round,
            length,
            report,
            train_words: words(&train_rng),
            eval_words: words(&eval_rng),
        };
        let flow = on_round(&record, &now, trainer)?;
        report = now.report;
        if done {
            break;
        }
        if flow == Flow::Stop && round < config.rounds {
            return Ok((report, false));
        }
    }
    Ok((report, true))
}
