use locus_core::{Error, Float, Loss, Result};
use serde::{Deserialize, Serialize};

use crate::{LocalObjective, LocalSignal, Mode, StageContext};

/// The ordinary supervised loss on a stage's output: the top of a network, or any stage
/// whose output is already class scores.
///
/// # Shapes
/// output `[batch, classes]`, labels `[batch]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SupervisedLoss {
    /// Which loss (default softmax cross-entropy).
    pub loss: Loss,
}

impl SupervisedLoss {
    /// A supervised objective with the given loss.
    pub fn new(loss: Loss) -> Self {
        SupervisedLoss { loss }
    }
}

impl<F: Float> LocalObjective<F> for SupervisedLoss {
    fn name(&self) -> String {
        self.loss.name().to_string()
    }

    fn signal(&mut self, ctx: &StageContext<'_, F>, _mode: Mode) -> Result<LocalSignal<F>> {
        let labels = ctx.labels.ok_or_else(|| {
            Error::invalid(
                "stage context for a supervised loss",
                "should carry labels",
                "a context without labels",
            )
        })?;
        let (loss, grad_output) = self.loss.evaluate(ctx.output, labels)?;
        Ok(LocalSignal { loss, grad_output })
    }

    fn needs_labels(&self) -> bool {
        true
    }
}
