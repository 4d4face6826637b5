//! `locus train --scheduler`: every scheduler runs every algorithm that allows it, reports
//! per-stage staleness and busy fraction, and refuses options that do not apply to it.

mod common;
use common::{locus, stderr};

fn run_json(extra: &[&str]) -> serde_json::Value {
    run_json_epochs("2", extra)
}

fn run_json_epochs(epochs: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "train",
        "--dataset",
        "mnist1d",
        "--train-limit",
        "600",
        "--hidden",
        "32,32",
        "--epochs",
        epochs,
        "--batch-size",
        "50",
        "--json",
    ];
    args.extend(extra);
    json_of(&args)
}

/// Runs `locus ARGS`, which must succeed, and returns the JSON object on its last line.
fn json_of(args: &[&str]) -> serde_json::Value {
    let o = locus(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = stdout.lines().last().expect("stdout has a line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn fails_with(extra: &[&str], needles: &[&str]) {
    let mut args = vec![
        "train",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--train-limit",
        "100",
    ];
    args.extend(extra);
    refused(&args, needles);
}

/// Runs `locus ARGS`, which must fail without a panic, naming every needle on stderr.
fn refused(args: &[&str], needles: &[&str]) {
    let o = locus(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} should fail; stderr: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected {n:?} in: {err}");
    }
}

#[test]
fn every_scheduler_reports_staleness_and_busy_fraction() {
    for scheduler in ["lockstep", "pipelined", "simulated", "forward-unlocked"] {
        for algo in ["bp", "dfa", "dni"] {
            let j = run_json(&["--algo", algo, "--scheduler", scheduler]);
            assert_eq!(j["config"]["scheduler"], scheduler);
            let stages = j["stages"].as_array().unwrap();
            assert_eq!(stages.len(), 3);
            for s in stages {
                let staleness = s["staleness"].as_f64().unwrap_or_else(|| panic!("{s}"));
                let busy = s["busy_fraction"].as_f64().unwrap_or_else(|| panic!("{s}"));
                assert!((0.0..=1.0).contains(&busy), "{scheduler} {algo}: {s}");
                assert!(staleness >= 0.0);
                if scheduler == "lockstep" || scheduler == "forward-unlocked" {
                    assert_eq!(staleness, 0.0);
                }
            }
            // Per-epoch figures land in the history as well.
            let first = &j["history"][0]["stage_metrics"];
            assert!(first["stage1.busy_fraction"].is_number(), "{first}");
            let top = &stages[2];
            assert_eq!(top["staleness"], 0.0, "the top stage never waits");
            if scheduler == "simulated" && algo != "dni" {
                // Equal stage times and two batches in flight: the bottom stage learns from
                // a forward pass at least one update old.
                assert!(
                    stages[0]["staleness"].as_f64().unwrap() > 0.0,
                    "{algo}: {j}"
                );
            }
        }
    }
}

#[test]
fn one_batch_in_flight_reproduces_lockstep_and_simulated_runs_repeat() {
    let key = |j: &serde_json::Value| {
        (
            j["test_accuracy"].as_f64().unwrap(),
            j["train_loss"].as_f64().unwrap(),
            j["history"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["test_loss"].as_f64().unwrap())
                .collect::<Vec<_>>(),
        )
    };
    for algo in ["dfa", "cdni"] {
        let lockstep = key(&run_json(&["--algo", algo, "--seed", "4"]));
        let pipelined = key(&run_json(&[
            "--algo",
            algo,
            "--seed",
            "4",
            "--scheduler",
            "pipelined",
            "--in-flight",
            "1",
        ]));
        assert_eq!(pipelined, lockstep, "{algo}");
        let simulated = [
            "--algo",
            algo,
            "--seed",
            "4",
            "--scheduler",
            "simulated",
            "--stage-time",
            "1,3,1",
            "--link-delay",
            "0.5",
        ];
        assert_eq!(key(&run_json(&simulated)), key(&run_json(&simulated)));
        let j = run_json(&simulated);
        assert_eq!(j["config"]["scheduler_config"]["link_delay"], 0.5);
        assert_eq!(j["config"]["scheduler_config"]["broadcast_delay"], 0.5);
    }
}

#[test]
fn scheduler_options_are_checked() {
    fails_with(
        &["--scheduler", "pipelined", "--capacity", "0"],
        &["--capacity", "0"],
    );
    fails_with(
        &["--scheduler", "simulated", "--in-flight", "0"],
        &["--in-flight"],
    );
    fails_with(
        &["--scheduler", "simulated", "--link-delay", "-1"],
        &["--link-delay", "-1"],
    );
    fails_with(
        &["--scheduler", "simulated", "--stage-time", "1,nan"],
        &["--stage-time", "NaN"],
    );
    fails_with(
        &["--scheduler", "simulated", "--stage-time", "1,2,3,4"],
        &["--stage-time has 4 values for 2 stages"],
    );
    fails_with(
        &["--scheduler", "pipelined", "--link-delay", "1"],
        &["--link-delay applies to --scheduler simulated"],
    );
    fails_with(
        &["--capacity", "3"],
        &[
            "--capacity applies to --scheduler pipelined, simulated or mpi",
            "lockstep",
        ],
    );
    fails_with(
        &[
            "--algo",
            "dfa",
            "--scheduler",
            "pipelined",
            "--replay-buffer",
            "2",
        ],
        &["no stage can have one"],
    );
    fails_with(&["--scheduler", "greedy-ish"], &["--scheduler"]);
    fails_with(
        &["--algo", "dfa", "--probe-epochs", "3"],
        &[
            "--probe-epochs applies to",
            "--algo dfa fits no linear probes",
        ],
    );
    for (algo, scheduler) in [("sae", "simulated"), ("sarm", "forward-unlocked")] {
        fails_with(
            &["--algo", algo, "--scheduler", scheduler],
            &[algo, &format!("--scheduler {scheduler} is not supported")],
        );
    }
    for scheduler in ["forward-unlocked", "greedy"] {
        fails_with(
            &["--algo", "ff", "--scheduler", scheduler],
            &[
                "--algo ff runs under --scheduler lockstep, pipelined, simulated",
                &format!("not under --scheduler {scheduler}"),
            ],
        );
    }
    fails_with(
        &["--input-hidden", "16"],
        &[
            "--input-hidden applies to --scheduler forward-unlocked",
            "lockstep",
        ],
    );
    fails_with(
        &["--scheduler", "forward-unlocked", "--input-hidden", "0"],
        &["--input-hidden should be >= 1 unit"],
    );
    fails_with(
        &["--scheduler", "forward-unlocked", "--capacity", "2"],
        &["--capacity applies to", "forward-unlocked"],
    );
}

#[test]
fn forward_unlocked_runs_are_reproducible_and_record_the_input_model() {
    let args = [
        "--algo",
        "cdni",
        "--seed",
        "3",
        "--scheduler",
        "forward-unlocked",
        "--input-hidden",
        "16",
    ];
    let losses = |j: &serde_json::Value| {
        j["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["train_loss"].as_f64(), e["test_loss"].as_f64()))
            .collect::<Vec<_>>()
    };
    let (a, b) = (run_json(&args), run_json(&args));
    assert_eq!(a["test_accuracy"], b["test_accuracy"]);
    assert_eq!(losses(&a), losses(&b));
    let model = &a["config"]["scheduler_config"]["synthetic_inputs"]["model"];
    assert_eq!(model["Mlp"]["hidden"], 16, "{model}");
    // The synthetic inputs change the run: it is not the lockstep one.
    let lockstep = run_json(&["--algo", "cdni", "--seed", "3"]);
    assert_ne!(losses(&lockstep), losses(&a));
}

#[test]
fn plot_points_draws_a_figure_against_another() {
    let dir = std::env::temp_dir().join(format!("locus-plot-points-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut runs = Vec::new();
    for delay in ["0", "4"] {
        let out = dir.join(format!("dfa-{delay}"));
        let o = locus(&[
            "train",
            "--algo",
            "dfa",
            "--hidden",
            "16",
            "--epochs",
            "1",
            "--train-limit",
            "1000",
            "--batch-size",
            "20",
            "--scheduler",
            "simulated",
            "--in-flight",
            "8",
            "--capacity",
            "8",
            "--link-delay",
            delay,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        runs.push(out.join("results.json").to_str().unwrap().to_string());
    }
    let png = dir.join("points.png");
    let mut args = vec!["plot-points"];
    args.extend(runs.iter().map(String::as_str));
    args.extend([
        "--x",
        "config.scheduler_config.link_delay",
        "--out",
        png.to_str().unwrap(),
    ]);
    let o = locus(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    // Staleness of the bottom stage grew with the delay, and the path finds it.
    let staleness = |run: &str| {
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run).unwrap()).unwrap();
        j["stages"][0]["staleness"].as_f64().unwrap()
    };
    assert!(staleness(&runs[1]) > staleness(&runs[0]));
    let x = args.len() - 3;
    args[x] = "stages.*.no_such_figure";
    let o = locus(&args);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no finite number at \"stages.*.no_such_figure\""));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The contrastive encoders run under every scheduler when all their stages train together
/// (`--gim-schedule lockstep`), report each stage's staleness and busy fraction, and the
/// one-stage-at-a-time schedules refuse a scheduler.
#[test]
fn contrastive_stages_run_under_the_asynchronous_schedulers() {
    for scheduler in ["pipelined", "simulated"] {
        for algo in ["gim", "cpc"] {
            let args = [
                "train",
                "--algo",
                algo,
                "--dataset",
                "mnist1d",
                "--train-limit",
                "256",
                "--epochs",
                "1",
                "--enc-widths",
                "8,8,8",
                "--probe-epochs",
                "2",
                "--scheduler",
                scheduler,
                "--json",
            ];
            let j = json_of(&args);
            assert_eq!(j["config"]["scheduler"], scheduler, "{algo}");
            for s in j["stages"].as_array().unwrap() {
                let busy = s["busy_fraction"].as_f64().unwrap_or_else(|| panic!("{s}"));
                assert!((0.0..=1.0).contains(&busy), "{algo} {scheduler}: {s}");
                assert!(s["staleness"].as_f64().unwrap() >= 0.0);
            }
        }
    }
    refused(
        &[
            "train",
            "--algo",
            "gim",
            "--epochs",
            "1",
            "--gim-schedule",
            "cached",
            "--scheduler",
            "pipelined",
        ],
        &[
            "--scheduler pipelined is not supported",
            "--gim-schedule lockstep",
        ],
    );
}

#[test]
fn greedy_trains_stages_in_turn_and_reports_every_stage() {
    // Five epochs over three stages: one each below the top, three for the top.
    let j = run_json_epochs("5", &["--algo", "dgl", "--scheduler", "greedy"]);
    assert_eq!(j["config"]["scheduler"], "greedy");
    assert_eq!(j["config"]["scheduler_config"]["budget"]["split"], 5);
    assert_eq!(j["history"].as_array().unwrap().len(), 5);
    let stages = j["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3);
    for s in stages {
        assert_eq!(s["staleness"].as_f64(), Some(0.0), "{s}");
        let busy = s["busy_fraction"].as_f64().unwrap_or_else(|| panic!("{s}"));
        assert!((0.0..=1.0).contains(&busy), "{s}");
        // The loss of the stage's own turn, not the 0 of the epochs it sat out.
        let loss = s["final_loss"].as_f64().unwrap_or_else(|| panic!("{s}"));
        assert!(loss.is_finite() && loss > 0.0, "{s}");
        assert!(s["probe_accuracy"].as_f64().is_some(), "{s}");
    }
    // In the last epoch only the top stage learned; the one below ran forward only.
    let last = &j["history"][4]["stage_metrics"];
    assert!(
        last["stage2.busy_fraction"].as_f64().unwrap() > 0.0,
        "{last}"
    );
    assert!(
        j["test_accuracy"].as_f64().unwrap() > 0.15,
        "{}",
        j["test_accuracy"]
    );

    // --stage-epochs: 2 for each stage below the top, the top the last one.
    let j = run_json_epochs(
        "5",
        &[
            "--algo",
            "dgl",
            "--scheduler",
            "greedy",
            "--stage-epochs",
            "2",
        ],
    );
    assert_eq!(j["config"]["scheduler_config"]["budget"]["each"], 2);

    // Greedy InfoMax's stages learn from their own InfoNCE losses: one per epoch here.
    let j = json_of(&[
        "train",
        "--algo",
        "gim",
        "--dataset",
        "mnist1d",
        "--train-limit",
        "256",
        "--epochs",
        "3",
        "--enc-widths",
        "8,8,8",
        "--probe-epochs",
        "2",
        "--scheduler",
        "greedy",
        "--json",
    ]);
    assert_eq!(j["config"]["scheduler"], "greedy");
    for s in j["stages"].as_array().unwrap() {
        assert_eq!(s["staleness"].as_f64(), Some(0.0), "{s}");
        assert!(s["busy_fraction"].as_f64().is_some(), "{s}");
        assert!(s["final_loss"].as_f64().unwrap() > 0.0, "{s}");
    }
    refused(
        &[
            "train",
            "--algo",
            "cpc",
            "--train-limit",
            "64",
            "--epochs",
            "3",
            "--enc-widths",
            "8,8,8",
            "--scheduler",
            "greedy",
        ],
        &[
            "--algo cpc cannot run under --scheduler greedy",
            "upstream-gradient",
        ],
    );

    // sae and sarm are greedy layer-wise already: --scheduler greedy names their trainer.
    let j = json_of(&[
        "train",
        "--algo",
        "sae",
        "--hidden",
        "8",
        "--epochs",
        "1",
        "--train-limit",
        "100",
        "--probe-epochs",
        "0",
        "--scheduler",
        "greedy",
        "--json",
    ]);
    assert_eq!(j["config"]["scheduler"], "greedy");
}

#[test]
fn greedy_refuses_rules_that_wait_for_a_signal_from_above_and_bad_budgets() {
    for (algo, objective, needs) in [
        (
            "bp",
            "upstream-gradient",
            "the gradient message of the stage above",
        ),
        (
            "fa",
            "upstream-gradient",
            "the gradient message of the stage above",
        ),
        (
            "dni",
            "synthetic-gradient",
            "the gradient message of the stage above",
        ),
        ("dfa", "direct-feedback", "the global error"),
    ] {
        fails_with(
            &["--algo", algo, "--scheduler", "greedy"],
            &[
                &format!("--algo {algo} cannot run under --scheduler greedy"),
                "stage 'stage1'",
                objective,
                needs,
            ],
        );
    }
    // Budgets (two stages, one epoch): too short a run for the top, or for a split;
    // a stage with no epoch of its own.
    for (budget, needle) in [
        (
            Some("1"),
            "--stage-epochs 1 gives the 1 stage(s) below the top 1 epoch(s) in all, so --epochs 1 leaves the top stage none",
        ),
        (
            None,
            "--epochs 1 split over 2 stages leaves some stage no epoch",
        ),
        (
            Some("0"),
            "--stage-epochs should be >= 1 under --scheduler greedy",
        ),
    ] {
        let mut args = vec!["--algo", "dgl", "--scheduler", "greedy"];
        args.extend(budget.map(|n| ["--stage-epochs", n]).iter().flatten());
        fails_with(&args, &[needle]);
    }
    fails_with(
        &["--algo", "dgl", "--stage-epochs", "2"],
        &["--stage-epochs applies to", "--scheduler greedy"],
    );
    fails_with(
        &["--algo", "dgl", "--scheduler", "greedy", "--capacity", "2"],
        &["--capacity applies to", "not to --scheduler greedy"],
    );
}

/// `locus list`'s schedulers column is what `locus train` does: every algorithm runs
/// under each scheduler it lists and is refused, with an error, under each it does not.
#[test]
fn every_algorithm_runs_under_exactly_the_schedulers_it_lists() {
    let list = locus(&["list"]);
    assert!(list.status.success());
    let list = String::from_utf8_lossy(&list.stdout).into_owned();
    let all = [
        "lockstep",
        "pipelined",
        "simulated",
        "forward-unlocked",
        "greedy",
    ];
    for row in list.lines().skip(1) {
        let algo = row.split_whitespace().next().unwrap();
        for scheduler in all {
            let listed = row.contains(&format!(" {scheduler}"));
            let mut args = vec![
                "train",
                "--algo",
                algo,
                "--scheduler",
                scheduler,
                "--train-limit",
                "64",
                "--batch-size",
                "32",
                "--epochs",
                "3",
            ];
            match algo {
                "gim" | "cpc" | "bp-encoder" => {
                    args.extend(["--enc-widths", "4,4,4", "--probe-epochs", "1"])
                }
                "sae" | "sarm" => args.extend(["--hidden", "8,8", "--probe-epochs", "1"]),
                _ => args.extend(["--hidden", "8,8"]),
            }
            let o = locus(&args);
            assert_eq!(
                o.status.success(),
                listed,
                "{algo} under {scheduler}: listed {listed}, but {}",
                stderr(&o)
            );
            if !listed {
                assert!(
                    stderr(&o).contains("error:"),
                    "{algo} {scheduler}: {}",
                    stderr(&o)
                );
            }
        }
    }
}
