//! A steady-state training step allocates no tensor storage: the buffers of one step
//! serve the next (`locus_core::scratch`). What a step still allocates is bookkeeping
//! (parameter views, caches' lists, boxed errors never made), the same amount every step.

use locus::prelude::*;
use ndarray::Array2;
use rand::RngExt;

const BATCH: usize = 128;

fn objective(rule: &str) -> impl FnMut(usize, usize) -> Box<dyn LocalObjective<f32>> + '_ {
    move |i, n| -> Box<dyn LocalObjective<f32>> {
        if i + 1 == n {
            Box::new(SupervisedLoss::default())
        } else if rule == "dfa" {
            Box::new(DirectFeedback::<f32>::new(i as u64))
        } else {
            Box::new(UpstreamGradient)
        }
    }
}

#[test]
fn a_training_step_allocates_the_same_few_bytes_however_many_steps_ran() {
    let mut rng = seeded_rng(3);
    let x = Array2::<f32>::from_shape_simple_fn((BATCH, 784), || rng.random_range(-1.0..1.0))
        .into_dyn();
    let labels: Vec<usize> = (0..BATCH).map(|_| rng.random_range(0..10)).collect();
    // What one step computes with: activations, caches and gradients, in bytes.
    let step_tensors = 4 * (BATCH * (784 + 1000 + 1000 + 10) * 4 + 784 * 1000 + 1000 * 1000);
    for (rule, feedback) in [
        ("bp", FeedbackRule::Transpose),
        ("fa", FeedbackRule::FixedRandom),
        ("dfa", FeedbackRule::Transpose),
    ] {
        let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.01));
        let mut stages = MlpConfig::new(vec![784, 1000, 1000, 10])
            .with_feedback(feedback)
            .build::<f32>(0, &optimizer, objective(rule))
            .unwrap();
        let mut step = || {
            Lockstep.train_batch(&mut stages, &x, &labels).unwrap();
        };
        // The first steps fill the pool (and draw DFA's matrices).
        for _ in 0..3 {
            step();
        }
        let steps: Vec<_> = (0..20)
            .map(|_| allocation_counter::measure(&mut step))
            .collect();
        let counts: Vec<u64> = steps.iter().map(|m| m.count_total).collect();
        let bytes = steps.iter().map(|m| m.bytes_total).max().unwrap();
        let one = allocation_counter::measure(&mut step);
        let ten = allocation_counter::measure(|| {
            for _ in 0..10 {
                step();
            }
        });
        eprintln!(
            "{rule}: allocations per step {counts:?}, at most {bytes} bytes; still held after \
             one step {} bytes, after ten {}",
            one.bytes_current, ten.bytes_current
        );
        // The same bookkeeping every step; the thread pool that runs the large products
        // allocates now and then for its own queues.
        let (least, most) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
        assert!(most - least <= 3, "{rule}: {counts:?}");
        assert!(most < 200, "{rule}: {counts:?}");
        assert!(
            bytes * 100 < step_tensors as u64,
            "{rule}: a step allocates {bytes} bytes, more than 1% of its {step_tensors} bytes \
             of tensors"
        );
        // What a step keeps (its report, the objectives' last-batch figures) replaces
        // what the step before kept: nothing piles up.
        assert!(
            ten.bytes_current <= one.bytes_current + 4096,
            "{rule}: {} bytes held after one step, {} after ten",
            one.bytes_current,
            ten.bytes_current
        );
    }
}
