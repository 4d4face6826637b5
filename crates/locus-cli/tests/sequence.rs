//! `locus train --model lstm --dataset copy|repeat-copy`: the JSON contract with the
//! curriculum's outcome, the result files, reproducibility, and clear errors.

use std::process::Output;

mod common;
use common::{last_json_line, scratch};

/// Runs `locus train --model lstm ARGS`.
fn locus(args: &[&str]) -> Output {
    let mut all = vec!["train", "--model", "lstm"];
    all.extend_from_slice(args);
    common::locus(&all)
}

const QUICK: &[&str] = &[
    "--hidden",
    "16",
    "--truncation",
    "2",
    "--epochs",
    "3",
    "--batches-per-epoch",
    "4",
    "--batch-size",
    "8",
    "--eval-size",
    "16",
    "--optimizer",
    "adam",
    "--lr",
    "0.01",
    "--start-length",
    "2",
    "--json",
];

#[test]
fn dni_on_repeat_copy_keeps_the_json_contract_and_writes_results() {
    let dir = scratch("contract");
    let out = dir.join("run");
    let mut args = vec!["--dataset", "repeat-copy", "--algo", "dni", "--seed", "3"];
    args.extend_from_slice(QUICK);
    args.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = locus(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("N=2"),
        "one line per epoch with the length: {err}"
    );
    let j = last_json_line(&o);
    for key in [
        "algo",
        "dataset",
        "epochs",
        "seed",
        "test_accuracy",
        "train_loss",
        "wall_s",
        "samples_per_s",
        "stages",
        "curriculum",
    ] {
        assert!(j.get(key).is_some(), "missing {key}: {j}");
    }
    assert_eq!(j["algo"], "dni");
    assert_eq!(j["dataset"], "repeat-copy");
    assert_eq!(j["epochs"], 3);
    let acc = j["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert!(j["train_loss"].as_f64().unwrap().is_finite());
    let stages = j["stages"].as_array().unwrap();
    assert_eq!(stages[0]["name"], "lstm");
    assert!(stages[0]["objective"]
        .as_str()
        .unwrap()
        .contains("synthetic-gradient"));
    assert_eq!(stages[1]["name"], "readout");
    // 2 + 2 + 2·2 steps in chunks of 2: there are boundaries, so the model is measured.
    assert!(stages[0]["sg_relative_error"].as_f64().is_some(), "{j}");
    let c = &j["curriculum"];
    assert_eq!(c["truncation"], 2);
    assert_eq!(c["start_length"], 2);
    assert_eq!(c["batches"], 12);
    assert!(c["longest_solved"].as_u64().is_some());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(written["curriculum"], j["curriculum"]);
    let csv = std::fs::read_to_string(out.join("epochs.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(
        header.contains("curriculum.length") && header.contains("lstm.sg_relative_error"),
        "{header}"
    );
    assert_eq!(csv.lines().count(), 4, "a header and three epochs");
    assert!(out.join("curves.png").exists());
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = |seed: &str| {
        let mut args = vec!["--dataset", "copy", "--algo", "bp", "--seed", seed];
        args.extend_from_slice(QUICK);
        let o = locus(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let j = last_json_line(&o);
        (j["history"].clone(), j["curriculum"].clone())
    };
    let strip = |(mut h, c): (serde_json::Value, serde_json::Value)| {
        for r in h.as_array_mut().unwrap() {
            r["train_s"] = serde_json::Value::Null;
        }
        (h, c)
    };
    assert_eq!(strip(run("5")), strip(run("5")));
    assert_ne!(strip(run("5")).0, strip(run("6")).0);
}

#[test]
fn bad_sequence_arguments_are_named() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--dataset", "copy", "--truncation", "0"],
            "truncation length T",
        ),
        (
            &["--dataset", "copy", "--start-length", "0"],
            "start length",
        ),
        (
            &["--dataset", "copy", "--curriculum-threshold", "-1"],
            "threshold",
        ),
        (
            &["--dataset", "repeat-copy", "--max-repeats", "0"],
            "--max-repeats",
        ),
        (&["--dataset", "mnist1d"], "sequence tasks"),
        (&["--dataset", "copy", "--algo", "fa"], "no recurrent form"),
        (&["--dataset", "copy", "--hidden", "16,16"], "one width"),
        (&["--dataset", "copy", "--hidden", "0"], "should be >= 1"),
        (
            &["--dataset", "copy", "--algo", "dni", "--sg-lambda", "0.5"],
            "BP(λ)",
        ),
        (&["--dataset", "copy", "--epochs", "0"], "--epochs"),
        (&["--dataset", "copy", "--batch-size", "0"], "batch size"),
        (&["--dataset", "copy", "--lr", "-1"], "learning rate"),
    ];
    for (args, needle) in cases {
        let o = locus(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
    }
    // A sequence data set with a feed-forward model.
    let o = common::locus(&["train", "--dataset", "copy", "--model", "mlp"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--model lstm"), "{err}");
}
