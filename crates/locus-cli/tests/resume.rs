//! Checkpoints: a run killed with SIGKILL in the middle of an epoch and resumed from its
//! last checkpoint ends with the figures of the uninterrupted run of the same seed, for
//! every family of algorithms and the deterministic schedulers; damaged or foreign
//! checkpoints are refused by name.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{last_json_line, locus, scratch, stderr};

/// `train` with `args`, `--json`; the JSON report.
fn train(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["train"];
    all.extend(args);
    all.push("--json");
    let o = locus(&all);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    last_json_line(&o)
}

/// `value` without the figures that measure time.
fn untimed(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => map
            .iter()
            .filter(|(k, _)| {
                !(k.ends_with("train_s")
                    || k.ends_with("busy_fraction")
                    || k.as_str() == "wall_s"
                    || k.as_str() == "samples_per_s"
                    || k.as_str() == "resumed_after"
                    || k.as_str() == "peak_rss_bytes")
            })
            .map(|(k, v)| (k.clone(), untimed(v)))
            .collect(),
        serde_json::Value::Array(items) => items.iter().map(untimed).collect(),
        other => other.clone(),
    }
}

/// The epochs done according to the checkpoint's manifest in `dir`, once there is one.
fn epochs_saved(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
    let m: serde_json::Value = serde_json::from_str(&text).ok()?;
    m["epochs_done"].as_u64()
}

/// Starts `train args --save-state dir`, kills it (SIGKILL) as soon as its first
/// checkpoint is written, while it trains the next epoch, and returns the epochs saved.
fn kill_after_first_checkpoint(args: &[&str], dir: &Path) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_locus"))
        .arg("train")
        .args(args)
        .args(["--save-state", dir.to_str().unwrap()])
        .env_remove("LOCUS_DATA")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        if let Some(done) = epochs_saved(dir) {
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert!(
                !status.success(),
                "{args:?}: the run ended before it could be killed ({done} epochs saved)"
            );
            return done;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("{args:?}: the run ended ({status}) before its first checkpoint");
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "{args:?}: no checkpoint"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The uninterrupted run and the killed-and-resumed one report the same figures.
fn killed_and_resumed_ends_as_uninterrupted(name: &str, args: &[&str]) {
    let base = scratch(&format!("kill-{name}"));
    let dir = base.join("state");
    let whole = train(args);
    let saved = kill_after_first_checkpoint(args, &dir);
    let total = whole["epochs"].as_u64().unwrap();
    assert!(
        saved >= 1 && saved < total.max(2),
        "{name}: {saved} epochs saved"
    );
    let mut again = args.to_vec();
    let d = dir.to_str().unwrap();
    again.extend(["--save-state", d, "--resume", d]);
    let resumed = train(&again);
    for key in [
        "test_accuracy",
        "test_loss",
        "train_loss",
        "stages",
        "history",
    ] {
        assert_eq!(
            untimed(&resumed[key]),
            untimed(&whole[key]),
            "{name}: {key} differs after resuming from epoch {saved}"
        );
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// A small MLP on MNIST-1D; every run adds its `--epochs`.
const MLP: &[&str] = &[
    "--dataset",
    "mnist1d",
    "--hidden",
    "64,64",
    "--batch-size",
    "50",
    "--seed",
    "5",
];

/// `--algo algo`, then `base` and `extra`, four epochs unless `extra` says otherwise.
fn with<'a>(algo: &'a str, base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--algo", algo];
    if !extra.contains(&"--epochs") && !base.contains(&"--epochs") {
        v.extend(["--epochs", "4"]);
    }
    v.extend(base);
    v.extend(extra);
    v
}

#[test]
fn feedback_rules_resume_exactly_under_lockstep_and_simulated() {
    killed_and_resumed_ends_as_uninterrupted("dfa", &with("dfa", MLP, &[]));
    killed_and_resumed_ends_as_uninterrupted("fa-bn", &with("fa", MLP, &["--batch-norm", "true"]));
    killed_and_resumed_ends_as_uninterrupted(
        "dfa-simulated",
        &with("dfa", MLP, &["--scheduler", "simulated"]),
    );
    // Pipelined with one batch in flight runs the batches in lockstep's order; with more
    // its figures vary from run to run already, resumed or not.
    killed_and_resumed_ends_as_uninterrupted(
        "dgl-pipelined",
        &with(
            "dgl",
            MLP,
            &["--scheduler", "pipelined", "--in-flight", "1"],
        ),
    );
}

#[test]
fn synthetic_gradients_and_local_classifiers_resume_exactly() {
    killed_and_resumed_ends_as_uninterrupted("cdni", &with("cdni", MLP, &[]));
    killed_and_resumed_ends_as_uninterrupted("dgl", &with("dgl", MLP, &[]));
}

/// The other schedulers keep state of their own (synthetic-input models) or swap stages
/// in turn (greedy layer-wise), and the simulated clock carries late messages.
#[test]
fn every_scheduler_resumes_exactly() {
    killed_and_resumed_ends_as_uninterrupted(
        "dni-forward-unlocked",
        &with("dni", MLP, &["--scheduler", "forward-unlocked"]),
    );
    killed_and_resumed_ends_as_uninterrupted(
        "cdni-simulated",
        &with("cdni", MLP, &["--scheduler", "simulated"]),
    );
    killed_and_resumed_ends_as_uninterrupted(
        "dgl-greedy",
        &with(
            "dgl",
            MLP,
            &["--scheduler", "greedy", "--stage-epochs", "1"],
        ),
    );
    killed_and_resumed_ends_as_uninterrupted(
        "ff-simulated",
        &with(
            "ff",
            MLP,
            &["--train-limit", "1500", "--scheduler", "simulated"],
        ),
    );
}

#[test]
fn forward_forward_with_peer_normalisation_resumes_exactly() {
    killed_and_resumed_ends_as_uninterrupted(
        "ff",
        &with(
            "ff",
            MLP,
            &["--train-limit", "1500", "--ff-peer-norm", "0.03"],
        ),
    );
}

#[test]
fn contrastive_encoders_resume_exactly() {
    let gim = [
        "--dataset",
        "mnist1d",
        "--train-limit",
        "600",
        "--epochs",
        "3",
        "--batch-size",
        "50",
        "--enc-widths",
        "16,16,16",
        "--probe-epochs",
        "3",
        "--seed",
        "4",
    ];
    killed_and_resumed_ends_as_uninterrupted("gim", &with("gim", &gim, &[]));
}

/// Greedy phases swap the stages' optimizers and, while fine-tuning, lend their
/// objectives: a run stopped after every single epoch, across every phase boundary,
/// still ends as one run; and a SIGKILL mid-epoch too.
#[test]
fn greedy_phases_resume_exactly_at_every_boundary() {
    let sae = [
        "--algo",
        "sae",
        "--dataset",
        "mnist1d",
        "--hidden",
        "32,32",
        "--stage-epochs",
        "1",
        "--top-epochs",
        "2",
        "--epochs",
        "2",
        "--finetune",
        "--probe-epochs",
        "2",
        "--seed",
        "3",
    ];
    let whole = train(&sae);
    let base = scratch("greedy-steps");
    let d = base.join("state");
    let d = d.to_str().unwrap();
    let mut first = sae.to_vec();
    first.extend(["--save-state", d, "--stop-after", "1"]);
    let o = locus(&[&["train"][..], &first].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let mut parts = 1;
    let last = loop {
        let mut next = sae.to_vec();
        next.extend([
            "--save-state",
            d,
            "--resume",
            d,
            "--stop-after",
            "1",
            "--json",
        ]);
        let o = locus(&[&["train"][..], &next].concat());
        assert!(o.status.success(), "part {parts}: {}", stderr(&o));
        parts += 1;
        if !o.stdout.is_empty() {
            break last_json_line(&o);
        }
        assert!(parts < 20, "the run never ended");
    };
    assert!(parts >= 5, "{parts} parts: every phase should be crossed");
    for key in [
        "test_accuracy",
        "test_loss",
        "train_loss",
        "stages",
        "history",
    ] {
        assert_eq!(untimed(&last[key]), untimed(&whole[key]), "sae: {key}");
    }
    let _ = std::fs::remove_dir_all(&base);
    killed_and_resumed_ends_as_uninterrupted("sae", &sae);
}

#[test]
fn the_hsic_bottleneck_and_its_format_step_resume_exactly() {
    killed_and_resumed_ends_as_uninterrupted(
        "hsic",
        &with(
            "hsic",
            MLP,
            &["--train-limit", "1000", "--format-epochs", "2"],
        ),
    );
}

/// Damaged, foreign and mismatched checkpoints are refused with the file and what is
/// wrong named, never a panic.
#[test]
fn damaged_or_foreign_checkpoints_are_refused_by_name() {
    let base = scratch("refusals");
    let dir = base.join("state");
    let d = dir.to_str().unwrap();
    let args = with("dfa", MLP, &["--epochs", "2"]);
    let mut save = args.clone();
    save.extend(["--save-state", d, "--stop-after", "1"]);
    let o = locus(&[&["train"][..], &save].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let file = dir.join("checkpoint.safetensors");
    let good = std::fs::read(&file).unwrap();
    let refused = |args: &[&str], needles: &[&str]| {
        let mut all = vec!["train"];
        all.extend(args);
        all.extend(["--resume", d]);
        let o = locus(&all);
        let err = stderr(&o);
        assert!(!o.status.success(), "{args:?} should fail: {err}");
        assert!(!err.contains("panicked"), "{err}");
        for n in needles {
            assert!(err.contains(n), "expected {n:?} in: {err}");
        }
    };
    // Another algorithm, other settings, another network.
    refused(
        &with("fa", MLP, &["--epochs", "2"]),
        &["checkpoint.safetensors", "--algo dfa"],
    );
    refused(
        &with("dfa", MLP, &["--epochs", "2", "--lr", "0.2"]),
        &["other settings", "lr"],
    );
    // Truncated anywhere.
    for cut in [0, 9, good.len() / 3, good.len() - 1] {
        std::fs::write(&file, &good[..cut]).unwrap();
        refused(&args, &["checkpoint.safetensors", "truncated or corrupt"]);
    }
    // One flipped bit in the weights.
    let mut flipped = good.clone();
    let at = good.len() - 100;
    flipped[at] ^= 0x10;
    std::fs::write(&file, &flipped).unwrap();
    refused(&args, &["checkpoint.safetensors", "corrupt", "checksum"]);
    // A format this version cannot read.
    let needle = b"locus state 1";
    let at = good
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    let mut other = good.clone();
    other[at + 12] = b'7';
    std::fs::write(&file, &other).unwrap();
    refused(&args, &["checkpoint.safetensors", "locus state 7"]);
    // The whole file back: it loads.
    std::fs::write(&file, &good).unwrap();
    let mut resume = args.clone();
    resume.extend(["--resume", d]);
    train(&resume);
    let _ = std::fs::remove_dir_all(&base);
}

/// The checkpoint is readable without locus: the weights are named tensors in PyTorch's
/// layout, `[out, in]`.
#[test]
fn checkpoints_hold_weights_in_pytorch_layout() {
    let base = scratch("layout");
    let dir = base.join("state");
    let d = dir.to_str().unwrap();
    let mut args = with("bp", MLP, &["--epochs", "1"]);
    args.extend(["--save-state", d]);
    train(&args);
    let bytes = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    // MNIST-1D has 40 inputs; the first hidden layer (after the Flatten) has 64 units.
    let w = &header["stage1.module.1.weight"];
    assert_eq!(w["dtype"], "F32");
    assert_eq!(w["shape"], serde_json::json!([64, 40]), "{header}");
    assert_eq!(header["stage1.steps"]["dtype"], "U64");
    assert!(header["__metadata__"]["manifest"]
        .as_str()
        .unwrap()
        .contains("\"bp\""));
    let _ = std::fs::remove_dir_all(&base);
}

/// `examples/read_checkpoint.py` reads a checkpoint with NumPy alone, when python3 with
/// NumPy is on this machine (skipped otherwise).
#[test]
fn python_reads_a_checkpoint() {
    let has_numpy = Command::new("python3")
        .args(["-c", "import numpy"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_numpy {
        eprintln!("skipped: no python3 with numpy");
        return;
    }
    let base = scratch("python");
    let dir = base.join("state");
    let d = dir.to_str().unwrap();
    let mut args = with("dfa", MLP, &["--epochs", "1"]);
    args.extend(["--save-state", d]);
    train(&args);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/read_checkpoint.py");
    let o = Command::new("python3")
        .arg(script)
        .arg(dir.join("checkpoint.safetensors"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("dfa: 1 epochs done"), "{out}");
    assert!(
        out.contains("stage1.module.1.weight: float32 [64, 40]"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&base);
}

/// The LSTM copy task with synthetic gradients: its curriculum keeps its own loop (rounds
/// as epochs), and a run killed mid-round resumes to the same report, the batch
/// generators' positions included.
#[test]
fn the_copy_task_curriculum_resumes_exactly() {
    let copy = [
        "--model",
        "lstm",
        "--dataset",
        "repeat-copy",
        "--algo",
        "dni",
        "--seed",
        "3",
        "--hidden",
        "32",
        "--truncation",
        "2",
        "--epochs",
        "6",
        "--batches-per-epoch",
        "30",
        "--batch-size",
        "8",
        "--eval-size",
        "16",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--start-length",
        "1",
    ];
    killed_and_resumed_ends_as_uninterrupted("dni-copy", &copy);
    // Split on purpose, round by round.
    let whole = train(&copy);
    let base = scratch("copy-steps");
    let d = base.join("state");
    let d = d.to_str().unwrap();
    let mut first = copy.to_vec();
    first.extend(["--save-state", d, "--stop-after", "2"]);
    let o = locus(&[&["train"][..], &first].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    let mut rest = copy.to_vec();
    rest.extend(["--save-state", d, "--resume", d]);
    let last = train(&rest);
    for key in ["test_accuracy", "train_loss", "history", "curriculum"] {
        assert_eq!(untimed(&last[key]), untimed(&whole[key]), "copy: {key}");
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// `--quiet` (like `--json`) says how a run is printed, not what it trains: a run saved
/// without it goes on with it, to the uninterrupted run's figures.
#[test]
fn quiet_is_not_a_setting_a_resumed_run_must_keep() {
    let state = scratch("quiet-resume").join("state");
    let state = state.to_str().unwrap();
    let run = [
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
    let whole = train(&run);
    let mut first = vec!["train"];
    first.extend(run);
    first.extend(["--save-state", state, "--stop-after", "1"]);
    let o = locus(&first);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut rest = run.to_vec();
    rest.extend(["--resume", state, "--quiet"]);
    let resumed = train(&rest);
    assert_eq!(untimed(&resumed), untimed(&whole));
}
