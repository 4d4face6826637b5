//! `--preset`: a standard protocol's flags, overridden by --config and the command line,
//! recorded in config.toml as plain flags; `--standardize` records its statistics.

mod common;

use common::{last_json_line, locus, scratch, stderr};

#[test]
fn the_nokland_preset_sets_the_protocol_and_flags_override_it() {
    let dir = scratch("preset");
    let out = dir.join("run");
    // MNIST-1D instead of MNIST and one small epoch, so the test needs no files.
    let o = locus(&[
        "train",
        "--algo",
        "dfa",
        "--preset",
        "nokland2016",
        "--dataset",
        "mnist1d",
        "--epochs",
        "1",
        "--hidden",
        "64,64",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = last_json_line(&o);
    assert_eq!(j["epochs"], 1, "the command line overrides the preset");
    assert_eq!(j["config"]["activation"], "tanh");
    assert_eq!(j["config"]["batch_size"], 128);
    let stats = &j["config"]["input_standardization"];
    assert!(stats["std"].as_f64().unwrap() > 0.0, "{stats}");
    let toml = std::fs::read_to_string(out.join("config.toml")).unwrap();
    for line in [
        "init = \"lecun\"",
        "dfa-feedback-init = \"lecun-normal\"",
        "standardize = true",
        "momentum = 0.9",
        "epochs = 1",
    ] {
        assert!(toml.contains(line), "{line} not in:\n{toml}");
    }
    assert!(
        !toml.lines().any(|l| l.starts_with("preset")),
        "the preset's flags are in the file already"
    );
    // A run file overrides the preset; the command line overrides both.
    let file = dir.join("run.toml");
    std::fs::write(
        &file,
        "epochs = 2\nlr = 0.02\ndataset = \"mnist1d\"\nhidden = [32]\n",
    )
    .unwrap();
    let o = locus(&[
        "train",
        "--algo",
        "dfa",
        "--preset",
        "nokland2016",
        "--config",
        file.to_str().unwrap(),
        "--lr",
        "0.03",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = last_json_line(&o);
    assert_eq!(j["epochs"], 2);
    assert_eq!(
        j["config"]["optimizer"]["Sgd"]["lr"].as_f64(),
        Some(0.03),
        "{}",
        j["config"]["optimizer"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn protocol_flags_are_refused_where_they_mean_nothing() {
    let o = locus(&[
        "train",
        "--algo",
        "fa",
        "--dfa-feedback-init",
        "lecun-normal",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--dfa-feedback-init applies to --algo dfa"),
        "{}",
        stderr(&o)
    );
    let o = locus(&[
        "train",
        "--model",
        "lstm",
        "--dataset",
        "copy",
        "--algo",
        "bp",
        "--standardize",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--standardize"), "{}", stderr(&o));
}

/// The preset gives DFA's feedback matrices the protocol's scale, and the other rules
/// none of that flag (their feedback, when they have one, is drawn like the weights).
#[test]
fn the_preset_fits_every_feedback_rule() {
    for algo in ["bp", "fa", "usf", "dfa"] {
        let dir = scratch(&format!("preset-{algo}"));
        let o = locus(&[
            "train",
            "--algo",
            algo,
            "--preset",
            "nokland2016",
            "--dataset",
            "mnist1d",
            "--epochs",
            "1",
            "--hidden",
            "16",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{algo}: {}", stderr(&o));
        let toml = std::fs::read_to_string(dir.join("config.toml")).unwrap();
        let expected = if algo == "dfa" {
            "lecun-normal"
        } else {
            "uniform"
        };
        assert!(
            toml.contains(&format!("dfa-feedback-init = \"{expected}\"")),
            "{algo}: {toml}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
