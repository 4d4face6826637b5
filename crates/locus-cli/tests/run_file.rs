//! Runs described by files: `--config` reads a run's flags from a TOML file, and every
//! mistake in a file is an error that names the file and the key.

use std::path::Path;

use serde_json::Value;

mod common;
use common::{locus, scratch, stderr};

fn results(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
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
