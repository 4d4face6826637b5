//! The conformance suite, run on every module and every objective in the workspace.
//!
//! EVERY NEW MODULE OR LOCAL OBJECTIVE MUST BE ADDED HERE, with at least one test that
//! runs `module_conformance` / `objective_conformance` (or their configurable forms) on
//! it. The submodules hold property tests of the finite-difference checker
//! (`proptests`) and proof that each check can fail (`checks_can_fail`, on the broken
//! implementations of `faulty`).

#[path = "conformance/checks_can_fail.rs"]
mod checks_can_fail;
#[path = "conformance/faulty.rs"]
mod faulty;
#[path = "conformance/proptests.rs"]
mod proptests;

use locus_core::{seeded_rng, Activation, Flatten, LinearConfig, Loss, Module, Sequential};
use locus_objectives::{LocalObjective, SupervisedLoss, UpstreamGradient};
use locus_testing::conformance::{
    module_conformance, objective_conformance, ModuleConformance, ObjectiveConformance,
};

/// A builder of `inputs → outputs` linear layers, with or without bias.
fn linear(inputs: usize, outputs: usize, bias: bool) -> impl Fn(u64) -> Box<dyn Module<f64>> {
    move |seed| {
        Box::new(
            LinearConfig::new(inputs, outputs)
                .with_bias(bias)
                .init::<f64>(&mut seeded_rng(seed))
                .unwrap(),
        )
    }
}

#[test]
fn linear_conforms_with_and_without_bias() {
    for bias in [true, false] {
        for (batch, inputs, outputs) in [(1, 1, 1), (5, 3, 4), (2, 7, 2), (8, 16, 10)] {
            module_conformance("linear", linear(inputs, outputs, bias), &[batch, inputs])
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn linear_conforms_for_several_seeds() {
    for seed in 1..4 {
        ModuleConformance::new(&[4, 6])
            .with_seed(seed)
            .run("linear", linear(6, 3, true))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn activations_conform_on_any_shape() {
    let activations = [
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::LeakyRelu(0.1),
    ];
    for activation in activations {
        for shape in [&[4, 5][..], &[3][..], &[2, 3, 4][..]] {
            // Element-wise: every shape is valid, so there is no wrong one to refuse.
            ModuleConformance::new(shape)
                .with_wrong_input_shapes(Vec::new())
                .run("activation", |_| Box::new(activation))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn activations_keep_the_shape_of_any_input() {
    for activation in [Activation::Relu, Activation::LeakyRelu(0.1)] {
        for shape in [vec![], vec![7], vec![2, 3, 4, 5]] {
            let x = locus_core::Tensor::<f64>::ones(shape.clone());
            let y = Module::<f64>::infer(&activation, &x).unwrap();
            assert_eq!(y.shape(), &shape[..]);
        }
    }
}

#[test]
fn flatten_conforms() {
    // Flatten takes any rank >= 1; only a scalar has no batch axis to keep.
    for shape in [&[3, 2, 4][..], &[2, 5][..], &[4][..]] {
        ModuleConformance::new(shape)
            .with_wrong_input_shapes(vec![vec![]])
            .run("flatten", |_| Box::new(Flatten))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn sequential_mlp_conforms() {
    let mlp = |seed| -> Box<dyn Module<f64>> {
        let mut rng = seeded_rng(seed);
        let mut layer = |i, o| LinearConfig::new(i, o).init::<f64>(&mut rng).unwrap();
        Box::new(
            Sequential::new()
                .push(layer(4, 6))
                .push(Activation::Tanh)
                .push(layer(6, 5))
                .push(Activation::Relu)
                .push(layer(5, 3)),
        )
    };
    for seed in 0..3 {
        ModuleConformance::new(&[5, 4])
            .with_seed(seed)
            .run("mlp", mlp)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn sequential_of_flatten_and_linear_conforms() {
    let model = |seed| -> Box<dyn Module<f64>> {
        let linear = LinearConfig::new(6, 2)
            .init::<f64>(&mut seeded_rng(seed))
            .unwrap();
        Box::new(
            Sequential::new()
                .push(Flatten)
                .push(linear)
                .push(Activation::Sigmoid),
        )
    };
    module_conformance("flatten-linear", model, &[3, 2, 3]).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn supervised_losses_conform() {
    for loss in [Loss::SoftmaxCrossEntropy, Loss::Mse] {
        for shape in [&[6, 4][..], &[1, 1][..], &[3, 10][..]] {
            let make =
                move |_| -> Box<dyn LocalObjective<f64>> { Box::new(SupervisedLoss::new(loss)) };
            objective_conformance(loss.name(), make, shape).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn cross_entropy_conforms_on_large_logits() {
    ObjectiveConformance::new(&[4, 5])
        .with_output_range(-20.0, 20.0)
        .run("cross-entropy", |_| {
            Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn upstream_gradient_conforms() {
    for shape in [&[4, 5][..], &[2, 3, 4][..]] {
        objective_conformance("backprop", |_| Box::new(UpstreamGradient), shape)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
