//! A rule from outside the CLI crate (examples/custom_rule.rs), run through the whole
//! `locus` command: it trains, reports and runs under the pipelined scheduler like a
//! built-in rule.

#[path = "../examples/custom_rule.rs"]
mod custom_rule;

fn train(extra: &[&str]) -> serde_json::Value {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("locus-custom-rule-{}-{run}", std::process::id()));
    let mut args: Vec<String> = [
        "locus",
        "train",
        "--algo",
        "local-errors",
        "--dataset",
        "mnist1d",
        "--hidden",
        "64,64",
        "--epochs",
        "3",
        "--seed",
        "2",
    ]
    .iter()
    .chain(extra)
    .map(|s| s.to_string())
    .collect();
    args.extend(["--out".to_string(), dir.display().to_string()]);
    locus_cli::run_with(args, vec![custom_rule::local_errors()]).unwrap();
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_registered_rule_trains_through_the_command_under_any_scheduler() {
    let run = train(&[]);
    assert_eq!(run["algo"], "local-errors");
    let stages = run["stages"].as_array().unwrap();
    assert_eq!(stages[0]["objective"], "local-errors");
    assert_eq!(stages[1]["objective"], "local-errors");
    assert_eq!(stages[2]["objective"], "softmax-cross-entropy");
    // Chance is 0.1 on MNIST-1D's ten classes.
    let accuracy = run["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.25, "test accuracy {accuracy}");
    // Its stages need no message from above, so they run on threads of their own; with
    // one batch in flight the pipelined run is the lockstep run, figure for figure, and
    // the simulated scheduler is deterministic.
    let key = |j: &serde_json::Value| {
        let curve: Vec<f64> = j["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["test_loss"].as_f64().unwrap())
            .collect();
        (j["test_accuracy"].as_f64(), j["train_loss"].as_f64(), curve)
    };
    let pipelined = train(&["--scheduler", "pipelined", "--in-flight", "1"]);
    assert_eq!(pipelined["config"]["scheduler"], "pipelined");
    assert_eq!(key(&pipelined), key(&run));
    let simulated = ["--scheduler", "simulated", "--link-delay", "0.5"];
    assert_eq!(key(&train(&simulated)), key(&train(&simulated)));
}

/// The objective passes the conformance suite every objective runs: valid and
/// reproducible signals, labels and non-finite values checked, and its gradient against
/// finite differences.
#[test]
fn the_rule_conforms() {
    use locus::objectives::LocalObjective;
    use locus_testing::conformance::ObjectiveConformance;
    for shape in [&[4, 6][..], &[3, 1][..]] {
        ObjectiveConformance::new(shape)
            .with_classes(3)
            .run("local-errors", |seed| -> Box<dyn LocalObjective<f64>> {
                Box::new(custom_rule::LocalErrors::new(3, seed))
            })
            .unwrap_or_else(|e| panic!("{shape:?}: {e}"));
    }
}

#[test]
fn a_taken_name_is_refused() {
    let mut taken = custom_rule::local_errors();
    taken.name = "dfa";
    let err = locus_cli::run_with(["locus".to_string(), "list".to_string()], vec![taken])
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"dfa\" is taken"), "{err}");
}
