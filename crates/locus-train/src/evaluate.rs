//! What the trainer measures after every epoch.

use locus_core::{Float, Tensor};
use locus_data::{gather, Dataset};
use locus_sched::{predict, Scheduler, Stage};

use crate::{evaluate, measure_alignment, stage_accuracies, unformatted_accuracies, Result};

/// What an [`Evaluate`] measured after an epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    /// The network's test accuracy, in `[0, 1]`.
    pub test_accuracy: f64,
    /// The network's mean test loss.
    pub test_loss: f64,
    /// Each stage's figures, bottom first (e.g. `alignment_deg`, `probe_accuracy`). A name
    /// may appear more than once (one per layer); the report averages them.
    pub stage_figures: Vec<Vec<(String, f64)>>,
    /// Figures of the network as a whole besides its test accuracy and loss (e.g. a
    /// read-out's accuracy), under their own names in the learning curve.
    pub network_figures: Vec<(String, f64)>,
}

/// Measures a stack of stages after an epoch of training: the network's test accuracy
/// and loss, and whatever each stage reports of itself. The trainer calls it after the
/// epochs it evaluates; implementations for other kinds of read-out (Forward-Forward's
/// goodness, linear probes on an encoder) plug in here. `S` is the scheduler the run
/// trains under: an evaluation that reads what a scheduler keeps besides the stages
/// (Forward-Forward's read-out) names it; the others work under any.
pub trait Evaluate<F: Float, S: ?Sized = dyn Scheduler<F>> {
    /// Measures `stages` after epoch `epoch` (from 0), trained under `scheduler`.
    ///
    /// # Errors
    /// The errors of the stages' forward passes, or of reading the data.
    fn evaluate(&mut self, stages: &mut [Stage<F>], scheduler: &S, epoch: u64)
        -> Result<Evaluated>;
}

/// Training samples on which alignment with backpropagation is measured by default.
pub const ALIGNMENT_SAMPLES: usize = 256;

/// Samples per evaluation batch by default; evaluation keeps no caches, so this only
/// bounds memory.
pub const EVAL_BATCH: usize = 1000;

/// The evaluation of a classifier stack: the top stage's test accuracy and loss
/// ([`evaluate`](crate::evaluate())); optionally, on a fixed batch of training samples, the
/// angle between each stage's update and the true gradient (`alignment_deg`, with the
/// modules' own diagnostics such as `weight_alignment_deg`, [`measure_alignment`]); and
/// optionally each stage's own test accuracy through its classifier head
/// (`probe_accuracy`, [`stage_accuracies`]; the top stage's is the network's).
pub struct Classification<'a, F: Float> {
    test: &'a dyn Dataset,
    batch_size: usize,
    alignment: Option<(Tensor<F>, Vec<usize>)>,
    stage_accuracies: bool,
    /// The number of classes, when the unformatted accuracy is measured.
    unformatted: Option<usize>,
}

impl<'a, F: Float> Classification<'a, F> {
    /// Test accuracy and loss on `test`, in batches of [`EVAL_BATCH`].
    pub fn new(test: &'a dyn Dataset) -> Self {
        Classification {
            test,
            batch_size: EVAL_BATCH,
            alignment: None,
            stage_accuracies: false,
            unformatted: None,
        }
    }

    /// Also measures, on the first [`ALIGNMENT_SAMPLES`] samples of `train` (all of them
    /// when there are fewer), each stage's alignment with backpropagation and the spread
    /// of its outputs across those samples (`output_std`, [`output_spread`]).
    ///
    /// # Errors
    /// The data's error when the samples cannot be read.
    pub fn with_alignment_on(mut self, train: &dyn Dataset) -> Result<Self> {
        let n = train.len().min(ALIGNMENT_SAMPLES);
        let probe = gather::<F>(train, &(0..n).collect::<Vec<_>>())?;
        self.alignment = Some((probe.inputs, probe.labels));
        Ok(self)
    }

    /// Also reports, for every stage below the top whose output is `classes` wide, its
    /// test accuracy with its units matched to the classes after the fact
    /// (`unformatted_accuracy`, [`unformatted_accuracies`]): the HSIC bottleneck's
    /// unformatted read-out.
    pub fn with_unformatted_accuracy(mut self, classes: usize) -> Self {
        self.unformatted = Some(classes);
        self
    }

    /// Also reports each stage's own test accuracy, for stages with a classifier head.
    pub fn with_stage_accuracies(mut self) -> Self {
        self.stage_accuracies = true;
        self
    }
}

impl<F: Float, S: ?Sized> Evaluate<F, S> for Classification<'_, F> {
    fn evaluate(&mut self, stages: &mut [Stage<F>], _: &S, _epoch: u64) -> Result<Evaluated> {
        let test = evaluate(stages, self.test, self.batch_size)?;
        let mut figures: Vec<Vec<(String, f64)>> = vec![Vec::new(); stages.len()];
        if let Some((inputs, labels)) = &self.alignment {
            for (f, a) in figures
                .iter_mut()
                .zip(measure_alignment(stages, inputs, labels)?)
            {
                f.push(("alignment_deg".into(), a.update_angle_deg));
                f.extend(a.module_diagnostics);
            }
            for (f, spread) in figures.iter_mut().zip(output_spread(stages, inputs)?) {
                f.push(("output_std".into(), spread));
            }
        }
        if self.stage_accuracies {
            let mut accuracies = stage_accuracies(stages, self.test, self.batch_size)?;
            if let Some(top) = accuracies.last_mut() {
                top.get_or_insert(test.accuracy);
            }
            for (f, a) in figures.iter_mut().zip(accuracies) {
                f.extend(a.map(|a| ("probe_accuracy".to_string(), a)));
            }
        }
        if let Some(classes) = self.unformatted {
            let accuracies = unformatted_accuracies(stages, self.test, self.batch_size, classes)?;
            for (f, a) in figures.iter_mut().zip(accuracies) {
                f.extend(a.map(|a| ("unformatted_accuracy".to_string(), a)));
            }
        }
        Ok(Evaluated {
            test_accuracy: test.accuracy,
            test_loss: test.loss,
            stage_figures: figures,
            network_figures: Vec::new(),
        })
    }
}

/// For every stage, bottom first, how much its output varies across the samples of
/// `inputs`: the standard deviation over the batch of each output feature, averaged over
/// the features (modules in inference mode). Near zero, the stage maps every input to
/// the same output — dead units, or a collapsed representation.
///
/// # Errors
/// The stages' errors on `inputs`.
pub fn output_spread<F: Float>(stages: &[Stage<F>], inputs: &Tensor<F>) -> Result<Vec<f64>> {
    let mut x = inputs.clone();
    let mut spreads = Vec::with_capacity(stages.len());
    for stage in stages {
        x = predict(std::slice::from_ref(stage), &x)?;
        let rows = x.shape().first().copied().unwrap_or(0);
        let flat = x
            .view()
            .into_shape_with_order((rows, x.len() / rows.max(1)))
            .map_err(|e| locus_sched::Error::Config(format!("stage output: {e}")))?;
        let features = flat.ncols().max(1) as f64;
        let spread = flat
            .columns()
            .into_iter()
            .map(|column| column.mapv(|v| v.as_f64()).std(0.0))
            .sum::<f64>()
            / features;
        spreads.push(spread);
    }
    Ok(spreads)
}
