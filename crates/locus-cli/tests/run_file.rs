//! Runs described by files: `--out` writes config.toml, `--config` reads it (or a file a
//! user wrote) back, flags beside it override it, and every mistake in a file is an error
//! that names the file and the key.

use std::path::Path;

use serde_json::Value;

mod common;
use common::{locus, scratch, stderr};

/// A small, quick run on the generated MNIST-1D data.
const SMALL: &[&str] = &[
    "--hidden",
    "32,16",
    "--epochs",
    "2",
    "--batch-size",
    "100",
    "--train-limit",
    "500",
    "--seed",
    "3",
];

fn run_ok(args: &[&str]) {
    let o = locus(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
}

fn results(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `value` without what the clock measures (durations, throughput, busy fractions), which
/// differs from run to run.
fn figures(mut value: Value) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(map) => {
                map.retain(|key, _| {
                    !(key.ends_with("_s") || key.ends_with("busy_fraction") || key == "memory")
                });
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut value);
    value
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn config_toml_reruns_the_run_exactly() {
    let dir = scratch("run-file-rerun");
    // dfa, and dni with the options its algorithm resolves (batch norm, true targets,
    // cosine schedule) written out explicitly.
    for algo in ["dfa", "dni"] {
        let (first, again) = (dir.join(format!("{algo}-1")), dir.join(format!("{algo}-2")));
        let mut args = vec!["train", "--algo", algo, "--out", path(&first)];
        args.extend(SMALL);
        run_ok(&args);
        let config = first.join("config.toml");
        run_ok(&["train", "--config", path(&config), "--out", path(&again)]);
        let (a, b) = (figures(results(&first)), figures(results(&again)));
        assert_eq!(a, b, "{algo}: the rerun's results differ");
        assert_eq!(a["history"].as_array().unwrap().len(), 2);
        assert!(a["history"][1]["test_accuracy"].as_f64().is_some());
        let written = |d: &Path| std::fs::read_to_string(d.join("config.toml")).unwrap();
        assert_eq!(written(&first), written(&again), "{algo}");
    }
    let text = std::fs::read_to_string(dir.join("dni-1/config.toml")).unwrap();
    for line in [
        "algo = \"dni\"",
        "hidden = [32, 16]",
        "batch-norm = true",
        "sg-target = \"true\"",
        "lr-schedule = \"cosine\"",
        "momentum = 0.9",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
    }
    for left_out in ["out", "config", "save-state", "resume", "stop-after"] {
        let key = format!("{left_out} =");
        assert!(!text.lines().any(|l| l.starts_with(&key)), "{left_out}");
    }
}

#[test]
fn flags_beside_config_override_the_file() {
    let dir = scratch("run-file-override");
    let first = dir.join("first");
    let mut args = vec!["train", "--out", path(&first)];
    args.extend(SMALL);
    run_ok(&args);
    let config = first.join("config.toml");
    let second = dir.join("second");
    run_ok(&[
        "train",
        "--config",
        path(&config),
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--out",
        path(&second),
    ]);
    let r = results(&second);
    assert_eq!(r["epochs"], 1);
    assert_eq!(r["history"].as_array().unwrap().len(), 1);
    assert_eq!(
        r["config"]["network"]["sizes"],
        serde_json::json!([40, 8, 10])
    );
    let text = std::fs::read_to_string(second.join("config.toml")).unwrap();
    assert!(text.contains("\nepochs = 1\n"), "{text}");
    // The command line's list replaces the file's; it is not appended to it.
    assert!(text.contains("\nhidden = [8]\n"), "{text}");
    assert!(text.contains("\nseed = 3\n"), "{text}");
}

#[test]
fn a_hand_written_file_with_lists_switches_and_underscores() {
    let dir = scratch("run-file-hand");
    let file = dir.join("run.toml");
    std::fs::write(
        &file,
        "# a run\nalgo = \"fa\"\nepochs = 1\nbatch_size = 50\ntrain-limit = 200\n\
         hidden = [16, 8]\nlayer-norm = false\nlr = 0.1\njson = true\n",
    )
    .unwrap();
    let out = dir.join("out");
    let o = locus(&["train", "--config", path(&file), "--out", path(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = results(&out);
    assert_eq!(r["algo"], "fa");
    assert_eq!(r["config"]["batch_size"], 50);
    assert_eq!(
        r["config"]["network"]["sizes"],
        serde_json::json!([40, 16, 8, 10])
    );
    assert_eq!(r["config"]["train_samples"], 200);
    // `json = true` gave --json: the summary is the last line of stdout.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.lines().last().unwrap().starts_with('{'), "{stdout}");
}

/// Writes `text` as run.toml and asserts that `locus train --config` on it fails without
/// training and without a panic, with every one of `needles` in its message.
fn refused(name: &str, text: &str, needles: &[&str]) {
    let dir = scratch(&format!("run-file-{name}"));
    let file = dir.join("run.toml");
    std::fs::write(&file, text).unwrap();
    let o = locus(&["train", "--config", path(&file)]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{text:?} should fail: {err}");
    assert!(!err.contains("panicked"), "{text:?} panicked: {err}");
    assert!(!err.contains("locus train:"), "{text:?} trained: {err}");
    for needle in needles {
        assert!(
            err.contains(needle),
            "{text:?}: expected {needle:?} in: {err}"
        );
    }
}

#[test]
fn unknown_keys_are_named() {
    refused(
        "unknown",
        "epochs = 1\nepoks = 3\n",
        &["run.toml: unknown key 'epoks' (did you mean 'epochs'?)"],
    );
    refused(
        "unknown-far",
        "colour = 1\n",
        &["run.toml: unknown key 'colour'"],
    );
    refused(
        "nested",
        "[scheduler]\nkind = \"lockstep\"\n",
        &["run.toml: key 'scheduler': expected a string, found table"],
    );
}

#[test]
fn bad_values_are_named() {
    refused(
        "bad-epochs",
        "epochs = -1\n",
        &["run.toml: key 'epochs': invalid value '-1'"],
    );
    refused(
        "bad-algo",
        "algo = \"dfx\"\n",
        &["run.toml: key 'algo': invalid value 'dfx'", "dfa"],
    );
    refused(
        "bad-pooling",
        "probe-pool = \"grid0\"\n",
        &["run.toml: key 'probe-pool': invalid value 'grid0'"],
    );
}

#[test]
fn wrong_types_are_named() {
    refused(
        "string-for-integer",
        "epochs = \"3\"\n",
        &["run.toml: key 'epochs': expected an integer, found string \"3\""],
    );
    refused(
        "integer-for-switch",
        "layer-norm = 1\n",
        &["run.toml: key 'layer-norm': expected true or false"],
    );
    refused(
        "number-for-name",
        "dataset = 1\n",
        &["run.toml: key 'dataset': expected a string, found integer 1"],
    );
    refused(
        "array-for-scalar",
        "lr = [0.1, 0.2]\n",
        &["run.toml: key 'lr': expected a number, found an array"],
    );
    refused(
        "list-item",
        "hidden = [32, \"wide\"]\n",
        &["run.toml: key 'hidden': item 2: expected an integer"],
    );
}

#[test]
fn malformed_files_and_keys_that_cannot_be_in_one_are_refused() {
    refused(
        "nested-config",
        "config = \"other.toml\"\n",
        &["run.toml: key 'config': a run file cannot name another run file"],
    );
    refused(
        "twice",
        "batch-size = 32\nbatch_size = 64\n",
        &["run.toml: keys 'batch-size' and 'batch_size' both set --batch-size"],
    );
    refused(
        "not-toml",
        "epochs = \n",
        &["run.toml: TOML parse error at line 1"],
    );
    let o = locus(&["train", "--config", "/nonexistent/run.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read the run file --config /nonexistent/run.toml"));
}
