//! The read-out after the hidden stages: in the first phase only the stages below the top
//! learn, each from its own objective; in the second only the top, on their frozen output;
//! stacks whose hidden stages wait for a signal from above are refused.

mod support;

use locus_sched::{EpochPlan, NoObserver, ReadoutLast, Scheduler};
use support::{product_data, stack, weights, Rule};

fn plan(epoch: u64) -> EpochPlan {
    EpochPlan {
        batch_size: 16,
        seed: 5,
        epoch,
    }
}

#[test]
fn the_hidden_stages_learn_first_then_the_read_out_alone() {
    let data = product_data(120, 2);
    let mut stages = stack(Rule::Local, &[6, 6], 0);
    let top = stages.len() - 1;
    let mut scheduler = ReadoutLast::new(2).unwrap();
    let start = weights(&stages);
    let per_stage = |w: &[locus_core::Tensor<f64>], s: usize| -> Vec<locus_core::Tensor<f64>> {
        // Two tensors (weight, bias) per stage's linear layer.
        w[2 * s..2 * s + 2].to_vec()
    };
    for epoch in 0..2 {
        let report = scheduler
            .train_epoch(&mut stages, &data, plan(epoch), &mut NoObserver)
            .unwrap();
        assert_eq!(report.stage_losses[top], 0.0, "the top does not learn yet");
        assert!(report.stage_losses[..top].iter().all(|&l| l != 0.0));
    }
    let hidden_done = weights(&stages);
    assert_eq!(per_stage(&hidden_done, top), per_stage(&start, top));
    for s in 0..top {
        assert_ne!(
            per_stage(&hidden_done, s),
            per_stage(&start, s),
            "stage {s}"
        );
    }
    for epoch in 2..4 {
        let report = scheduler
            .train_epoch(&mut stages, &data, plan(epoch), &mut NoObserver)
            .unwrap();
        assert!(report.stage_losses[..top].iter().all(|&l| l == 0.0));
        assert_eq!(report.loss, report.stage_losses[top]);
    }
    let end = weights(&stages);
    for s in 0..top {
        assert_eq!(
            per_stage(&end, s),
            per_stage(&hidden_done, s),
            "stage {s} is frozen"
        );
    }
    assert_ne!(per_stage(&end, top), per_stage(&hidden_done, top));
}

#[test]
fn stacks_that_need_a_signal_from_above_and_no_hidden_epochs_are_refused() {
    let data = product_data(40, 1);
    let mut bp = stack(Rule::Backprop, &[6], 0);
    let e = ReadoutLast::new(1)
        .unwrap()
        .train_epoch(&mut bp, &data, plan(0), &mut NoObserver)
        .unwrap_err();
    assert!(
        e.to_string().contains("stage1") && e.to_string().contains("signal from above"),
        "{e}"
    );
    let e = ReadoutLast::new(0).unwrap_err();
    assert!(e.to_string().contains(">= 1 epoch"), "{e}");
}
