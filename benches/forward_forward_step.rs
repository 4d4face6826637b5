//! One Forward-Forward training step: the positive and the negative pass through every
//! stage and each stage's update, on a batch of 100 MNIST-sized images (labels written
//! over the first pixels, negatives with wrong labels), for the short configuration
//! (784-500-500) and the paper's network (784-2000-2000-2000-2000). Also the whole
//! trainer step: making the negatives, the step, and the softmax read-out's update.
//!
//! Run: `cargo bench --bench forward_forward_step`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use locus::data::forward_forward::{
    positive_negative_batch, LabelEmbedding, LabelPlacement, NegativeData,
};
use locus::prelude::*;
use rand::RngExt;

const BATCH: usize = 100;

/// 1000 random 28×28 "images" with random labels: speed does not depend on the values.
fn images() -> InMemoryDataset {
    let mut rng = seeded_rng(1);
    let pixels = (0..1000 * 784)
        .map(|_| rng.random_range(0.0..1.0))
        .collect();
    let labels = (0..1000).map(|_| rng.random_range(0..10)).collect();
    InMemoryDataset::new("random images", pixels, vec![28, 28], labels, 10).expect("valid")
}

fn forward_forward_step(c: &mut Criterion) {
    let data = images();
    let negatives =
        NegativeData::WrongLabel(LabelEmbedding::new(LabelPlacement::FirstPixels, 10).unwrap());
    let indices: Vec<usize> = (0..BATCH).collect();
    let batch =
        positive_negative_batch::<f32>(&data, &indices, &negatives, &mut seeded_rng(2)).unwrap();
    let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.001).with_momentum(0.9));
    let stages = |hidden: &[usize]| {
        let mut sizes = vec![784];
        sizes.extend(hidden);
        ForwardForwardMlp::new(sizes)
            .build::<f32>(0, &optimizer, |_, _| -> Box<dyn LocalObjective<f32>> {
                Box::new(ForwardForwardConfig::default().build().unwrap())
            })
            .expect("valid network")
    };
    let mut group = c.benchmark_group("forward-forward b100");
    // Samples of the data set per second (each is run twice: positive and negative).
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    for (name, hidden) in [
        ("784-500-500", &[500, 500][..]),
        ("784-2000x4", &[2000, 2000, 2000, 2000][..]),
    ] {
        let mut s = stages(hidden);
        group.bench_function(format!("{name} step"), |bench| {
            bench.iter(|| {
                Lockstep
                    .train_batch(&mut s, &batch.inputs, &batch.labels)
                    .expect("training step")
            })
        });
    }
    let mut s = stages(&[500, 500]);
    let mut trainer = ForwardForwardTrainer::new(negatives).with_readout(ReadoutConfig::new(0));
    let mut rng = seeded_rng(3);
    group.bench_function(
        "784-500-500 trainer step (negatives, step, read-out)",
        |bench| {
            bench.iter(|| {
                trainer
                    .train_batch(&mut s, &data, &indices, &mut rng)
                    .expect("training step")
            })
        },
    );
    group.finish();
}

criterion_group!(benches, forward_forward_step);
criterion_main!(benches);
