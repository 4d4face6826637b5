use locus_core::loss::argmax_rows;
use locus_core::{Float, Tensor};
use locus_data::forward_forward::{positive_negative_batch, NegativeData};
use locus_data::{gather, Dataset};
use locus_objectives::{Goodness, Mode, StageContext};
use locus_sched::{Error, ForwardForwardTrainer, Readout, Result, Stage};
use serde::Serialize;

/// Seed of the negatives the test loss is measured on (the same every evaluation).
const TEST_NEGATIVES_SEED: u64 = 0x7e57;

/// Test-set figures of a Forward-Forward stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForwardForwardEvaluation {
    /// The stack's accuracy in `[0, 1]`: by goodness when the data is labelled into the
    /// input (supervised), otherwise by the combined read-out.
    pub accuracy: f64,
    /// Accuracy of predicting the label whose goodness, accumulated over every stage but
    /// the first (all stages when there is one), is highest (Hinton 2022); `None` for
    /// unsupervised (hybrid) negatives, where no label is written into the input.
    pub goodness_accuracy: Option<f64>,
    /// Accuracy of the combined softmax read-out, when the trainer has one.
    pub readout_accuracy: Option<f64>,
    /// For each stage, the accuracy of predicting by that stage's goodness alone (empty
    /// for unsupervised negatives).
    pub stage_goodness_accuracy: Vec<f64>,
    /// For each stage, the accuracy of its own read-out softmax (empty without a
    /// read-out).
    pub stage_readout_accuracy: Vec<f64>,
    /// Mean Forward-Forward loss of the top stage on the test samples and their
    /// negatives (drawn from a fixed seed, the same at every evaluation).
    pub loss: f64,
    /// Samples evaluated.
    pub samples: usize,
}

impl ForwardForwardEvaluation {
    /// Stage `i`'s accuracy: by its goodness when the data is labelled into the input,
    /// otherwise by its read-out.
    pub fn stage_accuracy(&self, i: usize) -> Option<f64> {
        self.stage_goodness_accuracy
            .get(i)
            .or_else(|| self.stage_readout_accuracy.get(i))
            .copied()
    }
}

/// Evaluates a Forward-Forward stack trained by `trainer` on a whole data set, in batches
/// of `batch_size`. Nothing is learned.
///
/// - With supervised negatives ([`NegativeData::WrongLabel`]), every sample is run once
///   per label with that label written in; each stage's goodness (by `goodness`, the
///   measure the stages were trained with) scores the labels, and the prediction is the
///   label with the highest goodness accumulated over every stage but the first (the
///   paper's 1.36% method), or over the one stage of a one-stage stack. Each stage alone
///   gives its per-stage accuracy.
/// - With a read-out, every sample is also run once with the neutral label (or as it is,
///   for unsupervised data) and read by the softmaxes.
///
/// # Errors
/// [`Error::Config`] for an empty stack, a zero batch size, or unsupervised negatives
/// without a read-out (nothing could predict a class); [`Error::Stage`] and
/// [`Error::Data`] when a stage or a batch fails.
pub fn evaluate_forward_forward<F: Float>(
    stages: &mut [Stage<F>],
    trainer: &ForwardForwardTrainer<F>,
    data: &dyn Dataset,
    goodness: Goodness,
    batch_size: usize,
) -> Result<ForwardForwardEvaluation> {
    if stages.is_empty() {
        return Err(Error::Config("there are no stages".into()));
    }
    if batch_size == 0 {
        return Err(Error::Config("evaluation batch size should be >= 1".into()));
    }
    let embedding = match trainer.negatives() {
        NegativeData::WrongLabel(embedding) => Some(*embedding),
        NegativeData::Hybrid(_) => None,
    };
    let readout = trainer.readout();
    if embedding.is_none() && readout.is_none() {
        return Err(Error::Config(
            "unsupervised Forward-Forward (hybrid negatives) predicts classes only through a \
             read-out; give the trainer one (ForwardForwardTrainer::with_readout)"
                .into(),
        ));
    }
    let n = stages.len();
    let counted = Readout::<F>::combined_stages(n);
    let mut goodness_correct = 0usize;
    let mut stage_goodness_correct = vec![0usize; n];
    let mut readout_correct = 0usize;
    let mut stage_readout_correct = vec![0usize; n];
    let mut loss_sum = 0.0;
    let indices: Vec<usize> = (0..data.len()).collect();
    for (b, chunk) in indices.chunks(batch_size).enumerate() {
        let batch = gather::<F>(data, chunk)?;
        let hits = |predicted: Vec<usize>| {
            predicted
                .iter()
                .zip(&batch.labels)
                .filter(|(p, y)| p == y)
                .count()
        };
        if let Some(embedding) = embedding {
            // goodness[s] is [rows, classes]: stage s's goodness of each label.
            let mut per_stage = vec![Tensor::<f64>::zeros(vec![chunk.len(), embedding.classes]); n];
            for label in 0..embedding.classes {
                let x = embedding.embed_all(&batch.inputs, label)?;
                for (s, activity) in activities(stages, &x)?.iter().enumerate() {
                    for (row, g) in goodness.per_sample(activity).iter().enumerate() {
                        per_stage[s][[row, label]] = g.as_f64();
                    }
                }
            }
            let mut accumulated = Tensor::<f64>::zeros(vec![chunk.len(), embedding.classes]);
            for (s, g) in per_stage.iter().enumerate() {
                stage_goodness_correct[s] += hits(argmax(g));
                if counted.contains(&s) {
                    accumulated += g;
                }
            }
            goodness_correct += hits(argmax(&accumulated));
        }
        if let Some(readout) = readout {
            let neutral = trainer.negatives().neutral(&batch.inputs)?;
            let scores = readout.scores(stages, &neutral)?;
            readout_correct += hits(argmax(&scores.combined));
            for (s, scores) in scores.per_stage.iter().enumerate() {
                stage_readout_correct[s] += hits(argmax(scores));
            }
        }
        let mut rng = ForwardForwardTrainer::<F>::batch_rng(TEST_NEGATIVES_SEED, 0, b);
        let contrast = positive_negative_batch::<F>(data, chunk, trainer.negatives(), &mut rng)?;
        let mut acts = activities(stages, &contrast.inputs)?;
        let output = acts.pop().expect("at least one stage");
        let input = acts.pop().unwrap_or(contrast.inputs);
        let top = &mut stages[n - 1];
        let signal = top
            .objective_mut()
            .signal(&StageContext::new(&input, &output), Mode::Evaluate)
            .map_err(|e| top.wrap(e))?;
        loss_sum += signal.loss.as_f64() * chunk.len() as f64;
    }
    let total = data.len().max(1) as f64;
    let fraction = |c: usize| c as f64 / total;
    let goodness_accuracy = embedding.map(|_| fraction(goodness_correct));
    let readout_accuracy = readout.map(|_| fraction(readout_correct));
    Ok(ForwardForwardEvaluation {
        accuracy: goodness_accuracy
            .or(readout_accuracy)
            .expect("one of the two exists, checked above"),
        goodness_accuracy,
        readout_accuracy,
        stage_goodness_accuracy: if embedding.is_some() {
            stage_goodness_correct.into_iter().map(fraction).collect()
        } else {
            Vec::new()
        },
        stage_readout_accuracy: if readout.is_some() {
            stage_readout_correct.into_iter().map(fraction).collect()
        } else {
            Vec::new()
        },
        loss: loss_sum / total,
        samples: data.len(),
    })
}

/// Every stage's output for a batch, in inference mode, bottom first.
fn activities<F: Float>(stages: &[Stage<F>], inputs: &Tensor<F>) -> Result<Vec<Tensor<F>>> {
    let mut x = inputs.clone();
    let mut out = Vec::with_capacity(stages.len());
    for stage in stages {
        x = stage.module().infer(&x).map_err(|e| stage.wrap(e))?;
        out.push(x.clone());
    }
    Ok(out)
}

/// The predicted class of every row of a `[rows, classes]` score table.
fn argmax<F: Float>(scores: &Tensor<F>) -> Vec<usize> {
    argmax_rows(
        scores
            .view()
            .into_dimensionality()
            .expect("score tables are [rows, classes]"),
    )
}
