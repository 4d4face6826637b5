//! Properties of the NWJ, Donsker–Varadhan and Jensen–Shannon estimators (Poole et al.
//! 2019), each as a check that says what broke.

use locus_objectives::CriticBound;
use ndarray::{Array2, ArrayView2};

use super::EstimatorFailure;

/// A score-level estimator: `nwj_bound`, `dv_bound`, `js_bound`, or your own.
pub type ScoreBound<'a> = &'a dyn Fn(ArrayView2<'_, f64>) -> locus_core::Result<CriticBound<f64>>;

/// Checks that, for the same scores, the Donsker–Varadhan estimate is at least the NWJ
/// estimate: `I_DV − I_NWJ = e^{−1} Z − log Z ≥ 0` with `Z = mean_{i≠j} e^{s_ij}`, since
/// `log z ≤ z/e` (Poole et al. 2019, §2.2). Holds batch by batch, exactly.
///
/// # Errors
/// [`EstimatorFailure::OutOfOrder`]; [`EstimatorFailure::Call`] when an estimator refuses
/// the scores.
pub fn check_dv_at_least_nwj(
    scores: &Array2<f64>,
    dv: ScoreBound<'_>,
    nwj: ScoreBound<'_>,
) -> Result<(), EstimatorFailure> {
    let d = dv(scores.view()).map_err(EstimatorFailure::Call)?.bound;
    let w = nwj(scores.view()).map_err(EstimatorFailure::Call)?.bound;
    // Rounding: both carry the diagonal mean, so compare relative to its size.
    if d.is_nan() || w.is_nan() || d < w - 1e-12 * d.abs().max(w.abs()).max(1.0) {
        return Err(EstimatorFailure::OutOfOrder {
            higher: "DV".into(),
            higher_value: d,
            lower: "NWJ".into(),
            lower_value: w,
        });
    }
    Ok(())
}

/// Checks that a lower-bound `estimate` (a mean over batches) does not exceed the true
/// mutual information `truth` by more than `tolerance`, and, when `near` is set, is
/// within `tolerance` of it.
///
/// # Errors
/// [`EstimatorFailure::Inaccurate`] with the expectation that failed (`log_n` is reported
/// as NaN: these bounds are not limited by it).
pub fn check_lower_bound(
    estimate: f64,
    truth: f64,
    tolerance: f64,
    near: bool,
) -> Result<(), EstimatorFailure> {
    let fail = |reason: &str| EstimatorFailure::Inaccurate {
        estimate,
        truth,
        log_n: f64::NAN,
        tolerance,
        reason: reason.to_string(),
    };
    if estimate.is_nan() || estimate > truth + tolerance {
        return Err(fail("above the true mutual information"));
    }
    if near && truth - estimate > tolerance {
        return Err(fail("far below the truth with a good critic"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_objectives::{dv_bound, nwj_bound};
    use ndarray::array;

    /// DV with the logarithm forgotten: `mean diag − mean e^s`, below NWJ.
    fn no_log(s: ArrayView2<'_, f64>) -> locus_core::Result<CriticBound<f64>> {
        let mut b = nwj_bound(s)?;
        let z = std::f64::consts::E * (s.diag().mean().unwrap() - b.bound);
        b.bound = s.diag().mean().unwrap() - z;
        Ok(b)
    }

    #[test]
    fn every_check_passes_on_good_estimates_and_fails_on_wrong_ones() {
        let s = array![[1.0, 0.0, 2.0], [-1.0, 3.0, 0.5], [0.0, 1.0, 2.0]];
        check_dv_at_least_nwj(&s, &dv_bound, &nwj_bound).unwrap();
        let e = check_dv_at_least_nwj(&s, &no_log, &nwj_bound).unwrap_err();
        assert!(matches!(e, EstimatorFailure::OutOfOrder { .. }), "{e}");
        check_lower_bound(1.9, 2.0, 0.2, true).unwrap();
        check_lower_bound(0.5, 2.0, 0.2, false).unwrap();
        assert!(check_lower_bound(2.3, 2.0, 0.2, false).is_err());
        assert!(check_lower_bound(1.5, 2.0, 0.2, true).is_err());
        assert!(check_lower_bound(f64::NAN, 2.0, 0.2, false).is_err());
    }
}
