//! Two phases: the hidden stages together, then the read-out alone on their frozen output.

use locus_core::Float;
use locus_data::{gather, Dataset};
use serde::Serialize;

use crate::greedy_layer_wise::learn_alone;
use crate::lockstep::{run_epoch_on_indices, Turn};
use crate::{
    BatchReport, EpochPlan, EpochReport, Error, Lockstep, Observer, Result, Scheduler, Stage,
};

/// Trains the stages below the top together for `hidden_epochs` epochs, under
/// [`Lockstep`] with the top left out, then only the top stage, on the frozen output of
/// the ones below: the HSIC bottleneck's protocol (Ma, Lewis & Kleijn 2020), whose
/// hidden layers learn first and whose "format" step then fits one output layer to the
/// frozen network. Every stage below the top must learn from its own objective (no
/// message from above, no global error: the top does not run in the first phase).
///
/// The plan's epoch picks the phase: epochs `0..hidden_epochs` are the hidden stages',
/// every later one the top's. The [`EpochReport`] has the learning stages' losses (0 for
/// the others) and, as the run's loss, the top hidden stage's in the first phase and the
/// top's in the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ReadoutLast {
    hidden_epochs: u64,
}

impl ReadoutLast {
    /// The hidden stages learn for `hidden_epochs` epochs, the top for the rest of the
    /// run.
    ///
    /// # Errors
    /// [`Error::Config`] for 0 hidden epochs.
    pub fn new(hidden_epochs: u64) -> Result<Self> {
        if hidden_epochs == 0 {
            return Err(Error::Config(
                "the hidden stages should learn for >= 1 epoch before the read-out, but 0 \
                 were given"
                    .into(),
            ));
        }
        Ok(ReadoutLast { hidden_epochs })
    }

    /// Epochs of the first phase.
    pub fn hidden_epochs(&self) -> u64 {
        self.hidden_epochs
    }

    /// Refuses a stack whose stages below the top wait for a message or the global error.
    fn check_stack<F: Float>(stages: &[Stage<F>]) -> Result<()> {
        if stages.len() < 2 {
            return Err(Error::Config(format!(
                "a read-out after the hidden stages needs at least one stage below the top, \
                 got {} stage(s)",
                stages.len()
            )));
        }
        let top = stages.len() - 1;
        if let Some(stage) = stages[..top]
            .iter()
            .find(|s| s.objective().needs_message() || s.objective().needs_global_error())
        {
            return Err(Error::Config(format!(
                "stage '{}' uses objective '{}', which needs a signal from above; the hidden \
                 stages learn without the top, so each needs an objective of its own",
                stage.name(),
                stage.objective().name()
            )));
        }
        Ok(())
    }
}

impl<F: Float> Scheduler<F> for ReadoutLast {
    fn name(&self) -> String {
        "readout-last".into()
    }

    fn train_epoch(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        plan: EpochPlan,
        observer: &mut dyn Observer,
    ) -> Result<EpochReport> {
        Self::check_stack(stages)?;
        let top = stages.len() - 1;
        let hidden = plan.epoch < self.hidden_epochs;
        let turn = if hidden {
            Turn {
                forward: top,
                learn: 0..top,
            }
        } else {
            Turn {
                forward: top + 1,
                learn: top..top + 1,
            }
        };
        run_epoch_on_indices(
            stages,
            data,
            plan,
            observer,
            turn,
            |stages, _, indices, busy| {
                let batch = gather::<F>(data, indices)?;
                if hidden {
                    let report = Lockstep.timed_batch(
                        &mut stages[..top],
                        &batch.inputs,
                        &batch.inputs,
                        &batch.labels,
                        &mut busy[..top],
                    )?;
                    let mut stage_losses = report.stage_losses;
                    stage_losses.push(0.0);
                    Ok(BatchReport {
                        loss: report.loss,
                        stage_losses,
                    })
                } else {
                    learn_alone(
                        stages,
                        top,
                        &batch.inputs,
                        &batch.inputs,
                        &batch.labels,
                        busy,
                        false,
                    )
                }
            },
        )
    }
}
