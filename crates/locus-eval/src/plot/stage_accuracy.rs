//! Per-stage accuracy curves: how well each stage of a run classifies on its own.

use std::collections::BTreeSet;

use super::chart::{LineChart, Series};
use crate::RunReport;

/// A chart of one run's per-stage accuracies against epoch: one series per
/// `"<stage>.probe_accuracy"` in the history (a stage's own test accuracy: its auxiliary
/// head's, its Forward-Forward goodness's, a probe's), and the run's test accuracy as
/// `"network"`. The y axis runs from 0 to 1.
///
/// When no stage reports an accuracy the chart has no points
/// ([`LineChart::has_points`] is false), so nothing is drawn for runs without them.
pub fn stage_accuracy_curves(run: &RunReport) -> LineChart {
    let keys: BTreeSet<&str> = run
        .history
        .iter()
        .flat_map(|r| r.stage_metrics.keys())
        .filter(|k| k.ends_with(".probe_accuracy"))
        .map(String::as_str)
        .collect();
    let mut chart = LineChart::new(format!(
        "{} on {}: accuracy of each stage",
        run.algo, run.dataset
    ))
    .x_label("epoch")
    .y_label("test accuracy")
    .integer_x(true)
    .y_range(0.0, 1.0);
    if keys.is_empty() {
        return chart;
    }
    for key in keys {
        let points = run
            .history
            .iter()
            .filter_map(|r| r.stage_metrics.get(key).map(|&v| (r.epoch as f64, v)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        chart = chart.series(Series::new(key.trim_end_matches(".probe_accuracy"), points));
    }
    let network = run
        .history
        .iter()
        .map(|r| (r.epoch as f64, r.test_accuracy))
        .filter(|(_, v)| v.is_finite())
        .collect();
    chart.series(Series::new("network", network))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EpochRecord;
    use std::collections::BTreeMap;

    fn run(metrics: &[(&str, [f64; 2])]) -> RunReport {
        RunReport {
            algo: "dgl".into(),
            dataset: "mnist".into(),
            epochs: 2,
            seed: 0,
            test_accuracy: 0.9,
            test_loss: 0.3,
            train_loss: 0.3,
            wall_s: 1.0,
            samples_per_s: 1.0,
            stages: Vec::new(),
            config: BTreeMap::new(),
            warnings: Vec::new(),
            history: (0..2)
                .map(|i| EpochRecord {
                    epoch: i as u64 + 1,
                    train_loss: 0.5,
                    test_accuracy: 0.8 + 0.1 * i as f64,
                    test_loss: 0.4,
                    train_s: 1.0,
                    stage_metrics: metrics.iter().map(|(k, v)| (k.to_string(), v[i])).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn one_series_per_stage_and_one_for_the_network() {
        let chart = stage_accuracy_curves(&run(&[
            ("stage1.probe_accuracy", [0.7, 0.75]),
            ("stage2.probe_accuracy", [0.8, f64::NAN]),
            ("stage1.alignment_deg", [80.0, 70.0]),
        ]));
        let names: Vec<&str> = chart.all_series().iter().map(|s| s.name()).collect();
        assert_eq!(names, ["stage1", "stage2", "network"]);
        assert_eq!(chart.all_series()[1].points(), &[(1.0, 0.8)]);
        assert_eq!(chart.all_series()[2].points().len(), 2);
    }

    #[test]
    fn runs_without_stage_accuracies_draw_nothing() {
        let chart = stage_accuracy_curves(&run(&[("stage1.alignment_deg", [80.0, 70.0])]));
        assert!(!chart.has_points());
    }
}
