//! Conformance of the two rules that need neither a message nor a global error:
//! `ForwardForward` (Hinton 2022) and `LocalClassifier` (decoupled greedy learning).
//!
//! Both signals are exact gradients of their losses, so the finite-difference check runs:
//! the Forward-Forward logistic loss of goodness against the threshold, and the
//! cross-entropy of an auxiliary head through that head.

use locus_core::{OptimizerConfig, SgdConfig};
use locus_objectives::{
    ForwardForwardConfig, Goodness, HeadKind, LocalClassifierConfig, LocalObjective,
};
use locus_testing::conformance::ObjectiveConformance;

#[test]
fn forward_forward_conforms() {
    // Batches of positive-then-negative rows (an even count); outputs of any rank.
    for shape in [&[4, 6][..], &[2, 1][..], &[6, 3][..], &[2, 2, 3][..]] {
        for goodness in [Goodness::SumOfSquares, Goodness::MeanOfSquares] {
            for (threshold, peer) in [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (1.0, 0.3)] {
                let config = ForwardForwardConfig::default()
                    .with_goodness(goodness)
                    .with_threshold(threshold)
                    .with_peer_normalization(peer, 0.9);
                ObjectiveConformance::new(shape)
                    .run("forward-forward", |_| -> Box<dyn LocalObjective<f64>> {
                        Box::new(config.build().unwrap())
                    })
                    .unwrap_or_else(|e| panic!("{config:?}: {e}"));
            }
        }
    }
}

#[test]
fn forward_forward_conforms_far_from_the_threshold() {
    // Large activities put the sigmoid deep in saturation on both sides.
    ObjectiveConformance::new(&[4, 5])
        .with_output_range(-6.0, 6.0)
        .run("forward-forward", |_| -> Box<dyn LocalObjective<f64>> {
            Box::new(ForwardForwardConfig::default().build().unwrap())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn local_classifier_conforms() {
    for head in [HeadKind::Linear, HeadKind::Mlp { hidden: 6 }] {
        for (shape, classes) in [(&[5, 4][..], 3), (&[1, 7][..], 2), (&[3, 2, 3][..], 10)] {
            for seed in 0..2 {
                ObjectiveConformance::new(shape)
                    .with_classes(classes)
                    .with_seed(seed)
                    .run("local classifier", |seed| -> Box<dyn LocalObjective<f64>> {
                        Box::new(
                            LocalClassifierConfig::new(classes, seed)
                                .with_head(head)
                                .with_optimizer(OptimizerConfig::Sgd(SgdConfig::new(0.1)))
                                .build::<f64>()
                                .unwrap(),
                        )
                    })
                    .unwrap_or_else(|e| panic!("{head:?} {shape:?}: {e}"));
            }
        }
    }
}
