//! Checkpoints of a whole run, so that a run killed at any point goes on from its last
//! checkpoint and ends with the numbers of the uninterrupted run.
//!
//! A checkpoint directory holds one file that matters, `checkpoint.safetensors`
//! ([`CHECKPOINT_FILE`]): every stage's state under its name (`stage1.module.0.weight`
//! in PyTorch's `[out, in]` layout, `stage1.optimizer.buffer.0`, `stage1.objective.…`,
//! `stage1.steps`; see [`Stage::save_state`]), the scheduler's own state under
//! `scheduler.`, and in the header's metadata the [`Manifest`] as JSON under `manifest`:
//! the algorithm, the settings the run was started with, the epochs done, the learning
//! curve so far and the time spent. The file is replaced atomically (see
//! [`write_state_file`](locus_sched::write_state_file)), so a crash while saving leaves the previous checkpoint whole.
//! `manifest.json` beside it is a copy of the manifest for people and scripts; loading
//! reads the one inside the checkpoint.
//!
//! Everything random in locus is drawn from the seed, the epoch and the batch or step
//! counters (the data order, negatives, corruption, feedback draws), so the saved
//! counters are the random streams' state: a run resumed after epoch `e` draws what the
//! uninterrupted run drew in epoch `e + 1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use locus_core::{Float, StateDict};
use locus_eval::EpochRecord;
use locus_sched::{read_state_file, write_atomically, write_state_file, Scheduler, Stage};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{CurriculumProgress, Progress, RecurrentTrainer, Result};

/// The checkpoint file in a checkpoint directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// The readable copy of the manifest in a checkpoint directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The `format` of the manifests this version writes and reads.
pub const MANIFEST_FORMAT: &str = "locus run checkpoint 1";

/// What a checkpoint says about its run: stored as JSON in the checkpoint file's
/// metadata (under `manifest`) and copied to `manifest.json` beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: String,
    /// The version of locus that wrote it.
    pub locus_version: String,
    /// The algorithm's name (e.g. `dni`).
    pub algorithm: String,
    /// The stages' float type (`f32` or `f64`).
    pub float: String,
    /// The stages' names, bottom first.
    pub stages: Vec<String>,
    /// The settings that must be the same for a run to go on from this checkpoint.
    pub settings: Value,
    /// Epochs trained.
    pub epochs_done: u64,
    /// Seconds spent in training epochs.
    pub train_s: f64,
    /// Seconds of the whole run so far (training, evaluation, saving).
    pub wall_s: f64,
    /// Each stage's loss in the last epoch it learned in.
    pub final_losses: Vec<f64>,
    /// The learning curve so far.
    pub history: Vec<EpochRecord>,
    /// The epochs after which the run was resumed, in order.
    pub resumed_after: Vec<u64>,
    /// For a copy-task curriculum: where it stands (its rounds are the epochs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curriculum: Option<CurriculumProgress>,
}

impl Manifest {
    /// The manifest of a run of `algorithm` with `settings` on `stages` that has made
    /// `progress`, `wall_s` seconds in.
    pub fn new<F: Float>(
        algorithm: &str,
        settings: Value,
        stages: &[Stage<F>],
        progress: &Progress,
        wall_s: f64,
    ) -> Self {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            locus_version: env!("CARGO_PKG_VERSION").into(),
            algorithm: algorithm.into(),
            float: F::NAME.into(),
            stages: stages.iter().map(|s| s.name().to_string()).collect(),
            settings,
            epochs_done: progress.epochs_done,
            train_s: progress.train_s,
            wall_s,
            final_losses: progress.final_losses.clone(),
            history: progress.history.clone(),
            resumed_after: Vec::new(),
            curriculum: None,
        }
    }

    /// The manifest of a copy-task curriculum of `algorithm` with `settings` at
    /// `progress`, `wall_s` seconds in (its rounds count as epochs).
    pub fn for_curriculum<F: Float>(
        algorithm: &str,
        settings: Value,
        progress: &CurriculumProgress,
        wall_s: f64,
    ) -> Self {
        Manifest {
            format: MANIFEST_FORMAT.into(),
            locus_version: env!("CARGO_PKG_VERSION").into(),
            algorithm: algorithm.into(),
            float: F::NAME.into(),
            stages: vec!["lstm".into(), "readout".into()],
            settings,
            epochs_done: progress.rounds_done as u64,
            train_s: progress.report.train_s,
            wall_s,
            final_losses: Vec::new(),
            history: Vec::new(),
            resumed_after: Vec::new(),
            curriculum: Some(progress.clone()),
        }
    }

    /// The run's progress, for [`Trainer::resume`](crate::Trainer::resume).
    pub fn progress(&self) -> Progress {
        Progress {
            epochs_done: self.epochs_done,
            history: self.history.clone(),
            train_s: self.train_s,
            final_losses: self.final_losses.clone(),
        }
    }
}

fn refuse(path: &Path, reason: impl Into<String>) -> crate::Error {
    locus_sched::Error::Checkpoint {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
    .into()
}

/// Saves `stages` and `scheduler` with `manifest` into the checkpoint directory `dir`
/// (creating it), replacing the checkpoint there atomically.
///
/// # Errors
/// [`locus_sched::Error::Checkpoint`] naming the file that could not be written.
pub fn save_run_state<F: Float, S: Scheduler<F> + ?Sized>(
    dir: &Path,
    manifest: &Manifest,
    stages: &[Stage<F>],
    scheduler: &S,
) -> Result<()> {
    let mut state = StateDict::new();
    for stage in stages {
        stage.save_state(&format!("{}.", stage.name()), &mut state);
    }
    scheduler.save_state(stages, "scheduler.", &mut state);
    write_checkpoint(dir, manifest, &state)
}

/// Saves a copy-task curriculum's `trainer` with `manifest` (whose `curriculum` says
/// where it stands) into the checkpoint directory `dir`, as [`save_run_state`] does for
/// stages: the trainer's state under `recurrent.` ([`RecurrentTrainer::save_state`]).
///
/// # Errors
/// [`locus_sched::Error::Checkpoint`] naming the file that could not be written.
pub fn save_curriculum_state<F: Float>(
    dir: &Path,
    manifest: &Manifest,
    trainer: &RecurrentTrainer<F>,
) -> Result<()> {
    let mut state = StateDict::new();
    trainer.save_state("recurrent.", &mut state);
    write_checkpoint(dir, manifest, &state)
}

/// Loads the curriculum checkpoint in `dir` into `trainer` (built from the same
/// configuration) for a run of `algorithm` with `settings`; returns its manifest, whose
/// `curriculum` says where to go on from.
///
/// # Errors
/// As [`load_run_state`]; a checkpoint of stages rather than of a curriculum.
pub fn load_curriculum_state<F: Float>(
    dir: &Path,
    algorithm: &str,
    settings: &Value,
    trainer: &mut RecurrentTrainer<F>,
) -> Result<Manifest> {
    let (file, mut state, manifest) = open_checkpoint(dir, algorithm, settings, true)?;
    trainer
        .load_state("recurrent.", &mut state)
        .map_err(|e| refuse(&file, e.to_string()))?;
    state.finish().map_err(|e| refuse(&file, e.to_string()))?;
    Ok(manifest)
}

/// Writes `state` with `manifest` into `dir`: the checkpoint file, then the readable
/// copy of the manifest.
fn write_checkpoint<F: Float>(dir: &Path, manifest: &Manifest, state: &StateDict<F>) -> Result<()> {
    let json = serde_json::to_string_pretty(manifest)
        .map_err(|e| refuse(dir, format!("cannot encode the manifest: {e}")))?;
    let metadata = BTreeMap::from([("manifest".to_string(), json.clone())]);
    write_state_file(&dir.join(CHECKPOINT_FILE), state, &metadata)?;
    write_atomically(&dir.join(MANIFEST_FILE), json.as_bytes())?;
    Ok(())
}

/// Reads the checkpoint in `dir` and checks that it belongs to a run of `algorithm` with
/// `settings`, of a copy-task curriculum or (`curriculum` false) of stages: the file, its
/// state and its manifest.
fn open_checkpoint<F: Float>(
    dir: &Path,
    algorithm: &str,
    settings: &Value,
    curriculum: bool,
) -> Result<(PathBuf, StateDict<F>, Manifest)> {
    let file: PathBuf = dir.join(CHECKPOINT_FILE);
    let (state, metadata) = read_state_file::<F>(&file)?;
    let manifest = manifest_of(&file, &metadata)?;
    check_run(&file, &manifest, algorithm, settings)?;
    match (curriculum, manifest.curriculum.is_some()) {
        (true, false) => Err(refuse(
            &file,
            "is a checkpoint of stages, not of a copy-task curriculum",
        )),
        (false, true) => Err(refuse(
            &file,
            "is a checkpoint of a copy-task curriculum, not of stages",
        )),
        _ => Ok((file, state, manifest)),
    }
}

/// Checks that the checkpoint `file` with `manifest` belongs to a run of `algorithm` with
/// `settings`.
fn check_run(file: &Path, manifest: &Manifest, algorithm: &str, settings: &Value) -> Result<()> {
    if manifest.algorithm != algorithm {
        return Err(refuse(
            file,
            format!(
                "is a checkpoint of --algo {}, not of --algo {algorithm}",
                manifest.algorithm
            ),
        ));
    }
    let differences = differences("", &manifest.settings, settings);
    if !differences.is_empty() {
        return Err(refuse(
            file,
            format!("was saved with other settings: {}", differences.join("; ")),
        ));
    }
    Ok(())
}

/// Reads the manifest of the checkpoint in `dir` without loading any state.
///
/// # Errors
/// As [`load_run_state`] for the file and the manifest.
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let file = dir.join(CHECKPOINT_FILE);
    let (_, metadata) = read_state_file::<f64>(&file)
        .or_else(|_| read_state_file::<f32>(&file).map(|(_, m)| (StateDict::<f64>::new(), m)))?;
    manifest_of(&file, &metadata)
}

fn manifest_of(file: &Path, metadata: &BTreeMap<String, String>) -> Result<Manifest> {
    let json = metadata
        .get("manifest")
        .ok_or_else(|| refuse(file, "holds no run manifest (not a run checkpoint)"))?;
    let manifest: Manifest = serde_json::from_str(json)
        .map_err(|e| refuse(file, format!("has an unreadable manifest: {e}")))?;
    if manifest.format != MANIFEST_FORMAT {
        return Err(refuse(
            file,
            format!(
                "is a '{}' checkpoint; this version of locus reads '{MANIFEST_FORMAT}'",
                manifest.format
            ),
        ));
    }
    Ok(manifest)
}

/// Loads the checkpoint in `dir` into `stages` and `scheduler`, freshly built for a run
/// of `algorithm` with `settings`, and returns its manifest. Nothing is loaded unless the
/// checkpoint is whole and belongs to such a run; every tensor of it must find its place
/// and every place its tensor.
///
/// # Errors
/// [`locus_sched::Error::Checkpoint`] naming the file (and the tensor or setting) for a
/// missing, truncated or corrupt file, another format or version, another algorithm,
/// float type, stack of stages or settings, and tensors missing, left over, of another
/// shape or not finite.
pub fn load_run_state<F: Float, S: Scheduler<F> + ?Sized>(
    dir: &Path,
    algorithm: &str,
    settings: &Value,
    stages: &mut [Stage<F>],
    scheduler: &mut S,
) -> Result<Manifest> {
    let (file, mut state, manifest) = open_checkpoint(dir, algorithm, settings, false)?;
    let names: Vec<String> = stages.iter().map(|s| s.name().to_string()).collect();
    if manifest.stages != names {
        return Err(refuse(
            &file,
            format!(
                "holds the stages {:?}; this network has {:?}",
                manifest.stages, names
            ),
        ));
    }
    let loaded = (|| -> Result<()> {
        scheduler.load_state(stages, manifest.epochs_done, "scheduler.", &mut state)?;
        for stage in stages.iter_mut() {
            let prefix = format!("{}.", stage.name());
            stage.load_state(&prefix, &mut state)?;
        }
        state.finish().map_err(|e| refuse(&file, e.to_string()))
    })();
    loaded.map_err(|e| match e {
        crate::Error::Sched(locus_sched::Error::Checkpoint { .. }) => e,
        other => refuse(&file, other.to_string()),
    })?;
    Ok(manifest)
}

/// The settings that differ between `saved` and `now`, as `key: saved → now`, nested keys
/// dotted.
fn differences(prefix: &str, saved: &Value, now: &Value) -> Vec<String> {
    match (saved, now) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let null = Value::Null;
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    differences(&key, a.get(k).unwrap_or(&null), b.get(k).unwrap_or(&null))
                })
                .collect()
        }
        _ if saved == now => Vec::new(),
        // A listing of options, one per line: name the lines that differ.
        (Value::String(a), Value::String(b)) if a.contains('\n') && b.contains('\n') => {
            let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
            let gone = a.iter().filter(|l| !b.contains(l)).map(|l| l.trim());
            let new = b.iter().filter(|l| !a.contains(l)).map(|l| l.trim());
            vec![format!(
                "{} then, {} now",
                gone.collect::<Vec<_>>().join(" "),
                new.collect::<Vec<_>>().join(" ")
            )]
        }
        _ => vec![format!(
            "{prefix}: {} then, {} now",
            plain(saved),
            plain(now)
        )],
    }
}

/// A setting as it reads: a string without its quotes.
fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn differences_name_nested_keys() {
        let a = json!({"seed": 1, "config": {"lr": 0.1, "width": 8}});
        let b = json!({"seed": 1, "config": {"lr": 0.2, "width": 8, "extra": true}});
        assert_eq!(
            differences("", &a, &b),
            vec![
                "config.extra: null then, true now".to_string(),
                "config.lr: 0.1 then, 0.2 now".to_string()
            ]
        );
        assert!(differences("", &a, &a).is_empty());
        let a = json!({"options": "Args {\n    lr: 0.1,\n    seed: 1,\n}"});
        let b = json!({"options": "Args {\n    lr: 0.2,\n    seed: 1,\n}"});
        assert_eq!(
            differences("", &a, &b),
            vec!["lr: 0.1, then, lr: 0.2, now".to_string()]
        );
    }
}
