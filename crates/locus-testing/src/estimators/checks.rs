//! The properties of the InfoNCE estimator, each as a check that says what broke.

use locus_core::seeded_rng;
use locus_objectives::{info_nce_estimate, Critic, InfoNceBound, MiEstimate};
use ndarray::{Array2, ArrayView2};
use proptest::prelude::*;
use thiserror::Error;

use crate::finite_diff::{FdFailure, FdOptions, FdReport};
use crate::sample::coordinates;

/// Why an estimator property does not hold.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum EstimatorFailure {
    /// The bound exceeded `log N`.
    #[error("InfoNCE bound {bound} exceeds log N = {log_n} for N = {candidates} candidates")]
    AboveLogN {
        /// The bound found.
        bound: f64,
        /// `log N`.
        log_n: f64,
        /// `N`.
        candidates: usize,
    },
    /// Shifting a row's scores changed the loss or its gradient.
    #[error("adding {shift} to row {row} changed the {what}: {before:e} became {after:e}")]
    NotShiftInvariant {
        /// The row shifted (the first that shows the change).
        row: usize,
        /// The constant added to it.
        shift: f64,
        /// `"loss"` or `"gradient at column j"`.
        what: String,
        /// The value before the shift.
        before: f64,
        /// The value after.
        after: f64,
    },
    /// The estimate is not where the true mutual information says it should be.
    #[error(
        "estimate {estimate} nats does not track the true mutual information {truth} nats \
         (log N = {log_n}, tolerance {tolerance}): {reason}"
    )]
    Inaccurate {
        /// The estimate.
        estimate: f64,
        /// The true mutual information.
        truth: f64,
        /// `log N`.
        log_n: f64,
        /// The tolerance allowed.
        tolerance: f64,
        /// Which expectation failed.
        reason: String,
    },
    /// An estimate that must be at least another was below it.
    #[error("{higher} estimate {higher_value} is below the {lower} estimate {lower_value} for the same scores")]
    OutOfOrder {
        /// The estimator that must be higher.
        higher: String,
        /// Its estimate.
        higher_value: f64,
        /// The estimator that must be lower.
        lower: String,
        /// Its estimate.
        lower_value: f64,
    },
    /// The estimator or critic returned an error on a valid input.
    #[error("the estimator failed on a valid input: {0}")]
    Call(locus_core::Error),
}

/// Checks that the bound `estimator` gives for these scores (`[n, N]`) is at most
/// `log N`. Pass `|s| info_nce(s, Positives::FirstColumn)` (or `Diagonal`) to check
/// locus's own [`info_nce`](locus_objectives::info_nce), or your own estimator.
///
/// # Errors
/// [`EstimatorFailure::AboveLogN`], or [`EstimatorFailure::Call`] when the estimator
/// refuses the scores.
pub fn check_bound_at_most_log_n(
    scores: &Array2<f64>,
    estimator: impl Fn(ArrayView2<'_, f64>) -> locus_core::Result<InfoNceBound<f64>>,
) -> Result<(), EstimatorFailure> {
    let b = estimator(scores.view()).map_err(EstimatorFailure::Call)?;
    let log_n = (b.candidates as f64).ln();
    if b.bound.is_nan() || b.bound > log_n {
        return Err(EstimatorFailure::AboveLogN {
            bound: b.bound,
            log_n,
            candidates: b.candidates,
        });
    }
    Ok(())
}

/// Checks that adding `shifts[i]` to every score of row `i` leaves the loss and the
/// gradient `estimator` gives unchanged within `tolerance` (relative to the loss,
/// absolute on the gradient).
///
/// # Errors
/// [`EstimatorFailure::NotShiftInvariant`] naming the first difference;
/// [`EstimatorFailure::Call`].
///
/// # Panics
/// When `shifts` does not have one entry per row.
pub fn check_row_shift_invariance(
    scores: &Array2<f64>,
    shifts: &[f64],
    tolerance: f64,
    estimator: impl Fn(ArrayView2<'_, f64>) -> locus_core::Result<InfoNceBound<f64>>,
) -> Result<(), EstimatorFailure> {
    assert_eq!(
        shifts.len(),
        scores.nrows(),
        "one shift per row of the scores"
    );
    let mut shifted = scores.clone();
    for (mut row, &c) in shifted.outer_iter_mut().zip(shifts) {
        row += c;
    }
    let a = estimator(scores.view()).map_err(EstimatorFailure::Call)?;
    let b = estimator(shifted.view()).map_err(EstimatorFailure::Call)?;
    let first_shift = shifts.iter().position(|&s| s != 0.0).unwrap_or(0);
    if (a.loss - b.loss).abs() > tolerance * a.loss.abs().max(1.0) {
        return Err(EstimatorFailure::NotShiftInvariant {
            row: first_shift,
            shift: shifts[first_shift],
            what: "loss".into(),
            before: a.loss,
            after: b.loss,
        });
    }
    for ((i, j), &g) in a.grad_scores.indexed_iter() {
        let h = b.grad_scores[[i, j]];
        if (g - h).abs() > tolerance {
            return Err(EstimatorFailure::NotShiftInvariant {
                row: i,
                shift: shifts[i],
                what: format!("gradient at column {j}"),
                before: g,
                after: h,
            });
        }
    }
    Ok(())
}

/// Checks the `grad_scores` an `estimator` returns against central finite differences of
/// its loss, on at most `opts.max_coords_per_tensor` seeded coordinates (reported as
/// tensor `"scores"`).
///
/// # Errors
/// [`FdFailure::Mismatch`] for the first coordinate out of tolerance;
/// [`FdFailure::Call`] when the loss cannot be computed; [`FdFailure::InvalidOptions`].
pub fn check_score_gradient(
    scores: &Array2<f64>,
    opts: &FdOptions,
    estimator: impl Fn(ArrayView2<'_, f64>) -> locus_core::Result<InfoNceBound<f64>>,
) -> Result<FdReport, FdFailure> {
    opts.check()?;
    let analytic = estimator(scores.view())
        .map_err(FdFailure::call("the estimator"))?
        .grad_scores;
    if analytic.dim() != scores.dim() {
        return Err(FdFailure::Malformed(format!(
            "grad_scores has shape {:?}, the scores {:?}",
            analytic.shape(),
            scores.shape()
        )));
    }
    let loss = |s: &Array2<f64>| {
        estimator(s.view())
            .map(|b| b.loss)
            .map_err(FdFailure::call("the estimator on perturbed scores"))
    };
    let mut report = FdReport::default();
    let mut probe = scores.clone();
    let mut rng = seeded_rng(opts.seed);
    let cols = scores.ncols();
    for flat in coordinates(scores.len(), opts.max_coords_per_tensor, &mut rng) {
        let (i, j) = (flat / cols, flat % cols);
        let numeric = central_difference(&mut probe, (i, j), opts.eps, &loss)?;
        report.compare("scores", vec![i, j], analytic[[i, j]], numeric, opts)?;
    }
    Ok(report)
}

/// `(L(m + ε e_ij) − L(m − ε e_ij)) / 2ε`, leaving `m` as it was.
fn central_difference(
    m: &mut Array2<f64>,
    (i, j): (usize, usize),
    eps: f64,
    loss: &dyn Fn(&Array2<f64>) -> Result<f64, FdFailure>,
) -> Result<f64, FdFailure> {
    let original = m[[i, j]];
    let (plus, minus) = (original + eps, original - eps);
    m[[i, j]] = plus;
    let up = loss(m);
    m[[i, j]] = minus;
    let down = loss(m);
    m[[i, j]] = original;
    Ok((up? - down?) / (plus - minus))
}

/// Checks the gradients [`info_nce_estimate`] returns for `x`, `y` and the critic's
/// parameters against central finite differences of its loss (tensors `"x"`, `"y"`,
/// then the parameters' names).
///
/// # Errors
/// As [`check_score_gradient`]; [`FdFailure::Malformed`] when a gradient has the wrong
/// shape or count.
pub fn check_critic_gradient(
    critic: &mut dyn Critic<f64>,
    x: &Array2<f64>,
    y: &Array2<f64>,
    opts: &FdOptions,
) -> Result<FdReport, FdFailure> {
    check_estimator_gradient(critic, x, y, opts, info_nce_estimate)
}

/// Checks the gradients any critic-based `estimator` (`info_nce_estimate`,
/// `nwj_estimate`, `dv_estimate`, `js_estimate`, or your own) returns for `x`, `y` and the
/// critic's parameters against central finite differences of its loss (tensors `"x"`,
/// `"y"`, then the parameters' names).
///
/// # Errors
/// As [`check_score_gradient`]; [`FdFailure::Malformed`] when a gradient has the wrong
/// shape or count.
pub fn check_estimator_gradient(
    critic: &mut dyn Critic<f64>,
    x: &Array2<f64>,
    y: &Array2<f64>,
    opts: &FdOptions,
    estimator: impl Fn(
        ArrayView2<'_, f64>,
        ArrayView2<'_, f64>,
        &dyn Critic<f64>,
    ) -> locus_core::Result<MiEstimate<f64>>,
) -> Result<FdReport, FdFailure> {
    opts.check()?;
    let estimate =
        estimator(x.view(), y.view(), &*critic).map_err(FdFailure::call("the estimator"))?;
    if estimate.grad_x.dim() != x.dim() || estimate.grad_y.dim() != y.dim() {
        return Err(FdFailure::Malformed(format!(
            "gradients of shapes {:?} and {:?} for x {:?} and y {:?}",
            estimate.grad_x.shape(),
            estimate.grad_y.shape(),
            x.shape(),
            y.shape()
        )));
    }
    let mut rng = seeded_rng(opts.seed);
    let mut report = FdReport::default();
    for (name, analytic, which) in [("x", &estimate.grad_x, 0), ("y", &estimate.grad_y, 1)] {
        let mut probe = if which == 0 { x.clone() } else { y.clone() };
        let loss = |p: &Array2<f64>| {
            let (px, py) = if which == 0 {
                (p.view(), y.view())
            } else {
                (x.view(), p.view())
            };
            estimate_loss(&estimator, px, py, &*critic)
        };
        let cols = probe.ncols();
        for flat in coordinates(probe.len(), opts.max_coords_per_tensor, &mut rng) {
            let (i, j) = (flat / cols, flat % cols);
            let numeric = central_difference(&mut probe, (i, j), opts.eps, &loss)?;
            report.compare(name, vec![i, j], analytic[[i, j]], numeric, opts)?;
        }
    }
    let count = critic.params().len();
    if estimate.grad_critic.len() != count {
        return Err(FdFailure::Malformed(format!(
            "{} parameter gradients for {count} parameters",
            estimate.grad_critic.len()
        )));
    }
    for p in 0..count {
        let (name, shape) = {
            let params = critic.params();
            (params[p].name.clone(), params[p].value.shape().to_vec())
        };
        if estimate.grad_critic[p].shape() != shape {
            return Err(FdFailure::Malformed(format!(
                "gradient of {name} has shape {:?}, the parameter {shape:?}",
                estimate.grad_critic[p].shape()
            )));
        }
        let len = estimate.grad_critic[p].len();
        for flat in coordinates(len, opts.max_coords_per_tensor, &mut rng) {
            let index = crate::sample::unravel(flat, &shape);
            let original = critic.params()[p].value[&index[..]];
            let at = |v: f64, critic: &mut dyn Critic<f64>| {
                critic.params_mut()[p].value[&index[..]] = v;
                estimate_loss(&estimator, x.view(), y.view(), &*critic)
            };
            let up = at(original + opts.eps, critic);
            let down = at(original - opts.eps, critic);
            at(original, critic)?;
            let numeric = (up? - down?) / (2.0 * opts.eps);
            report.compare(
                &name,
                index.clone(),
                estimate.grad_critic[p][&index[..]],
                numeric,
                opts,
            )?;
        }
    }
    Ok(report)
}

/// A critic-based estimator, as [`check_estimator_gradient`] takes it.
type EstimatorFn<'a> = &'a dyn Fn(
    ArrayView2<'_, f64>,
    ArrayView2<'_, f64>,
    &dyn Critic<f64>,
) -> locus_core::Result<MiEstimate<f64>>;

fn estimate_loss(
    estimator: EstimatorFn<'_>,
    x: ArrayView2<'_, f64>,
    y: ArrayView2<'_, f64>,
    critic: &dyn Critic<f64>,
) -> Result<f64, FdFailure> {
    estimator(x, y, critic)
        .map(|e| e.loss)
        .map_err(FdFailure::call("the estimator on a perturbed input"))
}

/// Checks that an `estimate` of a mutual information `truth` with `N` candidates (`log_n
/// = ln N`) behaves as InfoNCE with a good critic must:
/// - it never exceeds `log N`, nor the truth by more than `tolerance` (it is a lower
///   bound, up to sampling noise);
/// - while the truth is well below `log N` (by 2 nats or more), it is within `tolerance`
///   of the truth;
/// - while the truth is well above `log N` (by 3 nats or more), it is within `tolerance`
///   of `log N`: the bound saturates.
///
/// # Errors
/// [`EstimatorFailure::Inaccurate`] with the expectation that failed.
pub fn check_tracks_truth(
    estimate: f64,
    truth: f64,
    log_n: f64,
    tolerance: f64,
) -> Result<(), EstimatorFailure> {
    let fail = |reason: &str| EstimatorFailure::Inaccurate {
        estimate,
        truth,
        log_n,
        tolerance,
        reason: reason.to_string(),
    };
    if estimate.is_nan() || estimate > log_n {
        return Err(fail("above log N"));
    }
    if estimate > truth + tolerance {
        return Err(fail("above the true mutual information"));
    }
    if truth <= log_n - 2.0 && (estimate - truth).abs() > tolerance {
        return Err(fail(
            "far from the truth although the truth is well below log N",
        ));
    }
    if truth >= log_n + 3.0 && log_n - estimate > tolerance {
        return Err(fail(
            "not saturated at log N although the truth is well above it",
        ));
    }
    Ok(())
}

/// A proptest strategy of `[n, N]` score matrices with `n` in `1..=max_rows`, `N` in
/// `1..=max_candidates` (square when `square`), values uniform on `±magnitude`.
///
/// # Panics
/// When a size is 0 or `magnitude` is not finite and > 0.
pub fn score_matrix(
    max_rows: usize,
    max_candidates: usize,
    magnitude: f64,
    square: bool,
) -> impl Strategy<Value = Array2<f64>> {
    assert!(
        max_rows >= 1 && max_candidates >= 1,
        "score matrices need at least one row and column"
    );
    assert!(
        magnitude.is_finite() && magnitude > 0.0,
        "the magnitude must be finite and > 0"
    );
    (1..=max_rows, 1..=max_candidates)
        .prop_map(move |(n, m)| if square { (n, n) } else { (n, m) })
        .prop_flat_map(move |(n, m)| {
            proptest::collection::vec(-magnitude..=magnitude, n * m)
                .prop_map(move |v| Array2::from_shape_vec((n, m), v).expect("n·m values"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_objectives::{info_nce, Positives};
    use ndarray::array;

    #[test]
    fn the_truth_check_fails_where_it_should() {
        // Below log N: must be close.
        assert!(check_tracks_truth(0.95, 1.0, 6.0, 0.1).is_ok());
        assert!(check_tracks_truth(0.5, 1.0, 6.0, 0.1).is_err());
        // Above log N: must saturate.
        assert!(check_tracks_truth(5.95, 20.0, 6.0, 0.1).is_ok());
        assert!(check_tracks_truth(4.0, 20.0, 6.0, 0.1).is_err());
        // Never above log N or the truth.
        assert!(check_tracks_truth(6.01, 20.0, 6.0, 0.1).is_err());
        assert!(check_tracks_truth(2.0, 1.0, 6.0, 0.1).is_err());
        assert!(check_tracks_truth(f64::NAN, 1.0, 6.0, 0.1).is_err());
    }

    /// InfoNCE with a bug: the positive's gradient forgets the `−1/n`, and the bound
    /// adds a constant the loss does not have.
    fn faulty(s: ArrayView2<'_, f64>) -> locus_core::Result<InfoNceBound<f64>> {
        let mut b = info_nce(s, Positives::FirstColumn)?;
        for mut row in b.grad_scores.outer_iter_mut() {
            row[0] += 1.0 / s.nrows() as f64;
        }
        b.bound += 0.5;
        Ok(b)
    }

    /// A loss that sees row shifts: the mean score of the row is added.
    fn shift_sensitive(s: ArrayView2<'_, f64>) -> locus_core::Result<InfoNceBound<f64>> {
        let mut b = info_nce(s, Positives::FirstColumn)?;
        b.loss += s.mean().unwrap_or(0.0);
        Ok(b)
    }

    #[test]
    fn every_check_passes_on_info_nce_and_fails_on_a_faulty_estimator() {
        let s = array![[1.0, 0.5, -0.3], [0.2, 0.1, 0.9]];
        let good = |s: ArrayView2<'_, f64>| info_nce(s, Positives::FirstColumn);
        let opts = FdOptions::default();
        assert_eq!(
            check_score_gradient(&s, &opts, good).unwrap().coordinates,
            6
        );
        assert!(check_bound_at_most_log_n(&s, good).is_ok());
        assert!(check_row_shift_invariance(&s, &[3.0, -1.0], 1e-9, good).is_ok());

        let e = check_score_gradient(&s, &opts, faulty).unwrap_err();
        assert!(matches!(e, FdFailure::Mismatch { .. }), "{e}");
        // Confident scores have a loss near 0, a bound near log N: the faulty one exceeds it.
        let confident = array![[50.0, 0.0, 0.0]];
        let e = check_bound_at_most_log_n(&confident, faulty).unwrap_err();
        assert!(matches!(e, EstimatorFailure::AboveLogN { .. }), "{e}");
        let e = check_row_shift_invariance(&s, &[3.0, 0.0], 1e-9, shift_sensitive).unwrap_err();
        assert!(e.to_string().contains("row 0"), "{e}");
    }
}
