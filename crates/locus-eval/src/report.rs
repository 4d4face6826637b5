use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};

use crate::plot::{
    alignment_curves, learning_curves, loss_curves, stage_accuracy_curves, LineChart, Metric,
    PlotError,
};

/// A figure that may be `null`: serde_json writes a NaN or infinite `f64` as `null` (a
/// diverged run's loss), and reading it back gives NaN, so such a report still loads.
fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// Named figures, each of which may be `null` (read as NaN, as [`nan_if_null`]).
fn nans_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
    let figures = BTreeMap::<String, Option<f64>>::deserialize(d)?;
    Ok(figures
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or(f64::NAN)))
        .collect())
}

/// Why a text is not a [`RunReport`] ([`RunReport::from_json`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default())]
pub struct ReportParseError {
    /// The field where reading failed, e.g. `stages[1].final_loss` (`None` at the top
    /// level: a missing field, text that is not JSON, or text after the report).
    pub field: Option<String>,
    /// What is wrong, with serde_json's line and column.
    pub message: String,
}

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
    /// Mean local loss over the last epoch in which the stage learned (the last epoch,
    /// except under a greedy layer-wise schedule).
    #[serde(deserialize_with = "nan_if_null")]
    pub final_loss: f64,
    /// Algorithm-specific figures (e.g. `alignment_deg`, `probe_accuracy`), written as
    /// top-level keys of the stage's JSON object.
    #[serde(flatten, deserialize_with = "nans_if_null")]
    pub metrics: BTreeMap<String, f64>,
}

/// One row of the per-epoch learning curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch number, from 1.
    pub epoch: u64,
    /// Mean training loss of the top stage over the epoch.
    #[serde(deserialize_with = "nan_if_null")]
    pub train_loss: f64,
    /// Test accuracy after the epoch, in `[0, 1]`.
    #[serde(deserialize_with = "nan_if_null")]
    pub test_accuracy: f64,
    /// Mean test loss after the epoch.
    #[serde(deserialize_with = "nan_if_null")]
    pub test_loss: f64,
    /// Seconds spent training in this epoch (evaluation excluded).
    #[serde(deserialize_with = "nan_if_null")]
    pub train_s: f64,
    /// Per-stage figures after the epoch, keyed `"<stage>.<figure>"` (e.g.
    /// `"stage2.alignment_deg"`); written as extra CSV columns.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "nans_if_null"
    )]
    pub stage_metrics: BTreeMap<String, f64>,
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
    #[serde(deserialize_with = "nan_if_null")]
    pub test_accuracy: f64,
    /// Mean test loss after the last epoch.
    #[serde(deserialize_with = "nan_if_null")]
    pub test_loss: f64,
    /// Mean training loss of the last epoch.
    #[serde(deserialize_with = "nan_if_null")]
    pub train_loss: f64,
    /// Wall-clock seconds of the whole run (training and evaluation, data loading excluded).
    #[serde(deserialize_with = "nan_if_null")]
    pub wall_s: f64,
    /// Training samples per second (training time only).
    #[serde(deserialize_with = "nan_if_null")]
    pub samples_per_s: f64,
    /// Per-stage figures, bottom first.
    pub stages: Vec<StageReport>,
    /// The run's settings (model, optimizer, batch size, …), for reproducing it.
    pub config: BTreeMap<String, serde_json::Value>,
    /// The learning curve.
    pub history: Vec<EpochRecord>,
    /// What the run found wrong with itself, one line each (e.g. a collapsed stage, see
    /// [`crate::collapse_warnings`]); left out of the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl RunReport {
    /// Width and height in pixels of the plots [`write_to_dir`](Self::write_to_dir) writes.
    pub const PLOT_SIZE: (u32, u32) = (800, 500);

    /// The run's plots that have something to draw, each with the file stem
    /// [`write_to_dir`](Self::write_to_dir) writes it under: `curves` (test accuracy per
    /// epoch, [`learning_curves`]), `loss` ([`loss_curves`]), `alignment`
    /// ([`alignment_curves`]) and `stage-accuracy` ([`stage_accuracy_curves`]).
    pub fn plots(&self) -> Vec<(&'static str, LineChart)> {
        [
            ("curves", learning_curves(&[self], Metric::TestAccuracy)),
            ("loss", loss_curves(self)),
            ("alignment", alignment_curves(self)),
            ("stage-accuracy", stage_accuracy_curves(self)),
        ]
        .into_iter()
        .filter(|(_, chart)| chart.has_points())
        .collect()
    }

    /// Reads a report from the text of a results.json, as
    /// [`write_to_dir`](Self::write_to_dir) writes it; `null` figures (a NaN or infinity
    /// when written) read as NaN.
    ///
    /// # Errors
    /// Text that is not JSON, or JSON that is not a report: [`ReportParseError`] names the
    /// field (e.g. `stages[1].final_loss`) and what is wrong with it.
    pub fn from_json(text: &str) -> Result<RunReport, ReportParseError> {
        let mut json = serde_json::Deserializer::from_str(text);
        let report: RunReport =
            serde_path_to_error::deserialize(&mut json).map_err(|e| ReportParseError {
                field: Some(e.path().to_string()).filter(|p| p != "."),
                message: e.inner().to_string(),
            })?;
        json.end().map_err(|e| ReportParseError {
            field: None,
            message: e.to_string(),
        })?;
        Ok(report)
    }

    /// The report as one line of JSON.
    ///
    /// # Errors
    /// A serialisation error, which only non-string map keys could cause.
    pub fn to_json_line(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// Writes into `dir`, creating it:
    /// - `results.json`, the report pretty-printed;
    /// - `epochs.csv`, the learning curve as a table;
    /// - `curves.png`, test accuracy per epoch ([`learning_curves`]);
    /// - `loss.png`, train and test loss per epoch ([`loss_curves`]);
    /// - `alignment.png`, the stages' alignment angles per epoch ([`alignment_curves`]),
    ///   when some stage's rule is not exact backpropagation;
    /// - `stage-accuracy.png`, each stage's own test accuracy per epoch
    ///   ([`stage_accuracy_curves`]), when stages report a `probe_accuracy`.
    ///
    /// A plot with nothing to draw (no history, or only non-finite values) is not written
    /// (see [`plots`](Self::plots)); `locus redraw` draws them again from results.json.
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
        // Stage figures become extra columns: every key any epoch has, blank where missing.
        let extra: BTreeSet<&String> = self
            .history
            .iter()
            .flat_map(|r| r.stage_metrics.keys())
            .collect();
        write!(csv, "epoch,train_loss,test_accuracy,test_loss,train_s")?;
        for key in &extra {
            write!(csv, ",{key}")?;
        }
        writeln!(csv)?;
        for r in &self.history {
            write!(
                csv,
                "{},{},{},{},{}",
                r.epoch, r.train_loss, r.test_accuracy, r.test_loss, r.train_s
            )?;
            for key in &extra {
                match r.stage_metrics.get(*key) {
                    Some(v) => write!(csv, ",{v}")?,
                    None => write!(csv, ",")?,
                }
            }
            writeln!(csv)?;
        }
        std::fs::write(&csv_path, csv).map_err(|e| with_path(&csv_path, e))?;
        for (stem, chart) in self.plots() {
            let path = dir.join(format!("{stem}.png"));
            let (width, height) = Self::PLOT_SIZE;
            chart.save(&path, width, height).map_err(|e| match e {
                PlotError::Io { cause, .. } => with_path(&path, cause),
                other => with_path(&path, std::io::Error::other(other)),
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_json_reads_what_write_to_dir_writes_and_names_the_bad_field() {
        let mut original = report(vec![epoch(1, 0.5), epoch(2, f64::NAN)]);
        original.stages.push(StageReport {
            name: "stage1".into(),
            module: "Linear(4→2)".into(),
            objective: "SupervisedLoss".into(),
            params: 10,
            final_loss: 0.5,
            metrics: BTreeMap::from([("probe_accuracy".to_string(), 0.75)]),
        });
        let text = serde_json::to_string_pretty(&original).unwrap();
        let back = RunReport::from_json(&text).unwrap();
        assert_eq!(back.stages, original.stages);
        assert_eq!(back.history[0], original.history[0]);
        assert!(back.history[1].test_accuracy.is_nan());

        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["stages"][0]["final_loss"] = serde_json::json!("low");
        let e = RunReport::from_json(&value.to_string()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("stages[0].final_loss"), "{e}");
        assert!(
            e.to_string()
                .starts_with("stages[0].final_loss: invalid type"),
            "{e}"
        );

        value["stages"][0]["final_loss"] = serde_json::json!(0.5);
        value.as_object_mut().unwrap().remove("algo");
        let e = RunReport::from_json(&value.to_string()).unwrap_err();
        assert_eq!(e.field, None);
        assert!(e.message.contains("missing field `algo`"), "{e}");

        let e = RunReport::from_json(&format!("{text} {{}}")).unwrap_err();
        assert!(e.message.contains("trailing characters"), "{e}");
        assert!(RunReport::from_json("{not json").is_err());
    }

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

    fn report(history: Vec<EpochRecord>) -> RunReport {
        RunReport {
            algo: "bp".into(),
            dataset: "mnist1d".into(),
            epochs: history.len() as u64,
            seed: 0,
            test_accuracy: 0.5,
            test_loss: 1.0,
            train_loss: 1.0,
            wall_s: 1.0,
            samples_per_s: 1.0,
            stages: Vec::new(),
            config: BTreeMap::new(),
            history,
            warnings: Vec::new(),
        }
    }

    fn epoch(epoch: u64, test_accuracy: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss: 1.0 / epoch as f64,
            test_accuracy,
            test_loss: 1.5 / epoch as f64,
            train_s: 0.1,
            stage_metrics: BTreeMap::new(),
        }
    }

    #[test]
    fn stage_figures_become_csv_columns_blank_where_missing() {
        let dir = std::env::temp_dir().join(format!("locus-eval-csv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut first = epoch(1, 0.4);
        first
            .stage_metrics
            .insert("stage1.alignment_deg".into(), 70.5);
        let mut second = epoch(2, 0.6);
        second
            .stage_metrics
            .insert("stage1.alignment_deg".into(), 60.25);
        second
            .stage_metrics
            .insert("stage1.weight_alignment_deg".into(), 80.0);
        report(vec![first, second]).write_to_dir(&dir).unwrap();
        let csv = std::fs::read_to_string(dir.join("epochs.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "epoch,train_loss,test_accuracy,test_loss,train_s,\
             stage1.alignment_deg,stage1.weight_alignment_deg"
        );
        assert!(lines[1].ends_with(",70.5,"), "{}", lines[1]);
        assert!(lines[2].ends_with(",60.25,80"), "{}", lines[2]);
        assert!(dir.join("alignment.png").is_file());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn non_finite_figures_written_as_null_read_back_as_nan() {
        let mut diverged = epoch(2, f64::NAN);
        diverged.train_loss = f64::INFINITY;
        diverged
            .stage_metrics
            .insert("stage1.loss".into(), f64::NAN);
        diverged.stage_metrics.insert("stage1.hsic_zy".into(), 0.5);
        let mut run = report(vec![epoch(1, 0.4), diverged]);
        run.train_loss = f64::NAN;
        run.stages.push(StageReport {
            name: "stage1".into(),
            module: "Linear(2→2)".into(),
            objective: "x".into(),
            params: 6,
            final_loss: f64::NAN,
            metrics: [("alignment_deg".to_string(), f64::NAN)].into(),
        });
        let json = serde_json::to_string(&run).unwrap();
        assert!(json.contains(r#""train_loss":null"#), "{json}");
        let back: RunReport = serde_json::from_str(&json).unwrap();
        assert!(back.train_loss.is_nan() && back.stages[0].final_loss.is_nan());
        assert!(back.stages[0].metrics["alignment_deg"].is_nan());
        let last = &back.history[1];
        assert!(last.test_accuracy.is_nan() && last.train_loss.is_nan());
        assert!(last.stage_metrics["stage1.loss"].is_nan());
        assert_eq!(last.stage_metrics["stage1.hsic_zy"], 0.5);
        assert_eq!(back.history[0], run.history[0]);
        // Numbers still have to be numbers.
        let text = json.replace(r#""train_loss":null"#, r#""train_loss":"high""#);
        assert!(serde_json::from_str::<RunReport>(&text).is_err());
    }

    #[test]
    fn write_to_dir_writes_plots_only_when_there_is_a_curve() {
        let dir = std::env::temp_dir().join(format!("locus-eval-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        report(vec![epoch(1, 0.4), epoch(2, 0.6)])
            .write_to_dir(&dir)
            .unwrap();
        for name in ["curves.png", "loss.png"] {
            let png = std::fs::read(dir.join(name)).unwrap();
            assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}");
            // IHDR: width and height right after the chunk header.
            let (width, height) = RunReport::PLOT_SIZE;
            assert_eq!(png[16..20], width.to_be_bytes(), "{name}");
            assert_eq!(png[20..24], height.to_be_bytes(), "{name}");
        }

        let empty = dir.join("empty");
        report(Vec::new()).write_to_dir(&empty).unwrap();
        assert!(empty.join("results.json").exists());
        assert!(!empty.join("curves.png").exists());
        assert!(!empty.join("loss.png").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
