use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// What a run reports about one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// The stage's name, e.g. `"stage1"`.
    pub name: String,
    /// Its module, e.g. `"Sequential[Linear(784→1000), Tanh]"`.
    pub module: String,
    /// Its objective, e.g. `"upstream-gradient"`.
    pub objective: String,
    /// Number of trainable parameters of the module.
    pub params: usize,
    /// Mean local loss over the last epoch.
    pub final_loss: f64,
    /// Algorithm-specific figures (e.g. `alignment_deg`, `probe_accuracy`), written as
    /// top-level keys of the stage's JSON object.
    #[serde(flatten)]
    pub metrics: BTreeMap<String, f64>,
}

/// One row of the per-epoch learning curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: u64,
    /// Mean training loss of the top stage over the epoch.
    pub train_loss: f64,
    /// Test accuracy after the epoch, in `[0, 1]`.
    pub test_accuracy: f64,
    /// Mean test loss after the epoch.
    pub test_loss: f64,
    /// Seconds spent training in this epoch (evaluation excluded).
    pub train_s: f64,
}

/// The summary of a training run: the object `locus train --json` prints and
/// `results.json` holds.
///
/// The keys `algo`, `dataset`, `epochs`, `seed`, `test_accuracy`, `train_loss`, `wall_s`,
/// `samples_per_s` and `stages` (each with a `name`) are a stable contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Algorithm, e.g. `"bp"`.
    pub algo: String,
    /// Data set, e.g. `"mnist"`.
    pub dataset: String,
    /// Epochs trained.
    pub epochs: u64,
    /// Seed of weights and batch order.
    pub seed: u64,
    /// Test accuracy after the last epoch, in `[0, 1]`.
    pub test_accuracy: f64,
    /// Mean test loss after the last epoch.
    pub test_loss: f64,
    /// Mean training loss of the last epoch.
    pub train_loss: f64,
    /// Wall-clock seconds of the whole run (training and evaluation, data loading excluded).
    pub wall_s: f64,
    /// Training samples per second (training time only).
    pub samples_per_s: f64,
    /// Per-stage figures, bottom first.
    pub stages: Vec<StageReport>,
    /// The run's settings (model, optimizer, batch size, …), for reproducing it.
    pub config: BTreeMap<String, serde_json::Value>,
    /// The learning curve.
    pub history: Vec<EpochRecord>,
}

impl RunReport {
    /// The report as one line of JSON.
    ///
    /// # Errors
    /// A serialisation error, which only non-string map keys could cause.
    pub fn to_json_line(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// Writes `results.json` (pretty-printed) and `epochs.csv` into `dir`, creating it.
    ///
    /// # Errors
    /// Any I/O error, with the path in the message.
    pub fn write_to_dir(&self, dir: &Path) -> std::io::Result<()> {
        let with_path = |p: &Path, e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("{}: {e}", p.display()))
        };
        std::fs::create_dir_all(dir).map_err(|e| with_path(dir, e))?;
        let json_path = dir.join("results.json");
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        std::fs::write(&json_path, json + "\n").map_err(|e| with_path(&json_path, e))?;
        let csv_path = dir.join("epochs.csv");
        let mut csv = Vec::new();
        writeln!(csv, "epoch,train_loss,test_accuracy,test_loss,train_s")?;
        for r in &self.history {
            writeln!(
                csv,
                "{},{},{},{},{}",
                r.epoch, r.train_loss, r.test_accuracy, r.test_loss, r.train_s
            )?;
        }
        std::fs::write(&csv_path, csv).map_err(|e| with_path(&csv_path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_metrics_become_top_level_keys() {
        let mut metrics = BTreeMap::new();
        metrics.insert("alignment_deg".to_string(), 42.0);
        let s = StageReport {
            name: "stage1".into(),
            module: "Linear(2→2)".into(),
            objective: "x".into(),
            params: 6,
            final_loss: 0.5,
            metrics,
        };
        let v: serde_json::Value = serde_json::to_value(&s).unwrap();
        assert_eq!(v["alignment_deg"], 42.0);
        assert_eq!(v["name"], "stage1");
    }
}
