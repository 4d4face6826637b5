//! Conformance of the feedback-alignment family: `Linear` under every backward rule, and
//! the `DirectFeedback` objective.
//!
//! A layer with a non-exact rule cannot pass the finite-difference check on `backward`
//! (its input gradient is deliberately not the true one). What it must do instead:
//! - `backward_exact` passes the whole module suite (checked through a wrapper whose
//!   `backward` is the layer's `backward_exact`);
//! - `backward` gives the same parameter gradients as `backward_exact` (the rules change
//!   only the message sent down) and sends `δx = δy Bᵀ` with `B` the layer's feedback
//!   matrix.

use locus_core::{
    seeded_rng, Cache, FeedbackRule, Gradients, Linear, LinearConfig, Module, Param, ParamMut,
    Result, Tensor,
};
use locus_objectives::{DirectFeedback, LocalObjective};
use locus_testing::conformance::{ModuleConformance, ObjectiveConformance};
use ndarray::Ix2;

/// A module whose `backward` is the wrapped module's `backward_exact`.
struct Exact(Box<dyn Module<f64>>);

impl Module<f64> for Exact {
    fn name(&self) -> String {
        format!("exact {}", self.0.name())
    }
    fn forward(&self, input: &Tensor<f64>) -> Result<(Tensor<f64>, Cache<f64>)> {
        self.0.forward(input)
    }
    fn backward(
        &self,
        cache: &Cache<f64>,
        grad_output: &Tensor<f64>,
        need_input_grad: bool,
    ) -> Result<Gradients<f64>> {
        self.0.backward_exact(cache, grad_output, need_input_grad)
    }
    fn params(&self) -> Vec<Param<'_, f64>> {
        self.0.params()
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_, f64>> {
        self.0.params_mut()
    }
}

const RULES: [FeedbackRule; 5] = [
    FeedbackRule::Transpose,
    FeedbackRule::FixedRandom,
    FeedbackRule::SignSymmetry,
    FeedbackRule::BatchRandomSign,
    FeedbackRule::FixedRandomSign,
];

fn linear(rule: FeedbackRule, inputs: usize, outputs: usize, seed: u64) -> Linear<f64> {
    LinearConfig::new(inputs, outputs)
        .with_feedback(rule)
        .init::<f64>(&mut seeded_rng(seed))
        .unwrap()
}

#[test]
fn exact_backward_of_every_rule_conforms() {
    for rule in RULES {
        for (batch, inputs, outputs) in [(1, 1, 1), (5, 3, 4), (8, 16, 10)] {
            ModuleConformance::new(&[batch, inputs])
                .run(rule.short_name(), |seed| {
                    Box::new(Exact(Box::new(linear(rule, inputs, outputs, seed))))
                })
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn the_transpose_rule_is_exact_and_passes_the_plain_suite() {
    ModuleConformance::new(&[4, 6])
        .run("linear with the transpose rule", |seed| {
            Box::new(linear(FeedbackRule::Transpose, 6, 3, seed))
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn rules_change_only_the_message() {
    let x = Tensor::<f64>::from_shape_fn(vec![5, 4], |i| 0.3 * i[0] as f64 - 0.2 * i[1] as f64);
    let g = Tensor::<f64>::from_shape_fn(vec![5, 3], |i| (i[0] as f64 - i[1] as f64) * 0.1);
    for rule in RULES {
        let layer = linear(rule, 4, 3, 7);
        let (_, cache) = layer.forward(&x).unwrap();
        let exact = layer.backward_exact(&cache, &g, true).unwrap();
        let ruled = layer.backward(&cache, &g, true).unwrap();
        assert_eq!(exact.params, ruled.params, "{rule:?}");
        if rule == FeedbackRule::BatchRandomSign {
            // A fresh draw per pass: compare signs with the weight instead.
            continue;
        }
        let b = layer
            .feedback_matrix()
            .unwrap()
            .into_dimensionality::<Ix2>()
            .unwrap();
        let g2 = g.clone().into_dimensionality::<Ix2>().unwrap();
        let expected = g2.dot(&b.t()).into_dyn();
        let got = ruled.input.unwrap();
        assert!(
            got.iter()
                .zip(expected.iter())
                .all(|(a, b)| (a - b).abs() < 1e-12),
            "{rule:?}"
        );
        if rule != FeedbackRule::Transpose {
            assert_ne!(
                got,
                exact.input.clone().unwrap(),
                "{rule:?} should not be exact"
            );
        }
    }
}

#[test]
fn direct_feedback_conforms() {
    for (output, classes) in [(&[4, 6][..], 3), (&[2, 5][..], 10), (&[3, 2, 4][..], 2)] {
        ObjectiveConformance::new(output)
            .with_global_error_shape(&[output[0], classes])
            .run("direct feedback", |seed| -> Box<dyn LocalObjective<f64>> {
                Box::new(DirectFeedback::<f64>::new(seed))
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

fn conv(rule: FeedbackRule, seed: u64) -> locus_core::Conv2d<f64> {
    locus_core::Conv2dConfig::new(2, 3, (3, 2))
        .with_padding((1, 0))
        .with_stride((2, 1))
        .with_feedback(rule)
        .init::<f64>(&mut seeded_rng(seed))
        .unwrap()
}

#[test]
fn exact_backward_of_every_conv_rule_conforms() {
    for rule in RULES {
        ModuleConformance::new(&[2, 2, 5, 4])
            .with_wrong_input_shapes(vec![vec![2, 3, 5, 4], vec![2, 2, 5]])
            .run(rule.short_name(), |seed| {
                Box::new(Exact(Box::new(conv(rule, seed))))
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn conv_rules_change_only_the_message() {
    let x = Tensor::<f64>::from_shape_fn(vec![2, 2, 5, 4], |i| {
        ((i[0] * 7 + i[1] * 5 + i[2] * 3 + i[3]) % 11) as f64 * 0.1 - 0.5
    });
    for rule in RULES {
        let layer = conv(rule, 3);
        let (y, cache) = layer.forward(&x).unwrap();
        let g = y.mapv(|v| v.sin());
        let exact = layer.backward_exact(&cache, &g, true).unwrap();
        let ruled = layer.backward(&cache, &g, true).unwrap();
        assert_eq!(exact.params, ruled.params, "{rule:?}");
        let (a, b) = (exact.input.unwrap(), ruled.input.unwrap());
        if rule == FeedbackRule::Transpose {
            assert_eq!(a, b);
        } else {
            assert_ne!(a, b, "{rule:?} should not send the exact gradient");
            assert_eq!(layer.diagnostics()[0].0, "weight_alignment_deg");
        }
    }
}
