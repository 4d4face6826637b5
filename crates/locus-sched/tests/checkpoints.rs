//! Checkpoints written by an observer can be read back into fresh stages (and by NumPy:
//! the files are plain `.npy`), and bad files are refused with the file's name.

mod support;

use locus_sched::{
    load_checkpoint, predict, save_checkpoint, Checkpoints, EpochPlan, Error, Pipelined, Scheduler,
};
use support::{product_data, stack, weights, Rule};

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("locus-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn an_observer_writes_checkpoints_that_load_back() {
    let dir = scratch("roundtrip");
    let mut stages = stack(Rule::DirectFeedback, &[12, 10], 3);
    let mut checkpoints = Checkpoints::new(&dir, 2).unwrap();
    let data = product_data(90, 1);
    let mut after_epoch_4 = Vec::new();
    for epoch in 0..5 {
        let plan = EpochPlan {
            batch_size: 16,
            seed: 0,
            epoch,
        };
        Pipelined::default()
            .train_epoch(&mut stages, &data, plan, &mut checkpoints)
            .unwrap();
        checkpoints.result().unwrap();
        if epoch == 3 {
            after_epoch_4 = weights(&stages);
        }
    }
    assert_eq!(
        checkpoints.written(),
        &[dir.join("epoch-2"), dir.join("epoch-4")]
    );
    let header = std::fs::read(dir.join("epoch-4/stage1/1.weight.npy")).unwrap();
    assert!(header.starts_with(b"\x93NUMPY\x01\x00"));
    let text = String::from_utf8_lossy(&header[10..80]);
    assert!(
        text.contains("'descr': '<f8'") && text.contains("(8, 12)"),
        "{text}"
    );

    let mut fresh = stack(Rule::DirectFeedback, &[12, 10], 99);
    assert_ne!(weights(&fresh), after_epoch_4);
    load_checkpoint(&mut fresh, &dir.join("epoch-4")).unwrap();
    assert_eq!(weights(&fresh), after_epoch_4);

    // Saving the final weights and loading them gives the same predictions.
    save_checkpoint(&stages[..], &dir.join("final")).unwrap();
    load_checkpoint(&mut fresh, &dir.join("final")).unwrap();
    let batch = locus_data::gather::<f64>(&data, &[0, 1, 2]).unwrap();
    assert_eq!(
        predict(&fresh, &batch.inputs).unwrap(),
        predict(&stages, &batch.inputs).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_checkpoints_are_refused_and_change_nothing() {
    let dir = scratch("bad");
    let stages = stack(Rule::Backprop, &[12, 10], 3);
    save_checkpoint(&stages[..], &dir).unwrap();
    let mut other = stack(Rule::Backprop, &[12, 10], 4);
    let before = weights(&other);

    // A network of another shape.
    let mut wider = stack(Rule::Backprop, &[13, 10], 4);
    let e = load_checkpoint(&mut wider, &dir).unwrap_err();
    assert!(matches!(e, Error::Checkpoint { .. }), "{e}");
    assert!(
        e.to_string().contains("1.weight.npy") && e.to_string().contains("[8, 12]"),
        "{e}"
    );

    // A missing file, then a truncated one: the other stages are left untouched.
    let victim = dir.join("stage3/0.bias.npy");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::remove_file(&victim).unwrap();
    let e = load_checkpoint(&mut other, &dir).unwrap_err();
    assert!(e.to_string().contains("0.bias.npy"), "{e}");
    std::fs::write(&victim, &bytes[..bytes.len() - 3]).unwrap();
    let e = load_checkpoint(&mut other, &dir).unwrap_err();
    assert!(e.to_string().contains("0.bias.npy"), "{e}");
    assert_eq!(weights(&other), before);

    // f64 files into f32 stages.
    std::fs::write(&victim, &bytes).unwrap();
    let mut single = locus_models::MlpConfig::new(vec![8, 12, 10, 3])
        .build::<f32>(
            0,
            &locus_core::OptimizerConfig::Sgd(locus_core::SgdConfig::new(0.1)),
            |i, n| -> Box<dyn locus_objectives::LocalObjective<f32>> {
                if i + 1 == n {
                    Box::new(locus_objectives::SupervisedLoss::default())
                } else {
                    Box::new(locus_objectives::UpstreamGradient)
                }
            },
        )
        .unwrap();
    let e = load_checkpoint(&mut single, &dir).unwrap_err();
    assert!(
        e.to_string().contains("<f8") && e.to_string().contains("f32"),
        "{e}"
    );
    assert!(Checkpoints::new(&dir, 0).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_checkpoint_that_cannot_be_written_is_reported() {
    let file = scratch("not-a-dir");
    std::fs::write(&file, b"a file where a directory should be").unwrap();
    let mut checkpoints = Checkpoints::new(&file, 1).unwrap();
    let mut stages = stack(Rule::Backprop, &[12, 10], 3);
    let plan = EpochPlan {
        batch_size: 16,
        seed: 0,
        epoch: 0,
    };
    locus_sched::Lockstep
        .train_epoch(&mut stages, &product_data(40, 1), plan, &mut checkpoints)
        .unwrap();
    let e = checkpoints.result().unwrap_err();
    assert!(e.to_string().contains("cannot write"), "{e}");
    assert!(checkpoints.result().is_ok(), "reported once");
    std::fs::remove_file(&file).unwrap();
}
