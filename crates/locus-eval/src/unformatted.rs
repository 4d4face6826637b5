//! Accuracy of a layer that was never told which unit is which class: the HSIC
//! bottleneck's "unformatted" read-out.
//!
//! A layer trained by a criterion that ignores the order of its units (HSIC with the
//! one-hot labels, Ma, Lewis & Kleijn 2020, §4) can still separate the classes, each on
//! a unit of its own, in an order nobody chose. Its accuracy is then measured as the
//! paper does: every sample's predicted unit is its largest output, and the units are
//! matched to the classes one to one, by the matching that gets the most samples right.

use crate::metrics::accuracy;

/// The most classes [`best_unit_matching`] matches exactly (its cost grows as
/// `classes² · 2^classes`).
pub const MAX_MATCHED_CLASSES: usize = 20;

/// `counts[unit][class]`: how many samples of each class have their largest output on
/// each unit, for `classes` units and classes.
///
/// # Errors
/// A unit or label outside `0..classes`, or slices of different lengths, named.
pub fn unit_class_counts(
    units: &[usize],
    labels: &[usize],
    classes: usize,
) -> Result<Vec<Vec<usize>>, String> {
    if units.len() != labels.len() {
        return Err(format!(
            "{} predicted units for {} labels: give one per sample",
            units.len(),
            labels.len()
        ));
    }
    let mut counts = vec![vec![0usize; classes]; classes];
    for (row, (&u, &y)) in units.iter().zip(labels).enumerate() {
        if u >= classes || y >= classes {
            return Err(format!(
                "sample {row}: unit {u} / label {y} outside the {classes} classes"
            ));
        }
        counts[u][y] += 1;
    }
    Ok(counts)
}

/// The one-to-one matching of units to classes (`matching[unit] = class`) that gets the
/// most samples right, with `counts` as [`unit_class_counts`] gives it; exact, by dynamic
/// programming over the sets of classes already taken. Ties go to the smaller class.
///
/// # Errors
/// `counts` not square, or more than [`MAX_MATCHED_CLASSES`] classes.
pub fn best_unit_matching(counts: &[Vec<usize>]) -> Result<Vec<usize>, String> {
    let k = counts.len();
    if let Some((u, row)) = counts.iter().enumerate().find(|(_, r)| r.len() != k) {
        return Err(format!(
            "unit {u} has counts for {} classes, not {k}: the counts must be square",
            row.len()
        ));
    }
    if k > MAX_MATCHED_CLASSES {
        return Err(format!(
            "{k} classes: the exact matching handles at most {MAX_MATCHED_CLASSES}"
        ));
    }
    // best[mask]: the most samples right when units 0..popcount(mask) took the classes in
    // mask; from[mask]: the class the last of them took.
    let full = (1usize << k) - 1;
    let mut best = vec![None::<usize>; full + 1];
    let mut from = vec![0usize; full + 1];
    best[0] = Some(0);
    for mask in 0..full {
        let Some(score) = best[mask] else { continue };
        let unit = mask.count_ones() as usize;
        for class in (0..k).filter(|c| mask & (1 << c) == 0) {
            let next = mask | (1 << class);
            let candidate = score + counts[unit][class];
            if best[next].is_none_or(|b| candidate > b) {
                best[next] = Some(candidate);
                from[next] = class;
            }
        }
    }
    let mut matching = vec![0usize; k];
    let mut mask = full;
    for unit in (0..k).rev() {
        matching[unit] = from[mask];
        mask &= !(1 << from[mask]);
    }
    Ok(matching)
}

/// The accuracy of predicting, for each sample, the class its largest unit is matched
/// to under the best one-to-one matching ([`best_unit_matching`]), with the matching.
///
/// # Errors
/// As [`unit_class_counts`] and [`best_unit_matching`].
pub fn unformatted_accuracy(
    units: &[usize],
    labels: &[usize],
    classes: usize,
) -> Result<(f64, Vec<usize>), String> {
    let matching = best_unit_matching(&unit_class_counts(units, labels, classes)?)?;
    let predicted: Vec<usize> = units.iter().map(|&u| matching[u]).collect();
    Ok((accuracy(&predicted, labels), matching))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every permutation of `0..k`, by brute force.
    fn permutations(k: usize) -> Vec<Vec<usize>> {
        if k == 0 {
            return vec![Vec::new()];
        }
        let mut all = Vec::new();
        for p in permutations(k - 1) {
            for at in 0..=p.len() {
                let mut q = p.clone();
                q.insert(at, k - 1);
                all.push(q);
            }
        }
        all
    }

    #[test]
    fn a_relabelled_perfect_layer_is_fully_accurate() {
        // Class c always lands on unit (c + 2) % 4.
        let labels: Vec<usize> = (0..40).map(|i| i % 4).collect();
        let units: Vec<usize> = labels.iter().map(|&c| (c + 2) % 4).collect();
        let (acc, matching) = unformatted_accuracy(&units, &labels, 4).unwrap();
        assert_eq!(acc, 1.0);
        assert_eq!(matching, vec![2, 3, 0, 1]);
        // Read as if unit = class, the same layer is always wrong.
        assert_eq!(accuracy(&units, &labels), 0.0);
    }

    #[test]
    fn two_classes_on_one_unit_cost_the_smaller_one() {
        // Units 0 and 1 both answer class 0 (6 and 2 samples); class 1 has 4 samples on
        // unit 2; unit 1 must take class 1 or 2 and gets none right.
        let units = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2, 2];
        let labels = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1];
        let (acc, matching) = unformatted_accuracy(&units, &labels, 3).unwrap();
        assert_eq!(matching[0], 0);
        assert_eq!(matching[2], 1);
        assert!((acc - 10.0 / 12.0).abs() < 1e-12);
    }

    #[test]
    fn bad_input_is_named() {
        assert!(unformatted_accuracy(&[0, 1], &[0], 2)
            .unwrap_err()
            .contains("2 predicted units for 1 labels"));
        assert!(unformatted_accuracy(&[0, 3], &[0, 1], 2)
            .unwrap_err()
            .contains("sample 1"));
        assert!(best_unit_matching(&[vec![1, 2], vec![3]])
            .unwrap_err()
            .contains("square"));
        let big = vec![vec![0; 21]; 21];
        assert!(best_unit_matching(&big).unwrap_err().contains("at most 20"));
    }

    proptest! {
        /// The dynamic programme finds the best of all permutations.
        #[test]
        fn the_matching_is_the_best_permutation(
            k in 1usize..6,
            cells in proptest::collection::vec(0usize..50, 36),
        ) {
            let counts: Vec<Vec<usize>> =
                (0..k).map(|u| (0..k).map(|c| cells[u * 6 + c]).collect()).collect();
            let matching = best_unit_matching(&counts).unwrap();
            let score = |p: &[usize]| (0..k).map(|u| counts[u][p[u]]).sum::<usize>();
            let mut seen = matching.clone();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..k).collect::<Vec<_>>());
            let best = permutations(k).iter().map(|p| score(p)).max().unwrap();
            prop_assert_eq!(score(&matching), best);
        }
    }
}
