//! Fuzzing of the commands that read results.json files (`locus plot`, `locus
//! plot-points`), in process: arbitrary bytes, and well-formed reports whose numbers sit
//! at the ends of the f64 range, must give a chart or an error, never a panic.

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::json;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/tests/results_fuzz.txt"
        )))),
        ..ProptestConfig::default()
    }
}

/// A fresh directory for one case.
fn scratch() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("locus-results-fuzz-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `locus plot` and `locus plot-points` on `results` (in `dir`); errors are fine.
fn plot_both(dir: &Path, results: &[u8]) {
    let file = dir.join("results.json");
    std::fs::write(&file, results).unwrap();
    let out = dir.join("chart.png");
    let (file, out) = (file.to_str().unwrap(), out.to_str().unwrap());
    let commands: [&[&str]; 4] = [
        &[
            "plot", file, "--out", out, "--width", "64", "--height", "48",
        ],
        &[
            "plot",
            file,
            "--out",
            out,
            "--stage-metric",
            "loss",
            "--width",
            "64",
            "--height",
            "48",
        ],
        &[
            "plot",
            file,
            "--out",
            out,
            "--metric",
            "train-loss",
            "--width",
            "64",
            "--height",
            "48",
        ],
        &[
            "plot-points",
            file,
            "--out",
            out,
            "--x",
            "stages.*.final_loss",
            "--width",
            "64",
            "--height",
            "48",
        ],
    ];
    for args in commands {
        let args = std::iter::once("locus")
            .chain(args.iter().copied())
            .map(String::from);
        // Ok or Err: only a panic fails the property.
        let _ = locus_cli::run_with(args, Vec::new());
    }
}

/// Finite numbers that strain a chart's axes: zeros, the extremes, the tiniest.
fn number() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::MIN_POSITIVE),
        Just(-f64::MIN_POSITIVE),
        Just(5e-324),
        Just(1e300),
        Just(-1e300),
        -2.0..2.0f64,
    ]
}

/// A well-formed results.json of 1 to 4 epochs and 1 or 2 stages, every figure from
/// [`number`].
fn report() -> impl Strategy<Value = Vec<u8>> {
    (
        vec((number(), number(), number(), number(), number()), 1..5),
        vec(number(), 1..3),
        vec(number(), 6),
        any::<u64>(),
    )
        .prop_map(|(epochs, stage_losses, figures, seed)| {
            let history: Vec<_> = epochs
                .iter()
                .enumerate()
                .map(|(i, &(train, acc, test, secs, stage))| {
                    json!({"epoch": i, "train_loss": train, "test_accuracy": acc,
                           "test_loss": test, "train_s": secs,
                           "stage_metrics": {"stage1.loss": stage, "stage2.loss": -stage}})
                })
                .collect();
            let stages: Vec<_> = stage_losses
                .iter()
                .enumerate()
                .map(|(i, &loss)| {
                    json!({"name": format!("stage{}", i + 1), "module": "Linear",
                           "objective": "loss", "params": 10, "final_loss": loss})
                })
                .collect();
            let report = json!({
                "algo": "bp", "dataset": "mnist1d", "epochs": history.len(), "seed": seed,
                "test_accuracy": figures[0], "test_loss": figures[1], "train_loss": figures[2],
                "wall_s": figures[3], "samples_per_s": figures[4], "stages": stages,
                "config": {"delay": figures[5]}, "history": history,
            });
            serde_json::to_vec(&report).unwrap()
        })
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        let dir = scratch();
        plot_both(&dir, &bytes);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn extreme_reports_never_panic(report in report(), cut in any::<prop::sample::Index>()) {
        let dir = scratch();
        plot_both(&dir, &report);
        // The same report cut short is not JSON.
        plot_both(&dir, &report[..cut.index(report.len())]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
