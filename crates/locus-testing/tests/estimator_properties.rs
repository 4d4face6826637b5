//! Properties of InfoNCE as a mutual-information estimator, as proptests: the bound never
//! exceeds log N, it does not see a constant added to a row of scores, its gradients match
//! finite differences, and with the true critic of correlated Gaussians it tracks the true
//! mutual information below log N and saturates at log N above.

use locus_core::init::Init;
use locus_core::{seeded_rng, AdamConfig, Optimizer};
use locus_data::CorrelatedGaussians;
use locus_objectives::{
    info_nce, info_nce_estimate, BilinearCritic, Critic, DotProductCritic, Positives,
};
use locus_testing::estimators::{
    check_bound_at_most_log_n, check_critic_gradient, check_row_shift_invariance,
    check_score_gradient, check_tracks_truth, score_matrix, GaussianLogRatioCritic,
};
use locus_testing::finite_diff::FdOptions;
use locus_testing::strategies::matrix;
use ndarray::{Array2, ArrayView2};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// 32 cases per property, failures persisted under this crate's `proptest-regressions/`.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 32,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/tests/estimator_properties.txt"
        )))),
        ..ProptestConfig::default()
    }
}

fn first_column(s: ArrayView2<'_, f64>) -> locus_core::Result<locus_objectives::InfoNceBound<f64>> {
    info_nce(s, Positives::FirstColumn)
}

fn diagonal(s: ArrayView2<'_, f64>) -> locus_core::Result<locus_objectives::InfoNceBound<f64>> {
    info_nce(s, Positives::Diagonal)
}

/// The mean InfoNCE estimate over `batches` independent batches of `n` pairs, with the
/// true critic, and the true mutual information.
fn gaussian_estimate(dim: usize, nats: f64, n: usize, batches: u64, seed: u64) -> (f64, f64) {
    let pairs = CorrelatedGaussians::with_mutual_information(dim, nats).unwrap();
    let critic = GaussianLogRatioCritic::new(pairs.rho()).unwrap();
    let total: f64 = (0..batches)
        .map(|b| {
            let (x, y) = pairs.sample(n, seed.wrapping_add(b));
            info_nce_estimate(x.view(), y.view(), &critic)
                .unwrap()
                .bound
        })
        .sum();
    (total / batches as f64, pairs.mutual_information())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_bound_never_exceeds_log_n(
        scores in score_matrix(8, 40, 60.0, false),
        square in score_matrix(12, 12, 1e6, true),
    ) {
        check_bound_at_most_log_n(&scores, first_column).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_bound_at_most_log_n(&square, diagonal).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    #[test]
    fn adding_a_constant_to_a_row_changes_nothing(
        scores in score_matrix(6, 20, 30.0, false),
        shifts in proptest::collection::vec(-200.0..200.0f64, 6),
    ) {
        let shifts = &shifts[..scores.nrows()];
        check_row_shift_invariance(&scores, shifts, 1e-9, first_column)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let square = Array2::from_shape_fn((scores.nrows(), scores.nrows()), |(i, j)| scores[[i, j % scores.ncols()]]);
        check_row_shift_invariance(&square, shifts, 1e-9, diagonal)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    #[test]
    fn score_gradients_match_finite_differences(scores in score_matrix(6, 10, 5.0, false), seed in any::<u64>()) {
        let opts = FdOptions::default().with_seed(seed);
        check_score_gradient(&scores, &opts, first_column).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let square = Array2::from_shape_fn((scores.nrows(), scores.nrows()), |(i, j)| scores[[i, j % scores.ncols()]]);
        check_score_gradient(&square, &opts, diagonal).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    #[test]
    fn critic_gradients_match_finite_differences(
        x in matrix::<f64>(6, 4, -2.0, 2.0),
        dy in 1..5usize,
        seed in any::<u64>(),
    ) {
        let x: Array2<f64> = x.into_dimensionality().unwrap();
        let n = x.nrows();
        let mut rng = seeded_rng(seed);
        let y = Init::Uniform(2.0).sample::<f64>(&[n, dy], 1, 1, &mut rng).unwrap().into_dimensionality().unwrap();
        let opts = FdOptions::default().with_seed(seed);
        let mut bilinear = BilinearCritic::<f64>::init(x.ncols(), dy, Init::Uniform(1.0), &mut rng).unwrap();
        let report = check_critic_gradient(&mut bilinear, &x, &y, &opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(report.tensors.contains(&"weight".to_string()));
        let mut dot = DotProductCritic::new(0.7).unwrap();
        check_critic_gradient(&mut dot, &x, &x.mapv(|v| 0.5 * v - 0.1), &opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut gaussian = GaussianLogRatioCritic::new(0.6).unwrap();
        check_critic_gradient(&mut gaussian, &x, &x.mapv(f64::sin), &opts).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    /// Truth up to 3 nats with 512 pairs (log N = 6.24): the mean of 4 estimates with the
    /// true critic lies within 0.2 nats of it. (Over 200 seeds, single estimates at 2.5
    /// nats fell within −0.22..+0.14 of the truth.)
    #[test]
    fn with_the_true_critic_the_estimate_tracks_the_truth_below_log_n(
        dim in 1..6usize,
        nats in 0.05..3.0f64,
        seed in any::<u64>(),
    ) {
        let (estimate, truth) = gaussian_estimate(dim, nats, 512, 4, seed);
        check_tracks_truth(estimate, truth, 512f64.ln(), 0.2).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }

    /// Truth of 12 to 25 nats with 16 to 64 pairs: the estimate is stuck just below log N.
    #[test]
    fn with_the_true_critic_the_estimate_saturates_at_log_n_above_it(
        dim in 5..12usize,
        nats in 12.0..25.0f64,
        n in 16..65usize,
        seed in any::<u64>(),
    ) {
        let (estimate, truth) = gaussian_estimate(dim, nats, n, 1, seed);
        check_tracks_truth(estimate, truth, (n as f64).ln(), 0.05).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}

/// A bilinear critic trained by Adam on the bound learns a real part of the mutual
/// information but not all of it: the true log ratio has a term `−ρ²|y|²/(2(1−ρ²))` that
/// no bilinear form has. Measured when this test was written: 0.64 nats of 1.0 (the true
/// critic: 1.03 on the same pairs).
#[test]
fn a_trained_bilinear_critic_recovers_part_of_the_mutual_information() {
    let pairs = CorrelatedGaussians::with_mutual_information(2, 1.0).unwrap();
    let mut critic = BilinearCritic::<f64>::init(2, 2, Init::Zeros, &mut seeded_rng(0)).unwrap();
    let mut adam = AdamConfig::new(0.05).build::<f64>().unwrap();
    let (x, y) = pairs.sample(512, 7);
    let untrained = info_nce_estimate(x.view(), y.view(), &critic)
        .unwrap()
        .bound;
    for step in 0..300 {
        let (xb, yb) = pairs.sample(128, 1000 + step);
        let e = info_nce_estimate(xb.view(), yb.view(), &critic).unwrap();
        adam.step(critic.params_mut(), &e.grad_critic).unwrap();
    }
    let trained = info_nce_estimate(x.view(), y.view(), &critic)
        .unwrap()
        .bound;
    let truth = GaussianLogRatioCritic::new(pairs.rho()).unwrap();
    let best = info_nce_estimate(x.view(), y.view(), &truth).unwrap().bound;
    assert!(
        untrained.abs() < 1e-12,
        "a zero critic certifies nothing, got {untrained}"
    );
    assert!(
        trained > 0.5 * pairs.mutual_information(),
        "trained bilinear: {trained}"
    );
    assert!(
        trained < best,
        "trained {trained} should stay below the true critic's {best}"
    );
}
