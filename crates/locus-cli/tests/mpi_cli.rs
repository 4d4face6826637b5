//! `locus train --scheduler mpi` under `mpirun`, with each rank given its own command
//! line (`mpirun -n 1 A : -n 1 B`): rank 0 alone reads the data, so a rank above 0 whose
//! `--data-dir` does not exist trains all the same; and when rank 0 cannot read its data,
//! the job ends with the reason instead of waiting.
//!
//! Needs the cargo feature `mpi` and `mpirun`; without `mpirun` the tests say so and
//! pass, unless `LOCUS_REQUIRE_MPI` is set (CI sets it).

use std::time::Duration;

use locus_testing::mpi_job::{self, MpiJob};
use locus_testing::shared_data::shared_data_dir;

mod common;
use common::scratch;

/// The flags of a small run: 2 epochs of a 32-wide DFA network, 3 stages.
const SMALL: &[&str] = &[
    "--algo",
    "dfa",
    "--hidden",
    "32,32",
    "--epochs",
    "2",
    "--batch-size",
    "100",
    "--scheduler",
    "mpi",
    "--json",
];

/// Runs one `locus train` per command line, each as one rank; `None` when there is no
/// `mpirun`. Fails
/// past two minutes, which only a hang needs.
fn mpirun(ranks: &[Vec<String>]) -> Option<MpiJob> {
    let mut args = Vec::new();
    for (i, rank) in ranks.iter().enumerate() {
        if i > 0 {
            args.push(":".to_string());
        }
        args.extend(["-n", "1", env!("CARGO_BIN_EXE_locus"), "train"].map(String::from));
        args.extend(rank.iter().cloned());
    }
    mpi_job::mpirun(
        "locus train --scheduler mpi",
        &args,
        &[],
        Duration::from_secs(120),
    )
}

/// `SMALL` on the `.npy` files in `dir`, written into `out` when given.
fn rank(dir: &str, out: Option<&str>) -> Vec<String> {
    let mut args: Vec<String> = ["--dataset", "npy", "--data-dir", dir]
        .iter()
        .chain(SMALL)
        .map(|s| s.to_string())
        .collect();
    if let Some(out) = out {
        args.extend(["--out".to_string(), out.to_string()]);
    }
    args
}

#[test]
fn ranks_above_0_read_no_data() {
    let Some(data) = shared_data_dir("mnist1d") else {
        return;
    };
    let out = scratch("mpi-rank0-reads");
    let out = out.to_str().unwrap();
    // Rank 1's data directory does not exist: it must never look.
    let nowhere = "/nonexistent/locus-mpi-test";
    let Some(MpiJob {
        success,
        stdout,
        stderr,
    }) = mpirun(&[rank(data.to_str().unwrap(), Some(out)), rank(nowhere, None)])
    else {
        return;
    };
    assert!(success, "{stderr}");
    let line = stdout.lines().last().expect("rank 0 prints the summary");
    let run: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(run["config"]["scheduler"], "mpi");
    assert_eq!(run["config"]["scheduler_config"]["ranks"], 2);
    assert_eq!(run["config"]["train_samples"], 4000);
    // Three stages on two ranks: stages 1 and 2 on rank 0, stage 3 on rank 1.
    assert_eq!(
        run["config"]["scheduler_config"]["stages_of_rank"],
        serde_json::json!([[0, 1], [2]])
    );
    // Ten classes: chance is 0.1; two epochs of DFA on MNIST-1D reach well above it.
    let accuracy = run["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.2, "test accuracy {accuracy}: {stderr}");
    // Only rank 0 reports: one summary, one results.json.
    assert_eq!(stdout.lines().filter(|l| l.starts_with('{')).count(), 1);
    assert!(std::path::Path::new(out).join("results.json").is_file());
    assert!(!stderr.contains(nowhere), "{stderr}");
}

#[test]
fn the_job_ends_when_rank_0_cannot_read_the_data() {
    if shared_data_dir("mnist1d").is_none() {
        return;
    }
    let empty = scratch("mpi-rank0-no-data");
    let empty = empty.to_str().unwrap();
    let Some(job) = mpirun(&[rank(empty, None), rank(empty, None)]) else {
        return;
    };
    let stderr = job.stderr;
    assert!(!job.success, "{stderr}");
    // Rank 0's own error names the missing file. Rank 1 stops with "MPI rank 0 could not
    // load the data: ..." unless mpirun, seeing rank 0 fail, has ended it first: which
    // of the two comes first varies, and either way the job ends (the two-minute
    // deadline of `mpirun` above fails the test on a hang).
    assert!(stderr.contains("x_train.npy"), "{stderr}");
}

/// Forward-Forward's stages on two ranks (rank 1 without data) at one batch in flight
/// end where the pipelined scheduler ends in one process: the same losses, test accuracy
/// and read-out accuracy, for `ff` and `ff-unsup`.
#[test]
fn forward_forward_on_two_ranks_ends_as_pipelined() {
    let Some(data) = shared_data_dir("mnist1d") else {
        return;
    };
    let data = data.to_str().unwrap();
    for algo in ["ff", "ff-unsup"] {
        let flags = |dir: &str, scheduler: &str| -> Vec<String> {
            [
                "--algo",
                algo,
                "--dataset",
                "npy",
                "--data-dir",
                dir,
                "--hidden",
                "64,64",
                "--epochs",
                "2",
                "--in-flight",
                "1",
                "--scheduler",
                scheduler,
                "--json",
            ]
            .map(String::from)
            .to_vec()
        };
        let Some(job) = mpirun(&[
            flags(data, "mpi"),
            flags("/nonexistent/locus-mpi-test", "mpi"),
        ]) else {
            return;
        };
        assert!(job.success, "{algo}: {}", job.stderr);
        let line = job
            .stdout
            .lines()
            .last()
            .expect("rank 0 prints the summary");
        let mpi: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut args = vec!["train".to_string()];
        args.extend(flags(data, "pipelined"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = common::locus(&args);
        assert!(o.status.success(), "{}", common::stderr(&o));
        let pipelined = common::last_json_line(&o);
        for key in ["test_accuracy", "test_loss", "train_loss"] {
            assert_eq!(mpi[key], pipelined[key], "{algo}: {key}");
        }
        assert_eq!(
            mpi["config"]["test_readout_accuracy"], pipelined["config"]["test_readout_accuracy"],
            "{algo}"
        );
        let losses = |j: &serde_json::Value| -> Vec<serde_json::Value> {
            j["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["final_loss"].clone())
                .collect()
        };
        assert_eq!(losses(&mpi), losses(&pipelined), "{algo}");
        assert!(
            mpi["config"]["scheduler"].as_str().unwrap().contains("mpi"),
            "{}",
            mpi["config"]["scheduler"]
        );
    }
}
