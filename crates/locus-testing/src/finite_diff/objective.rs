//! Finite-difference check of a [`LocalObjective`]'s gradient with respect to the stage
//! output.

use locus_core::seeded_rng;
use locus_objectives::{LocalObjective, Mode, StageContext};

use super::{FdFailure, FdOptions, FdReport};
use crate::sample::{coordinates, unravel};

/// Checks `signal(ctx, Mode::Evaluate).grad_output` against central finite differences
/// of `signal(.., Mode::Evaluate).loss` in the coordinates of `ctx.output` (reported as
/// tensor `"output"`). Everything else in the context stays fixed.
///
/// Only meaningful when [`LocalObjective::is_exact_gradient`] is true; the conformance
/// suite skips it otherwise. A large output is checked on a seeded random subset of
/// `opts.max_coords_per_tensor` coordinates.
///
/// # Errors
/// [`FdFailure::Mismatch`] for the first coordinate out of tolerance;
/// [`FdFailure::Malformed`] when the gradient does not have the output's shape;
/// [`FdFailure::Call`] when `signal` fails; [`FdFailure::InvalidOptions`].
///
/// # Example
/// ```
/// use locus_core::{Loss, Tensor};
/// use locus_objectives::{StageContext, SupervisedLoss};
/// use locus_testing::finite_diff::{check_objective, FdOptions};
///
/// let x = Tensor::zeros(vec![2, 3]);
/// let logits = Tensor::from_shape_vec(vec![2, 3], vec![0.5, -1.0, 2.0, 0.0, 0.3, -0.7]).unwrap();
/// let ctx = StageContext::new(&x, &logits).with_labels(&[2, 0]);
/// let mut loss = SupervisedLoss::new(Loss::SoftmaxCrossEntropy);
/// check_objective(&mut loss, &ctx, &FdOptions::default()).unwrap();
/// ```
pub fn check_objective(
    objective: &mut dyn LocalObjective<f64>,
    ctx: &StageContext<'_, f64>,
    opts: &FdOptions,
) -> Result<FdReport, FdFailure> {
    opts.check()?;
    let signal = objective
        .signal(ctx, Mode::Evaluate)
        .map_err(FdFailure::call("signal"))?;
    if signal.grad_output.shape() != ctx.output.shape() {
        return Err(FdFailure::Malformed(format!(
            "grad_output has shape {:?}, the output {:?}",
            signal.grad_output.shape(),
            ctx.output.shape()
        )));
    }
    let mut loss = |output: &locus_core::Tensor<f64>| -> Result<f64, FdFailure> {
        let perturbed = StageContext { output, ..*ctx };
        objective
            .signal(&perturbed, Mode::Evaluate)
            .map(|s| s.loss)
            .map_err(FdFailure::call("signal on a perturbed output"))
    };

    let mut rng = seeded_rng(opts.seed);
    let mut report = FdReport::default();
    let mut output = ctx.output.clone();
    for flat in coordinates(output.len(), opts.max_coords_per_tensor, &mut rng) {
        let index = unravel(flat, output.shape());
        let original = output[&index[..]];
        let (plus, minus) = (original + opts.eps, original - opts.eps);
        output[&index[..]] = plus;
        let up = loss(&output)?;
        output[&index[..]] = minus;
        let down = loss(&output)?;
        output[&index[..]] = original;
        let numeric = (up - down) / (plus - minus);
        let analytic = signal.grad_output[&index[..]];
        report.compare("output", index, analytic, numeric, opts)?;
    }
    Ok(report)
}
