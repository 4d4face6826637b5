//! Collapsed stages: a stage-wise run whose upper stages stopped carrying information.
//!
//! Greedy InfoMax's stages can collapse to a representation whose InfoNCE bound is near
//! zero (every candidate scores alike, the loss sits at ln N), and a local rule's upper
//! stages can fall far below its lower ones in accuracy. Either means the run's headline
//! number does not describe a working network, so reports name it.

use crate::StageReport;

/// Below this InfoNCE bound, in nats, a stage's predictions are no better than chance.
pub const MIN_INFONCE_BOUND: f64 = 0.01;

/// A stage whose `probe_accuracy` is more than this below the best stage's has collapsed.
pub const MAX_PROBE_DROP: f64 = 0.15;

/// Below this `output_std`, a stage maps every input to the same output.
pub const MIN_OUTPUT_STD: f64 = 1e-6;

/// One line per collapsed stage, naming the stage and the figure: an `infonce_bound`
/// below [`MIN_INFONCE_BOUND`], an `output_std` below [`MIN_OUTPUT_STD`], or a
/// `probe_accuracy` more than [`MAX_PROBE_DROP`] below the best stage's. Empty when no
/// stage collapsed.
pub fn collapse_warnings(stages: &[StageReport]) -> Vec<String> {
    let mut warnings = Vec::new();
    for s in stages {
        if let Some(&spread) = s.metrics.get("output_std") {
            if spread.is_nan() || spread < MIN_OUTPUT_STD {
                warnings.push(format!(
                    "{}: output standard deviation {spread:.2e} across samples, below \
                     {MIN_OUTPUT_STD:e}: the stage gives every input the same output \
                     (collapsed)",
                    s.name
                ));
            }
        }
        if let Some(&bound) = s.metrics.get("infonce_bound") {
            if bound.is_nan() || bound < MIN_INFONCE_BOUND {
                warnings.push(format!(
                    "{}: InfoNCE bound {bound:.4} nats, below {MIN_INFONCE_BOUND}: the stage's \
                     predictions score no better than chance (collapsed)",
                    s.name
                ));
            }
        }
    }
    let probes: Vec<(&str, f64)> = stages
        .iter()
        .filter_map(|s| Some((s.name.as_str(), *s.metrics.get("probe_accuracy")?)))
        .collect();
    if let Some(&(best_name, best)) = probes.iter().max_by(|a, b| a.1.total_cmp(&b.1)) {
        for &(name, accuracy) in &probes {
            if accuracy < best - MAX_PROBE_DROP {
                warnings.push(format!(
                    "{name}: probe accuracy {accuracy:.4}, more than {MAX_PROBE_DROP} below \
                     {best_name}'s {best:.4} (collapsed)"
                ));
            }
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, figures: &[(&str, f64)]) -> StageReport {
        StageReport {
            name: name.into(),
            module: "m".into(),
            objective: "o".into(),
            params: 1,
            final_loss: 0.0,
            metrics: figures.iter().map(|&(k, v)| (k.to_string(), v)).collect(),
        }
    }

    #[test]
    fn healthy_stages_give_no_warning() {
        let stages = [
            stage(
                "stage1",
                &[("infonce_bound", 0.3), ("probe_accuracy", 0.92)],
            ),
            stage(
                "stage2",
                &[("infonce_bound", 0.5), ("probe_accuracy", 0.90)],
            ),
        ];
        assert!(collapse_warnings(&stages).is_empty());
    }

    #[test]
    fn a_constant_output_is_named() {
        let stages = [
            stage("stage1", &[("output_std", 0.4)]),
            stage("stage2", &[("output_std", 0.0)]),
        ];
        let w = collapse_warnings(&stages);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("stage2: output standard deviation 0.00e0"),
            "{w:?}"
        );
    }

    #[test]
    fn a_vanished_bound_and_a_fallen_probe_are_named() {
        // The figures of a collapsed GIM run on MNIST-1D with SGD (seed 1).
        let stages = [
            stage(
                "stage1",
                &[("infonce_bound", 2.546), ("probe_accuracy", 0.847)],
            ),
            stage(
                "stage2",
                &[("infonce_bound", 0.0), ("probe_accuracy", 0.157)],
            ),
            stage(
                "stage3",
                &[("infonce_bound", f64::NAN), ("probe_accuracy", 0.173)],
            ),
        ];
        let w = collapse_warnings(&stages);
        assert_eq!(w.len(), 4, "{w:?}");
        assert!(w[0].starts_with("stage2: InfoNCE bound"), "{w:?}");
        assert!(w[1].starts_with("stage3: InfoNCE bound NaN"), "{w:?}");
        assert!(w[2].starts_with("stage2: probe accuracy 0.1570"), "{w:?}");
        assert!(w[3].contains("stage1's 0.8470"), "{w:?}");
    }
}
