//! What a finite-difference check compares, what it found, and how it fails.

use thiserror::Error;

/// Settings of a central finite-difference check, all in `f64`.
///
/// A coordinate passes when `|analytic - numeric| <= abs_tol + rel_tol · max(|analytic|,
/// |numeric|)`. The defaults suit smooth layers in `f64`: the central difference
/// `(L(x+ε) - L(x-ε)) / 2ε` has a truncation error of order `ε²` (1e-12) and a rounding
/// error of order `1e-16 · |L| / ε` (1e-10 for `|L|` near 1), both far below the
/// tolerances, while a gradient that is wrong by 1% is caught whenever it is larger than
/// about 1e-4.
///
/// Kinks break finite differences: with ReLU or leaky ReLU, keep inputs (and
/// pre-activations) away from 0 by more than `eps`, as the conformance suite does by
/// drawing magnitudes from `[0.1, 1)`.
#[derive(Debug, Clone, PartialEq)]
pub struct FdOptions {
    /// Step of the central difference (default `1e-6`).
    pub eps: f64,
    /// Absolute tolerance (default `1e-6`).
    pub abs_tol: f64,
    /// Relative tolerance (default `1e-5`).
    pub rel_tol: f64,
    /// At most this many coordinates of each tensor are checked; a larger tensor gets a
    /// seeded random subset (default 32).
    pub max_coords_per_tensor: usize,
    /// Seed of the random test-loss weights and of the coordinate subsets (default 0).
    pub seed: u64,
}

impl Default for FdOptions {
    fn default() -> Self {
        FdOptions {
            eps: 1e-6,
            abs_tol: 1e-6,
            rel_tol: 1e-5,
            max_coords_per_tensor: 32,
            seed: 0,
        }
    }
}

impl FdOptions {
    /// Sets the difference step.
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the absolute and relative tolerances.
    pub fn with_tolerances(mut self, abs_tol: f64, rel_tol: f64) -> Self {
        self.abs_tol = abs_tol;
        self.rel_tol = rel_tol;
        self
    }

    /// Sets how many coordinates of each tensor are checked at most.
    pub fn with_max_coords(mut self, max_coords_per_tensor: usize) -> Self {
        self.max_coords_per_tensor = max_coords_per_tensor;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Checks the settings before any work.
    ///
    /// # Errors
    /// [`FdFailure::InvalidOptions`] for a step or tolerance that is not finite and
    /// positive (`>= 0` for the tolerances), or a zero coordinate budget.
    pub fn check(&self) -> Result<(), FdFailure> {
        let invalid = |what: &str, should: &str, value: &dyn std::fmt::Display| {
            Err(FdFailure::InvalidOptions(format!(
                "{what} should be {should}, but is {value}"
            )))
        };
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return invalid("eps", "finite and > 0", &self.eps);
        }
        if !(self.abs_tol.is_finite() && self.abs_tol >= 0.0) {
            return invalid("abs_tol", "finite and >= 0", &self.abs_tol);
        }
        if !(self.rel_tol.is_finite() && self.rel_tol >= 0.0) {
            return invalid("rel_tol", "finite and >= 0", &self.rel_tol);
        }
        if self.max_coords_per_tensor == 0 {
            return invalid("max_coords_per_tensor", ">= 1", &0);
        }
        Ok(())
    }

    /// The tolerance for one coordinate with the given analytic and numeric values.
    pub fn tolerance(&self, analytic: f64, numeric: f64) -> f64 {
        self.abs_tol + self.rel_tol * analytic.abs().max(numeric.abs())
    }
}

/// What a passing check compared.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FdReport {
    /// The tensors checked, in order: `"input"` or `"output"`, then the parameter names.
    pub tensors: Vec<String>,
    /// Number of coordinates compared, over all tensors.
    pub coordinates: usize,
    /// Largest `|analytic - numeric|` seen.
    pub max_abs_error: f64,
    /// Largest `|analytic - numeric| / tolerance` seen: below 1 on a pass, and how close
    /// to failing the check came.
    pub worst_ratio: f64,
}

impl FdReport {
    /// Records one coordinate, or fails when it is out of tolerance (or not finite).
    pub(crate) fn compare(
        &mut self,
        tensor: &str,
        index: Vec<usize>,
        analytic: f64,
        numeric: f64,
        opts: &FdOptions,
    ) -> Result<(), FdFailure> {
        let error = (analytic - numeric).abs();
        let tolerance = opts.tolerance(analytic, numeric);
        // NaN compares false, so a NaN on either side fails.
        let within = error <= tolerance;
        if !within {
            return Err(FdFailure::Mismatch {
                tensor: tensor.to_string(),
                index,
                analytic,
                numeric,
                tolerance,
            });
        }
        if self.tensors.last().map(String::as_str) != Some(tensor) {
            self.tensors.push(tensor.to_string());
        }
        self.coordinates += 1;
        self.max_abs_error = self.max_abs_error.max(error);
        if tolerance > 0.0 {
            self.worst_ratio = self.worst_ratio.max(error / tolerance);
        }
        Ok(())
    }
}

/// Why a finite-difference check failed.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum FdFailure {
    /// An analytic gradient disagrees with the central difference.
    #[error(
        "gradient of {tensor} at {index:?}: analytic {analytic:e}, numeric {numeric:e}, \
         |difference| {diff:e} > tolerance {tolerance:e}",
        diff = (.analytic - .numeric).abs()
    )]
    Mismatch {
        /// `"input"`, `"output"` (objectives), or the parameter's name.
        tensor: String,
        /// The coordinate.
        index: Vec<usize>,
        /// The gradient the module or objective returned.
        analytic: f64,
        /// The central difference.
        numeric: f64,
        /// The tolerance it had to meet.
        tolerance: f64,
    },
    /// The module or objective returned an error on a valid call.
    #[error("{during} returned an error: {source}")]
    Call {
        /// Which call (e.g. "forward", "backward", "signal").
        during: String,
        /// The error.
        source: locus_core::Error,
    },
    /// The gradients do not have the structure the trait promises (a missing input
    /// gradient, a parameter gradient of the wrong shape, ...).
    #[error("malformed gradients: {0}")]
    Malformed(String),
    /// The [`FdOptions`] are out of range.
    #[error("invalid finite-difference options: {0}")]
    InvalidOptions(String),
}

impl FdFailure {
    /// A closure turning an error of the named call into [`FdFailure::Call`].
    pub(crate) fn call(during: &str) -> impl Fn(locus_core::Error) -> FdFailure + '_ {
        move |source| FdFailure::Call {
            during: during.to_string(),
            source,
        }
    }
}
