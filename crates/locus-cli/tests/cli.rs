//! The `locus` binary as a user meets it: the JSON contract, result files, and a clear
//! error (never a panic) for every kind of bad input.

use std::path::Path;

use locus_testing::shared_data::shared_data_dir;

mod common;
use common::{last_json_line, locus, scratch, stderr};

/// Asserts a run failed with a message containing every `needle`, and did not panic.
fn fails_with(args: &[&str], needles: &[&str]) {
    let o = locus(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} should fail; stderr: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected {n:?} in: {err}");
    }
}

const SMALL: &[&str] = &["--hidden", "32", "--epochs", "2", "--batch-size", "100"];

#[test]
fn json_contract_on_generated_mnist1d() {
    let mut args = vec![
        "train",
        "--algo",
        "bp",
        "--dataset",
        "mnist1d",
        "--seed",
        "3",
        "--json",
    ];
    args.extend(SMALL);
    let o = locus(&args);
    assert!(o.status.success(), "{}", stderr(&o));
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
    ] {
        assert!(j.get(key).is_some(), "missing {key} in {j}");
    }
    assert_eq!(j["algo"], "bp");
    assert_eq!(j["dataset"], "mnist1d");
    assert_eq!(j["epochs"], 2);
    assert_eq!(j["seed"], 3);
    let acc = j["test_accuracy"].as_f64().unwrap();
    assert!(
        (0.15..=1.0).contains(&acc),
        "accuracy {acc} should beat chance (0.1)"
    );
    assert!(j["train_loss"].as_f64().unwrap().is_finite());
    assert!(j["samples_per_s"].as_f64().unwrap() > 0.0);
    let stages = j["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0]["name"], "stage1");
    assert_eq!(stages[1]["objective"], "softmax-cross-entropy");
    assert_eq!(j["history"].as_array().unwrap().len(), 2);
}

#[test]
fn dni_takes_a_warm_up_and_layer_norm() {
    let mut args = vec![
        "train",
        "--algo",
        "dni",
        "--dataset",
        "mnist1d",
        "--layer-norm",
        "--sg-warmup-epochs",
        "1",
        "--json",
    ];
    args.extend(SMALL);
    // A rate at which one epoch of learning beats chance on this small budget (the
    // default, 3e-4 on a cosine schedule, is set for 20 epochs).
    let mut warm = args.clone();
    warm.extend(["--lr", "0.001", "--lr-schedule", "constant"]);
    let o = locus(&warm);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = last_json_line(&o);
    // 4000 training samples in batches of 100: a warm-up of 40 steps.
    assert_eq!(j["config"]["synthetic_gradient"]["warmup_steps"], 40);
    assert_eq!(j["config"]["network"]["layer_norm"], true);
    assert_eq!(
        j["stages"][0]["module"],
        "Sequential[Flatten, Linear(40→32), LayerNorm([32], affine), ReLU]"
    );
    assert!(j["test_accuracy"].as_f64().unwrap() > 0.15, "{j}");
    // Without the options: no warm-up, and dni's default normalisation (batch norm).
    let mut args = vec!["train", "--algo", "dni", "--dataset", "mnist1d", "--json"];
    args.extend(SMALL);
    let j = last_json_line(&locus(&args));
    assert_eq!(j["config"]["synthetic_gradient"]["warmup_steps"], 0);
    assert_eq!(j["config"]["network"]["layer_norm"], false);
    assert_eq!(j["config"]["network"]["batch_norm"], true);
}

/// dni and cdni default to their results page's best configuration (Adam 3e-4, cosine,
/// batch normalisation; true targets for dni where the scheduler allows them), every
/// piece recorded in results.json, and each flag still overrides its default; the other
/// rules keep theirs.
#[test]
fn synthetic_gradient_defaults_are_the_results_page_configuration() {
    let run = |algo: &str, extra: &[&str]| {
        let mut args = vec!["train", "--algo", algo, "--dataset", "mnist1d", "--json"];
        args.extend(SMALL);
        args.extend(extra);
        let o = locus(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        last_json_line(&o)
    };
    let adam = |j: &serde_json::Value| j["config"]["optimizer"]["Adam"]["lr"].as_f64();
    for (algo, target) in [("dni", "TrueGradient"), ("cdni", "Bootstrapped")] {
        let j = run(algo, &[]);
        assert_eq!(adam(&j), Some(3e-4), "{algo}");
        assert_eq!(j["config"]["lr_schedule"], "Cosine", "{algo}");
        assert_eq!(j["config"]["network"]["batch_norm"], true, "{algo}");
        assert_eq!(
            j["config"]["synthetic_gradient"]["target"], target,
            "{algo}"
        );
    }
    // Under pipelined a true target would make the stage below wait on the whole backward
    // pass: the default there is bootstrapped.
    let j = run("dni", &["--scheduler", "pipelined"]);
    assert_eq!(j["config"]["synthetic_gradient"]["target"], "Bootstrapped");
    // Flags override the defaults; --layer-norm takes batch norm's place.
    let j = run(
        "dni",
        &[
            "--lr-schedule",
            "constant",
            "--batch-norm",
            "false",
            "--sg-target",
            "bootstrapped",
        ],
    );
    assert_eq!(j["config"]["lr_schedule"], "Constant");
    assert_eq!(j["config"]["network"]["batch_norm"], false);
    assert_eq!(j["config"]["synthetic_gradient"]["target"], "Bootstrapped");
    let j = run("dni", &["--layer-norm"]);
    assert_eq!(j["config"]["network"]["batch_norm"], false);
    assert_eq!(j["config"]["network"]["layer_norm"], true);
    let j = run("bp", &[]);
    assert_eq!(j["config"]["lr_schedule"], "Constant");
    assert_eq!(j["config"]["network"]["batch_norm"], false);
}

#[test]
fn dni_takes_batch_norm_but_not_with_layer_norm() {
    let mut args = vec![
        "train",
        "--algo",
        "dni",
        "--dataset",
        "mnist1d",
        "--batch-norm",
        "--json",
    ];
    args.extend(SMALL);
    let o = locus(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = last_json_line(&o);
    assert_eq!(j["config"]["network"]["batch_norm"], true);
    assert_eq!(
        j["stages"][0]["module"],
        "Sequential[Flatten, Linear(40→32), BatchNorm1d(32, affine), ReLU]"
    );
    assert!(j["test_accuracy"].as_f64().unwrap() > 0.15, "{j}");
    args.push("--layer-norm");
    let o = locus(&args);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("--batch-norm") && e.contains("--layer-norm"),
        "{e}"
    );
    // Only the MLP takes it.
    let o = locus(&[
        "train",
        "--algo",
        "dni",
        "--model",
        "lenet",
        "--batch-norm",
        "--epochs",
        "1",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--batch-norm applies to --model mlp"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dni_takes_true_gradient_targets() {
    let run = |extra: &[&str]| {
        // Two hidden stages, so the lower one's model has a stage above it.
        let mut args = vec![
            "train",
            "--algo",
            "dni",
            "--dataset",
            "mnist1d",
            "--json",
            "--hidden",
            "32,32",
            "--epochs",
            "2",
            "--batch-size",
            "100",
        ];
        args.extend(extra);
        locus(&args)
    };
    let o = run(&["--sg-target", "true"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let targeted = last_json_line(&o);
    assert_eq!(
        targeted["config"]["synthetic_gradient"]["target"],
        "TrueGradient"
    );
    let bootstrapped = last_json_line(&run(&["--sg-target", "bootstrapped"]));
    assert_eq!(
        bootstrapped["config"]["synthetic_gradient"]["target"],
        "Bootstrapped"
    );
    // True targets are dni's default under lockstep: the same run as with the flag.
    let by_default = last_json_line(&run(&[]));
    assert_eq!(by_default["config"], targeted["config"]);
    assert_eq!(by_default["train_loss"], targeted["train_loss"]);
    // The lower stage's model learns from other targets, so the runs part.
    assert_ne!(targeted["train_loss"], bootstrapped["train_loss"]);
    let o = run(&["--sg-target", "true", "--scheduler", "pipelined"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("true-gradient targets"),
        "{}",
        stderr(&o)
    );
    fails_with(
        &["train", "--algo", "bp", "--sg-target", "true"],
        &["--sg-target", "dni", "bp"],
    );
}

#[test]
fn dni_anneals_bp_lambda_over_epochs() {
    let run = |extra: &[&str]| {
        let mut args = vec!["train", "--algo", "dni", "--dataset", "mnist1d", "--json"];
        args.extend(SMALL);
        args.extend(extra);
        let o = locus(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        last_json_line(&o)
    };
    let annealed = run(&["--sg-lambda", "1", "--sg-lambda-anneal-epochs", "1"]);
    // 4000 training samples in batches of 100: λ reaches 0 after 40 steps.
    assert_eq!(
        annealed["config"]["synthetic_gradient"]["lambda_anneal_steps"],
        40
    );
    assert_eq!(annealed["config"]["synthetic_gradient"]["lambda"], 1.0);
    // The same seed with λ = 1 throughout (backprop through every stage) ends elsewhere.
    let constant = run(&["--sg-lambda", "1"]);
    assert_eq!(
        constant["config"]["synthetic_gradient"]["lambda_anneal_steps"],
        0
    );
    assert_ne!(annealed["train_loss"], constant["train_loss"]);
}

#[test]
fn same_seed_same_result() {
    let mut args = vec!["train", "--dataset", "mnist1d", "--json", "--seed", "5"];
    args.extend(SMALL);
    let (a, b) = (last_json_line(&locus(&args)), last_json_line(&locus(&args)));
    assert_eq!(a["test_accuracy"], b["test_accuracy"]);
    assert_eq!(a["train_loss"], b["train_loss"]);
}

#[test]
fn out_writes_results_and_csv() {
    let dir = scratch("out");
    let out = dir.join("run");
    let mut args = vec![
        "train",
        "--dataset",
        "mnist1d",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(SMALL);
    let o = locus(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["epochs"], 2);
    let csv = std::fs::read_to_string(out.join("epochs.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0]
            .starts_with("epoch,train_loss,test_accuracy,test_loss,train_s,stage1.alignment_deg"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[2].starts_with("2,"));
}

#[test]
fn bad_arguments_are_named() {
    fails_with(&["train", "--lr", "-1"], &["learning rate", "-1"]);
    fails_with(&["train", "--lr", "NaN"], &["learning rate"]);
    fails_with(&["train", "--momentum", "1.5"], &["momentum", "1.5"]);
    fails_with(
        &["train", "--algo", "bp", "--adam-eps", "1e-4"],
        &["--adam-eps", "--optimizer adam", "sgd"],
    );
    fails_with(
        &["train", "--optimizer", "adam", "--adam-eps", "0"],
        &["Adam eps", "> 0"],
    );
    fails_with(&["train", "--epochs", "0"], &["--epochs", "0"]);
    fails_with(&["train", "--batch-size", "0"], &["--batch-size"]);
    fails_with(&["train", "--hidden", "10,0"], &["--hidden"]);
    fails_with(
        &["train", "--algo", "nope"],
        &["invalid value 'nope' for '--algo", "bp"],
    );
    fails_with(&["train", "--train-limit", "0"], &["--train-limit"]);
    fails_with(&["train", "--dataset", "cifar"], &["cifar"]);
    fails_with(&["train", "--model", "lenet"], &["LeNet", "[40]"]);
    fails_with(
        &["train", "--algo", "dni", "--sg-lambda", "1.5"],
        &["synthetic-gradient", "1.5"],
    );
    fails_with(&["train", "--algo", "cdni", "--sg-lr", "-1"], &["-1"]);
    fails_with(
        &[
            "train",
            "--algo",
            "dni",
            "--epochs",
            "2",
            "--sg-warmup-epochs",
            "2",
        ],
        &["--sg-warmup-epochs 2", "--epochs 2"],
    );
    fails_with(
        &["train", "--algo", "bp", "--sg-warmup-epochs", "1"],
        &["--sg-warmup-epochs", "dni", "bp"],
    );
    fails_with(
        &["train", "--algo", "bp", "--sg-lambda-anneal-epochs", "1"],
        &["--sg-lambda-anneal-epochs", "dni", "bp"],
    );
    fails_with(
        &["train", "--algo", "dni", "--sg-lambda-anneal-epochs", "1"],
        &["annealing", "λ > 0"],
    );
    fails_with(
        &["train", "--model", "lenet", "--layer-norm"],
        &["--layer-norm", "mlp", "lenet"],
    );
    fails_with(
        &["train", "--algo", "ff", "--layer-norm"],
        &["--layer-norm", "--algo ff"],
    );
    fails_with(
        &["train", "--model", "lenet", "--hidden", "10"],
        &["--hidden", "mlp"],
    );
}

#[test]
fn missing_data_says_where_it_looked() {
    fails_with(
        &[
            "train",
            "--dataset",
            "mnist",
            "--data-dir",
            "/nonexistent/mnist",
        ],
        &["/nonexistent/mnist", "train-images-idx3-ubyte"],
    );
    // No flag and no LOCUS_DATA: the error explains both ways to point at the data.
    fails_with(
        &["train", "--dataset", "mnist"],
        &["LOCUS_DATA", "--data-dir"],
    );
    fails_with(
        &["train", "--dataset", "npy"],
        &["--data-dir", "x_train.npy"],
    );
    fails_with(&["train", "--dataset", "idx"], &["--data-dir"]);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn corrupt_idx_files_are_named() {
    let dir = scratch("idx");
    // Valid 2-image, 2x2 files, then break one of them.
    let images = |n: u32| {
        let mut v = vec![0, 0, 8, 3];
        for d in [n, 2, 2] {
            v.extend(d.to_be_bytes());
        }
        v.extend(vec![7u8; (n * 4) as usize]);
        v
    };
    let labels = |n: u32| {
        let mut v = vec![0, 0, 8, 1];
        v.extend(n.to_be_bytes());
        v.extend((0..n).map(|i| (i % 2) as u8));
        v
    };
    write(&dir, "train-images-idx3-ubyte", &images(2));
    write(&dir, "train-labels-idx1-ubyte", &labels(2));
    write(&dir, "t10k-images-idx3-ubyte", &images(2));
    write(&dir, "t10k-labels-idx1-ubyte", &labels(3));
    let d = dir.to_str().unwrap();
    fails_with(&["train", "--dataset", "idx", "--data-dir", d], &["t10k"]);
    let mut truncated = images(2);
    truncated.truncate(truncated.len() - 1);
    write(&dir, "t10k-labels-idx1-ubyte", &labels(2));
    write(&dir, "train-images-idx3-ubyte", &truncated);
    fails_with(
        &["train", "--dataset", "idx", "--data-dir", d],
        &["train-images-idx3-ubyte"],
    );
    let mut bad_magic = images(2);
    bad_magic[2] = 0x0D;
    write(&dir, "train-images-idx3-ubyte", &bad_magic);
    fails_with(
        &["train", "--dataset", "idx", "--data-dir", d],
        &["train-images-idx3-ubyte"],
    );
    // And the repaired directory trains.
    write(&dir, "train-images-idx3-ubyte", &images(2));
    let o = locus(&[
        "train",
        "--dataset",
        "idx",
        "--data-dir",
        d,
        "--hidden",
        "4",
        "--epochs",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn npy_files_on_the_shared_mnist1d_split() {
    let Some(dir) = shared_data_dir("mnist1d") else {
        return;
    };
    let mut args = vec![
        "train",
        "--dataset",
        "npy",
        "--data-dir",
        dir.to_str().unwrap(),
        "--json",
    ];
    args.extend(SMALL);
    let o = locus(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = last_json_line(&o);
    assert_eq!(j["dataset"], "npy");
    assert_eq!(j["config"]["train_samples"], 4000);
    assert_eq!(j["config"]["test_samples"], 1000);
}

/// The foundation issue's acceptance check: one epoch of the default backprop MLP
/// (784-1000-1000-10) on MNIST reaches at least 95% test accuracy.
#[test]
fn one_epoch_of_backprop_on_mnist_reaches_95_percent() {
    let Some(dir) = shared_data_dir("mnist") else {
        return;
    };
    let o = locus(&[
        "train",
        "--algo",
        "bp",
        "--dataset",
        "mnist",
        "--data-dir",
        dir.to_str().unwrap(),
        "--epochs",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = last_json_line(&o);
    let acc = j["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.95, "test accuracy after one epoch: {acc}");
    assert_eq!(
        j["config"]["network"]["sizes"],
        serde_json::json!([784, 1000, 1000, 10])
    );
}

/// Every feedback-alignment rule runs through the CLI and reports how far its updates are
/// from the true gradient, stage by stage.
#[test]
fn feedback_rules_report_alignment() {
    for algo in ["fa", "dfa", "usf", "brsf", "frsf"] {
        let mut args = vec!["train", "--algo", algo, "--dataset", "mnist1d", "--json"];
        args.extend(SMALL);
        let o = locus(&args);
        assert!(o.status.success(), "{algo}: {}", stderr(&o));
        let j = last_json_line(&o);
        assert_eq!(j["algo"], algo);
        let stages = j["stages"].as_array().unwrap();
        // The top stage learns from the true loss; the hidden one from the rule.
        let top = stages[1]["alignment_deg"].as_f64().unwrap();
        let hidden = stages[0]["alignment_deg"].as_f64().unwrap();
        assert!(top < 1e-3, "{algo}: top stage angle {top}");
        assert!(
            hidden > 1.0 && hidden < 180.0,
            "{algo}: hidden angle {hidden}"
        );
        if algo != "dfa" {
            // Layer-wise rules also report the angle between W and its feedback matrix.
            assert!(
                stages[1]["weight_alignment_deg"].as_f64().is_some(),
                "{algo}"
            );
        }
        assert!(j["history"][1]["stage_metrics"]["stage1.alignment_deg"].is_number());
    }
}

#[test]
fn dfa_trains_from_zero_weights_through_the_cli() {
    let mut args = vec![
        "train",
        "--algo",
        "dfa",
        "--dataset",
        "mnist1d",
        "--init",
        "zeros",
        "--activation",
        "tanh",
        "--json",
    ];
    args.extend(SMALL);
    let o = locus(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let acc = last_json_line(&o)["test_accuracy"].as_f64().unwrap();
    assert!(
        acc > 0.15,
        "DFA from zero weights: accuracy {acc} (chance 0.1)"
    );
}

#[test]
fn lenet_on_a_slice_of_mnist() {
    let Some(dir) = shared_data_dir("mnist") else {
        return;
    };
    let o = locus(&[
        "train",
        "--algo",
        "bp",
        "--model",
        "lenet",
        "--dataset",
        "mnist",
        "--data-dir",
        dir.to_str().unwrap(),
        "--train-limit",
        "2000",
        "--epochs",
        "2",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = last_json_line(&o);
    assert_eq!(j["config"]["model"], "lenet");
    assert_eq!(j["stages"].as_array().unwrap().len(), 5);
    let acc = j["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.5, "two epochs on 2000 images: accuracy {acc}");
}

/// Synthetic-gradient stages run through the CLI, report how far their learned gradient
/// is from the true one, and learn something on MNIST-1D.
#[test]
fn synthetic_gradients_run_and_report_alignment() {
    for algo in ["dni", "cdni"] {
        let mut args = vec![
            "train",
            "--algo",
            algo,
            "--dataset",
            "mnist1d",
            "--optimizer",
            "adam",
            "--json",
        ];
        args.extend(SMALL);
        let o = locus(&args);
        assert!(o.status.success(), "{algo}: {}", stderr(&o));
        let j = last_json_line(&o);
        let stages = j["stages"].as_array().unwrap();
        let objective = stages[0]["objective"].as_str().unwrap();
        assert!(
            objective.contains("synthetic-gradient"),
            "{algo}: {objective}"
        );
        assert!(stages[0]["alignment_deg"].as_f64().is_some(), "{algo}");
        assert!(stages[0]["sg_loss"].as_f64().is_some(), "{algo}");
        let acc = j["test_accuracy"].as_f64().unwrap();
        assert!(acc > 0.15, "{algo}: accuracy {acc} (chance 0.1)");
    }
}

/// Without --optimizer, synthetic-gradient stages train with Adam (SGD at its default rate
/// overflows their gradient models) and every other algorithm with SGD; the choice is
/// recorded in the run's config.
#[test]
fn default_optimizer_depends_on_the_algorithm() {
    for (algo, expected) in [
        ("dni", "Adam"),
        ("cdni", "Adam"),
        ("bp", "Sgd"),
        ("dfa", "Sgd"),
    ] {
        let mut args = vec!["train", "--algo", algo, "--dataset", "mnist1d", "--json"];
        args.extend(SMALL);
        let o = locus(&args);
        assert!(o.status.success(), "{algo}: {}", stderr(&o));
        let optimizer = &last_json_line(&o)["config"]["optimizer"];
        assert!(optimizer.get(expected).is_some(), "{algo}: {optimizer}");
    }
    let mut args = vec![
        "train",
        "--algo",
        "dni",
        "--optimizer",
        "sgd",
        "--lr",
        "0.01",
    ];
    args.extend(["--dataset", "mnist1d", "--json"]);
    args.extend(SMALL);
    let o = locus(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(last_json_line(&o)["config"]["optimizer"]
        .get("Sgd")
        .is_some());
    // --adam-eps reaches the stages' Adam.
    let mut args = vec!["train", "--algo", "dni", "--adam-eps", "0.0001"];
    args.extend(["--dataset", "mnist1d", "--json"]);
    args.extend(SMALL);
    let o = locus(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        last_json_line(&o)["config"]["optimizer"]["Adam"]["eps"],
        serde_json::json!(0.0001)
    );
}

/// `locus list` names every algorithm `--algo` takes, with its paper, and `--help` shows
/// the same names with their summaries.
#[test]
fn list_and_help_show_every_algorithm_from_the_registry() {
    let o = locus(&["list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let list = String::from_utf8_lossy(&o.stdout).into_owned();
    let help = locus(&["train", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    for (name, paper) in [
        ("bp", "Rumelhart"),
        ("dfa", "Nøkland 2016"),
        ("dni", "Jaderberg"),
        ("gim", "Löwe"),
        ("sarm", "1608.04062"),
    ] {
        let row = list
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no row for {name} in\n{list}"));
        assert!(row.contains(paper), "{row}");
        assert!(help.contains(&format!("- {name}:")), "--help lacks {name}");
    }
    assert_eq!(
        list.lines().count(),
        18,
        "a header and 17 algorithms:\n{list}"
    );
}

/// Without the cargo feature `mpi`, `--scheduler mpi` says how to get it, before any data
/// is read.
#[test]
#[cfg(not(feature = "mpi"))]
fn the_mpi_scheduler_names_the_feature_it_needs() {
    // dgl through the common scheduler builder, ff through its own trainer's.
    for algo in ["dgl", "ff"] {
        fails_with(
            &[
                "train",
                "--algo",
                algo,
                "--dataset",
                "mnist",
                "--scheduler",
                "mpi",
            ],
            &["--scheduler mpi", "cargo feature `mpi`", "mpirun -n"],
        );
    }
}

#[test]
fn quiet_leaves_out_the_lines_per_epoch() {
    let mut args = vec!["train", "--json"];
    args.extend(["--dataset", "mnist1d"]);
    args.extend(SMALL);
    let loud = locus(&args);
    assert!(stderr(&loud).contains("epoch   2/2"), "{}", stderr(&loud));
    args.push("--quiet");
    let quiet = locus(&args);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(!stderr(&quiet).contains("epoch   "), "{}", stderr(&quiet));
    assert_eq!(
        last_json_line(&quiet)["test_accuracy"],
        last_json_line(&loud)["test_accuracy"]
    );
}
