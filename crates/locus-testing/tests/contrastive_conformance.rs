//! Conformance of the building blocks of contrastive local learning: the `Conv1d` and
//! `Patches` layers, and the `InfoNce` objective under every negative sampling.

use locus_core::{seeded_rng, Activation, Conv1dConfig, Conv2dConfig, Module, Patches, Sequential};
use locus_objectives::{InfoNceConfig, LocalObjective, NegativeSampling};
use locus_testing::conformance::{ModuleConformance, ObjectiveConformance};

/// `(input [batch, channels, length], out_channels, kernel, stride, padding)`.
const CONV1D_CASES: [([usize; 3], usize, usize, usize, usize); 5] = [
    ([1, 1, 3], 1, 2, 1, 0),
    ([2, 3, 9], 4, 3, 1, 0),
    ([2, 2, 10], 3, 5, 2, 2),
    ([3, 2, 4], 2, 1, 1, 0),
    ([2, 1, 2], 3, 4, 1, 1),
];

#[test]
fn conv1d_conforms_with_and_without_bias() {
    for bias in [true, false] {
        for (input, out, kernel, stride, padding) in CONV1D_CASES {
            let [n, c, l] = input;
            let mut wrong = vec![vec![n, c], vec![n, c, l, 2], vec![n, c + 1, l]];
            if kernel > 2 * padding {
                wrong.push(vec![n, c, kernel - 2 * padding - 1]);
            }
            ModuleConformance::new(&input)
                .with_wrong_input_shapes(wrong)
                .run("conv1d", |seed| -> Box<dyn Module<f64>> {
                    Box::new(
                        Conv1dConfig::new(c, out, kernel)
                            .with_stride(stride)
                            .with_padding(padding)
                            .with_bias(bias)
                            .init::<f64>(&mut seeded_rng(seed))
                            .unwrap(),
                    )
                })
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn patches_conform() {
    // (input, patch, stride): overlapping, tiling, rectangular, and a patch as large as
    // the image.
    let cases = [
        ([2, 1, 6, 6], (3, 3), (1, 1)),
        ([1, 2, 8, 8], (4, 4), (4, 4)),
        ([2, 1, 5, 7], (2, 3), (1, 2)),
        ([3, 2, 3, 4], (3, 4), (1, 1)),
    ];
    for (input, patch, stride) in cases {
        let [n, c, h, w] = input;
        let wrong = vec![
            vec![n, c, h],
            vec![n, c, h, w, 2],
            vec![n, c, patch.0 - 1, w],
            vec![n, c, h, patch.1 - 1],
        ];
        ModuleConformance::new(&input)
            .with_wrong_input_shapes(wrong)
            .run("patches", |_| {
                Box::new(Patches::new(patch, stride).unwrap())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn a_per_patch_encoder_conforms() {
    // Patches → 1×1 convolution → ReLU: a dense layer on every 3×3 patch of a 7×7 image.
    let encoder = |seed| -> Box<dyn Module<f64>> {
        let conv = Conv2dConfig::new(9, 4, (1, 1))
            .init::<f64>(&mut seeded_rng(seed))
            .unwrap();
        Box::new(
            Sequential::new()
                .push(Patches::new((3, 3), (2, 2)).unwrap())
                .push(conv)
                .push(Activation::Tanh),
        )
    };
    ModuleConformance::new(&[2, 1, 7, 7])
        .with_wrong_input_shapes(vec![vec![2, 1, 7], vec![2, 2, 7, 7]])
        .run("per-patch encoder", encoder)
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn infonce_conforms_on_sequences_and_grids_for_every_sampling() {
    let samplings = [
        NegativeSampling::Batch,
        NegativeSampling::SameSample,
        NegativeSampling::OtherSamples,
    ];
    // (output shape, prediction steps, negatives)
    let cases: [(&[usize], usize, usize); 4] = [
        (&[3, 4, 5], 2, 6),
        (&[2, 3, 4, 3], 1, 4),
        (&[4, 2, 2], 1, 1),
        (&[2, 5, 6], 4, 12),
    ];
    for sampling in samplings {
        for (shape, steps, negatives) in cases {
            ObjectiveConformance::new(shape)
                .run("infonce", |seed| -> Box<dyn LocalObjective<f64>> {
                    Box::new(
                        InfoNceConfig::new(seed)
                            .with_prediction_steps(steps)
                            .with_negatives(negatives)
                            .with_sampling(sampling)
                            .build::<f64>()
                            .unwrap(),
                    )
                })
                .unwrap_or_else(|e| panic!("{sampling:?} {shape:?}: {e}"));
        }
    }
}
