//! One training step of the LeNet-5 that `locus train --model lenet --algo bp` builds, on a
//! batch of 128 MNIST-shaped images: five stages (two convolution/pooling stages, three
//! dense ones), backpropagation through all of them, SGD (lr 0.05, momentum 0.9, the CLI's
//! defaults for bp). Mostly convolutions: each one unfolds its input (im2col) and
//! multiplies through `locus_core::matmul`.
//!
//! Run: `cargo bench --bench lenet_step`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use locus::models::LeNetConfig;
use locus::prelude::*;
use rand::RngExt;

const BATCH: usize = 128;

fn lenet_step(c: &mut Criterion) {
    // Random pixels and labels: the step's speed does not depend on the values.
    let mut rng = seeded_rng(1);
    let x = Tensor::<f32>::from_shape_simple_fn(vec![BATCH, 28, 28], || rng.random_range(0.0..1.0));
    let labels: Vec<usize> = (0..BATCH).map(|_| rng.random_range(0..10)).collect();
    let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.05).with_momentum(0.9));
    let mut stages = LeNetConfig::new((1, 28, 28), 10)
        .build::<f32>(0, &optimizer, |i, n| -> Box<dyn LocalObjective<f32>> {
            if i + 1 == n {
                Box::new(SupervisedLoss::default())
            } else {
                Box::new(UpstreamGradient)
            }
        })
        .expect("valid LeNet");
    let mut group = c.benchmark_group("lenet-5 mnist b128");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("bp step", |bench| {
        bench.iter(|| {
            Lockstep
                .train_batch(&mut stages, &x, &labels)
                .expect("training step")
        })
    });
    group.finish();
}

criterion_group!(benches, lenet_step);
criterion_main!(benches);
