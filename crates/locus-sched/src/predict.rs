use locus_core::{Float, Tensor};

use crate::{Result, Stage};

/// The network's output for a batch: every stage's module in inference mode, bottom first.
///
/// # Errors
/// [`Error::Stage`](crate::Error::Stage) naming the stage whose module rejected its input.
pub fn predict<F: Float>(stages: &[Stage<F>], inputs: &Tensor<F>) -> Result<Tensor<F>> {
    let mut x = inputs.clone();
    for stage in stages {
        x = stage.module().infer(&x).map_err(|e| stage.wrap(e))?;
    }
    Ok(x)
}
