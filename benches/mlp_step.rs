//! One training step of a 784-1000-1000-10 tanh MLP at batch 128 under each learning rule
//! (backprop, feedback alignment, direct feedback alignment, the three sign-symmetry
//! variants, synthetic gradients with and without labels; backprop also with ReLU and
//! momentum, the step of `locus train`'s defaults), and the matrix products
//! at its shapes (the machine's practical ceiling): `locus_core::matmul`, the kernel
//! every dense layer uses, and `ndarray`'s `dot` beside it. The same workloads as
//! `../shared/anchors/torch_baseline.py`, so the two can be compared as a ratio.
//!
//! Run: `cargo bench --bench mlp_step`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use locus::prelude::*;
use ndarray::Array2;
use rand::RngExt;

const BATCH: usize = 128;

fn random_matrix(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    let mut rng = seeded_rng(seed);
    Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-1.0..1.0))
}

fn sgemm(c: &mut Criterion) {
    let mut group = c.benchmark_group("sgemm");
    for (m, k, n) in [(128, 784, 1000), (128, 1000, 1000), (1024, 1024, 1024)] {
        let a = random_matrix(m, k, 1);
        let b = random_matrix(k, n, 2);
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        group.bench_function(format!("{m}x{k}x{n}"), |bench| {
            bench.iter(|| locus::core::matmul(&a.view(), &b.view()))
        });
        group.bench_function(format!("{m}x{k}x{n} ndarray dot"), |bench| {
            bench.iter(|| a.dot(&b))
        });
    }
    group.finish();
}

/// What the hidden stages of a rule learn from.
#[derive(Clone, Copy)]
enum Hidden {
    /// The message from above, through `Wᵀ` or the layer's feedback matrix.
    Message,
    /// The output error through a fixed random matrix (DFA).
    Direct,
    /// A linear synthetic-gradient model, label-conditioned or not (cDNI, DNI).
    Synthetic { conditional: bool },
}

fn objective(hidden: Hidden) -> impl FnMut(usize, usize) -> Box<dyn LocalObjective<f32>> {
    move |i, n| -> Box<dyn LocalObjective<f32>> {
        if i + 1 == n {
            return Box::new(SupervisedLoss::default());
        }
        match hidden {
            Hidden::Message => Box::new(UpstreamGradient),
            Hidden::Direct => Box::new(DirectFeedback::<f32>::new(i as u64)),
            Hidden::Synthetic { conditional } => {
                let mut config = SyntheticGradientConfig::new(i as u64);
                if conditional {
                    config = config.with_labels(10);
                }
                Box::new(config.build::<f32>().expect("valid settings"))
            }
        }
    }
}

/// One SGD step of the 784-1000-1000-10 tanh MLP at batch 128, for every rule.
fn training_step(c: &mut Criterion) {
    let x = random_matrix(BATCH, 784, 3).into_dyn();
    let mut rng = seeded_rng(4);
    let labels: Vec<usize> = (0..BATCH).map(|_| rng.random_range(0..10)).collect();
    let mut group = c.benchmark_group("mlp 784-1000-1000-10 b128");
    group.throughput(Throughput::Elements(BATCH as u64));
    let rules = [
        ("bp step", FeedbackRule::Transpose, Hidden::Message),
        ("fa step", FeedbackRule::FixedRandom, Hidden::Message),
        ("dfa step", FeedbackRule::Transpose, Hidden::Direct),
        ("usf step", FeedbackRule::SignSymmetry, Hidden::Message),
        ("brsf step", FeedbackRule::BatchRandomSign, Hidden::Message),
        ("frsf step", FeedbackRule::FixedRandomSign, Hidden::Message),
        (
            "dni step",
            FeedbackRule::Transpose,
            Hidden::Synthetic { conditional: false },
        ),
        (
            "cdni step",
            FeedbackRule::Transpose,
            Hidden::Synthetic { conditional: true },
        ),
    ];
    for (name, feedback, hidden) in rules {
        let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.01));
        let mut stages = MlpConfig::new(vec![784, 1000, 1000, 10])
            .with_feedback(feedback)
            .build::<f32>(0, &optimizer, objective(hidden))
            .expect("valid MLP");
        group.bench_function(name, |bench| {
            bench.iter(|| {
                Lockstep
                    .train_batch(&mut stages, &x, &labels)
                    .expect("training step")
            })
        });
    }
    // The step `locus train --algo bp --batch-size 128` takes with its defaults: ReLU and
    // SGD with momentum 0.9 (one more pass over every weight than plain SGD), for the
    // comparison with the command's own rate in reproduce/cli_speed.sh.
    let optimizer = SgdConfig::new(0.05).with_momentum(0.9);
    let mut stages = MlpConfig::new(vec![784, 1000, 1000, 10])
        .with_activation(Activation::Relu)
        .build::<f32>(
            0,
            &OptimizerConfig::Sgd(optimizer),
            objective(Hidden::Message),
        )
        .expect("valid MLP");
    group.bench_function("bp step relu momentum (locus train defaults)", |bench| {
        bench.iter(|| {
            Lockstep
                .train_batch(&mut stages, &x, &labels)
                .expect("training step")
        })
    });
    group.finish();
}

criterion_group!(benches, sgemm, training_step);
criterion_main!(benches);
