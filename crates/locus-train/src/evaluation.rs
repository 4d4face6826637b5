use locus_core::loss::argmax_rows;
use locus_core::{as_matrix, Float};
use locus_data::{gather, Dataset};
use locus_objectives::{Mode, StageContext};
use locus_sched::{predict, Error, Result, Stage};
use serde::Serialize;

/// Test-set figures of a trained stack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evaluation {
    /// Fraction of samples whose largest output is the label, in `[0, 1]`.
    pub accuracy: f64,
    /// Mean of the top stage's loss.
    pub loss: f64,
    /// Samples evaluated.
    pub samples: usize,
}

/// Classification accuracy and mean top-stage loss on a whole data set, in batches of
/// `batch_size`. Nothing is learned: the top objective runs in [`Mode::Evaluate`].
///
/// # Errors
/// [`Error::Config`] for an empty stack or a zero batch size, [`Error::Stage`] when a stage
/// fails, [`Error::Data`] when a batch cannot be gathered.
pub fn evaluate<F: Float>(
    stages: &mut [Stage<F>],
    data: &dyn Dataset,
    batch_size: usize,
) -> Result<Evaluation> {
    if stages.is_empty() {
        return Err(Error::Config("there are no stages".into()));
    }
    if batch_size == 0 {
        return Err(Error::Config("evaluation batch size should be >= 1".into()));
    }
    let (mut correct, mut loss_sum) = (0usize, 0.0f64);
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let batch = gather::<F>(data, chunk)?;
        let (below, top) = stages.split_at_mut(stages.len() - 1);
        let hidden = predict(below, &batch.inputs)?;
        let top = &mut top[0];
        let output = top.module().infer(&hidden).map_err(|e| top.wrap(e))?;
        let scores = as_matrix(&output, None, "network output").map_err(|e| top.wrap(e))?;
        correct += argmax_rows(scores)
            .iter()
            .zip(&batch.labels)
            .filter(|(p, y)| p == y)
            .count();
        if !top.objective().needs_message() {
            let ctx = StageContext {
                network_input: top.network_input_for(Some(&batch.inputs))?,
                ..StageContext::new(&hidden, &output).with_labels(&batch.labels)
            };
            let signal = top
                .objective_mut()
                .signal(&ctx, Mode::Evaluate)
                .map_err(|e| top.wrap(e))?;
            loss_sum += signal.loss.as_f64() * chunk.len() as f64;
        }
    }
    let n = data.len().max(1) as f64;
    Ok(Evaluation {
        accuracy: correct as f64 / n,
        loss: loss_sum / n,
        samples: data.len(),
    })
}
