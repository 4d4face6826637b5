use locus_core::{Error, SeededRng};
use rand::RngExt;

use crate::Result;

/// A label drawn uniformly among the `classes − 1` classes other than `label`: the label a
/// supervised Forward-Forward negative sample carries (Hinton 2022).
///
/// It is never `label` itself. (A popular PyTorch port makes negatives by shuffling the
/// batch's labels, which gives a sample its own label about one time in `classes`: those
/// "negatives" are positives, and the layer is taught to reject real data.)
///
/// # Errors
/// [`Error::InvalidParameter`] for fewer than 2 classes; [`Error::LabelOutOfRange`] for
/// `label >= classes`.
pub fn wrong_label(label: usize, classes: usize, rng: &mut SeededRng) -> Result<usize> {
    if classes < 2 {
        return Err(Error::invalid(
            "number of classes for a wrong label",
            "should be >= 2 (with one class no label is wrong)",
            classes,
        )
        .into());
    }
    if label >= classes {
        return Err(Error::LabelOutOfRange {
            context: "wrong label".into(),
            row: 0,
            label,
            num_classes: classes,
        }
        .into());
    }
    // Uniform on 0..classes−1, then skip over the true label.
    let drawn = rng.random_range(0..classes - 1);
    Ok(if drawn >= label { drawn + 1 } else { drawn })
}

/// [`wrong_label`] for every label of a batch.
///
/// # Errors
/// As [`wrong_label`], with the row of a label out of range.
pub fn wrong_labels(labels: &[usize], classes: usize, rng: &mut SeededRng) -> Result<Vec<usize>> {
    labels
        .iter()
        .enumerate()
        .map(|(row, &label)| {
            wrong_label(label, classes, rng).map_err(|e| match e {
                crate::DataError::Core(Error::LabelOutOfRange {
                    context,
                    label,
                    num_classes,
                    ..
                }) => Error::LabelOutOfRange {
                    context,
                    row,
                    label,
                    num_classes,
                }
                .into(),
                other => other,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::seeded_rng;

    #[test]
    fn every_other_class_is_drawn_about_equally_often() {
        let mut rng = seeded_rng(0);
        let mut counts = [0usize; 10];
        for _ in 0..9000 {
            counts[wrong_label(3, 10, &mut rng).unwrap()] += 1;
        }
        assert_eq!(counts[3], 0);
        for (class, &n) in counts.iter().enumerate().filter(|(c, _)| *c != 3) {
            // 1000 expected; 5 standard deviations is about ±150.
            assert!((850..=1150).contains(&n), "class {class}: {n}");
        }
    }

    #[test]
    fn bad_arguments_are_named() {
        let mut rng = seeded_rng(0);
        assert!(wrong_label(0, 1, &mut rng).is_err());
        let e = wrong_labels(&[0, 1, 7], 5, &mut rng)
            .unwrap_err()
            .to_string();
        assert!(e.contains("label 7") && e.contains("row 2"), "{e}");
    }
}
