//! The evaluation of an encoder: linear probes on its stages' frozen features.

use locus_core::{Float, Tensor};
use locus_data::{gather, Dataset};
use locus_eval::{FeaturePooling, LinearProbe, ProbeConfig};
use locus_objectives::{Mode, StageContext};
use locus_sched::{predict, Stage, StageBudget};

use crate::{
    evaluate, pooled_stage_features, probe_stages_pooled, Error, Evaluate, Evaluated, Result,
};

/// Samples per batch when computing features and losses.
const FEATURE_BATCH: usize = 500;

/// Evaluates an encoder trained by a representation objective (Greedy InfoMax, CPC) the
/// way Löwe et al. (2019, §4) do: a linear probe ([`LinearProbe`]) on a stage's frozen,
/// pooled features. After the last epoch every encoder stage is probed (each reports its
/// `probe_accuracy`) and the network's test accuracy is the top encoder stage's; after an
/// earlier epoch only the stage that learns is (the top encoder stage, or under a greedy
/// layer-wise budget the active one). The test loss is the learning stage's own loss on
/// the test set, its objective in [`Mode::Evaluate`] (the same negatives every time).
///
/// Stages above the encoder (a supervised head, as in the end-to-end baseline) are not
/// probed; with [`LinearProbes::with_classifier_head`] the top stage reports its own
/// test accuracy as `classifier_accuracy`.
pub struct LinearProbes<'a> {
    train: &'a dyn Dataset,
    test: &'a dyn Dataset,
    config: ProbeConfig,
    pooling: FeaturePooling,
    epochs: u64,
    encoder_stages: usize,
    budget: Option<StageBudget>,
    classifier_head: bool,
}

impl<'a> LinearProbes<'a> {
    /// Probes fitted on `train` and scored on `test`, with `config` on features pooled by
    /// `pooling`, for a run of `epochs` epochs whose first `encoder_stages` stages are the
    /// encoder.
    pub fn new(
        train: &'a dyn Dataset,
        test: &'a dyn Dataset,
        config: ProbeConfig,
        pooling: FeaturePooling,
        epochs: u64,
        encoder_stages: usize,
    ) -> Self {
        LinearProbes {
            train,
            test,
            config,
            pooling,
            epochs,
            encoder_stages,
            budget: None,
            classifier_head: false,
        }
    }

    /// The stages learn one at a time by `budget` (a greedy layer-wise run): an epoch's
    /// probe and loss are those of the stage that learned in it.
    pub fn with_greedy_budget(mut self, budget: StageBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The top stage is a classifier on the encoder: it reports its test accuracy.
    pub fn with_classifier_head(mut self) -> Self {
        self.classifier_head = true;
        self
    }

    /// The probe accuracy of every encoder stage, bottom first (e.g. before training).
    ///
    /// # Errors
    /// The stages' errors, and [`Error::Sched`](crate::Error::Sched) naming a stage whose
    /// probe cannot be fitted.
    pub fn probe_all<F: Float>(&self, stages: &[Stage<F>]) -> Result<Vec<f64>> {
        Ok(probe_stages_pooled(
            &stages[..self.encoder_stages.min(stages.len())],
            self.train,
            self.test,
            &self.config,
            self.pooling,
        )?)
    }

    /// The probe accuracy of the top of `stages` only.
    fn probe_top<F: Float>(&self, stages: &[Stage<F>]) -> Result<f64> {
        let classes = self.train.num_classes().max(self.test.num_classes());
        let top = stages.len() - 1;
        let features = |data| -> Result<(Tensor<F>, Vec<usize>)> {
            let (mut all, labels) =
                pooled_stage_features(stages, data, FEATURE_BATCH, self.pooling)?;
            Ok((all.swap_remove(top), labels))
        };
        let (train, train_labels) = features(self.train)?;
        let (test, test_labels) = features(self.test)?;
        LinearProbe::fit(&train, &train_labels, classes, &self.config)
            .and_then(|probe| probe.accuracy(&test, &test_labels))
            .map_err(Error::Probe)
    }

    /// The stage that learns in `epoch`: the top one, or the greedy budget's active one.
    fn learner(&self, stages: usize, epoch: u64) -> Result<usize> {
        match &self.budget {
            Some(budget) => Ok(budget.active_stage(stages, epoch)?),
            None => Ok(stages - 1),
        }
    }
}

impl<F: Float, S: ?Sized> Evaluate<F, S> for LinearProbes<'_> {
    fn evaluate(&mut self, stages: &mut [Stage<F>], _: &S, epoch: u64) -> Result<Evaluated> {
        let last = epoch + 1 == self.epochs;
        let learner = if last {
            stages.len() - 1
        } else {
            self.learner(stages.len(), epoch)?
        };
        let test_loss = own_loss(&mut stages[..=learner], self.test)?;
        let mut stage_figures = vec![Vec::new(); stages.len()];
        let top_encoder = self.encoder_stages.min(stages.len()) - 1;
        let test_accuracy = if last {
            let probes = self.probe_all(stages)?;
            for (figures, p) in stage_figures.iter_mut().zip(&probes) {
                figures.push(("probe_accuracy".to_string(), *p));
            }
            if self.classifier_head {
                let head = evaluate(stages, self.test, FEATURE_BATCH)?;
                stage_figures[stages.len() - 1].push(("classifier_accuracy".into(), head.accuracy));
            }
            probes[top_encoder]
        } else {
            self.probe_top(&stages[..=learner.min(top_encoder)])?
        };
        Ok(Evaluated {
            test_accuracy,
            test_loss,
            stage_figures,
            network_figures: Vec::new(),
        })
    }
}

/// The mean loss of the top of `stages` on `data`, its objective in [`Mode::Evaluate`].
fn own_loss<F: Float>(stages: &mut [Stage<F>], data: &dyn Dataset) -> Result<f64> {
    let (below, top) = stages.split_at_mut(stages.len() - 1);
    let top = &mut top[0];
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut sum = 0.0;
    for chunk in indices.chunks(FEATURE_BATCH) {
        let batch = gather::<F>(data, chunk)?;
        let hidden = predict(below, &batch.inputs)?;
        let output = top
            .module()
            .infer(&hidden)
            .map_err(|e| stage_error(top, e))?;
        let ctx = StageContext::new(&hidden, &output).with_labels(&batch.labels);
        // The network input goes only to an objective that says it needs it, as in
        // training.
        let ctx = if top.objective().needs_network_input() {
            ctx.with_network_input(&batch.inputs)
        } else {
            ctx
        };
        let signal = top
            .objective_mut()
            .signal(&ctx, Mode::Evaluate)
            .map_err(|e| stage_error(top, e))?;
        sum += signal.loss.as_f64() * chunk.len() as f64;
    }
    Ok(sum / data.len().max(1) as f64)
}

fn stage_error<F: Float>(stage: &Stage<F>, source: locus_core::Error) -> locus_sched::Error {
    locus_sched::Error::Stage {
        stage: stage.name().to_string(),
        source,
    }
}
