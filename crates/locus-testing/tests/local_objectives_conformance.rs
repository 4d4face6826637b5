//! Conformance of the rules that need neither a message nor a global error:
//! `ForwardForward` (Hinton 2022), `LocalClassifier` (decoupled greedy learning) and
//! `HsicBottleneck` (Ma et al. 2020, which needs the network input instead).
//!
//! Their signals are exact gradients of their losses, so the finite-difference check runs:
//! the Forward-Forward logistic loss of goodness against the threshold, the cross-entropy
//! of an auxiliary head through that head, and the HSIC bottleneck's weighted difference
//! of two normalised HSIC estimates.

use locus_core::{OptimizerConfig, SgdConfig};
use locus_objectives::{
    BottleneckKernel, ForwardForwardConfig, Goodness, HeadKind, HsicBottleneckConfig,
    HsicEstimator, Kernel, LocalClassifierConfig, LocalObjective,
};
use locus_testing::conformance::ObjectiveConformance;
use locus_testing::finite_diff::FdOptions;

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

fn hsic_suite(output: &[usize], network_input: &[usize], classes: usize) -> ObjectiveConformance {
    ObjectiveConformance::new(output)
        .with_network_input_shape(network_input)
        .with_classes(classes)
}

#[test]
fn the_hsic_bottleneck_conforms_with_the_reference_settings() {
    // ε = 1e-5 makes (KH + εbI) ill-conditioned (condition number near 1e5), so the
    // finite difference takes a larger step, as the estimator's own check does, and λy =
    // 50 scales its rounding: a relative tolerance of 1e-4 (a gradient 1% off is still
    // caught).
    let fd = FdOptions::default()
        .with_eps(1e-4)
        .with_tolerances(1e-5, 1e-4);
    for (output, network_input, classes) in [
        (&[6, 4][..], &[6, 5][..], 3),
        (&[5, 2, 3][..], &[5, 2, 2][..], 2),
        (&[8, 3][..], &[8, 1, 4][..], 10),
    ] {
        hsic_suite(output, network_input, classes)
            .with_fd(fd.clone())
            .run("hsic bottleneck", |_| -> Box<dyn LocalObjective<f64>> {
                Box::new(HsicBottleneckConfig::new(classes).build().unwrap())
            })
            .unwrap_or_else(|e| panic!("{output:?}: {e}"));
    }
}

#[test]
fn the_hsic_bottleneck_conforms_with_every_estimator_and_kernel() {
    let kernels = [
        BottleneckKernel::WidthScaledGaussian { sigma: 0.5 },
        BottleneckKernel::Fixed(Kernel::Gaussian { sigma: 1.5 }),
        BottleneckKernel::Fixed(Kernel::Linear),
        BottleneckKernel::Fixed(Kernel::InverseMultiquadric { c: 1.0 }),
        // Not an exact gradient (σ moves with the batch): the suite skips finite
        // differences and checks the rest.
        BottleneckKernel::Fixed(Kernel::GaussianMedian),
    ];
    let estimators = [
        HsicEstimator::Biased,
        HsicEstimator::Unbiased,
        HsicEstimator::Normalized,
        HsicEstimator::NormalizedCca { epsilon: 1e-2 },
    ];
    for estimator in estimators {
        for kernel in kernels {
            let config = HsicBottleneckConfig::new(3)
                .with_lambdas(0.7, 2.0)
                .with_estimator(estimator)
                .with_kernel(kernel);
            hsic_suite(&[7, 4], &[7, 3], 3)
                .run("hsic bottleneck", |_| -> Box<dyn LocalObjective<f64>> {
                    Box::new(config.build().unwrap())
                })
                .unwrap_or_else(|e| panic!("{estimator:?} {kernel:?}: {e}"));
        }
    }
}

/// The HSIC bottleneck with its gradient 1% too large.
struct OnePercentOff(locus_objectives::HsicBottleneck);

impl LocalObjective<f64> for OnePercentOff {
    fn name(&self) -> String {
        "hsic-bottleneck, 1% off".into()
    }

    fn signal(
        &mut self,
        ctx: &locus_objectives::StageContext<'_, f64>,
        mode: locus_objectives::Mode,
    ) -> locus_core::Result<locus_objectives::LocalSignal<f64>> {
        let mut s = self.0.signal(ctx, mode)?;
        s.grad_output *= 1.01;
        Ok(s)
    }

    fn needs_labels(&self) -> bool {
        true
    }

    fn needs_network_input(&self) -> bool {
        true
    }
}

#[test]
fn the_looser_tolerance_still_catches_a_gradient_one_percent_off() {
    let fd = FdOptions::default()
        .with_eps(1e-4)
        .with_tolerances(1e-5, 1e-4);
    let failure = hsic_suite(&[6, 4], &[6, 5], 3)
        .with_fd(fd)
        .run("hsic bottleneck", |_| -> Box<dyn LocalObjective<f64>> {
            Box::new(OnePercentOff(HsicBottleneckConfig::new(3).build().unwrap()))
        })
        .unwrap_err();
    assert_eq!(
        failure.check,
        locus_testing::conformance::Check::FiniteDifferences,
        "{failure}"
    );
}
