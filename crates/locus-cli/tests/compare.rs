//! `locus compare` and `locus train --seeds` as a user meets them: the mean and sample
//! standard deviation of tiny real runs against their own results.json, groups split by
//! configuration, and every refusal named.

use std::path::{Path, PathBuf};

mod common;
use common::{locus, scratch, stderr};

/// A tiny MNIST-1D run's flags: 2 epochs of a 16-unit MLP on 1000 samples.
const TINY: &[&str] = &[
    "--dataset",
    "mnist1d",
    "--hidden",
    "16",
    "--epochs",
    "2",
    "--batch-size",
    "100",
    "--train-limit",
    "1000",
];

/// Trains `train TINY extra --out dir` and returns `dir`.
fn train(dir: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec!["train"];
    args.extend(TINY);
    args.extend(extra);
    args.extend(["--out", dir.to_str().unwrap()]);
    let o = locus(&args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    dir.to_path_buf()
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// The mean and sample standard deviation (n − 1) of `values`.
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// Asserts a spread of compare.json against the figures it was computed from.
fn assert_spread(spread: &serde_json::Value, values: &[f64], what: &str) {
    let (mean, std) = mean_std(values);
    assert_eq!(spread["n"], values.len(), "{what}: {spread}");
    let got_mean = spread["mean"].as_f64().unwrap();
    let got_std = spread["std"].as_f64().unwrap();
    assert!(
        (got_mean - mean).abs() < 1e-12,
        "{what}: mean {got_mean} vs {mean}"
    );
    assert!(
        (got_std - std).abs() < 1e-12,
        "{what}: std {got_std} vs {std}"
    );
    let got: Vec<f64> = spread["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(got, values, "{what}");
}

/// Asserts a command failed with a message holding every `needle`, and did not panic.
fn fails_with(args: &[&str], needles: &[&str]) {
    let o = locus(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} should fail; stderr: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected {n:?} in: {err}");
    }
}

#[test]
fn seeds_write_a_run_per_seed_and_their_comparison() {
    let dir = scratch("seeds");
    let out = dir.join("dgl");
    let mut args = vec!["train", "--algo", "dgl", "--seeds", "0,1,2", "--json"];
    args.extend(TINY);
    args.extend(["--out", out.to_str().unwrap()]);
    let o = locus(&args);
    assert!(o.status.success(), "{}", stderr(&o));

    // One JSON line per run, as a single run prints it, then the comparison.
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    let seeds: Vec<u64> = lines[..3]
        .iter()
        .map(|j| j["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [0, 1, 2]);

    let results: Vec<serde_json::Value> = (0..3)
        .map(|s| {
            let run = out.join(format!("seed-{s}"));
            let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
            assert!(config.contains(&format!("\nseed = {s}\n")), "{config}");
            assert!(!config.contains("\nseeds ="), "{config}");
            read_json(&run.join("results.json"))
        })
        .collect();
    for (line, file) in lines[..3].iter().zip(&results) {
        assert_eq!(line["test_accuracy"], file["test_accuracy"]);
    }
    let figure =
        |key: &str| -> Vec<f64> { results.iter().map(|r| r[key].as_f64().unwrap()).collect() };
    let accuracies = figure("test_accuracy");
    assert!(
        accuracies.iter().any(|a| *a != accuracies[0]),
        "seeds should give different runs: {accuracies:?}"
    );

    let comparison = read_json(&out.join("compare.json"));
    assert_eq!(comparison, lines[3], "stdout's last line is compare.json");
    let groups = comparison["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "one configuration: {comparison}");
    let g = &groups[0];
    assert_eq!(g["seeds"], serde_json::json!([0, 1, 2]));
    assert_eq!(
        (g["algo"].as_str(), g["epochs"].as_u64()),
        (Some("dgl"), Some(2))
    );
    assert_spread(&g["test_accuracy"], &accuracies, "test accuracy");
    let errors: Vec<f64> = accuracies.iter().map(|a| 1.0 - a).collect();
    assert_spread(&g["test_error"], &errors, "test error");
    assert_spread(&g["train_loss"], &figure("train_loss"), "train loss");
    assert_spread(&g["samples_per_s"], &figure("samples_per_s"), "samples/s");
    // dgl's stages each report their own head's accuracy.
    let stages = g["stages"].as_array().unwrap();
    assert_eq!(stages.len(), results[0]["stages"].as_array().unwrap().len());
    for (i, stage) in stages.iter().enumerate() {
        let probes: Vec<f64> = results
            .iter()
            .map(|r| r["stages"][i]["probe_accuracy"].as_f64().unwrap())
            .collect();
        assert_eq!(stage["stage"], results[0]["stages"][i]["name"]);
        assert_spread(&stage["probe_accuracy"], &probes, "probe accuracy");
    }

    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    let (mean, std) = mean_std(&accuracies);
    let cell = format!("{mean:.4} ± {std:.4}");
    assert!(md.contains(&cell), "{cell} not in:\n{md}");
    assert!(
        md.contains("![test accuracy of every run](curves.png)"),
        "{md}"
    );
    let png = std::fs::read(out.join("curves.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    // The table goes to stderr under --json, and `locus compare DIR` reads the same runs.
    assert!(stderr(&o).contains(&cell), "{}", stderr(&o));
    let again = locus(&["compare", out.to_str().unwrap()]);
    assert!(again.status.success(), "{}", stderr(&again));
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(text.contains(&cell) && text.contains("seed-2"), "{text}");
}

#[test]
fn compare_groups_runs_by_configuration() {
    let dir = scratch("groups");
    let a1 = train(&dir.join("a1"), &["--seed", "1"]);
    let a2 = train(&dir.join("a2"), &["--seed", "2"]);
    let b = train(&dir.join("b"), &["--seed", "1", "--lr", "0.01"]);
    let out = dir.join("cmp");
    let o = locus(&[
        "compare",
        a1.to_str().unwrap(),
        b.to_str().unwrap(),
        a2.join("results.json").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let accuracy = |run: &Path| {
        read_json(&run.join("results.json"))["test_accuracy"]
            .as_f64()
            .unwrap()
    };
    let comparison = read_json(&out.join("compare.json"));
    let groups = comparison["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{comparison}");
    // Groups in the order of their first run; a run given as its results.json joins its
    // directory's group.
    assert_eq!(groups[0]["seeds"], serde_json::json!([1, 2]));
    assert_spread(
        &groups[0]["test_accuracy"],
        &[accuracy(&a1), accuracy(&a2)],
        "group 1",
    );
    assert_eq!(groups[1]["seeds"], serde_json::json!([1]));
    let single = &groups[1]["test_accuracy"];
    assert_eq!(single["mean"].as_f64(), Some(accuracy(&b)));
    assert!(single["std"].is_null(), "no std of one run: {single}");
    // What sets the groups apart: --lr, not given to the first.
    assert_eq!(groups[0]["differs"], serde_json::json!({"lr": "(not set)"}));
    assert_eq!(groups[1]["differs"], serde_json::json!({"lr": "0.01"}));

    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("3 runs") && text.contains("2 groups"),
        "{text}"
    );
    assert!(text.contains("group 2: lr = 0.01"), "{text}");
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("- group 1: lr = (not set)"), "{md}");
    assert!(out.join("curves.png").is_file());
}

#[test]
fn compare_keeps_data_sets_apart_and_names_figures_that_are_not_finite() {
    let dir = scratch("nan");
    let real = train(&dir.join("real"), &["--seed", "3"]);
    let results = read_json(&real.join("results.json"));
    let config = std::fs::read_to_string(real.join("config.toml")).unwrap();
    // The same run, diverged: serde_json writes a NaN as null.
    let diverged = dir.join("diverged");
    std::fs::create_dir_all(&diverged).unwrap();
    let mut nan = results.clone();
    nan["train_loss"] = serde_json::Value::Null;
    nan["seed"] = 4.into();
    std::fs::write(diverged.join("results.json"), nan.to_string()).unwrap();
    std::fs::write(
        diverged.join("config.toml"),
        config.replace("seed = 3", "seed = 4"),
    )
    .unwrap();
    // The same run on another data set.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let mut npy = results.clone();
    npy["dataset"] = "npy".into();
    std::fs::write(other.join("results.json"), npy.to_string()).unwrap();
    let npy_config = config.replace("dataset = \"mnist1d\"", "dataset = \"npy\"");
    assert_ne!(npy_config, config);
    std::fs::write(other.join("config.toml"), npy_config).unwrap();

    let o = locus(&[
        "compare",
        real.to_str().unwrap(),
        diverged.to_str().unwrap(),
        other.to_str().unwrap(),
        "--out",
        dir.join("cmp").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("the runs are on 2 data sets (mnist1d, npy)")
            && err.contains("not comparable"),
        "{err}"
    );
    assert!(err.contains("diverged: train_loss not finite"), "{err}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("NaN (1 of 2 runs)"), "{text}");
    let comparison = read_json(&dir.join("cmp/compare.json"));
    let groups = comparison["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[1]["dataset"], "npy");
    let loss = &groups[0]["train_loss"];
    assert!(loss["mean"].is_null() && loss["std"].is_null(), "{loss}");
    assert_eq!(loss["not_finite"], 1);
    // The accuracy of both runs is finite, so it still has its spread.
    assert_eq!(groups[0]["test_accuracy"]["not_finite"], 0);
    assert_eq!(
        comparison["datasets"],
        serde_json::json!(["mnist1d", "npy"])
    );
}

#[test]
fn compare_names_what_it_cannot_read() {
    let dir = scratch("errors");
    let missing = dir.join("nowhere");
    fails_with(
        &["compare", missing.to_str().unwrap()],
        &["nowhere", "no such run directory"],
    );
    let unfinished = dir.join("unfinished");
    std::fs::create_dir_all(&unfinished).unwrap();
    std::fs::write(unfinished.join("config.toml"), "algo = \"bp\"\n").unwrap();
    fails_with(
        &["compare", unfinished.to_str().unwrap()],
        &["unfinished has no results.json", "has not finished"],
    );
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    fails_with(
        &["compare", empty.to_str().unwrap()],
        &["empty has no results.json, nor run directories"],
    );
    let foreign = dir.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("results.json"), r#"{"accuracy": 0.9}"#).unwrap();
    fails_with(
        &["compare", foreign.to_str().unwrap()],
        &["results.json is not a results.json of `locus train` (missing field `algo`"],
    );
    std::fs::write(
        foreign.join("results.json"),
        r#"{"algo": "bp", "dataset": "mnist1d", "epochs": 1, "seed": 0, "test_accuracy": "high",
            "train_loss": 1, "samples_per_s": 1, "stages": []}"#,
    )
    .unwrap();
    fails_with(
        &["compare", foreign.to_str().unwrap()],
        &["(test_accuracy: invalid type: string \"high\", expected f64"],
    );
    std::fs::write(foreign.join("results.json"), "{not json").unwrap();
    fails_with(&["compare", foreign.to_str().unwrap()], &["is not JSON"]);
    let comparison = dir.join("compare.json");
    std::fs::write(&comparison, r#"{"groups": []}"#).unwrap();
    fails_with(
        &["compare", comparison.to_str().unwrap()],
        &["is a comparison (compare.json)"],
    );
    let run = train(&dir.join("run"), &[]);
    fails_with(
        &[
            "compare",
            run.to_str().unwrap(),
            run.join("results.json").to_str().unwrap(),
        ],
        &["is given twice"],
    );
    fails_with(&["compare"], &["RUN"]);
}

#[test]
fn seeds_refuse_what_does_not_go_with_them() {
    let dir = scratch("seeds-refused");
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    fails_with(
        &["train", "--seeds", "0,1", "--seed", "3", "--out", out],
        &["--seeds", "cannot be used with", "--seed"],
    );
    fails_with(&["train", "--seeds", "0,1"], &["--seeds", "give --out DIR"]);
    fails_with(
        &["train", "--seeds", "0,1,0", "--out", out],
        &["--seeds gives seed 0 twice"],
    );
    fails_with(
        &["train", "--seeds", "0,1", "--resume", out, "--out", out],
        &["--resume goes on with one run", "--seeds"],
    );
    fails_with(
        &[
            "train",
            "--seeds",
            "0,1",
            "--save-state",
            out,
            "--stop-after",
            "1",
            "--out",
            out,
        ],
        &["--stop-after", "--seeds does not take"],
    );
    fails_with(
        &["train", "--seeds", "0,x", "--out", out],
        &["--seeds", "x"],
    );
    assert!(!Path::new(out).exists(), "nothing was trained");
}

#[test]
fn seeds_keep_each_runs_state_in_its_own_directory() {
    let dir = scratch("seeds-state");
    let (out, state) = (dir.join("out"), dir.join("state"));
    let mut args = vec!["train", "--seeds", "4,5"];
    args.extend(TINY);
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(["--save-state", state.to_str().unwrap()]);
    let o = locus(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    for seed in [4, 5] {
        let saved = state.join(format!("seed-{seed}"));
        assert!(
            saved.join("checkpoint.safetensors").is_file(),
            "{}",
            saved.display()
        );
        // Each state is its own seed's run: resuming it as the other seed is refused.
        let other = if seed == 4 { "5" } else { "4" };
        let mut resume = vec!["train"];
        resume.extend(TINY);
        resume.extend(["--resume", saved.to_str().unwrap(), "--seed", other]);
        fails_with(
            &resume,
            &[
                "saved with other settings",
                &format!("seed: {seed} then, {other} now"),
            ],
        );
    }
}
