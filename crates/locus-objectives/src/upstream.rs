use locus_core::{check_finite, Error, Float, Result};

use crate::{LocalObjective, LocalSignal, Mode, StageContext};

/// The backward-locked signal of end-to-end backpropagation: the true gradient of the
/// network loss with respect to this stage's output, received from the stage above.
///
/// Its loss is the linear surrogate `⟨m, h⟩` of the message `m` and the output `h`,
/// whose gradient with respect to `h` is exactly `m`; that keeps it checkable by finite
/// differences like every other objective. It is not the network loss, which the top
/// stage reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamGradient;

impl<F: Float> LocalObjective<F> for UpstreamGradient {
    fn name(&self) -> String {
        "upstream-gradient".into()
    }

    fn signal(&mut self, ctx: &StageContext<'_, F>, _mode: Mode) -> Result<LocalSignal<F>> {
        let message = ctx.message.ok_or_else(|| {
            Error::invalid(
                "stage context for an upstream-gradient stage",
                "should carry the gradient message from the stage above",
                "a context without a message",
            )
        })?;
        if message.shape() != ctx.output.shape() {
            return Err(Error::shape(
                "upstream-gradient message",
                format!("the stage output's shape {:?}", ctx.output.shape()),
                message.shape(),
            ));
        }
        // A NaN would otherwise become a NaN loss and a silently passed-on gradient.
        check_finite(ctx.output, "upstream-gradient stage output")?;
        check_finite(message, "upstream-gradient message")?;
        let loss = ndarray::Zip::from(message)
            .and(ctx.output)
            .fold(F::zero(), |acc, &m, &h| acc + m * h);
        Ok(LocalSignal {
            loss,
            grad_output: locus_core::scratch::copy_of(message),
        })
    }

    fn needs_message(&self) -> bool {
        true
    }
}
