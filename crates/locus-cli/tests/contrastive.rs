//! `locus train --algo gim|cpc|bp-encoder` as a user meets it: the JSON contract with a
//! linear probe per stage, the stage-at-a-time schedules and their memory figures, and
//! clear errors for bad settings.

mod common;
use common::{locus, stderr};

/// Runs a small job on generated MNIST-1D (600 training samples, narrow encoder, quick
/// probes) and returns its JSON.
fn small(algo: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "train",
        "--algo",
        algo,
        "--dataset",
        "mnist1d",
        "--train-limit",
        "600",
        "--epochs",
        "2",
        "--batch-size",
        "50",
        "--optimizer",
        "adam",
        "--enc-widths",
        "16,16,16",
        "--probe-epochs",
        "5",
        "--seed",
        "4",
        "--json",
    ];
    args.extend(extra);
    let o = locus(&args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout.lines().last().expect("stdout has a line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn probes(j: &serde_json::Value) -> Vec<f64> {
    j["stages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["probe_accuracy"].as_f64())
        .collect()
}

#[test]
fn gim_reports_a_probe_per_stage_and_the_top_one_as_test_accuracy() {
    let j = small("gim", &["--probe-init"]);
    for key in [
        "algo",
        "dataset",
        "epochs",
        "seed",
        "test_accuracy",
        "train_loss",
        "wall_s",
        "samples_per_s",
    ] {
        assert!(j.get(key).is_some(), "missing {key}");
    }
    assert_eq!(j["algo"], "gim");
    let stages = j["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3);
    let p = probes(&j);
    assert_eq!(p.len(), 3);
    assert!(p.iter().all(|a| (0.0..=1.0).contains(a)), "{p:?}");
    // Chance is 0.1: every stage's features carry class information.
    assert!(p.iter().all(|&a| a > 0.2), "{p:?}");
    assert_eq!(j["test_accuracy"].as_f64().unwrap(), p[2]);
    for s in stages {
        assert!(
            s["objective"].as_str().unwrap().starts_with("infonce"),
            "{s}"
        );
        let bound = s["infonce_bound"].as_f64().unwrap();
        assert!(bound > 0.0 && bound <= 17f64.ln(), "{bound}");
        assert!(s["probe_accuracy_init"].as_f64().is_some());
        assert!(s["step_bytes"].as_f64().unwrap() > 0.0);
    }
    // One learning-curve point per epoch (probed every epoch by default).
    assert_eq!(j["history"].as_array().unwrap().len(), 2);
    assert!(
        j["config"]["memory"]["step_activation_bytes"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[test]
fn cpc_learns_from_one_infonce_loss_at_the_top() {
    let j = small("cpc", &["--probe-every", "0"]);
    let stages = j["stages"].as_array().unwrap();
    assert_eq!(stages[0]["objective"], "upstream-gradient");
    assert_eq!(stages[1]["objective"], "upstream-gradient");
    assert!(stages[2]["objective"]
        .as_str()
        .unwrap()
        .starts_with("infonce"));
    // Without per-epoch probes only the last epoch (probed at the end) is in the curve.
    let history = j["history"].as_array().unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["epoch"], 2);
    assert_eq!(history[0]["test_accuracy"], j["test_accuracy"]);
}

#[test]
fn the_supervised_encoder_has_a_head_and_a_probe_per_encoder_stage() {
    let j = small("bp-encoder", &["--lr", "1e-2"]);
    let stages = j["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 4);
    assert_eq!(stages[3]["objective"], "softmax-cross-entropy");
    assert!(stages[3]["classifier_accuracy"].as_f64().unwrap() > 0.2);
    assert!(stages[3].get("probe_accuracy").is_none());
    assert_eq!(probes(&j).len(), 3);
    assert_eq!(j["test_accuracy"].as_f64().unwrap(), probes(&j)[2]);
}

#[test]
fn one_stage_at_a_time_holds_less_than_all_stages_together() {
    let together = small("gim", &["--probe-every", "0"]);
    for schedule in ["cached", "recompute"] {
        let j = small("gim", &["--gim-schedule", schedule, "--probe-every", "0"]);
        // --epochs counts per stage: 3 stages × 2 epochs.
        assert_eq!(j["history"].as_array().unwrap().len(), 1);
        assert_eq!(j["history"][0]["epoch"], 6);
        assert_eq!(probes(&j).len(), 3);
        let memory = &j["config"]["memory"];
        let one = memory["step_activation_bytes"].as_f64().unwrap();
        let all = together["config"]["memory"]["step_activation_bytes"]
            .as_f64()
            .unwrap();
        assert!(one < all, "{schedule}: {one} vs {all}");
        let cache = memory["input_cache_bytes"].as_f64().unwrap();
        if schedule == "cached" {
            // The largest cache: 600 samples of stage 1's output, 16 channels × 40 steps.
            assert_eq!(cache, (600 * 16 * 40 * 4) as f64);
        } else {
            assert_eq!(cache, 0.0);
        }
    }
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = small("gim", &["--probe-every", "0"]);
    let b = small("gim", &["--probe-every", "0"]);
    assert_eq!(a["train_loss"], b["train_loss"]);
    assert_eq!(probes(&a), probes(&b));
}

#[test]
fn skipped_prediction_steps_reach_each_stage() {
    let j = small("gim", &["--probe-every", "0", "--prediction-skip", "4,4,2"]);
    let names: Vec<&str> = j["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["objective"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "infonce(K=3, skip 4, N=17, batch)",
            "infonce(K=3, skip 4, N=17, batch)",
            "infonce(K=3, skip 2, N=17, batch)"
        ]
    );
    assert_eq!(j["config"]["prediction_skip"], serde_json::json!([4, 4, 2]));
    let plain = small("gim", &["--probe-every", "0"]);
    assert_ne!(j["train_loss"], plain["train_loss"]);
}

#[test]
fn bad_contrastive_settings_are_named() {
    let cases: [(&[&str], &str); 9] = [
        (
            &["--algo", "cpc", "--gim-schedule", "cached"],
            "--gim-schedule",
        ),
        (&["--algo", "gim", "--enc-widths", "8,0"], "--enc-widths"),
        (
            &["--algo", "gim", "--prediction-steps", "0"],
            "prediction steps",
        ),
        (
            &["--algo", "gim", "--prediction-steps", "40"],
            "prediction steps",
        ),
        (
            &["--algo", "gim", "--prediction-skip", "0,1"],
            "--prediction-skip lists 2 values for an encoder of 3 stages",
        ),
        (
            &["--algo", "gim", "--prediction-skip", "38"],
            "skipped = 38",
        ),
        (&["--algo", "gim", "--probe-pool", "median"], "median"),
        (&["--algo", "gim", "--hidden", "10"], "--hidden"),
        (
            &[
                "--algo",
                "gim",
                "--seq-kernels",
                "5,5",
                "--enc-widths",
                "8,8,8",
            ],
            "one entry per stage",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["train", "--dataset", "mnist1d", "--epochs", "1"];
        all.extend(args);
        let o = locus(&all);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
    }
}

/// With no tuning flags, a sequence data set gets the configuration of the results page's
/// MNIST-1D table (reproduce/contrastive_mnist1d_widetop.sh), and images keep no skip.
#[test]
fn defaults_are_the_results_page_configuration() {
    let run = |dataset: &[&str]| {
        let mut args = vec![
            "train",
            "--algo",
            "gim",
            "--train-limit",
            "64",
            "--epochs",
            "1",
            "--probe-epochs",
            "1",
            "--probe-every",
            "0",
            "--json",
        ];
        args.extend(dataset);
        let o = locus(&args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        let stdout = String::from_utf8_lossy(&o.stdout);
        let line = stdout
            .lines()
            .last()
            .expect("stdout has a line")
            .to_string();
        serde_json::from_str::<serde_json::Value>(&line).unwrap()
    };
    let j = run(&["--dataset", "mnist1d"]);
    let config = &j["config"];
    assert_eq!(config["optimizer"]["Adam"]["lr"], 1e-3);
    assert_eq!(config["prediction_skip"], serde_json::json!([4, 8, 12]));
    let stages = config["network"]["stages"].as_array().unwrap();
    let channels: Vec<u64> = stages
        .iter()
        .map(|s| s["channels"].as_u64().unwrap())
        .collect();
    let strides: Vec<u64> = stages
        .iter()
        .map(|s| s["stride"].as_u64().unwrap())
        .collect();
    assert_eq!((channels, strides), (vec![128, 128, 256], vec![1, 1, 1]));
    // A given value wins over the default.
    let j = run(&[
        "--dataset",
        "mnist1d",
        "--prediction-skip",
        "2",
        "--optimizer",
        "sgd",
    ]);
    assert_eq!(j["config"]["prediction_skip"], serde_json::json!([2]));
    assert!(j["config"]["optimizer"]["Sgd"].is_object());
}
