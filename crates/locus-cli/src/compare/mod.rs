//! `locus compare`: finished runs side by side, grouped by configuration, with the mean
//! and sample standard deviation of each figure over a group's seeds; with `--out`, the
//! tables as compare.md, the groups as compare.json and every run's test accuracy per
//! epoch on one chart (curves.png). `locus train --seeds` writes the same into its --out.

mod groups;
mod runs;
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use locus_eval::plot::{learning_curves, Metric};
use locus_eval::RunReport;
use serde_json::json;

use groups::Group;
use runs::{ConfigurationSource, Run};

#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Run directories written by `locus train --out DIR` (or their results.json files),
    /// or a directory of run directories, as `locus train --seeds` writes.
    #[arg(required = true, value_name = "RUN")]
    pub runs: Vec<PathBuf>,
    /// Write compare.md (the tables), compare.json (the groups, each figure's mean, sample
    /// standard deviation and values) and curves.png (every run's test accuracy per epoch)
    /// into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Runs `locus compare`.
pub fn run(args: &CompareArgs) -> anyhow::Result<()> {
    let comparison = Comparison::read(&args.runs)?;
    comparison.print_notes();
    print!("{}", comparison.text());
    if let Some(out) = &args.out {
        comparison.write(out)?;
    }
    Ok(())
}

/// Finished runs read and grouped.
pub(crate) struct Comparison {
    runs: Vec<Run>,
    groups: Vec<Group>,
    source: ConfigurationSource,
    /// What a reader should know about the figures (mixed data sets, figures that are not
    /// finite, a seed counted twice, runs without a learning curve).
    notes: Vec<String>,
}

impl Comparison {
    /// Reads the runs `paths` name (run directories, results.json files, or directories
    /// of run directories) and groups them.
    ///
    /// # Errors
    /// A path that is not a finished run, and a results.json that is not JSON or not of
    /// `locus train`, each named.
    pub fn read(paths: &[PathBuf]) -> anyhow::Result<Comparison> {
        let files = runs::results_files(paths)?;
        let (runs, source) = runs::read_runs(&files)?;
        let groups = groups::group(&runs);
        let notes = notes(&runs, &groups);
        Ok(Comparison {
            runs,
            groups,
            source,
            notes,
        })
    }

    /// Prints the notes on stderr.
    pub fn print_notes(&self) {
        for note in &self.notes {
            eprintln!("note: {note}");
        }
    }

    /// Both tables as aligned text, with what the groups are and how they differ.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} run{}\n{}\n",
            self.runs.len(),
            plural(self.runs.len()),
            table::runs_table(&self.runs, &self.groups).text()
        );
        out += &format!(
            "{} group{} (mean ± sample std over each group's runs)\n{}",
            self.groups.len(),
            plural(self.groups.len()),
            table::groups_table(&self.groups).text()
        );
        for line in self.differences() {
            out += &format!("{line}\n");
        }
        out
    }

    /// compare.md: the groups, how they differ, the runs, the notes and the chart.
    pub fn markdown(&self, chart: Option<&str>) -> String {
        let mut out = format!(
            "# {} run{} in {} group{}\n\n",
            self.runs.len(),
            plural(self.runs.len()),
            self.groups.len(),
            plural(self.groups.len())
        );
        out += &format!(
            "A group holds the runs with {}; each figure is the mean ± the sample standard \
             deviation (n − 1) over its runs, n runs.\n\n",
            self.source.describe()
        );
        out += &table::groups_table(&self.groups).markdown();
        let differences = self.differences();
        if !differences.is_empty() {
            out += "\n";
            for line in differences {
                out += &format!("- {line}\n");
            }
        }
        out += "\n## Runs\n\n";
        out += &table::runs_table(&self.runs, &self.groups).markdown();
        if !self.notes.is_empty() {
            out += "\n## Notes\n\n";
            for note in &self.notes {
                out += &format!("- {note}\n");
            }
        }
        if let Some(chart) = chart {
            out += &format!("\n![test accuracy of every run]({chart})\n");
        }
        out
    }

    /// compare.json: the groups, with every figure's mean, std and values.
    pub fn json(&self) -> serde_json::Value {
        let datasets: BTreeSet<&str> = self.runs.iter().map(|r| r.dataset.as_str()).collect();
        json!({
            "runs": self.runs.len(),
            "grouped_by": self.source.describe(),
            "std": "sample standard deviation (n - 1); null for one run or a figure that is not finite",
            "datasets": datasets,
            "notes": self.notes,
            "groups": self.groups,
        })
    }

    /// "group 2 differs in lr = 0.01, hidden = [32]" for every group, when there are
    /// several.
    fn differences(&self) -> Vec<String> {
        if self.groups.len() < 2 {
            return Vec::new();
        }
        self.groups
            .iter()
            .map(|g| {
                let settings: Vec<String> = g
                    .differs
                    .iter()
                    .map(|(k, v)| format!("{k} = {v}"))
                    .collect();
                format!("group {}: {}", g.group, settings.join(", "))
            })
            .collect()
    }

    /// Writes compare.md, compare.json and curves.png into `dir` (curves.png when some run
    /// has a learning curve), and says so on stderr.
    ///
    /// # Errors
    /// A file that cannot be written, or the chart that cannot be drawn, named.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let chart = self.curves();
        let chart_name = chart.has_points().then_some("curves.png");
        if chart_name.is_some() {
            let path = dir.join("curves.png");
            chart
                .save(&path, 800, 500)
                .with_context(|| format!("cannot draw {}", path.display()))?;
        }
        let write = |name: &str, text: String| {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
        };
        write("compare.md", self.markdown(chart_name))?;
        write(
            "compare.json",
            serde_json::to_string_pretty(&self.json())? + "\n",
        )?;
        eprintln!(
            "wrote {0}/compare.md, {0}/compare.json{1}",
            dir.display(),
            chart_name.map_or(String::new(), |c| format!(" and {}/{c}", dir.display()))
        );
        Ok(())
    }

    /// Every run's test accuracy per epoch, one series each, named after its group (when
    /// there are several), algorithm and seed.
    fn curves(&self) -> locus_eval::plot::LineChart {
        let mut reports = Vec::new();
        let mut names = BTreeMap::<String, usize>::new();
        for g in &self.groups {
            for &i in &g.members {
                let run = &self.runs[i];
                let mut name = if self.groups.len() > 1 {
                    format!("g{} {} seed {}", g.group, run.algo, run.seed)
                } else {
                    format!("{} seed {}", run.algo, run.seed)
                };
                let seen = names.entry(name.clone()).or_default();
                *seen += 1;
                if *seen > 1 {
                    name = format!("{name} ({})", *seen);
                }
                // The series are named after each report's algorithm (as `locus plot
                // --labels` does).
                reports.push(RunReport {
                    algo: name,
                    dataset: run.dataset.clone(),
                    epochs: run.epochs,
                    seed: run.seed,
                    test_accuracy: run.test_accuracy,
                    test_loss: f64::NAN,
                    train_loss: run.train_loss,
                    wall_s: f64::NAN,
                    samples_per_s: run.samples_per_s,
                    stages: Vec::new(),
                    config: BTreeMap::new(),
                    history: run.history.clone(),
                    warnings: Vec::new(),
                });
            }
        }
        let refs: Vec<&RunReport> = reports.iter().collect();
        learning_curves(&refs, Metric::TestAccuracy)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// What a reader of the tables should know: runs of several data sets, figures that are
/// not finite, a seed counted twice in a group, runs without a learning curve.
fn notes(runs: &[Run], groups: &[Group]) -> Vec<String> {
    let mut notes = Vec::new();
    let datasets: BTreeSet<&str> = runs.iter().map(|r| r.dataset.as_str()).collect();
    if datasets.len() > 1 {
        notes.push(format!(
            "the runs are on {} data sets ({}): runs of different data sets are always in \
             different groups, and their figures are not comparable",
            datasets.len(),
            datasets.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    for run in runs {
        let mut figures: Vec<String> = [
            ("test_accuracy", run.test_accuracy),
            ("train_loss", run.train_loss),
            ("samples_per_s", run.samples_per_s),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_finite())
        .map(|(k, _)| k.to_string())
        .collect();
        figures.extend(
            run.probes
                .iter()
                .filter(|(_, p)| !p.is_finite())
                .map(|(stage, _)| format!("{stage}'s probe_accuracy")),
        );
        if !figures.is_empty() {
            notes.push(format!(
                "{}: {} not finite (NaN or infinite when written: a diverged run?); its \
                 group's mean and std of {} are left blank (NaN)",
                run.dir.display(),
                figures.join(", "),
                if figures.len() == 1 { "it" } else { "them" }
            ));
        }
    }
    for g in groups {
        if !g.repeated_seeds.is_empty() {
            notes.push(format!(
                "group {} has several runs of seed {}: they are counted as separate runs, \
                 though the same seed gives the same result",
                g.group,
                g.repeated_seeds
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let without: Vec<String> = runs
        .iter()
        .filter(|r| r.history.is_empty())
        .map(|r| r.dir.display().to_string())
        .collect();
    if !without.is_empty() {
        notes.push(format!(
            "no learning curve (history in results.json, or epochs.csv) in {}",
            without.join(", ")
        ));
    }
    notes
}
