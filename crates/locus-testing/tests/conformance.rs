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

use locus_core::{
    seeded_rng, Activation, Conv2dConfig, Flatten, LinearConfig, Loss, Module, Pool2dConfig,
    Sequential,
};
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

/// One convolution to put through the suite.
#[derive(Clone, Copy)]
struct ConvCase {
    /// `[batch, in_channels, height, width]`.
    input: [usize; 4],
    out_channels: usize,
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
}

impl ConvCase {
    /// A builder of this convolution, with or without bias.
    fn make(self, bias: bool) -> impl Fn(u64) -> Box<dyn Module<f64>> {
        move |seed| {
            Box::new(
                Conv2dConfig::new(self.input[1], self.out_channels, self.kernel)
                    .with_stride(self.stride)
                    .with_padding(self.padding)
                    .with_bias(bias)
                    .init::<f64>(&mut seeded_rng(seed))
                    .unwrap(),
            )
        }
    }

    /// The suite on this convolution's input, with the shapes it must refuse.
    fn suite(&self) -> ModuleConformance {
        ModuleConformance::new(&self.input).with_wrong_input_shapes(wrong_image_shapes(
            self.input,
            self.kernel,
            self.padding,
            true,
        ))
    }
}

/// Square and rectangular kernels and images, strides 1 and 2, paddings 0 to 2, a 1×1
/// kernel, a kernel as large as the padded image, and a single image.
const CONV_CASES: [ConvCase; 7] = [
    ConvCase {
        input: [1, 1, 3, 3],
        out_channels: 1,
        kernel: (2, 2),
        stride: (1, 1),
        padding: (0, 0),
    },
    ConvCase {
        input: [2, 3, 5, 5],
        out_channels: 4,
        kernel: (3, 3),
        stride: (1, 1),
        padding: (0, 0),
    },
    ConvCase {
        input: [2, 2, 6, 7],
        out_channels: 3,
        kernel: (3, 3),
        stride: (2, 2),
        padding: (1, 1),
    },
    ConvCase {
        input: [3, 2, 5, 4],
        out_channels: 2,
        kernel: (2, 3),
        stride: (1, 2),
        padding: (1, 0),
    },
    ConvCase {
        input: [2, 3, 4, 4],
        out_channels: 2,
        kernel: (1, 1),
        stride: (1, 1),
        padding: (0, 0),
    },
    ConvCase {
        input: [1, 3, 7, 6],
        out_channels: 2,
        kernel: (5, 3),
        stride: (2, 2),
        padding: (2, 1),
    },
    ConvCase {
        input: [2, 1, 2, 3],
        out_channels: 3,
        kernel: (4, 5),
        stride: (1, 1),
        padding: (1, 1),
    },
];

/// NCHW shapes a layer must refuse: a rank too low and too high, one channel too many
/// (when the layer fixes the channels), and an image too small for the window, in height
/// and in width (when padding leaves room for one).
fn wrong_image_shapes(
    [n, c, h, w]: [usize; 4],
    kernel: (usize, usize),
    padding: (usize, usize),
    fixed_channels: bool,
) -> Vec<Vec<usize>> {
    let mut shapes = vec![vec![n, c, h], vec![n, c, h, w, 2]];
    if fixed_channels {
        shapes.push(vec![n, c + 1, h, w]);
    }
    if kernel.0 > 2 * padding.0 {
        shapes.push(vec![n, c, kernel.0 - 2 * padding.0 - 1, w]);
    }
    if kernel.1 > 2 * padding.1 {
        shapes.push(vec![n, c, h, kernel.1 - 2 * padding.1 - 1]);
    }
    shapes
}

#[test]
fn conv2d_conforms_with_and_without_bias() {
    for bias in [true, false] {
        for case in CONV_CASES {
            case.suite()
                .run("conv2d", case.make(bias))
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

#[test]
fn conv2d_conforms_for_several_seeds() {
    let case = ConvCase {
        input: [2, 2, 6, 5],
        out_channels: 3,
        kernel: (3, 2),
        stride: (2, 1),
        padding: (1, 1),
    };
    for seed in 1..4 {
        case.suite()
            .with_seed(seed)
            .run("conv2d", case.make(true))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Input shapes and pooling windows: tiling and overlapping windows, rectangular ones,
/// windows that leave a border, and a 1×1 window.
fn pool_cases() -> [([usize; 4], Pool2dConfig); 6] {
    [
        ([2, 3, 4, 4], Pool2dConfig::new((2, 2))),
        ([1, 2, 5, 7], Pool2dConfig::new((2, 3)).with_stride((1, 2))),
        ([3, 1, 6, 6], Pool2dConfig::new((3, 3))),
        ([2, 2, 5, 5], Pool2dConfig::new((3, 3)).with_stride((2, 2))),
        ([2, 2, 3, 5], Pool2dConfig::new((1, 1))),
        ([1, 1, 5, 4], Pool2dConfig::new((2, 2))),
    ]
}

#[test]
fn pooling_conforms() {
    // The suite's inputs are drawn from a continuous distribution, so no two inputs in a
    // window tie (nor come within the finite-difference step of each other): at a tie the
    // maximum, and so its gradient, jumps, and finite differences measure neither side.
    for (shape, config) in pool_cases() {
        let wrong = wrong_image_shapes(shape, config.kernel, (0, 0), false);
        ModuleConformance::new(&shape)
            .with_wrong_input_shapes(wrong.clone())
            .run("max pooling", |_| Box::new(config.max().unwrap()))
            .unwrap_or_else(|e| panic!("{e}"));
        ModuleConformance::new(&shape)
            .with_wrong_input_shapes(wrong)
            .run("average pooling", |_| Box::new(config.avg().unwrap()))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn small_cnn_conforms() {
    // Conv2d → ReLU → MaxPool2d → Flatten → Linear, a LeNet in miniature: 2×8×8 images, 4
    // filters of 3×3 with padding 1 (8×8 out), pooled to 4×4, then 64 → 3. ReLU zeros tie
    // inside a pooling window only where every pre-activation in it is negative; the
    // output and gradient there are 0 on both sides of the tie, so finite differences
    // still hold.
    let cnn = |seed| -> Box<dyn Module<f64>> {
        let mut rng = seeded_rng(seed);
        let conv = Conv2dConfig::new(2, 4, (3, 3))
            .with_padding((1, 1))
            .init::<f64>(&mut rng)
            .unwrap();
        let pool = Pool2dConfig::new((2, 2)).max().unwrap();
        let (h, w) = conv.output_size(8, 8).unwrap();
        let (h, w) = pool.output_size(h, w).unwrap();
        let linear = LinearConfig::new(4 * h * w, 3)
            .init::<f64>(&mut rng)
            .unwrap();
        Box::new(
            Sequential::new()
                .push(conv)
                .push(Activation::Relu)
                .push(pool)
                .push(Flatten)
                .push(linear),
        )
    };
    for seed in 0..3 {
        ModuleConformance::new(&[3, 2, 8, 8])
            .with_wrong_input_shapes(wrong_image_shapes([3, 2, 8, 8], (3, 3), (1, 1), true))
            .with_seed(seed)
            .run("cnn", cnn)
            .unwrap_or_else(|e| panic!("{e}"));
    }
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

#[test]
fn reshape_conforms() {
    for (input, target) in [
        (&[3, 4, 5][..], vec![1, 4, 5]),
        (&[2, 12][..], vec![3, 2, 2]),
        (&[4, 2, 3][..], vec![6]),
    ] {
        let per_sample: usize = target.iter().product();
        ModuleConformance::new(input)
            // A sample with one value too many, and a batch of scalars.
            .with_wrong_input_shapes(vec![vec![input[0], per_sample + 1], vec![input[0]]])
            .run("reshape", |_| {
                Box::new(locus_core::Reshape::new(target.clone()).unwrap())
            })
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn layer_norm_conforms() {
    use locus_core::LayerNormConfig;
    // Over the last axis and over all features of a sample; centred or not (RMS, the
    // length normalisation of Forward-Forward); with and without a learned scale/shift.
    let cases: [(&[usize], Vec<usize>); 4] = [
        (&[5, 4], vec![4]),
        (&[3, 2, 6], vec![6]),
        (&[2, 3, 2, 2], vec![3, 2, 2]),
        (&[1, 1], vec![1]),
    ];
    for (input, normalized) in cases {
        for center in [true, false] {
            for affine in [true, false] {
                if center && normalized == [1] {
                    // One centred value is always 0: its output does not depend on the
                    // input, which the suite rightly allows, but it has nothing to check.
                    continue;
                }
                let config = LayerNormConfig::new(normalized.clone())
                    .with_center(center)
                    .with_affine(affine);
                let mut wrong_last = input.to_vec();
                *wrong_last.last_mut().unwrap() += 1;
                ModuleConformance::new(input)
                    // The trailing axes must be the normalised shape, after a batch axis.
                    .with_wrong_input_shapes(vec![wrong_last, normalized.clone()])
                    .run("layer norm", |_| Box::new(config.init::<f64>().unwrap()))
                    .unwrap_or_else(|e| panic!("{config:?}: {e}"));
            }
        }
    }
}

#[test]
fn layer_norm_in_a_stack_conforms() {
    // Length normalisation, then a dense layer and ReLU: one Forward-Forward stage.
    let stage = |seed| -> Box<dyn Module<f64>> {
        Box::new(
            Sequential::new()
                .push(
                    locus_core::LayerNormConfig::length(6)
                        .init::<f64>()
                        .unwrap(),
                )
                .push(
                    LinearConfig::new(6, 4)
                        .init::<f64>(&mut seeded_rng(seed))
                        .unwrap(),
                )
                .push(Activation::Tanh),
        )
    };
    for seed in 0..3 {
        ModuleConformance::new(&[4, 6])
            .with_seed(seed)
            .run("ff stage", stage)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn batch_norm_conforms() {
    use locus_core::BatchNormConfig;
    // Evaluation with the batch's own statistics, so that `infer` is `forward` as the
    // suite requires; the running statistics change only `infer`, which the next test
    // covers.
    for affine in [true, false] {
        for input in [[6, 4], [2, 3]] {
            let config = BatchNormConfig::new(input[1])
                .with_affine(affine)
                .with_running_stats(false);
            ModuleConformance::new(&input)
                .run("batch norm", |_| Box::new(config.init::<f64>().unwrap()))
                .unwrap_or_else(|e| panic!("{config:?}: {e}"));
        }
    }
}

#[test]
fn batch_norm_with_running_statistics_trains_like_without() {
    use locus_core::{BatchNormConfig, Tensor};
    let x = Tensor::<f64>::from_shape_fn(vec![5, 3], |i| ((i[0] * 3 + i[1]) as f64).sin());
    let g = Tensor::<f64>::from_shape_fn(vec![5, 3], |i| ((i[0] + 2 * i[1]) as f64).cos());
    let tracking = BatchNormConfig::new(3).init::<f64>().unwrap();
    let batch_only = BatchNormConfig::new(3)
        .with_running_stats(false)
        .init::<f64>()
        .unwrap();
    let (y_t, c_t) = tracking.forward(&x).unwrap();
    let (y_b, c_b) = batch_only.forward(&x).unwrap();
    assert_eq!(y_t, y_b);
    let g_t = tracking.backward(&c_t, &g, true).unwrap();
    let g_b = batch_only.backward(&c_b, &g, true).unwrap();
    assert_eq!(g_t.input, g_b.input);
    assert_eq!(g_t.params, g_b.params);
    // Training moved the running statistics off their start (mean 0, variance 1), so
    // evaluation now differs from training on the same batch.
    assert_ne!(tracking.infer(&x).unwrap(), y_t);
}
