//! Update unlocking: what asynchronous schedulers need from an objective. A stage whose
//! objective is update-unlocked learns from its prediction first and hands the objective
//! the message later; the late step must be exactly the step `Mode::Learn` would have
//! taken with the message at hand, and objectives that cannot learn late must say so.

use locus_core::{AdamConfig, Error, OptimizerConfig, Tensor};
use locus_objectives::{
    DirectFeedback, LocalObjective, Mode, StageContext, SupervisedLoss, SyntheticGradientConfig,
    UpstreamGradient,
};
use ndarray::arr2;

fn h() -> Tensor<f64> {
    arr2(&[[0.5, -1.0, 0.2], [1.5, 0.3, -0.7]]).into_dyn()
}

fn message(k: usize) -> Tensor<f64> {
    let s = 1.0 + k as f64 * 0.1;
    arr2(&[[0.1 * s, -0.2, 0.05], [-0.3, 0.15 * s, 0.25]]).into_dyn()
}

fn sg(lambda: f64) -> Box<dyn LocalObjective<f64>> {
    Box::new(
        SyntheticGradientConfig::new(7)
            .with_lambda(lambda)
            .with_labels(3)
            .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-2)))
            .build::<f64>()
            .unwrap(),
    )
}

#[test]
fn who_is_unlocked_and_who_needs_the_global_error() {
    // Through the boxed trait object, as stages hold them.
    assert!(sg(0.0).is_update_unlocked());
    assert!(
        !sg(0.5).is_update_unlocked(),
        "BP(λ) mixes the message in: it must wait for it"
    );
    let upstream: Box<dyn LocalObjective<f64>> = Box::new(UpstreamGradient);
    assert!(!upstream.is_update_unlocked() && upstream.needs_message());
    let dfa: Box<dyn LocalObjective<f64>> = Box::new(DirectFeedback::<f64>::new(1));
    assert!(dfa.needs_global_error() && !dfa.needs_message());
    for other in [sg(0.0), upstream, Box::new(SupervisedLoss::default())] {
        assert!(!other.needs_global_error(), "{}", other.name());
    }
}

/// Predicting early (Evaluate, no message) then learning late gives the same gradient
/// model, step for step, as learning with the message at hand.
#[test]
fn a_late_message_is_the_learn_step_deferred() {
    let (h, labels) = (h(), [0, 2]);
    let mut on_time = sg(0.0);
    let mut late = sg(0.0);
    for k in 0..20 {
        let m = message(k);
        let full = StageContext::new(&h, &h)
            .with_labels(&labels)
            .with_message(&m)
            .with_step(k as u64);
        let together = on_time.signal(&full, Mode::Learn).unwrap();
        let early = late
            .signal(
                &StageContext::new(&h, &h)
                    .with_labels(&labels)
                    .with_step(k as u64),
                Mode::Evaluate,
            )
            .unwrap();
        assert_eq!(early.grad_output, together.grad_output, "step {k}");
        let loss = late.learn_from_late_message(&full).unwrap();
        assert_eq!(loss, together.loss, "step {k}");
    }
    assert_eq!(late.metrics(), on_time.metrics());
    // The model has learned: its prediction is no longer zero.
    let s = late
        .signal(
            &StageContext::new(&h, &h).with_labels(&labels),
            Mode::Evaluate,
        )
        .unwrap();
    assert!(s.grad_output.iter().any(|&g| g != 0.0));
}

#[test]
fn late_messages_are_checked() {
    let (h, labels) = (h(), [0, 2]);
    let mut obj = sg(0.0);
    let e = obj
        .learn_from_late_message(&StageContext::new(&h, &h).with_labels(&labels))
        .unwrap_err();
    assert!(e.to_string().contains("message"), "{e}");
    let mut nan = message(0);
    nan[[0, 1]] = f64::NAN;
    let e = obj
        .learn_from_late_message(
            &StageContext::new(&h, &h)
                .with_labels(&labels)
                .with_message(&nan),
        )
        .unwrap_err();
    assert!(matches!(e, Error::NonFinite { .. }), "{e}");
    // Objectives that are not update-unlocked refuse, naming themselves.
    let m = message(0);
    let ctx = StageContext::new(&h, &h).with_message(&m);
    let mut upstream: Box<dyn LocalObjective<f64>> = Box::new(UpstreamGradient);
    let e = upstream.learn_from_late_message(&ctx).unwrap_err();
    assert!(
        e.to_string().contains("upstream-gradient") && e.to_string().contains("unlocked"),
        "{e}"
    );
}
