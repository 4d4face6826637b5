//! The evaluation of a Forward-Forward stack.

use locus_core::Float;
use locus_data::Dataset;
use locus_objectives::Goodness;
use locus_sched::{ForwardForwardTrainer, Stage};

use crate::{
    evaluate_forward_forward, Evaluate, Evaluated, ForwardForwardEvaluation, Result, EVAL_BATCH,
};

/// Evaluates a Forward-Forward stack (Hinton 2022) on a test set with
/// [`evaluate_forward_forward`]: the network's accuracy is by goodness over every label
/// when labels are written into the input, otherwise by the trainer's softmax read-out.
/// Every stage reports its own accuracy as `probe_accuracy` (by its goodness alone, or
/// by its own read-out) and, with labelled inputs and a read-out, its read-out's as
/// `readout_accuracy`; the combined read-out's accuracy goes into the learning curve as
/// `readout.accuracy`.
pub struct ForwardForwardTest<'a, F: Float> {
    test: &'a dyn Dataset,
    goodness: Goodness,
    last: Option<ForwardForwardEvaluation>,
    _float: std::marker::PhantomData<F>,
}

impl<'a, F: Float> ForwardForwardTest<'a, F> {
    /// Evaluates on `test`, scoring labels by `goodness` (the measure the stages learn
    /// with).
    pub fn new(test: &'a dyn Dataset, goodness: Goodness) -> Self {
        ForwardForwardTest {
            test,
            goodness,
            last: None,
            _float: std::marker::PhantomData,
        }
    }

    /// Everything the last evaluation measured.
    pub fn last(&self) -> Option<&ForwardForwardEvaluation> {
        self.last.as_ref()
    }
}

impl<F: Float> Evaluate<F, ForwardForwardTrainer<F>> for ForwardForwardTest<'_, F> {
    fn evaluate(
        &mut self,
        stages: &mut [Stage<F>],
        trainer: &ForwardForwardTrainer<F>,
        _epoch: u64,
    ) -> Result<Evaluated> {
        let test = evaluate_forward_forward(stages, trainer, self.test, self.goodness, EVAL_BATCH)?;
        let labelled = !test.stage_goodness_accuracy.is_empty();
        let stage_figures = (0..stages.len())
            .map(|i| {
                let own = test
                    .stage_accuracy(i)
                    .map(|a| ("probe_accuracy".to_string(), a));
                let readout = test
                    .stage_readout_accuracy
                    .get(i)
                    .filter(|_| labelled)
                    .map(|&r| ("readout_accuracy".to_string(), r));
                own.into_iter().chain(readout).collect()
            })
            .collect();
        let network_figures = match (test.goodness_accuracy, test.readout_accuracy) {
            (Some(_), Some(r)) => vec![("readout.accuracy".to_string(), r)],
            _ => Vec::new(),
        };
        let evaluated = Evaluated {
            test_accuracy: test.accuracy,
            test_loss: test.loss,
            stage_figures,
            network_figures,
        };
        self.last = Some(test);
        Ok(evaluated)
    }
}
