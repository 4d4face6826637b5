//! `locus redraw`: a finished run's own plots (those `locus train --out` writes) drawn
//! again from its results.json, e.g. after the plotting code changed.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use locus_eval::RunReport;

#[derive(Debug, Clone, Args)]
pub struct RedrawArgs {
    /// Run directories written by `locus train --out DIR` (or their results.json files);
    /// the plots are written beside results.json.
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Only these plots, comma-separated, by name: curves, loss, alignment,
    /// stage-accuracy (default: every plot the run has something for).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub only: Option<Vec<String>>,
    /// The image format.
    #[arg(long, value_enum, default_value_t = Format::Png)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// PNG (what `locus train --out` writes).
    Png,
    /// SVG.
    Svg,
}

/// The plot names `--only` takes, as `RunReport::plots` names them.
const NAMES: [&str; 4] = ["curves", "loss", "alignment", "stage-accuracy"];

/// Runs `locus redraw`.
pub fn run(args: &RedrawArgs) -> anyhow::Result<()> {
    if let Some(only) = &args.only {
        if let Some(bad) = only.iter().find(|n| !NAMES.contains(&n.as_str())) {
            anyhow::bail!("--only {bad}: the plots are {}", NAMES.join(", "));
        }
    }
    let extension = match args.format {
        Format::Png => "png",
        Format::Svg => "svg",
    };
    for run in &args.runs {
        let report = crate::plot::read_report(run)?;
        let dir = if run.is_dir() {
            run.clone()
        } else {
            run.parent().map(PathBuf::from).unwrap_or_default()
        };
        let wanted = |name: &str| {
            args.only
                .as_ref()
                .is_none_or(|o| o.iter().any(|n| n == name))
        };
        let mut written = Vec::new();
        for (name, chart) in report.plots().into_iter().filter(|(n, _)| wanted(n)) {
            let path = dir.join(format!("{name}.{extension}"));
            let (width, height) = RunReport::PLOT_SIZE;
            chart
                .save(&path, width, height)
                .with_context(|| format!("cannot draw {name} of {}", run.display()))?;
            written.push(path.display().to_string());
        }
        if written.is_empty() {
            anyhow::bail!(
                "{} has none of the plots asked for to draw (it has: {})",
                run.display(),
                report
                    .plots()
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        println!("wrote {}", written.join(", "));
    }
    Ok(())
}
