//! A stack's training state (weights, optimizer state, step counts) saved after an epoch
//! and loaded into a fresh stack goes on exactly as the stack that kept training; bad
//! states are refused with the file's name and change nothing.

mod support;

use locus_sched::{
    load_checkpoint, load_training_state, save_training_state, EpochPlan, Lockstep, NoObserver,
    Scheduler, Stage,
};
use support::{product_data, stack, weights, Rule};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("locus-state-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn train_epoch(stages: &mut [Stage<f64>], epoch: u64) {
    let plan = EpochPlan {
        batch_size: 16,
        seed: 5,
        epoch,
    };
    Lockstep
        .train_epoch(stages, &product_data(90, 1), plan, &mut NoObserver)
        .unwrap();
}

#[test]
fn a_loaded_state_trains_on_as_the_stack_that_kept_training() {
    let dir = scratch("resume");
    let mut kept = stack(Rule::Backprop, &[12, 10], 3);
    train_epoch(&mut kept, 0);
    save_training_state(&kept, &dir).unwrap();
    train_epoch(&mut kept, 1);

    let mut resumed = stack(Rule::Backprop, &[12, 10], 99);
    load_training_state(&mut resumed, &dir).unwrap();
    assert!(
        resumed.iter().all(|s| s.steps() > 0),
        "step counts restored"
    );
    train_epoch(&mut resumed, 1);
    assert_eq!(weights(&resumed), weights(&kept));

    // The weights alone (a checkpoint of the same directory) lose the momentum: the
    // comparison above can fail.
    let mut weights_only = stack(Rule::Backprop, &[12, 10], 99);
    load_checkpoint(&mut weights_only, &dir).unwrap();
    train_epoch(&mut weights_only, 1);
    assert_ne!(weights(&weights_only), weights(&kept));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_states_are_refused_by_file_and_change_nothing() {
    let dir = scratch("bad");
    let mut saved = stack(Rule::Backprop, &[12, 10], 3);
    train_epoch(&mut saved, 0);
    save_training_state(&saved, &dir).unwrap();
    let mut other = stack(Rule::Backprop, &[12, 10], 4);
    train_epoch(&mut other, 0);
    let before = weights(&other);
    let steps: Vec<u64> = other.iter().map(Stage::steps).collect();
    let unchanged = |other: &[Stage<f64>]| {
        assert_eq!(weights(other), before);
        assert_eq!(other.iter().map(Stage::steps).collect::<Vec<_>>(), steps);
    };

    // The top stage's momentum buffer is missing: the stages below are not changed either.
    let buffer = dir.join("stage3/optimizer/0.npy");
    let bytes = std::fs::read(&buffer).unwrap();
    std::fs::remove_file(&buffer).unwrap();
    let e = load_training_state(&mut other, &dir).unwrap_err();
    assert!(e.to_string().contains("optimizer/0.npy"), "{e}");
    unchanged(&other);

    // A buffer of another shape than its parameter.
    let wrong = dir.join("stage1/optimizer/0.npy");
    std::fs::copy(dir.join("stage2/optimizer/0.npy"), &wrong).unwrap();
    std::fs::write(&buffer, &bytes).unwrap();
    let e = load_training_state(&mut other, &dir).unwrap_err();
    assert!(
        e.to_string().contains("do not match the 2 parameters"),
        "{e}"
    );
    unchanged(&other);

    // Saved from SGD, loaded into stages trained by Adam.
    let mut adam = stack(Rule::Dni, &[12, 10], 4);
    save_training_state(&saved, &dir).unwrap();
    let e = load_training_state(&mut adam, &dir).unwrap_err();
    assert!(e.to_string().contains("'SGD' optimizer"), "{e}");

    // A damaged step file.
    std::fs::write(dir.join("stage2/steps.txt"), "kind SGD\nlearner x\n").unwrap();
    let e = load_training_state(&mut other, &dir).unwrap_err();
    assert!(
        e.to_string().contains("steps.txt") && e.to_string().contains("'learner <count>'"),
        "{e}"
    );
    unchanged(&other);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_optimizer_buffer_of_an_impossible_empty_shape_is_refused() {
    // Optimizer buffers are read without an expected shape. An empty array whose other
    // dimension exceeds any array's size (found by locus-data's parser fuzzing) passed
    // read_npy and made the tensor constructor's `expect` panic.
    let dir = scratch("empty-buffer");
    let mut saved = stack(Rule::Backprop, &[12, 10], 3);
    train_epoch(&mut saved, 0);
    save_training_state(&saved, &dir).unwrap();
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 9223372036854775808), }";
    let mut file = b"\x93NUMPY\x01\x00".to_vec();
    file.extend((header.len() as u16).to_le_bytes());
    file.extend(header.as_bytes());
    std::fs::write(dir.join("stage1/optimizer/0.npy"), file).unwrap();
    let e = load_training_state(&mut saved, &dir).unwrap_err();
    assert!(
        e.to_string().contains("stage1/optimizer/0.npy") && e.to_string().contains("overflows"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
