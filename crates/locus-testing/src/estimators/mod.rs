//! Properties every InfoNCE mutual-information estimator must have, as checks to call from
//! proptests, with the true critic of the correlated-Gaussian test bed. The score-level
//! checks take the estimator as a function of the scores, so they test locus's
//! [`info_nce`](locus_objectives::info_nce) and your own alike.
//!
//! - [`check_bound_at_most_log_n`]: `I_NCE = log N − L` never exceeds `log N` for `N`
//!   candidates (Oord et al. 2018, §2.3), whatever the scores;
//! - [`check_row_shift_invariance`]: adding a constant to every score of a row changes
//!   neither the loss nor its gradient (the softmax does not see it);
//! - [`check_score_gradient`] and [`check_critic_gradient`]: analytic gradients agree with
//!   central finite differences, of the scores and of the embeddings and critic
//!   parameters;
//! - [`check_tracks_truth`]: with a good critic the estimate is close to the true mutual
//!   information while that is well below `log N`, and close to `log N` well above it;
//! - [`check_estimator_gradient`]: the same for any critic-based estimator (NWJ, DV, JS,
//!   MINE's update);
//! - [`check_dv_at_least_nwj`]: `I_DV ≥ I_NWJ` for the same scores (Poole et al. 2019);
//! - [`check_lower_bound`]: NWJ and DV, averaged over batches, stay below (and with a good
//!   critic near) the true mutual information;
//! - [`GaussianLogRatioCritic`]: the optimal critic `log p(y|x)/p(y)` for
//!   `locus_data::CorrelatedGaussians`;
//! - [`score_matrix`]: a proptest strategy of score matrices;
//! - [`optimal_critic_sweep`]: the bias and variance of InfoNCE, NWJ, DV and JS with the
//!   optimal critic over seeded batches of correlated Gaussians, across batch sizes and
//!   true mutual informations (Poole et al. 2019, Fig. 2's set-up).
//!
//! Kernel dependence estimators (HSIC and its normalised forms) have checks of their own,
//! taking the estimator as a function of the two representations:
//!
//! - [`check_non_negative`]: biased HSIC is never negative (Gretton et al. 2005);
//! - [`check_symmetric`]: `HSIC(x, y) = HSIC(y, x)`;
//! - [`check_zero_for_constant`]: a constant representation depends on nothing;
//! - [`check_dependence_gradient`]: the gradient with respect to `x` agrees with central
//!   finite differences.
//!
//! ```
//! use locus_objectives::{info_nce, Positives};
//! use locus_testing::estimators::{check_bound_at_most_log_n, check_row_shift_invariance};
//! use ndarray::array;
//!
//! let scores = array![[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]];
//! let estimator = |s: ndarray::ArrayView2<'_, f64>| info_nce(s, Positives::FirstColumn);
//! check_bound_at_most_log_n(&scores, estimator).unwrap();
//! check_row_shift_invariance(&scores, &[10.0, -7.5], 1e-9, estimator).unwrap();
//! ```

mod bias_variance;
mod bounds;
mod checks;
mod dependence;
mod gaussian_critic;

pub use bias_variance::{batch_seed, optimal_critic_sweep, Cell, Estimator, SweepConfig};
pub use bounds::{check_dv_at_least_nwj, check_lower_bound, ScoreBound};
pub use checks::{
    check_bound_at_most_log_n, check_critic_gradient, check_estimator_gradient,
    check_row_shift_invariance, check_score_gradient, check_tracks_truth, score_matrix,
    EstimatorFailure,
};
pub use dependence::{
    check_dependence_gradient, check_non_negative, check_symmetric, check_zero_for_constant,
    DependenceFailure,
};
pub use gaussian_critic::GaussianLogRatioCritic;
