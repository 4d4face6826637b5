//! `--save-state` and `--resume`: a Forward-Forward run split over several processes.
//!
//! The state directory holds `run.json` (the run's settings, the epochs done, the learning
//! curve so far, the time spent), `stages/` (every stage's weights, optimizer state and
//! step count: `locus_sched::save_training_state`, also a checkpoint) and `readout/` (the
//! read-out softmaxes). The trainer draws its batches and negatives from the seed, the
//! epoch and the batch index, so a run resumed at an epoch boundary goes on exactly as
//! the uninterrupted run would have.

use std::path::{Path, PathBuf};

use anyhow::Context;
use locus_core::Tensor;
use locus_eval::EpochRecord;
use locus_sched::{load_training_state, save_training_state, Readout, Stage};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `format` of `run.json`.
const FORMAT: &str = "locus forward-forward training state 1";

/// What `run.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedRun {
    /// [`FORMAT`].
    pub format: String,
    /// The settings that must not change between the parts of the run.
    pub settings: Value,
    /// Epochs trained.
    pub epochs_done: u64,
    /// Seconds of training steps so far.
    pub train_s: f64,
    /// Seconds of the whole run so far (training, evaluation, saving).
    pub wall_s: f64,
    /// The epochs after which the run was resumed, in order.
    pub resumed_after: Vec<u64>,
    /// The learning curve so far.
    pub history: Vec<EpochRecord>,
}

impl SavedRun {
    /// A run with `settings` before its first epoch.
    pub fn new(settings: Value) -> Self {
        SavedRun {
            format: FORMAT.to_string(),
            settings,
            epochs_done: 0,
            train_s: 0.0,
            wall_s: 0.0,
            resumed_after: Vec::new(),
            history: Vec::new(),
        }
    }
}

/// Writes `run`, the stages and the read-out into `dir`, replacing what was there only
/// once everything is written (into `<dir>.partial` first), so an interrupted save leaves
/// the previous state whole.
///
/// # Errors
/// A file or directory that cannot be written, named.
pub fn save(
    dir: &Path,
    run: &SavedRun,
    stages: &[Stage<f32>],
    readout: Option<&Readout<f32>>,
) -> anyhow::Result<()> {
    let partial = sibling(dir, "partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("cannot remove {}", partial.display()))?;
    }
    save_training_state(stages, &partial.join("stages"))?;
    if let Some(readout) = readout {
        readout.save_state(stages, &partial.join("readout"))?;
    }
    let json = serde_json::to_string_pretty(run)?;
    let file = partial.join("run.json");
    std::fs::write(&file, json).with_context(|| format!("cannot write {}", file.display()))?;
    let old = sibling(dir, "old");
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old)
                .with_context(|| format!("cannot remove {}", old.display()))?;
        }
        std::fs::rename(dir, &old)
            .with_context(|| format!("cannot move {} aside", dir.display()))?;
    }
    std::fs::rename(&partial, dir)
        .with_context(|| format!("cannot move {} to {}", partial.display(), dir.display()))?;
    if old.exists() {
        std::fs::remove_dir_all(&old)
            .with_context(|| format!("cannot remove {}", old.display()))?;
    }
    Ok(())
}

/// `dir` with `.suffix` appended to its last component.
fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    dir.with_file_name(name)
}

/// Reads the state in `dir` into `stages` and `readout` (built for the same run; the
/// read-out's widths come from `sample`, one batch of network inputs) and returns the
/// saved run, after checking that it was saved with `settings` and has epochs left of
/// `epochs`.
///
/// # Errors
/// A missing or unreadable file, another format, settings that differ (each named),
/// a run that has no epoch left, or weights that do not fit the network.
pub fn resume(
    dir: &Path,
    settings: &Value,
    epochs: u64,
    stages: &mut [Stage<f32>],
    readout: Option<(&mut Readout<f32>, &Tensor<f32>, usize)>,
) -> anyhow::Result<SavedRun> {
    let file = dir.join("run.json");
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "--resume {}: cannot read {} (written by --save-state)",
            dir.display(),
            file.display()
        )
    })?;
    let run: SavedRun = serde_json::from_str(&text)
        .with_context(|| format!("--resume: {} is not a saved run", file.display()))?;
    if run.format != FORMAT {
        anyhow::bail!(
            "--resume: {} has format '{}', this locus reads '{FORMAT}'",
            file.display(),
            run.format
        );
    }
    let differences = differences("", &run.settings, settings);
    if !differences.is_empty() {
        anyhow::bail!(
            "--resume: the run in {} was saved with other settings: {}",
            dir.display(),
            differences.join("; ")
        );
    }
    if run.epochs_done >= epochs {
        anyhow::bail!(
            "--resume: the run in {} has done all {epochs} epochs already",
            dir.display()
        );
    }
    load_training_state(stages, &dir.join("stages"))?;
    if let Some((readout, sample, classes)) = readout {
        readout.load_state(stages, sample, classes, &dir.join("readout"))?;
    }
    Ok(run)
}

/// The settings that differ between `saved` and `now`, as `key: saved -> now`, keys
/// dotted from the top.
fn differences(prefix: &str, saved: &Value, now: &Value) -> Vec<String> {
    match (saved, now) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|k| {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    differences(
                        &path,
                        a.get(k).unwrap_or(&Value::Null),
                        b.get(k).unwrap_or(&Value::Null),
                    )
                })
                .collect()
        }
        _ if saved == now => Vec::new(),
        _ => vec![format!("{prefix}: {saved} -> {now}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn differences_name_every_changed_setting() {
        let saved = json!({"epochs": 60, "config": {"lr": 0.001, "hidden": [500, 500]}});
        let now = json!({"epochs": 60, "config": {"lr": 0.01, "hidden": [500, 500], "x": 1}});
        assert_eq!(
            differences("", &saved, &now),
            vec!["config.lr: 0.001 -> 0.01", "config.x: null -> 1"]
        );
        assert!(differences("", &saved, &saved).is_empty());
    }

    #[test]
    fn siblings_sit_beside_the_directory() {
        assert_eq!(
            sibling(Path::new("/tmp/run/state"), "partial"),
            Path::new("/tmp/run/state.partial")
        );
    }
}
