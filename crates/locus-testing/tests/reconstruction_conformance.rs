//! Conformance of the reconstruction family: the `Reconstruction` objective with each
//! decoder and loss, and the `SparseCoding` (unrolled ISTA) layer.
//!
//! The ridge decoder is zero before its first fit, which would make the gradient checks
//! trivial, so the objectives handed to the suite have first learned on a few batches of
//! the suite's shape. The tied decoder reads the encoder's weight from the module it is
//! attached to, so each one is attached to a seeded `Linear` first. Binary cross-entropy
//! needs targets in `[0, 1]`, which the suite's inputs (uniform on `[-1, 1]`) are not: its
//! gradient is checked with `check_objective` on a context of its own.

use locus_core::{
    seeded_rng, LinearConfig, Module, OptimizerConfig, SgdConfig, SparseCodingConfig, Tensor,
};
use locus_objectives::{
    Decoder, LocalObjective, Mode, Reconstruction, ReconstructionConfig, ReconstructionLoss,
    StageContext,
};
use locus_testing::conformance::{ModuleConformance, ObjectiveConformance};
use locus_testing::finite_diff::{check_objective, FdOptions};

const OUTPUT: [usize; 2] = [4, 3];
const INPUT: [usize; 2] = [4, 5];

/// A deterministic `[batch, width]` tensor with values in `[lo, lo + span)`.
fn filled(shape: &[usize], lo: f64, span: f64, salt: usize) -> Tensor<f64> {
    let len: usize = shape.iter().product();
    let values = (0..len)
        .map(|k| lo + span * (((k * 37 + salt * 11 + 5) % 97) as f64 / 97.0))
        .collect();
    Tensor::from_shape_vec(shape.to_vec(), values).unwrap()
}

/// A reconstruction objective that has learned for three batches, and, when tied, is
/// attached to a seeded encoder `Linear(5 → 3)`.
fn warmed(config: ReconstructionConfig, seed: u64) -> Reconstruction<f64> {
    let mut objective = config.with_seed(seed).build::<f64>().unwrap();
    let encoder = LinearConfig::new(INPUT[1], OUTPUT[1])
        .init::<f64>(&mut seeded_rng(seed))
        .unwrap();
    objective.attach_module(&encoder).unwrap();
    for salt in 0..3 {
        let x = filled(&INPUT, -1.0, 2.0, salt);
        let h = filled(&OUTPUT, -1.0, 2.0, salt + 10);
        objective
            .signal(&StageContext::new(&x, &h), Mode::Learn)
            .unwrap();
    }
    objective
}

fn decoders() -> [Decoder; 4] {
    [
        Decoder::Linear,
        Decoder::Tied,
        Decoder::Ridge {
            lambda: 0.1,
            refit_every: 1,
        },
        Decoder::Ridge {
            lambda: 1e-3,
            refit_every: 2,
        },
    ]
}

#[test]
fn reconstruction_conforms_with_every_decoder() {
    for decoder in decoders() {
        for seed in 0..2 {
            ObjectiveConformance::new(&OUTPUT)
                .with_input_shape(&INPUT)
                .with_seed(seed)
                .run("reconstruction", |seed| -> Box<dyn LocalObjective<f64>> {
                    Box::new(warmed(ReconstructionConfig::new(decoder), seed))
                })
                .unwrap_or_else(|e| panic!("{decoder:?}: {e}"));
        }
    }
}

#[test]
fn reconstruction_conforms_on_image_shaped_inputs() {
    // A first stage sees [batch, 28, 28]-like inputs; the objective flattens them.
    ObjectiveConformance::new(&[3, 4])
        .with_input_shape(&[3, 2, 3])
        .run("reconstruction", |seed| -> Box<dyn LocalObjective<f64>> {
            Box::new(
                ReconstructionConfig::new(Decoder::Linear)
                    .with_seed(seed)
                    .build::<f64>()
                    .unwrap(),
            )
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn binary_cross_entropy_gradient_matches_finite_differences() {
    for decoder in [Decoder::Linear, Decoder::Tied] {
        let config = ReconstructionConfig::new(decoder)
            .with_loss(ReconstructionLoss::BinaryCrossEntropy)
            .with_optimizer(OptimizerConfig::Sgd(SgdConfig::new(0.1)));
        let mut objective = config.build::<f64>().unwrap();
        let encoder = LinearConfig::new(INPUT[1], OUTPUT[1])
            .init::<f64>(&mut seeded_rng(4))
            .unwrap();
        objective.attach_module(&encoder).unwrap();
        let x = filled(&INPUT, 0.0, 1.0, 1);
        let h = filled(&OUTPUT, -2.0, 4.0, 2);
        let ctx = StageContext::new(&x, &h);
        for _ in 0..3 {
            objective.signal(&ctx, Mode::Learn).unwrap();
        }
        let report = check_objective(&mut objective, &ctx, &FdOptions::default())
            .unwrap_or_else(|e| panic!("{decoder:?}: {e}"));
        assert!(report.coordinates > 0);
        // Pure in Evaluate, and refuses targets outside [0, 1].
        let a = objective.signal(&ctx, Mode::Evaluate).unwrap();
        let b = objective.signal(&ctx, Mode::Evaluate).unwrap();
        assert_eq!((a.loss, &a.grad_output), (b.loss, &b.grad_output));
        let outside = filled(&INPUT, -1.0, 2.0, 1);
        let e = objective
            .signal(&StageContext::new(&outside, &h), Mode::Learn)
            .unwrap_err();
        assert!(e.to_string().contains("[0, 1]"), "{e}");
    }
}

#[test]
fn sparse_coding_conforms() {
    for (steps, nonnegative) in [(1, false), (3, false), (4, true)] {
        for seed in 0..3 {
            ModuleConformance::new(&[4, 6])
                .with_seed(seed)
                .run("sparse coding", |seed| -> Box<dyn Module<f64>> {
                    Box::new(
                        SparseCodingConfig::new(6, 5)
                            .with_steps(steps)
                            .with_l1(0.05)
                            .with_nonnegative(nonnegative)
                            .init::<f64>(&mut seeded_rng(seed))
                            .unwrap(),
                    )
                })
                .unwrap_or_else(|e| panic!("steps {steps}, nonnegative {nonnegative}: {e}"));
        }
    }
}
