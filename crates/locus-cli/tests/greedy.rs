//! `locus train --algo sae|sarm`: greedy layer-wise training through the binary, its JSON
//! report (probe accuracy per stage) and its refusals of bad settings.

mod common;
use common::{locus, stderr};

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["train", "--dataset", "mnist1d", "--json"];
    all.extend(args);
    let o = locus(&all);
    assert!(o.status.success(), "{all:?}: {}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout.lines().last().expect("stdout has a line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// Small and quick: two 64-wide stages, a few epochs on the 4000 MNIST-1D samples.
const SMALL: &[&str] = &[
    "--hidden",
    "64,64",
    "--stage-epochs",
    "2",
    "--epochs",
    "5",
    "--pretrain-lr",
    "0.002",
    "--probe-epochs",
    "3",
];

#[test]
fn sae_and_sarm_keep_the_json_contract_and_probe_every_stage() {
    for algo in ["sae", "sarm"] {
        let mut args = vec!["--algo", algo];
        args.extend(SMALL);
        let j = json(&args);
        assert_eq!(j["algo"], algo);
        for key in [
            "dataset",
            "epochs",
            "seed",
            "wall_s",
            "samples_per_s",
            "train_loss",
        ] {
            assert!(!j[key].is_null(), "{algo}: missing {key}");
        }
        let acc = j["test_accuracy"].as_f64().unwrap();
        assert!(acc > 0.2, "{algo}: accuracy {acc} (chance 0.1)");
        let stages = j["stages"].as_array().unwrap();
        assert_eq!(stages.len(), 3);
        for (i, s) in stages.iter().enumerate() {
            let p = s["probe_accuracy"].as_f64().unwrap_or(f64::NAN);
            assert!((0.0..=1.0).contains(&p), "{algo} stage {i}: probe {p}");
        }
        // The supervised top stage's accuracy is the network's, not a probe on its logits.
        assert_eq!(stages[2]["probe_accuracy"], j["test_accuracy"]);
        for s in &stages[..2] {
            assert!(s["objective"]
                .as_str()
                .unwrap()
                .starts_with("reconstruction"));
            assert!(s["pretrain_loss"].as_f64().unwrap().is_finite());
            assert!(s["reconstruction_loss"].as_f64().is_some());
        }
        assert_eq!(j["history"].as_array().unwrap().len(), 5);
        assert_eq!(j["config"]["scheduler"], "greedy");
        assert!(j["config"]["probe_input_accuracy"].as_f64().is_some());
    }
    let sarm = json(&[
        "--algo",
        "sarm",
        "--hidden",
        "16,16",
        "--stage-epochs",
        "1",
        "--epochs",
        "1",
        "--pretrain-lr",
        "0.002",
        "--probe-epochs",
        "0",
    ]);
    assert!(sarm["stages"][0]["module"]
        .as_str()
        .unwrap()
        .contains("SparseCoding"));
}

#[test]
fn every_decoder_loss_and_corruption_runs() {
    for extra in [
        &["--decoder", "linear"][..],
        &["--decoder", "ridge", "--ridge-refit", "batch"],
        &[
            "--decoder",
            "ridge",
            "--ridge-refit",
            "epoch",
            "--ridge-lambda",
            "0.01",
        ],
        &[
            "--noise",
            "mask",
            "--noise-level",
            "0.3",
            "--features",
            "stream",
        ],
        &["--noise", "gaussian", "--noise-level", "0.1"],
    ] {
        let mut args = vec![
            "--algo",
            "sae",
            "--hidden",
            "32",
            "--stage-epochs",
            "3",
            "--epochs",
            "2",
            "--pretrain-lr",
            "0.002",
            "--probe-epochs",
            "0",
        ];
        args.extend(extra);
        let j = json(&args);
        let acc = j["test_accuracy"].as_f64().unwrap();
        assert!(acc > 0.15, "{extra:?}: accuracy {acc} (chance 0.1)");
    }
}

#[test]
fn fine_tuning_and_the_pretraining_fraction_are_reported() {
    let mut args = vec!["--algo", "sae", "--finetune", "--pretrain-fraction", "0.1"];
    args.extend(SMALL);
    let j = json(&args);
    // One epoch of the top, then --epochs of fine-tuning.
    assert_eq!(j["history"].as_array().unwrap().len(), 6);
    assert!(j["stages"][0]["objective"]
        .as_str()
        .unwrap()
        .contains("fine-tuning"));
    assert_eq!(j["config"]["pretrain_rows"], 400);
    let phases = j["config"]["phases"].as_array().unwrap();
    assert_eq!(phases[0]["samples"], 400);
}

#[test]
fn the_same_seed_gives_the_same_result() {
    let mut args = vec!["--algo", "sae", "--seed", "4", "--noise", "mask"];
    args.extend(SMALL);
    let (a, b) = (json(&args), json(&args));
    assert_eq!(a["test_accuracy"], b["test_accuracy"]);
    assert_eq!(a["stages"], b["stages"]);
}

#[test]
fn bad_greedy_settings_are_named() {
    let cases: &[(&[&str], &str)] = &[
        (&["--algo", "sae", "--pretrain-fraction", "0"], "fraction"),
        (&["--algo", "sae", "--pretrain-fraction", "1.5"], "fraction"),
        (&["--algo", "sae", "--top-epochs", "0"], "top epochs"),
        (
            &["--algo", "sae", "--noise", "mask", "--noise-level", "1.5"],
            "masking",
        ),
        (
            &[
                "--algo",
                "sae",
                "--noise",
                "gaussian",
                "--noise-level",
                "-1",
            ],
            "Gaussian",
        ),
        (
            &["--algo", "sae", "--decoder", "ridge", "--recon-loss", "bce"],
            "ridge",
        ),
        (
            &["--algo", "sae", "--decoder", "ridge", "--ridge-lambda", "0"],
            "λ",
        ),
        (&["--algo", "sae", "--decoder-lr", "-1"], "learning rate"),
        (&["--algo", "sarm", "--l1", "-0.5"], "ℓ1"),
        (&["--algo", "sarm", "--ista-steps", "0"], "ISTA steps"),
        (&["--algo", "sae", "--model", "lenet"], "lenet"),
        (&["--algo", "bp", "--finetune"], "--finetune"),
        (
            &["--algo", "fa", "--pretrain-fraction", "0.5"],
            "--pretrain-fraction",
        ),
    ];
    for (extra, needle) in cases {
        let mut args = vec![
            "train",
            "--dataset",
            "mnist1d",
            "--hidden",
            "8",
            "--epochs",
            "1",
        ];
        args.extend(*extra);
        let o = locus(&args);
        let err = stderr(&o);
        assert!(!o.status.success(), "{extra:?} should fail");
        assert!(!err.contains("panicked"), "{extra:?} panicked: {err}");
        assert!(
            err.contains(needle),
            "{extra:?}: expected {needle:?} in: {err}"
        );
    }
    // Binary cross-entropy needs inputs in [0, 1]: MNIST-1D's are not, and the error says so.
    let o = locus(&[
        "train",
        "--dataset",
        "mnist1d",
        "--algo",
        "sae",
        "--recon-loss",
        "bce",
        "--hidden",
        "8",
        "--epochs",
        "1",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("[0, 1]"), "{}", stderr(&o));
}
