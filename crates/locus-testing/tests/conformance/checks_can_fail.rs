//! Each check rejects an implementation that breaks it, with a message that names the
//! problem: none of the checks is vacuous.

use std::sync::atomic::{AtomicU64, Ordering};

use locus_core::{seeded_rng, LinearConfig, Module, Tensor};
use locus_objectives::StageContext;
use locus_testing::conformance::{
    module_conformance, objective_conformance, Check, ConformanceFailure,
};
use locus_testing::finite_diff::{check_module, check_objective, FdFailure, FdOptions};

use crate::faulty::{FaultyLinear, FaultyObjective, ModuleFault, ObjectiveFault};

fn faulty_module(fault: ModuleFault) -> ConformanceFailure {
    module_conformance(
        "faulty",
        move |seed| FaultyLinear::boxed(3, 2, fault, seed),
        &[4, 3],
    )
    .expect_err("a broken module passed the conformance suite")
}

fn faulty_objective(fault: ObjectiveFault) -> ConformanceFailure {
    objective_conformance("faulty", move |_| FaultyObjective::boxed(fault), &[5, 3])
        .expect_err("a broken objective passed the conformance suite")
}

/// Asserts the failure is of `check` and its message holds every one of `words`.
fn assert_failure(failure: &ConformanceFailure, check: Check, words: &[&str]) {
    assert_eq!(failure.check, check, "{failure}");
    let message = failure.to_string();
    for word in words {
        assert!(message.contains(word), "{word:?} missing from: {message}");
    }
}

#[test]
fn the_faulty_linear_is_a_linear_layer_apart_from_its_fault() {
    // The faults only matter where they are injected: with an unused fault the wrapper is
    // accepted, so each rejection below is caused by its fault.
    let failure = module_conformance(
        "faulty",
        |seed| FaultyLinear::boxed(3, 2, ModuleFault::InferWithoutBias, seed),
        &[4, 3],
    )
    .unwrap_err();
    assert_eq!(failure.check, Check::InferMatchesForward);
    let x = Tensor::from_shape_fn(vec![4, 3], |i| 0.3 * i[0] as f64 - 0.2 * i[1] as f64 + 0.1);
    let mut honest = FaultyLinear::boxed(3, 2, ModuleFault::InferWithoutBias, 1);
    check_module(honest.as_mut(), &x, &FdOptions::default()).unwrap();
}

#[test]
fn a_wrong_weight_gradient_is_caught_by_finite_differences() {
    let failure = faulty_module(ModuleFault::ScaledWeightGrad);
    assert_failure(
        &failure,
        Check::FiniteDifferences,
        &["weight", "analytic", "numeric"],
    );
}

#[test]
fn a_wrong_input_gradient_is_caught_by_finite_differences() {
    let failure = faulty_module(ModuleFault::ScaledInputGrad);
    assert_failure(
        &failure,
        Check::FiniteDifferences,
        &["gradient of input at"],
    );
}

#[test]
fn check_module_names_the_tensor_coordinate_and_values() {
    let mut module = FaultyLinear::boxed(3, 2, ModuleFault::ScaledWeightGrad, 5);
    let x = Tensor::from_shape_fn(vec![4, 3], |i| 0.25 * i[0] as f64 - 0.5 * i[1] as f64 + 0.1);
    match check_module(module.as_mut(), &x, &FdOptions::default()) {
        Err(FdFailure::Mismatch {
            tensor,
            index,
            analytic,
            numeric,
            ..
        }) => {
            assert_eq!(tensor, "weight");
            assert_eq!(index.len(), 2);
            assert!(
                (analytic / numeric - 1.1).abs() < 1e-6,
                "{analytic} vs {numeric}"
            );
        }
        other => panic!("expected a weight mismatch, got {other:?}"),
    }
}

#[test]
fn gradients_in_the_wrong_order_are_caught() {
    let failure = faulty_module(ModuleFault::SwappedGradOrder);
    assert_failure(
        &failure,
        Check::ParamGradients,
        &["gradient 0 has shape [2]", "weight"],
    );
}

#[test]
fn duplicate_parameter_names_are_caught() {
    let failure = faulty_module(ModuleFault::DuplicateNames);
    assert_failure(&failure, Check::ParamNames, &["\"weight\" is used twice"]);
}

#[test]
fn an_input_gradient_nobody_asked_for_is_caught() {
    let failure = faulty_module(ModuleFault::InputGradWhenNotAsked);
    assert_failure(&failure, Check::InputGradient, &["need_input_grad = false"]);
}

#[test]
fn infer_that_differs_from_forward_is_caught() {
    let failure = faulty_module(ModuleFault::InferWithoutBias);
    assert_failure(&failure, Check::InferMatchesForward, &["infer returned"]);
}

#[test]
fn a_non_deterministic_forward_is_caught() {
    let failure = faulty_module(ModuleFault::NoisyForward);
    assert_failure(&failure, Check::Deterministic, &["second forward"]);
}

#[test]
fn state_kept_in_the_module_instead_of_the_cache_is_caught() {
    let failure = faulty_module(ModuleFault::StashedInput);
    assert_failure(
        &failure,
        Check::CallerOwnedCache,
        &["two batches in flight"],
    );
}

#[test]
fn a_panic_on_a_wrong_input_shape_is_caught() {
    let failure = faulty_module(ModuleFault::PanicsOnWrongShape);
    assert_failure(&failure, Check::WrongInputShape, &["panicked", "[4, 4]"]);
}

#[test]
fn a_grad_output_of_the_wrong_shape_must_be_refused() {
    let failure = faulty_module(ModuleFault::IgnoresGradOutputShape);
    assert_failure(
        &failure,
        Check::BackwardArguments,
        &["was accepted", "[4, 3]"],
    );
}

#[test]
fn construction_that_ignores_the_seed_is_caught() {
    let builds = AtomicU64::new(0);
    let make = |seed: u64| -> Box<dyn Module<f64>> {
        let seed = seed + builds.fetch_add(1, Ordering::SeqCst);
        Box::new(
            LinearConfig::new(3, 2)
                .init::<f64>(&mut seeded_rng(seed))
                .unwrap(),
        )
    };
    let failure = module_conformance("unseeded", make, &[2, 3]).unwrap_err();
    assert_failure(&failure, Check::Reproducible, &["same seed", "weight"]);
}

#[test]
fn a_wrong_objective_gradient_is_caught_by_finite_differences() {
    let failure = faulty_objective(ObjectiveFault::HalfGradient);
    assert_failure(
        &failure,
        Check::FiniteDifferences,
        &["gradient of output at"],
    );

    let output = Tensor::from_shape_vec(vec![2, 2], vec![0.5, -0.25, 1.0, 0.0]).unwrap();
    let ctx = StageContext::new(&output, &output).with_labels(&[1, 0]);
    let mut objective = FaultyObjective::boxed(ObjectiveFault::HalfGradient);
    match check_objective(objective.as_mut(), &ctx, &FdOptions::default()) {
        Err(FdFailure::Mismatch {
            tensor,
            analytic,
            numeric,
            ..
        }) => {
            assert_eq!(tensor, "output");
            assert!(
                (analytic / numeric - 0.5).abs() < 1e-6,
                "{analytic} vs {numeric}"
            );
        }
        other => panic!("expected an output mismatch, got {other:?}"),
    }
}

#[test]
fn a_swallowed_nan_is_caught() {
    let failure = faulty_objective(ObjectiveFault::NanToZero);
    assert_failure(&failure, Check::NonFinite, &["NaN", "was accepted"]);
}

#[test]
fn an_impure_evaluate_is_caught() {
    let failure = faulty_objective(ObjectiveFault::ImpureEvaluate);
    assert_failure(
        &failure,
        Check::EvaluateIsPure,
        &["second Mode::Evaluate call"],
    );
}

#[test]
fn undeclared_needs_are_caught() {
    let failure = faulty_objective(ObjectiveFault::UndeclaredLabels);
    assert_failure(&failure, Check::Labels, &["needs_labels() is false"]);
    let failure = faulty_objective(ObjectiveFault::UndeclaredMessage);
    assert_failure(&failure, Check::Message, &["needs_message() is false"]);
    let failure = faulty_objective(ObjectiveFault::UndeclaredNetworkInput);
    assert_failure(
        &failure,
        Check::NetworkInput,
        &["needs_network_input() is false"],
    );
}

#[test]
fn a_missing_network_input_must_be_refused() {
    let failure = faulty_objective(ObjectiveFault::ZeroWithoutNetworkInput);
    assert_failure(
        &failure,
        Check::NetworkInput,
        &["without the network input (Evaluate)", "was accepted"],
    );
}

#[test]
fn a_gradient_of_the_wrong_shape_is_caught() {
    let failure = faulty_objective(ObjectiveFault::WrongGradShape);
    assert_failure(
        &failure,
        Check::ValidInput,
        &["grad_output of shape [5, 4]"],
    );
}

#[test]
fn a_message_of_the_wrong_shape_must_be_refused() {
    let failure = faulty_objective(ObjectiveFault::UncheckedMessageShape);
    assert_failure(
        &failure,
        Check::Message,
        &["message of shape [5, 4]", "was accepted"],
    );
}

#[test]
fn learning_without_a_needed_message_is_caught() {
    let failure = faulty_objective(ObjectiveFault::ZeroWithoutMessage);
    assert_failure(
        &failure,
        Check::Message,
        &["without a message (Mode::Learn)", "was accepted"],
    );
}

#[test]
fn invalid_finite_difference_options_are_refused() {
    let x = Tensor::zeros(vec![1, 3]);
    let mut layer = LinearConfig::new(3, 1)
        .init::<f64>(&mut seeded_rng(0))
        .unwrap();
    for (opts, word) in [
        (FdOptions::default().with_eps(0.0), "eps"),
        (FdOptions::default().with_tolerances(-1.0, 0.0), "abs_tol"),
        (
            FdOptions::default().with_tolerances(0.0, f64::NAN),
            "rel_tol",
        ),
        (
            FdOptions::default().with_max_coords(0),
            "max_coords_per_tensor",
        ),
    ] {
        let e = check_module(&mut layer, &x, &opts).unwrap_err();
        assert!(
            matches!(e, FdFailure::InvalidOptions(_)) && e.to_string().contains(word),
            "{e}"
        );
    }
}
