use locus_core::loss::argmax_rows;
use locus_core::{as_matrix, Float};
use locus_data::{gather, Dataset};
use locus_sched::{predict, Error, Result, Stage};

/// The accuracy in `[0, 1]` of every stage whose objective has its own classifier
/// ([`LocalObjective::class_scores`](locus_objectives::LocalObjective::class_scores), such
/// as the auxiliary heads of decoupled greedy learning), on a whole data set in batches
/// of `batch_size`; `None` for the other stages. Nothing is learned.
///
/// # Errors
/// [`Error::Config`] for a zero batch size; [`Error::Stage`] naming a stage whose module
/// or classifier fails; [`Error::Data`] when a batch cannot be gathered.
pub fn stage_accuracies<F: Float>(
    stages: &[Stage<F>],
    data: &dyn Dataset,
    batch_size: usize,
) -> Result<Vec<Option<f64>>> {
    if batch_size == 0 {
        return Err(Error::Config("evaluation batch size should be >= 1".into()));
    }
    let mut correct: Vec<Option<usize>> = vec![None; stages.len()];
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let batch = gather::<F>(data, chunk)?;
        let mut x = batch.inputs;
        for (i, stage) in stages.iter().enumerate() {
            x = predict(std::slice::from_ref(stage), &x)?;
            let Some(scores) = stage.objective().class_scores(&x) else {
                continue;
            };
            let scores = scores.map_err(|e| stage.wrap(e))?;
            let scores = as_matrix(&scores, None, "class scores").map_err(|e| stage.wrap(e))?;
            let hits = argmax_rows(scores)
                .iter()
                .zip(&batch.labels)
                .filter(|(p, y)| p == y)
                .count();
            *correct[i].get_or_insert(0) += hits;
        }
    }
    let n = data.len().max(1) as f64;
    Ok(correct
        .into_iter()
        .map(|c| c.map(|c| c as f64 / n))
        .collect())
}
