//! Learning curves of training runs, from the per-epoch history of their reports.

use std::collections::BTreeMap;

use super::chart::{LineChart, Series};
use crate::{EpochRecord, RunReport};

/// A per-epoch figure of a [`RunReport`]'s history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// [`EpochRecord::test_accuracy`], in `[0, 1]`.
    TestAccuracy,
    /// [`EpochRecord::test_loss`].
    TestLoss,
    /// [`EpochRecord::train_loss`].
    TrainLoss,
}

impl Metric {
    /// The metric's name as an axis label, e.g. `"test accuracy"`.
    pub fn label(self) -> &'static str {
        match self {
            Metric::TestAccuracy => "test accuracy",
            Metric::TestLoss => "test loss",
            Metric::TrainLoss => "train loss",
        }
    }

    /// The metric's value in one epoch's record.
    pub fn of(self, record: &EpochRecord) -> f64 {
        match self {
            Metric::TestAccuracy => record.test_accuracy,
            Metric::TestLoss => record.test_loss,
            Metric::TrainLoss => record.train_loss,
        }
    }
}

/// A chart of `metric` against epoch for each run, one series per run.
///
/// Series are named after the run's algorithm; runs sharing an algorithm add their seed
/// (`"bp seed=1"`), then their data set, then their position, until names differ. Epochs
/// where the metric is not finite (a diverged run) are left out, so the rest still plots.
/// The title names the metric, and the data set when all runs share one.
pub fn learning_curves(runs: &[&RunReport], metric: Metric) -> LineChart {
    let mut chart = LineChart::new(title(runs, metric))
        .x_label("epoch")
        .y_label(metric.label())
        .integer_x(true);
    for (run, name) in runs.iter().zip(series_names(runs)) {
        chart = chart.series(Series::new(name, finite_points(run, metric)));
    }
    chart
}

/// A chart of one run's train and test loss against epoch (non-finite epochs left out).
pub fn loss_curves(run: &RunReport) -> LineChart {
    let series = |metric: Metric| Series::new(metric.label(), finite_points(run, metric));
    LineChart::new(format!("{} on {}: loss", run.algo, run.dataset))
        .x_label("epoch")
        .y_label("loss")
        .integer_x(true)
        .series(series(Metric::TrainLoss))
        .series(series(Metric::TestLoss))
}

/// A chart of one run's per-stage alignment angles against epoch: one series per
/// `"<stage>.alignment_deg"` (the angle between the stage's update and the true gradient)
/// and `"<stage>.weight_alignment_deg"` (between a layer's weights and its feedback
/// matrix) found in the history. The y axis runs from 0 to 90° (to 180° if an angle passes
/// 90°), so "below 90°" reads at a glance.
///
/// Stages whose update angle stays at 0 throughout (exact gradients, such as the top stage
/// or any stage under backpropagation) are left out; when nothing is left the chart has no
/// points ([`LineChart::has_points`] is false).
pub fn alignment_curves(run: &RunReport) -> LineChart {
    let keys: BTreeMap<&str, ()> = run
        .history
        .iter()
        .flat_map(|r| r.stage_metrics.keys())
        .filter(|k| k.ends_with("alignment_deg"))
        .map(|k| (k.as_str(), ()))
        .collect();
    let mut chart = LineChart::new(format!("{} on {}: alignment", run.algo, run.dataset))
        .x_label("epoch")
        .y_label("angle (degrees)")
        .integer_x(true);
    let mut top: f64 = 90.0;
    for key in keys.keys() {
        let points: Vec<(f64, f64)> = run
            .history
            .iter()
            .filter_map(|r| r.stage_metrics.get(*key).map(|&v| (r.epoch as f64, v)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        if points.iter().all(|&(_, v)| v.abs() < 1e-3) {
            continue;
        }
        top = points.iter().fold(top, |t, &(_, v)| t.max(v));
        let name = key
            .replace(".weight_alignment_deg", " weights vs feedback")
            .replace(".alignment_deg", " update vs gradient");
        chart = chart.series(Series::new(name, points));
    }
    chart.y_range(0.0, if top > 90.0 { 180.0 } else { 90.0 })
}

/// A chart of one per-stage figure of one run against epoch: one series per stage whose
/// records have `"<stage>.<name>"` (e.g. `hsic_zy`, each hidden stage's nHSIC with the
/// labels), non-finite values left out. When no stage has it the chart has no points
/// ([`LineChart::has_points`] is false).
pub fn stage_metric_curves(run: &RunReport, name: &str) -> LineChart {
    let suffix = format!(".{name}");
    let stages: BTreeMap<&str, ()> = run
        .history
        .iter()
        .flat_map(|r| r.stage_metrics.keys())
        .filter_map(|k| k.strip_suffix(suffix.as_str()))
        .map(|stage| (stage, ()))
        .collect();
    let mut chart = LineChart::new(format!("{} on {}: {name} per stage", run.algo, run.dataset))
        .x_label("epoch")
        .y_label(name)
        .integer_x(true);
    for stage in stages.keys() {
        let key = format!("{stage}{suffix}");
        let points: Vec<(f64, f64)> = run
            .history
            .iter()
            .filter_map(|r| r.stage_metrics.get(&key).map(|&v| (r.epoch as f64, v)))
            .filter(|(_, v)| v.is_finite())
            .collect();
        chart = chart.series(Series::new(*stage, points));
    }
    chart
}

/// `(epoch, value)` of `metric` over the run's history, skipping non-finite values.
fn finite_points(run: &RunReport, metric: Metric) -> Vec<(f64, f64)> {
    run.history
        .iter()
        .map(|r| (r.epoch as f64, metric.of(r)))
        .filter(|(_, y)| y.is_finite())
        .collect()
}

fn title(runs: &[&RunReport], metric: Metric) -> String {
    match runs.split_first() {
        Some((first, rest)) if rest.iter().all(|r| r.dataset == first.dataset) => {
            format!("{} on {}", metric.label(), first.dataset)
        }
        _ => metric.label().to_string(),
    }
}

/// Distinct legend names: the algorithm, with more detail only where names would clash.
fn series_names(runs: &[&RunReport]) -> Vec<String> {
    let mut names: Vec<String> = runs.iter().map(|r| r.algo.clone()).collect();
    for level in 0..3 {
        let mut count: BTreeMap<&str, usize> = BTreeMap::new();
        for n in &names {
            *count.entry(n.as_str()).or_default() += 1;
        }
        let clashing: Vec<bool> = names.iter().map(|n| count[n.as_str()] > 1).collect();
        for (i, run) in runs.iter().enumerate() {
            if clashing[i] {
                let detail = match level {
                    0 => format!(" seed={}", run.seed),
                    1 => format!(" {}", run.dataset),
                    _ => format!(" #{}", i + 1),
                };
                names[i].push_str(&detail);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(algo: &str, seed: u64, dataset: &str, accuracies: &[f64]) -> RunReport {
        RunReport {
            algo: algo.into(),
            dataset: dataset.into(),
            epochs: accuracies.len() as u64,
            seed,
            test_accuracy: accuracies.last().copied().unwrap_or(0.0),
            test_loss: 0.0,
            train_loss: 0.0,
            wall_s: 1.0,
            samples_per_s: 1.0,
            stages: Vec::new(),
            config: BTreeMap::new(),
            warnings: Vec::new(),
            history: (accuracies.iter().enumerate())
                .map(|(i, &a)| EpochRecord {
                    epoch: i as u64 + 1,
                    train_loss: 1.0 / (i + 1) as f64,
                    test_accuracy: a,
                    test_loss: 2.0,
                    train_s: 0.1,
                    stage_metrics: BTreeMap::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn one_series_per_run_named_apart_only_where_needed() {
        let runs = [
            run("bp", 0, "mnist", &[0.5, 0.6]),
            run("bp", 1, "mnist", &[0.4, 0.7]),
            run("dfa", 0, "mnist", &[0.3]),
            run("bp", 1, "mnist1d", &[0.2]),
            run("bp", 1, "mnist1d", &[0.1]),
        ];
        let refs: Vec<&RunReport> = runs.iter().collect();
        let chart = learning_curves(&refs, Metric::TestAccuracy);
        let names: Vec<&str> = chart.all_series().iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            [
                "bp seed=0",
                "bp seed=1 mnist",
                "dfa",
                "bp seed=1 mnist1d #4",
                "bp seed=1 mnist1d #5"
            ]
        );
        assert_eq!(chart.all_series()[1].points(), [(1.0, 0.4), (2.0, 0.7)]);
        assert_eq!(chart.title(), "test accuracy");
        let single = learning_curves(&refs[..1], Metric::TrainLoss);
        assert_eq!(single.title(), "train loss on mnist");
        assert_eq!(single.all_series()[0].name(), "bp");
        assert_eq!(single.all_series()[0].points(), [(1.0, 1.0), (2.0, 0.5)]);
    }

    #[test]
    fn non_finite_epochs_are_left_out() {
        let r = run("bp", 0, "mnist", &[0.5, f64::NAN, 0.7]);
        let chart = learning_curves(&[&r], Metric::TestAccuracy);
        assert_eq!(chart.all_series()[0].points(), [(1.0, 0.5), (3.0, 0.7)]);
        assert!(chart.to_png(300, 200).is_ok());
        let loss = loss_curves(&r);
        let names: Vec<&str> = loss.all_series().iter().map(|s| s.name()).collect();
        assert_eq!(names, ["train loss", "test loss"]);
        assert_eq!(loss.all_series()[1].points().len(), 3);
        let empty = run("bp", 0, "mnist", &[]);
        assert!(!learning_curves(&[&empty], Metric::TestLoss).has_points());
    }
}

#[cfg(test)]
mod alignment_tests {
    use super::*;

    fn run_with(metrics: &[(&str, [f64; 3])]) -> RunReport {
        RunReport {
            algo: "fa".into(),
            dataset: "mnist".into(),
            epochs: 3,
            seed: 0,
            test_accuracy: 0.9,
            test_loss: 0.3,
            train_loss: 0.3,
            wall_s: 1.0,
            samples_per_s: 1.0,
            stages: Vec::new(),
            config: BTreeMap::new(),
            warnings: Vec::new(),
            history: (0..3)
                .map(|i| EpochRecord {
                    epoch: i as u64 + 1,
                    train_loss: 1.0,
                    test_accuracy: 0.5,
                    test_loss: 1.0,
                    train_s: 0.1,
                    stage_metrics: metrics.iter().map(|(k, v)| (k.to_string(), v[i])).collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn exact_stages_are_left_out_and_angles_kept() {
        let run = run_with(&[
            ("stage1.alignment_deg", [80.0, 60.0, 50.0]),
            ("stage2.alignment_deg", [0.0, 0.0, 0.0]),
            ("stage2.weight_alignment_deg", [89.0, 70.0, 65.0]),
            ("stage2.final_loss", [1.0, 1.0, 1.0]),
        ]);
        let chart = alignment_curves(&run);
        let names: Vec<&str> = chart.all_series().iter().map(|s| s.name()).collect();
        assert_eq!(
            names,
            ["stage1 update vs gradient", "stage2 weights vs feedback"]
        );
        assert_eq!(
            chart.all_series()[0].points(),
            &[(1.0, 80.0), (2.0, 60.0), (3.0, 50.0)]
        );
        assert!(chart.to_png(400, 300).is_ok());
    }

    #[test]
    fn backprop_has_nothing_to_draw() {
        let run = run_with(&[("stage1.alignment_deg", [0.0, 0.0, 0.0])]);
        assert!(!alignment_curves(&run).has_points());
    }

    #[test]
    fn a_stage_figure_gives_one_series_per_stage_that_reports_it() {
        let run = run_with(&[
            ("stage1.hsic_zy", [7.0, 7.5, f64::NAN]),
            ("stage2.hsic_zy", [6.0, 6.5, 7.0]),
            ("stage2.hsic_zx", [20.0, 21.0, 22.0]),
            ("stage3.loss", [1.0, 0.5, 0.2]),
        ]);
        let chart = stage_metric_curves(&run, "hsic_zy");
        let names: Vec<&str> = chart.all_series().iter().map(|s| s.name()).collect();
        assert_eq!(names, ["stage1", "stage2"]);
        // The non-finite epoch is left out.
        assert_eq!(chart.all_series()[0].points(), &[(1.0, 7.0), (2.0, 7.5)]);
        assert!(chart.to_png(400, 300).is_ok());
        assert!(!stage_metric_curves(&run, "probe_accuracy").has_points());
    }
}
