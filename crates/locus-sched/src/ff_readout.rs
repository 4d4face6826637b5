use locus_core::{
    AdamConfig, Float, LayerNormConfig, Module, OptimizerConfig, Result as CoreResult, StateDict,
    Tensor,
};
use locus_objectives::{ClassifierHead, HeadKind};
use ndarray::{concatenate, Axis};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, Stage};

/// Configuration of a [`Readout`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReadoutConfig {
    /// The optimizer of every softmax (default Adam with learning rate 1e-3).
    pub optimizer: OptimizerConfig,
    /// Seed of the softmaxes' initial weights.
    pub seed: u64,
}

impl ReadoutConfig {
    /// Adam at 1e-3, weights drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        ReadoutConfig {
            optimizer: OptimizerConfig::Adam(AdamConfig::new(1e-3)),
            seed,
        }
    }

    /// Sets the optimizer.
    pub fn with_optimizer(mut self, optimizer: OptimizerConfig) -> Self {
        self.optimizer = optimizer;
        self
    }
}

/// Linear softmax read-outs of a Forward-Forward stack, trained alongside it (Hinton
/// 2022, "A simple supervised example of FF": a softmax on the normalised activities of
/// all but the first hidden layer, fed the input with a neutral label).
///
/// Each stage's output is length-normalised (`y / sqrt(mean(y²) + ε)`, what the next
/// stage sees) and
/// - read by its **own** softmax: the per-stage accuracy;
/// - concatenated, for all stages but the first when there are two or more, and read by
///   one **combined** softmax: the read-out prediction of the whole stack.
///
/// The read-outs learn from the activities as they are (no gradient reaches the stages),
/// with cross-entropy against the true class, one step per batch.
pub struct Readout<F: Float> {
    config: ReadoutConfig,
    /// Per-stage softmaxes, then the combined one; built on the first batch.
    heads: Option<(Vec<ClassifierHead<F>>, ClassifierHead<F>)>,
}

impl<F: Float> std::fmt::Debug for Readout<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readout")
            .field("config", &self.config)
            .field("built", &self.heads.is_some())
            .finish()
    }
}

/// What a [`Readout`] makes of a batch.
#[derive(Debug, Clone)]
pub struct ReadoutScores<F> {
    /// Scores `[batch, classes]` of each stage's own softmax, bottom first.
    pub per_stage: Vec<Tensor<F>>,
    /// Scores of the combined softmax.
    pub combined: Tensor<F>,
}

impl<F: Float> Readout<F> {
    /// Read-outs that will be built on the first batch.
    pub fn new(config: ReadoutConfig) -> Self {
        Readout {
            config,
            heads: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ReadoutConfig {
        &self.config
    }

    /// Which stages the combined softmax reads: all but the first when there are two or
    /// more.
    pub fn combined_stages(num_stages: usize) -> std::ops::Range<usize> {
        usize::from(num_stages >= 2)..num_stages
    }

    /// The normalised activity of every stage for a batch of network inputs.
    fn activities(stages: &[Stage<F>], inputs: &Tensor<F>) -> Result<Vec<Tensor<F>>> {
        let mut x = inputs.clone();
        let mut out = Vec::with_capacity(stages.len());
        for stage in stages {
            x = stage.module().infer(&x).map_err(|e| stage.wrap(e))?;
            out.push(normalised(&x).map_err(|e| stage.wrap(e))?);
        }
        Ok(out)
    }

    fn combined_input(activities: &[Tensor<F>]) -> Result<Tensor<F>> {
        let range = Self::combined_stages(activities.len());
        let flat: Vec<_> = activities[range]
            .iter()
            .map(|a| {
                let batch = a.shape()[0];
                a.view()
                    .into_shape_with_order((batch, a.len() / batch.max(1)))
                    .expect("activities are contiguous")
            })
            .collect();
        Ok(concatenate(Axis(1), &flat)
            .map_err(|e| Error::Config(format!("read-out: cannot join activities: {e}")))?
            .into_dyn())
    }

    /// One training step of every softmax on a batch of network inputs (with the neutral
    /// label, for supervised data) and their classes; returns the combined softmax's
    /// loss before the step. The softmaxes are built on the first call.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty stack or zero classes; [`Error::Stage`] when a
    /// stage or a softmax fails (labels out of range, widths that changed).
    pub fn learn(
        &mut self,
        stages: &[Stage<F>],
        inputs: &Tensor<F>,
        labels: &[usize],
        classes: usize,
    ) -> Result<f64> {
        if stages.is_empty() {
            return Err(Error::Config("there are no stages".into()));
        }
        let activities = Self::activities(stages, inputs)?;
        let combined = Self::combined_input(&activities)?;
        if self.heads.is_none() {
            self.build(&activities, &combined, classes)?;
        }
        let (per_stage, all) = self.heads.as_mut().expect("built above");
        for ((head, activity), stage) in per_stage.iter_mut().zip(&activities).zip(stages) {
            head.learn(activity, labels).map_err(|e| stage.wrap(e))?;
        }
        let loss = all.learn(&combined, labels).map_err(|e| Error::Stage {
            stage: "read-out".into(),
            source: e,
        })?;
        Ok(loss.as_f64())
    }

    /// Builds the softmaxes for these activities (per stage) and their joined input.
    fn build(
        &mut self,
        activities: &[Tensor<F>],
        combined: &Tensor<F>,
        classes: usize,
    ) -> Result<()> {
        let per_sample = |t: &Tensor<F>| t.len() / t.shape()[0].max(1);
        let widths: Vec<usize> = activities.iter().map(per_sample).collect();
        self.build_for(&widths, per_sample(combined), classes)
    }

    /// Builds the softmaxes for stages of `widths` values per sample and their joined
    /// input of `combined` values.
    fn build_for(&mut self, widths: &[usize], combined: usize, classes: usize) -> Result<()> {
        let wrap = |e| Error::Stage {
            stage: "read-out".into(),
            source: e,
        };
        let make = |width: usize, k: u64| {
            ClassifierHead::new(
                HeadKind::Linear,
                width,
                classes,
                &self.config.optimizer,
                self.config.seed.wrapping_add(k),
            )
        };
        let per_stage = widths
            .iter()
            .enumerate()
            .map(|(i, &w)| make(w, i as u64))
            .collect::<CoreResult<Vec<_>>>()
            .map_err(wrap)?;
        let all = make(combined, widths.len() as u64).map_err(wrap)?;
        self.heads = Some((per_stage, all));
        Ok(())
    }

    /// Writes the softmaxes, once trained, under `prefix`: their widths (`widths`: each
    /// stage's, the joined input's, the classes), each stage's softmax under
    /// `<prefix><stage name>.` and the combined one under `<prefix>combined.` (weights
    /// and optimizer state, [`ClassifierHead::save_state`]).
    pub fn save_state(&self, stages: &[Stage<F>], prefix: &str, state: &mut StateDict<F>) {
        let Some((per_stage, all)) = &self.heads else {
            return;
        };
        let mut widths: Vec<u64> = per_stage.iter().map(|h| h.width() as u64).collect();
        widths.push(all.width() as u64);
        widths.push(all.classes() as u64);
        state.put_counters(format!("{prefix}widths"), widths);
        for (head, stage) in per_stage.iter().zip(stages) {
            head.save_state(&format!("{prefix}{}.", stage.name()), state);
        }
        all.save_state(&format!("{prefix}combined."), state);
    }

    /// Reads what [`Readout::save_state`] wrote under `prefix` (nothing, when the
    /// read-out had not been trained), building the softmaxes from the saved widths.
    ///
    /// # Errors
    /// [`Error::Checkpoint`]-like errors of [`Error::Stage`] `read-out` naming the entry
    /// that is missing, of another shape, or not finite.
    pub fn load_state(
        &mut self,
        stages: &[Stage<F>],
        prefix: &str,
        state: &mut StateDict<F>,
    ) -> Result<()> {
        let wrap = |e| Error::Stage {
            stage: "read-out".into(),
            source: e,
        };
        let Some(sizes) = state
            .take_sizes_if_present(&format!("{prefix}widths"), Some(stages.len() + 2))
            .map_err(wrap)?
        else {
            self.heads = None;
            return Ok(());
        };
        let n = stages.len();
        self.build_for(&sizes[..n], sizes[n], sizes[n + 1])?;
        let (per_stage, all) = self.heads.as_mut().expect("built above");
        for (head, stage) in per_stage.iter_mut().zip(stages) {
            head.load_state(&format!("{prefix}{}.", stage.name()), state)
                .map_err(wrap)?;
        }
        all.load_state(&format!("{prefix}combined."), state)
            .map_err(wrap)
    }

    /// The per-stage softmaxes and the combined one, when built for `stages`.
    fn heads_for(&self, stages: &[Stage<F>]) -> Result<(&[ClassifierHead<F>], &ClassifierHead<F>)> {
        let Some((per_stage, all)) = &self.heads else {
            return Err(Error::Config(
                "the read-out has not been trained on any batch yet".into(),
            ));
        };
        if per_stage.len() != stages.len() {
            return Err(Error::Config(format!(
                "the read-out was trained on {} stages, not {}",
                per_stage.len(),
                stages.len()
            )));
        }
        Ok((per_stage, all))
    }

    /// The scores of every softmax for a batch of network inputs (with the neutral label,
    /// for supervised data).
    ///
    /// # Errors
    /// [`Error::Config`] before the first [`Readout::learn`]; [`Error::Stage`] when a
    /// stage or a softmax rejects its input.
    pub fn scores(&self, stages: &[Stage<F>], inputs: &Tensor<F>) -> Result<ReadoutScores<F>> {
        let (per_stage, all) = self.heads_for(stages)?;
        let activities = Self::activities(stages, inputs)?;
        let per_stage = per_stage
            .iter()
            .zip(&activities)
            .zip(stages)
            .map(|((head, a), stage)| head.scores(a).map_err(|e| stage.wrap(e)))
            .collect::<Result<Vec<_>>>()?;
        let combined = all
            .scores(&Self::combined_input(&activities)?)
            .map_err(|e| Error::Stage {
                stage: "read-out".into(),
                source: e,
            })?;
        Ok(ReadoutScores {
            per_stage,
            combined,
        })
    }
}

/// `y / sqrt(mean(y²) + ε)` per sample: the length normalisation the next stage applies.
fn normalised<F: Float>(activity: &Tensor<F>) -> CoreResult<Tensor<F>> {
    let batch = activity.shape().first().copied().unwrap_or(0);
    let width = activity.len() / batch.max(1);
    let flat = activity
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order(vec![batch, width])
        .expect("batch × width values");
    LayerNormConfig::length(width.max(1))
        .init::<F>()?
        .infer(&flat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_combined_softmax_skips_the_first_stage_of_two_or_more() {
        assert_eq!(Readout::<f32>::combined_stages(1), 0..1);
        assert_eq!(Readout::<f32>::combined_stages(3), 1..3);
    }
}
