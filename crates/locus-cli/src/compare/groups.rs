//! Runs grouped by configuration, with the mean and sample standard deviation of each
//! figure over a group's seeds.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::runs::Run;

/// The mean and sample standard deviation of one figure over a group's runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Spread {
    /// Runs counted.
    pub n: usize,
    /// `None` when some run's value is not finite.
    pub mean: Option<f64>,
    /// The sample standard deviation (divided by n − 1); `None` for a single run or when
    /// some value is not finite.
    pub std: Option<f64>,
    /// How many runs have a value that is not finite (NaN or infinite when written).
    pub not_finite: usize,
    /// Every run's value, in the group's order (`null` in JSON where not finite).
    pub values: Vec<f64>,
}

impl Spread {
    pub fn of(values: Vec<f64>) -> Spread {
        let n = values.len();
        let not_finite = values.iter().filter(|v| !v.is_finite()).count();
        let (mean, std) = if not_finite > 0 || n == 0 {
            (None, None)
        } else {
            let mean = values.iter().sum::<f64>() / n as f64;
            let std = (n > 1).then(|| {
                let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
                (squares / (n - 1) as f64).sqrt()
            });
            (Some(mean), std)
        };
        Spread {
            n,
            mean,
            std,
            not_finite,
            values,
        }
    }
}

/// A stage's probe accuracy over the runs of a group that report one for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct StageSpread {
    pub stage: String,
    pub probe_accuracy: Spread,
}

/// Runs of one configuration.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Group {
    /// From 1, in the order the groups' first runs were given.
    pub group: usize,
    pub algo: String,
    pub dataset: String,
    pub scheduler: Option<String>,
    pub epochs: u64,
    /// The settings in which this group differs from some other group (empty with one
    /// group), `key → value`; "(not set)" where the group's runs do not set it.
    pub differs: BTreeMap<String, String>,
    /// The run directories, in the order given.
    pub runs: Vec<String>,
    pub seeds: Vec<u64>,
    pub test_accuracy: Spread,
    pub test_error: Spread,
    pub train_loss: Spread,
    pub samples_per_s: Spread,
    /// Stages that report a probe accuracy, bottom first.
    pub stages: Vec<StageSpread>,
    /// Seeds that more than one run of the group has (each run still counts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repeated_seeds: Vec<u64>,
    /// Indices of the group's runs in the list of runs.
    #[serde(skip)]
    pub members: Vec<usize>,
}

/// `runs` grouped by equal configuration, groups in the order of their first run.
pub(crate) fn group(runs: &[Run]) -> Vec<Group> {
    let mut keys: Vec<&BTreeMap<String, String>> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        match keys.iter().position(|k| **k == run.configuration) {
            Some(g) => members[g].push(i),
            None => {
                keys.push(&run.configuration);
                members.push(vec![i]);
            }
        }
    }
    // A setting differs when some group lacks it or has another value.
    let all: BTreeSet<&String> = keys.iter().flat_map(|k| k.keys()).collect();
    let differing: Vec<&String> = all
        .into_iter()
        .filter(|key| {
            let values: BTreeSet<Option<&String>> = keys.iter().map(|k| k.get(*key)).collect();
            values.len() > 1
        })
        .collect();
    keys.iter()
        .zip(members)
        .enumerate()
        .map(|(g, (key, members))| {
            let of = |figure: fn(&Run) -> f64| {
                Spread::of(members.iter().map(|&i| figure(&runs[i])).collect())
            };
            let first = &runs[members[0]];
            let mut seeds_seen = BTreeSet::new();
            let mut repeated_seeds = BTreeSet::new();
            for &i in &members {
                if !seeds_seen.insert(runs[i].seed) {
                    repeated_seeds.insert(runs[i].seed);
                }
            }
            Group {
                group: g + 1,
                algo: first.algo.clone(),
                dataset: first.dataset.clone(),
                scheduler: first.scheduler.clone(),
                epochs: first.epochs,
                differs: differing
                    .iter()
                    .map(|k| {
                        let value = key.get(*k).map_or("(not set)", String::as_str);
                        ((*k).clone(), value.to_string())
                    })
                    .collect(),
                runs: members
                    .iter()
                    .map(|&i| runs[i].dir.display().to_string())
                    .collect(),
                seeds: members.iter().map(|&i| runs[i].seed).collect(),
                test_accuracy: of(|r| r.test_accuracy),
                test_error: of(Run::test_error),
                train_loss: of(|r| r.train_loss),
                samples_per_s: of(|r| r.samples_per_s),
                stages: stage_spreads(members.iter().map(|&i| &runs[i])),
                repeated_seeds: repeated_seeds.into_iter().collect(),
                members,
            }
        })
        .collect()
}

/// Each stage's probe accuracy over `runs`, stages in the order they first appear.
fn stage_spreads<'a>(runs: impl Iterator<Item = &'a Run>) -> Vec<StageSpread> {
    let mut stages: Vec<(String, Vec<f64>)> = Vec::new();
    for run in runs {
        for (name, p) in &run.probes {
            match stages.iter_mut().find(|(s, _)| s == name) {
                Some((_, values)) => values.push(*p),
                None => stages.push((name.clone(), vec![*p])),
            }
        }
    }
    stages
        .into_iter()
        .map(|(stage, values)| StageSpread {
            stage,
            probe_accuracy: Spread::of(values),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_the_mean_and_the_sample_standard_deviation() {
        let s = Spread::of(vec![1.0, 2.0, 6.0]);
        assert_eq!(s.mean, Some(3.0));
        // Squares 4 + 1 + 9 over n − 1 = 2.
        assert_eq!(s.std, Some(7f64.sqrt()));
        assert_eq!((s.n, s.not_finite), (3, 0));
        let one = Spread::of(vec![0.5]);
        assert_eq!((one.mean, one.std), (Some(0.5), None));
        let nan = Spread::of(vec![0.5, f64::NAN, f64::INFINITY]);
        assert_eq!((nan.mean, nan.std, nan.not_finite), (None, None, 2));
    }
}
