//! `locus plot`: learning curves of finished runs, read from their results.json files, drawn
//! on one chart (PNG or SVG).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use locus_eval::plot::{learning_curves, stage_metric_curves, Metric};
use locus_eval::RunReport;

#[derive(Debug, Clone, Args)]
pub struct PlotArgs {
    /// results.json files written by `locus train --out DIR` (or their directories).
    #[arg(required = true, value_name = "RESULTS.json")]
    pub results: Vec<PathBuf>,
    /// The image to write: PNG, or SVG if its name ends in `.svg`.
    #[arg(long, value_name = "FILE.png|FILE.svg")]
    pub out: PathBuf,
    /// The per-epoch figure to plot.
    #[arg(long, value_enum, default_value_t = MetricKind::TestAccuracy)]
    pub metric: MetricKind,
    /// Instead of --metric, one figure every stage reports per epoch (e.g. `hsic_zy`,
    /// `alignment_deg`, `loss`), one series per stage, for one results file.
    #[arg(long, value_name = "NAME")]
    pub stage_metric: Option<String>,
    /// Names of the series, comma-separated, one per results file in order (default: each
    /// run's algorithm, with its seed or data set where runs share an algorithm).
    #[arg(long, value_delimiter = ',')]
    pub labels: Option<Vec<String>>,
    /// Chart title (default: the metric, and the data set when all runs share one).
    #[arg(long)]
    pub title: Option<String>,
    /// Image width in pixels.
    #[arg(long, default_value_t = 800)]
    pub width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 500)]
    pub height: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricKind {
    /// Test accuracy after each epoch.
    TestAccuracy,
    /// Mean test loss after each epoch.
    TestLoss,
    /// Mean training loss of each epoch.
    TrainLoss,
}

impl From<MetricKind> for Metric {
    fn from(m: MetricKind) -> Self {
        match m {
            MetricKind::TestAccuracy => Metric::TestAccuracy,
            MetricKind::TestLoss => Metric::TestLoss,
            MetricKind::TrainLoss => Metric::TrainLoss,
        }
    }
}

/// Reads one run's report; every error names the file.
pub(crate) fn read_report(path: &Path) -> anyhow::Result<RunReport> {
    let file = if path.is_dir() {
        path.join("results.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let report = RunReport::from_json(&text).map_err(|e| {
        anyhow::anyhow!(
            "{} is not a valid results.json (as `locus train --out DIR` writes): {e}",
            file.display()
        )
    })?;
    if report.history.is_empty() {
        anyhow::bail!("{} has no per-epoch history to plot", file.display());
    }
    Ok(report)
}

/// Runs `locus plot`.
pub fn run(args: &PlotArgs) -> anyhow::Result<()> {
    let mut reports = args
        .results
        .iter()
        .map(|p| read_report(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(labels) = &args.labels {
        if labels.len() != reports.len() {
            anyhow::bail!(
                "--labels has {} names for {} results files; give one per file",
                labels.len(),
                reports.len()
            );
        }
        // Series are named after the run's algorithm.
        for (report, label) in reports.iter_mut().zip(labels) {
            report.algo = label.clone();
        }
    }
    let refs: Vec<&RunReport> = reports.iter().collect();
    let mut chart = match &args.stage_metric {
        Some(name) => {
            let [run] = refs.as_slice() else {
                anyhow::bail!(
                    "--stage-metric draws one run's stages: give one results file, not {}",
                    refs.len()
                );
            };
            let chart = stage_metric_curves(run, name);
            if !chart.has_points() {
                anyhow::bail!(
                    "{} has no per-stage figure '{name}' in its history (its stages report \
                     e.g. {})",
                    args.results[0].display(),
                    run.history
                        .last()
                        .map(|r| r
                            .stage_metrics
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", "))
                        .unwrap_or_default()
                );
            }
            chart
        }
        None => learning_curves(&refs, args.metric.into()),
    };
    if let Some(title) = &args.title {
        chart.set_title(title.as_str());
    }
    chart
        .save(&args.out, args.width, args.height)
        .context("cannot draw the chart")?;
    println!(
        "wrote {} ({} run{})",
        args.out.display(),
        reports.len(),
        if reports.len() == 1 { "" } else { "s" }
    );
    Ok(())
}
