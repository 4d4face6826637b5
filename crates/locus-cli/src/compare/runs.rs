//! Reading finished runs for `locus compare`: the figures and learning curve of each run
//! directory's results.json (read as a [`RunReport`]) and the configuration it ran with
//! (its config.toml, else results.json's `config`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use locus_eval::{EpochRecord, RunReport};
use serde_json::Value;

/// The keys of config.toml that say how a run was printed, not what it trained, and the
/// seed the runs of a group differ in: left out of the configuration runs are grouped by.
const NOT_CONFIGURATION: [&str; 3] = ["seed", "json", "quiet"];

/// The keys of results.json's `config` that hold what a run measured or how its process
/// ran rather than what it trained (each differs between two runs of the same flags).
const MEASURED_IN_CONFIG: [&str; 7] = [
    "memory",
    "phases",
    "probe_input_accuracy",
    "test_goodness_accuracy",
    "test_readout_accuracy",
    "resumed_after",
    "matmul_threads",
];

/// One finished run, as `locus compare` reads it.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    /// The run's directory (or the results.json file's), as given.
    pub dir: PathBuf,
    pub algo: String,
    pub dataset: String,
    /// `config.scheduler`, when the run records one.
    pub scheduler: Option<String>,
    pub seed: u64,
    pub epochs: u64,
    /// NaN where results.json holds `null` (a figure that was not finite when written).
    pub test_accuracy: f64,
    pub train_loss: f64,
    pub samples_per_s: f64,
    /// `(stage name, probe accuracy)` of every stage that reports one, bottom first.
    pub probes: Vec<(String, f64)>,
    /// The learning curve (empty when the run has none).
    pub history: Vec<EpochRecord>,
    /// The settings runs are grouped by, flattened to `key → value` (dotted keys for
    /// results.json's nested objects).
    pub configuration: BTreeMap<String, String>,
}

impl Run {
    /// The run's test error, `1 − test accuracy`.
    pub fn test_error(&self) -> f64 {
        1.0 - self.test_accuracy
    }
}

/// The results.json files that `paths` name: a run directory (holding results.json), a
/// results.json file, or a directory of run directories (as `locus train --seeds` writes),
/// which stands for each of them in the order of their names (numbers counted as numbers,
/// so `seed-2` comes before `seed-10`).
///
/// # Errors
/// A path that does not exist, a directory with no results.json and no run directory in
/// it (an unfinished run is named as such), and a run given twice.
pub(crate) fn results_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    // Each results.json with the path that named it.
    let mut files: Vec<(PathBuf, &PathBuf)> = Vec::new();
    for path in paths {
        if path.is_file() {
            files.push((path.clone(), path));
            continue;
        }
        if !path.is_dir() {
            anyhow::bail!("{}: no such run directory or results.json", path.display());
        }
        let own = path.join("results.json");
        if own.is_file() {
            files.push((own, path));
            continue;
        }
        if path.join("config.toml").is_file() {
            anyhow::bail!(
                "{} has no results.json: the run has not finished (its config.toml is there; \
                 a run writes results.json after its last epoch, so one stopped by \
                 --stop-after or interrupted has none)",
                path.display()
            );
        }
        let mut inner: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read the directory {}", path.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.join("results.json").is_file())
            .collect();
        if inner.is_empty() {
            anyhow::bail!(
                "{} has no results.json, nor run directories holding one (`locus train --out \
                 DIR` writes DIR/results.json)",
                path.display()
            );
        }
        inner.sort_by_key(|p| natural_key(&p.file_name().unwrap_or_default().to_string_lossy()));
        files.extend(inner.into_iter().map(|p| (p.join("results.json"), path)));
    }
    let mut seen: BTreeMap<PathBuf, &Path> = BTreeMap::new();
    for (file, given) in &files {
        let canonical = file.canonicalize().unwrap_or_else(|_| file.clone());
        if let Some(first) = seen.insert(canonical, given) {
            let how = if first == given.as_path() {
                format!("{} twice", given.display())
            } else {
                format!("{} and {}", first.display(), given.display())
            };
            anyhow::bail!(
                "the run {} is given twice (by {how}): each run counts once",
                run_dir(file).display(),
            );
        }
    }
    Ok(files.into_iter().map(|(file, _)| file).collect())
}

/// A name split into runs of digits (compared as numbers) and of other characters.
fn natural_key(name: &str) -> Vec<(String, u128)> {
    let mut key = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits > 0 {
            key.push((String::new(), rest[..digits].parse().unwrap_or(u128::MAX)));
            rest = &rest[digits..];
        } else {
            let text = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            key.push((rest[..text].to_string(), 0));
            rest = &rest[text..];
        }
    }
    key
}

/// The directory of a results.json file.
fn run_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads every run of `files` (from [`results_files`]); the runs are grouped by their
/// config.toml when every run has one, else by results.json's settings.
///
/// # Errors
/// A file that cannot be read, is not JSON, or is not a `locus train` results.json (the
/// file and the missing or wrong key named); a config.toml that is not TOML.
pub(crate) fn read_runs(files: &[PathBuf]) -> anyhow::Result<(Vec<Run>, ConfigurationSource)> {
    let flags: Vec<Option<PathBuf>> = files
        .iter()
        .map(|f| Some(run_dir(f).join("config.toml")).filter(|p| p.is_file()))
        .collect();
    let source = if flags.iter().all(Option::is_some) {
        ConfigurationSource::ConfigToml
    } else {
        ConfigurationSource::ResultsJson
    };
    let runs = files
        .iter()
        .zip(&flags)
        .map(|(file, toml)| {
            let mut run = read_run(file)?;
            if let (ConfigurationSource::ConfigToml, Some(toml)) = (source, toml) {
                run.configuration = flags_of(toml)?;
            }
            Ok(run)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok((runs, source))
}

/// Where the configuration runs are grouped by comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConfigurationSource {
    /// Every run's config.toml: the flags it ran with.
    ConfigToml,
    /// results.json's `algo`, `dataset`, `epochs` and `config` (some run has no
    /// config.toml).
    ResultsJson,
}

impl ConfigurationSource {
    /// What the runs of a group share, for the reader of the table.
    pub fn describe(self) -> String {
        match self {
            ConfigurationSource::ConfigToml => format!(
                "the same config.toml (the flags of `locus train`, defaults included) but {}",
                NOT_CONFIGURATION.map(|k| format!("`{k}`")).join(", ")
            ),
            ConfigurationSource::ResultsJson => format!(
                "the same algo, dataset, epochs and config in results.json (some run has no \
                 config.toml), leaving out every `seed` and the figures config records ({})",
                MEASURED_IN_CONFIG.map(|k| format!("`{k}`")).join(", ")
            ),
        }
    }
}

/// One run's results.json, its configuration taken from the same file.
fn read_run(file: &Path) -> anyhow::Result<Run> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let value: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    if value.get("groups").is_some() {
        anyhow::bail!(
            "{} is a comparison (compare.json), not a run's results.json: give the runs \
             themselves",
            file.display()
        );
    }
    let report = RunReport::from_json(&text).map_err(|e| {
        anyhow!(
            "{} is not a results.json of `locus train` ({e}); `locus compare` reads the run \
             directories that `locus train --out DIR` writes",
            file.display()
        )
    })?;
    let probes = report
        .stages
        .iter()
        .filter_map(|stage| {
            let probe = stage.metrics.get("probe_accuracy")?;
            Some((stage.name.clone(), *probe))
        })
        .collect();
    let mut configuration = BTreeMap::new();
    configuration.insert("algo".to_string(), report.algo.clone());
    configuration.insert("dataset".to_string(), report.dataset.clone());
    configuration.insert("epochs".to_string(), report.epochs.to_string());
    for (key, value) in &report.config {
        if !MEASURED_IN_CONFIG.contains(&key.as_str()) {
            flatten(key, value, &mut configuration);
        }
    }
    Ok(Run {
        dir: run_dir(file),
        scheduler: report
            .config
            .get("scheduler")
            .and_then(Value::as_str)
            .map(String::from),
        seed: report.seed,
        test_accuracy: report.test_accuracy,
        train_loss: report.train_loss,
        samples_per_s: report.samples_per_s,
        algo: report.algo,
        dataset: report.dataset,
        epochs: report.epochs,
        probes,
        history: report.history,
        configuration,
    })
}

/// The flags of a run's config.toml but [`NOT_CONFIGURATION`], each as TOML writes its
/// value (a string without its quotes).
fn flags_of(path: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .with_context(|| format!("{} is not TOML", path.display()))?;
    Ok(table
        .into_iter()
        .filter(|(key, _)| !NOT_CONFIGURATION.contains(&key.as_str()))
        .map(|(key, value)| match value {
            toml::Value::String(s) => (key, s),
            other => (key, other.to_string()),
        })
        .collect())
}

/// Adds `value` under `key` to `out`, an object's members under `key.member`, leaving out
/// every member named `seed` (the run's seed, which settings such as the synthetic
/// gradient's record again).
fn flatten(key: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    if key == "seed" || key.ends_with(".seed") {
        return;
    }
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                flatten(&format!("{key}.{k}"), v, out);
            }
        }
        Value::String(s) => {
            out.insert(key.to_string(), s.clone());
        }
        other => {
            out.insert(key.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_sort_with_their_numbers_as_numbers() {
        let mut names = vec!["seed-10", "seed-2", "seed-1", "a", "seed-02x"];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names, ["a", "seed-1", "seed-2", "seed-02x", "seed-10"]);
    }

    #[test]
    fn seeds_are_left_out_at_any_depth_and_objects_flattened() {
        let mut out = BTreeMap::new();
        let config = json!({
            "synthetic_gradient": {"seed": 3, "model": "Linear", "lr": 0.001},
            "seed": 3,
            "scheduler": "lockstep",
            "hidden": [16, 16],
        });
        for (k, v) in config.as_object().unwrap() {
            flatten(k, v, &mut out);
        }
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "hidden",
                "scheduler",
                "synthetic_gradient.lr",
                "synthetic_gradient.model"
            ]
        );
        assert_eq!(out["scheduler"], "lockstep");
        assert_eq!(out["hidden"], "[16,16]");
    }
}
