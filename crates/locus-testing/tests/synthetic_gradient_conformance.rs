//! Conformance of the `SyntheticGradient` objective (DNI and cDNI).
//!
//! Its signal is a prediction, not the gradient of its loss, so the finite-difference check
//! is skipped (`is_exact_gradient()` is false). A fresh gradient model predicts exactly
//! zero, which would make the purity and reproducibility checks trivial, so every
//! objective handed to the suite has first learned for a few steps on data of the suite's
//! shape: its predictions are then non-zero and depend on the output (and the labels).

use locus_core::{AdamConfig, OptimizerConfig, Tensor};
use locus_objectives::{
    LocalObjective, Mode, SgModel, StageContext, SyntheticGradient, SyntheticGradientConfig,
};
use locus_testing::conformance::ObjectiveConformance;

/// A synthetic gradient objective that has already taken five learning steps on a fixed
/// context of `shape`, labels among `classes`.
fn warmed(
    config: SyntheticGradientConfig,
    shape: &[usize],
    classes: usize,
) -> SyntheticGradient<f64> {
    let mut sg = config
        .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-2)))
        .build::<f64>()
        .unwrap();
    let len: usize = shape.iter().product();
    let values = (0..len).map(|k| ((k * 7) % 5) as f64 * 0.3 - 0.6).collect();
    let h = Tensor::from_shape_vec(shape, values).unwrap();
    let m = h.mapv(|v| 0.1 * v.sin() + 0.05);
    let labels: Vec<usize> = (0..shape[0]).map(|b| b % classes).collect();
    let ctx = StageContext::new(&h, &h)
        .with_message(&m)
        .with_labels(&labels);
    for _ in 0..5 {
        sg.signal(&ctx, Mode::Learn).unwrap();
    }
    let s = sg
        .signal(
            &StageContext::new(&h, &h).with_labels(&labels),
            Mode::Evaluate,
        )
        .unwrap();
    assert!(
        s.grad_output.iter().any(|&g| g != 0.0),
        "warm-up left M at zero"
    );
    sg
}

const SHAPES: [(&[usize], usize); 3] = [(&[4, 6], 3), (&[2, 5], 10), (&[3, 2, 4], 2)];

#[test]
fn dni_conforms() {
    for model in [SgModel::Linear, SgModel::Mlp { hidden: 7 }] {
        for (shape, classes) in SHAPES {
            ObjectiveConformance::new(shape)
                .with_classes(classes)
                .run(
                    "synthetic gradient",
                    |seed| -> Box<dyn LocalObjective<f64>> {
                        let config = SyntheticGradientConfig::new(seed).with_model(model);
                        Box::new(warmed(config, shape, classes))
                    },
                )
                .unwrap_or_else(|e| panic!("{model:?} {shape:?}: {e}"));
        }
    }
}

#[test]
fn cdni_conforms() {
    for model in [SgModel::Linear, SgModel::Mlp { hidden: 7 }] {
        for (shape, classes) in SHAPES {
            ObjectiveConformance::new(shape)
                .with_classes(classes)
                .run(
                    "conditional synthetic gradient",
                    |seed| -> Box<dyn LocalObjective<f64>> {
                        let config = SyntheticGradientConfig::new(seed)
                            .with_model(model)
                            .with_labels(classes);
                        Box::new(warmed(config, shape, classes))
                    },
                )
                .unwrap_or_else(|e| panic!("{model:?} {shape:?}: {e}"));
        }
    }
}

#[test]
fn bp_lambda_conforms() {
    for lambda in [0.3, 1.0] {
        ObjectiveConformance::new(&[4, 6])
            .run(
                "synthetic gradient BP(λ)",
                |seed| -> Box<dyn LocalObjective<f64>> {
                    let config = SyntheticGradientConfig::new(seed).with_lambda(lambda);
                    Box::new(warmed(config, &[4, 6], 3))
                },
            )
            .unwrap_or_else(|e| panic!("λ = {lambda}: {e}"));
    }
}
