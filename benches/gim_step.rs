//! One Greedy InfoMax step as `locus train --algo gim` builds it on MNIST: 28×28 images cut
//! into a 6×6 grid of 8×8 patches (stride 4), three encoder stages of one 1×1 convolution
//! (128 channels) and ReLU each, every stage learning from its own InfoNCE loss (3
//! prediction steps, 16 negatives drawn from the batch, predictors under Adam 1e-3), the
//! stages under Adam 1e-3, lockstep, batch 64 (the CLI's defaults). The encoder and its
//! objectives are made as `locus-cli`'s `contrastive_model::build_stages` makes them.
//!
//! Run: `cargo bench --bench gim_step`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use locus::prelude::*;
use rand::RngExt;

const BATCH: usize = 64;
const SEED: u64 = 0;

/// Stage `index`'s InfoNCE settings, seeded as `locus-cli`'s `infonce_config` seeds them.
fn infonce(index: usize) -> InfoNceConfig {
    InfoNceConfig::new(SEED.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (index as u64 + 1))
        .with_prediction_steps(3)
        .with_skip_steps(0)
        .with_negatives(16)
        .with_sampling(NegativeSampling::Batch)
        .with_optimizer(OptimizerConfig::Adam(AdamConfig::new(1e-3)))
}

fn gim_step(c: &mut Criterion) {
    // Random pixels: the step's speed does not depend on the values. InfoNCE reads no labels.
    let mut rng = seeded_rng(1);
    let x = Tensor::<f32>::from_shape_simple_fn(vec![BATCH, 28, 28], || rng.random_range(0.0..1.0));
    let labels = vec![0; BATCH];
    let optimizer = OptimizerConfig::Adam(AdamConfig::new(1e-3));
    let mut stages = PatchEncoderConfig::new((1, 28, 28))
        .with_patches((8, 8), (4, 4))
        .with_layers_per_stage(1)
        .build::<f32>(SEED, &optimizer, |i, _| -> Box<dyn LocalObjective<f32>> {
            Box::new(infonce(i).build::<f32>().expect("valid InfoNCE settings"))
        })
        .expect("valid encoder");
    let mut group = c.benchmark_group("gim patches mnist b64");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("3x128 step", |bench| {
        bench.iter(|| {
            Lockstep
                .train_batch(&mut stages, &x, &labels)
                .expect("training step")
        })
    });
    group.finish();
}

criterion_group!(benches, gim_step);
criterion_main!(benches);
