//! `locus plot-points`: one point per finished run, a figure of its results.json against
//! another (final accuracy against a simulated delay, or against staleness), drawn as
//! lines, one per algorithm.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use locus_eval::plot::{LineChart, Series};
use serde_json::Value;

#[derive(Debug, Clone, Args)]
pub struct PlotPointsArgs {
    /// results.json files written by `locus train --out DIR` (or their directories).
    #[arg(required = true, value_name = "RESULTS.json")]
    pub results: Vec<PathBuf>,
    /// The image to write: PNG, or SVG if its name ends in `.svg`.
    #[arg(long, value_name = "FILE.png|FILE.svg")]
    pub out: PathBuf,
    /// The figure on the x axis: a dotted path into results.json, where `*` takes the mean
    /// over a list, e.g. `config.scheduler_config.link_delay` or `stages.*.staleness`.
    #[arg(long)]
    pub x: String,
    /// The figure on the y axis, the same way.
    #[arg(long, default_value = "test_accuracy")]
    pub y: String,
    /// The figure that names each line, the same way.
    #[arg(long, default_value = "algo")]
    pub series: String,
    /// Axis names, comma-separated x then y (default: the paths).
    #[arg(long, value_delimiter = ',')]
    pub axes: Option<Vec<String>>,
    /// Chart title (default: y against x).
    #[arg(long)]
    pub title: Option<String>,
    /// Image width in pixels.
    #[arg(long, default_value_t = 800)]
    pub width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 500)]
    pub height: u32,
}

/// The value at a dotted `path` in `value`; `*` takes the mean of a list's numbers (its
/// elements without the rest of the path are skipped).
fn lookup(value: &Value, path: &[&str]) -> Option<Value> {
    let Some((&first, rest)) = path.split_first() else {
        return Some(value.clone());
    };
    if first == "*" {
        let items: Vec<f64> = value
            .as_array()?
            .iter()
            .filter_map(|v| lookup(v, rest)?.as_f64())
            .collect();
        return (!items.is_empty())
            .then(|| Value::from(items.iter().sum::<f64>() / items.len() as f64));
    }
    let next = match value {
        Value::Array(items) => items.get(first.parse::<usize>().ok()?)?,
        Value::Object(map) => map.get(first)?,
        _ => return None,
    };
    lookup(next, rest)
}

fn read(path: &Path) -> anyhow::Result<(PathBuf, Value)> {
    let file = if path.is_dir() {
        path.join("results.json")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", file.display()))?;
    Ok((file, value))
}

/// Runs `locus plot-points`.
pub fn run(args: &PlotPointsArgs) -> anyhow::Result<()> {
    let mut lines: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for path in &args.results {
        let (file, value) = read(path)?;
        let number = |key: &str| -> anyhow::Result<f64> {
            let path: Vec<&str> = key.split('.').collect();
            lookup(&value, &path)
                .and_then(|v| v.as_f64())
                .filter(|v| v.is_finite())
                .with_context(|| format!("{} has no finite number at {key:?}", file.display()))
        };
        let (x, y) = (number(&args.x)?, number(&args.y)?);
        let name = match lookup(&value, &args.series.split('.').collect::<Vec<_>>()) {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => anyhow::bail!("{} has nothing at {:?}", file.display(), args.series),
        };
        lines.entry(name).or_default().push((x, y));
    }
    let (x_name, y_name) = match &args.axes {
        Some(names) if names.len() == 2 => (names[0].clone(), names[1].clone()),
        Some(names) => anyhow::bail!("--axes takes two names, x then y, but got {}", names.len()),
        None => (args.x.clone(), args.y.clone()),
    };
    let title = args
        .title
        .clone()
        .unwrap_or_else(|| format!("{y_name} against {x_name}"));
    let mut chart = LineChart::new(title).x_label(x_name).y_label(y_name);
    for (name, mut points) in lines {
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart = chart.series(Series::new(name, points));
    }
    chart
        .save(&args.out, args.width, args.height)
        .context("cannot draw the chart")?;
    println!("wrote {} ({} runs)", args.out.display(), args.results.len());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_reach_into_objects_and_lists_and_average_with_a_star() {
        let v = json!({
            "algo": "dfa",
            "config": {"scheduler_config": {"link_delay": 2.5}},
            "stages": [{"staleness": 1.0}, {"staleness": 3.0}, {"name": "top"}],
        });
        let at = |p: &str| lookup(&v, &p.split('.').collect::<Vec<_>>());
        assert_eq!(at("config.scheduler_config.link_delay"), Some(json!(2.5)));
        assert_eq!(at("stages.1.staleness"), Some(json!(3.0)));
        assert_eq!(at("stages.*.staleness"), Some(json!(2.0)));
        assert_eq!(at("stages.*.missing"), None);
        assert_eq!(at("stages.7.staleness"), None);
        assert_eq!(at("algo.deeper"), None);
    }
}
