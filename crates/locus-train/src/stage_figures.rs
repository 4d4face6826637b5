//! One stage's figures for the report.

use std::collections::BTreeMap;

use locus_core::Float;
use locus_sched::{Stage, StageStats};

/// A stage's figures for the report: its objective's metrics, what the evaluation measured
/// of it (`evaluated`, e.g. `alignment_deg`, `probe_accuracy`, `weight_alignment_deg`),
/// and what the scheduler measured over the epoch (`stats`): `staleness` (mean updates
/// between a batch's forward pass and its update), `staleness_max`, `message_staleness`
/// (the same at the arrival of its message, when one comes) and `busy_fraction` (time
/// computing / epoch time; virtual time under the simulated scheduler); under the mpi
/// scheduler also `bytes_sent` (all the epoch's messages from the stage's rank but the
/// end-of-epoch exchange), `bytes_per_batch` (those the training needs, per batch the
/// stage received) and the same per batch by kind (`activation_bytes_per_batch`,
/// `gradient_bytes_per_batch`, `global_error_bytes_per_batch`, `credit_bytes_per_batch`,
/// `report_bytes_per_batch`: steps and losses sent to rank 0). A figure named
/// more than once (one per layer) is averaged; NaN and infinite figures are left out.
pub fn stage_metrics<F: Float>(
    stage: &Stage<F>,
    evaluated: &[(String, f64)],
    stats: Option<&StageStats>,
) -> BTreeMap<String, f64> {
    let schedule = stats.into_iter().flat_map(|s| {
        [
            ("staleness", Some(s.staleness_mean)),
            ("staleness_max", Some(s.staleness_max as f64)),
            ("message_staleness", s.message_staleness_mean),
            ("busy_fraction", Some(s.busy_fraction())),
        ]
        .into_iter()
        .chain(wire_figures(s))
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    });
    let all = stage
        .objective()
        .metrics()
        .into_iter()
        .chain(evaluated.iter().cloned())
        .chain(schedule);
    let mut sums: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for (name, value) in all.filter(|(_, v)| v.is_finite()) {
        let entry = sums.entry(name).or_insert((0.0, 0));
        entry.0 += value;
        entry.1 += 1;
    }
    sums.into_iter()
        .map(|(k, (sum, n))| (k, sum / n as f64))
        .collect()
}

/// The bytes figures of a stage run on an MPI rank (none elsewhere).
fn wire_figures(s: &StageStats) -> Vec<(&'static str, Option<f64>)> {
    let Some(w) = s.wire else {
        return Vec::new();
    };
    let per_batch = |bytes: u64| Some(bytes as f64 / s.inputs.max(1) as f64);
    vec![
        ("bytes_sent", Some(w.total() as f64)),
        ("bytes_per_batch", per_batch(w.training())),
        ("activation_bytes_per_batch", per_batch(w.activations)),
        ("gradient_bytes_per_batch", per_batch(w.gradients)),
        ("global_error_bytes_per_batch", per_batch(w.global_errors)),
        ("credit_bytes_per_batch", per_batch(w.credits)),
        ("report_bytes_per_batch", per_batch(w.reports)),
    ]
}
