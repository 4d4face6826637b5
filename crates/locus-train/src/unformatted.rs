use locus_core::loss::argmax_rows;
use locus_core::{as_matrix, Float};
use locus_data::{gather, Dataset};
use locus_sched::{predict, Error, Result, Stage};

/// The "unformatted" test accuracy (Ma, Lewis & Kleijn 2020, the HSIC bottleneck's
/// read-out before its format step) of every stage below the top whose output has
/// exactly `classes` features: each sample's class is its largest output unit, with the
/// units matched to the classes one to one by the matching that gets the most samples
/// right ([`locus_eval::unformatted_accuracy`]); `None` for the other stages and for the
/// top stage, whose units are the classes already. On a whole data set in batches of
/// `batch_size`; nothing is learned.
///
/// # Errors
/// [`Error::Config`] for a zero batch size or more classes than the matching handles;
/// [`Error::Stage`] naming a stage whose module fails; [`Error::Data`] when a batch
/// cannot be gathered.
pub fn unformatted_accuracies<F: Float>(
    stages: &[Stage<F>],
    data: &dyn Dataset,
    batch_size: usize,
    classes: usize,
) -> Result<Vec<Option<f64>>> {
    if batch_size == 0 {
        return Err(Error::Config("evaluation batch size should be >= 1".into()));
    }
    let below_top = stages.len().saturating_sub(1);
    // Each stage's largest unit per sample, for the stages `classes` wide.
    let mut units: Vec<Option<Vec<usize>>> = vec![None; stages.len()];
    let mut labels = Vec::with_capacity(data.len());
    let indices: Vec<usize> = (0..data.len()).collect();
    for chunk in indices.chunks(batch_size) {
        let batch = gather::<F>(data, chunk)?;
        let mut x = batch.inputs;
        for (i, stage) in stages[..below_top].iter().enumerate() {
            x = predict(std::slice::from_ref(stage), &x)?;
            if x.ndim() != 2 || x.shape()[1] != classes {
                continue;
            }
            let rows = as_matrix(&x, None, "stage output").map_err(|e| stage.wrap(e))?;
            units[i]
                .get_or_insert_with(Vec::new)
                .extend(argmax_rows(rows));
        }
        labels.extend(batch.labels);
    }
    units
        .into_iter()
        .map(|u| {
            u.map(|u| {
                locus_eval::unformatted_accuracy(&u, &labels, classes)
                    .map(|(accuracy, _)| accuracy)
                    .map_err(Error::Config)
            })
            .transpose()
        })
        .collect()
}
