//! Property tests: the finite-difference checker agrees with the analytic gradients of
//! the built-in modules and losses on random shapes and values.
//!
//! Random networks use only smooth activations (tanh, sigmoid), so no draw can straddle a
//! kink; ReLU-like activations get inputs bounded away from 0 by construction.

use locus_core::{seeded_rng, Activation, LinearConfig, Loss, Sequential, Tensor};
use locus_objectives::{StageContext, SupervisedLoss, UpstreamGradient};
use locus_testing::finite_diff::{check_module, check_objective, FdOptions};
use locus_testing::strategies::{matrix, scores_and_labels, shape, tensor, tensor_away_from_zero};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// 32 cases per property, failures persisted under `proptest-regressions/` of this crate
/// (the default location is wrong for an integration test in a workspace).
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 32,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/tests/conformance/proptests.txt"
        )))),
        ..ProptestConfig::default()
    }
}

/// A linear layer `inputs → outputs` and a batch for it.
fn linear_case() -> impl Strategy<Value = (usize, bool, u64, Tensor<f64>)> {
    (
        matrix::<f64>(6, 8, -2.0, 2.0),
        1..8usize,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(|(x, outputs, bias, seed)| (outputs, bias, seed, x))
}

/// Widths of a random network and a batch for it.
fn network_case() -> impl Strategy<Value = (Vec<usize>, u64, Tensor<f64>)> {
    (
        proptest::collection::vec(1..6usize, 2..5),
        any::<u64>(),
        1..5usize,
    )
        .prop_flat_map(|(widths, seed, batch)| {
            let x = tensor::<f64>(&[batch, widths[0]], -1.5, 1.5);
            (Just(widths), Just(seed), x)
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn linear_gradients_match_finite_differences((outputs, bias, seed, x) in linear_case()) {
        let mut layer = LinearConfig::new(x.shape()[1], outputs)
            .with_bias(bias)
            .init::<f64>(&mut seeded_rng(seed))
            .unwrap();
        let report = check_module(&mut layer, &x, &FdOptions::default().with_seed(seed));
        prop_assert!(report.is_ok(), "{}", report.unwrap_err());
    }

    #[test]
    fn sequential_gradients_match_finite_differences((widths, seed, x) in network_case()) {
        let mut rng = seeded_rng(seed);
        let mut net = Sequential::new();
        for (k, pair) in widths.windows(2).enumerate() {
            net = net.push(LinearConfig::new(pair[0], pair[1]).init::<f64>(&mut rng).unwrap());
            net = net.push(if k % 2 == 0 { Activation::Tanh } else { Activation::Sigmoid });
        }
        let report = check_module(&mut net, &x, &FdOptions::default().with_seed(seed));
        prop_assert!(report.is_ok(), "{}", report.unwrap_err());
    }

    #[test]
    fn activation_gradients_match_finite_differences(
        x in shape(3, 5).prop_flat_map(|s| tensor_away_from_zero::<f64>(&s, 0.05, 3.0)),
        which in 0..4usize,
    ) {
        let activations = [Activation::Relu, Activation::Tanh, Activation::Sigmoid, Activation::LeakyRelu(0.1)];
        let mut activation = activations[which];
        let report = check_module(&mut activation, &x, &FdOptions::default());
        prop_assert!(report.is_ok(), "{}", report.unwrap_err());
    }

    #[test]
    fn supervised_loss_gradients_match_finite_differences(
        (logits, labels) in scores_and_labels::<f64>(8, 6, 6.0),
        mse in any::<bool>(),
    ) {
        let mut loss = SupervisedLoss::new(if mse { Loss::Mse } else { Loss::SoftmaxCrossEntropy });
        let ctx = StageContext::new(&logits, &logits).with_labels(&labels);
        let report = check_objective(&mut loss, &ctx, &FdOptions::default());
        prop_assert!(report.is_ok(), "{}", report.unwrap_err());
    }

    #[test]
    fn upstream_gradient_matches_finite_differences(
        (output, message) in shape(3, 5).prop_flat_map(|s| (tensor::<f64>(&s, -3.0, 3.0), tensor::<f64>(&s, -1.0, 1.0))),
    ) {
        let ctx = StageContext::new(&output, &output).with_message(&message);
        let report = check_objective(&mut UpstreamGradient, &ctx, &FdOptions::default());
        prop_assert!(report.is_ok(), "{}", report.unwrap_err());
    }
}
