//! Forward-Forward data: negatives never carry the true label, whatever the classes, labels
//! and seed; hybrid-image masks have the properties the paper asks of them.

use locus_core::seeded_rng;
use locus_data::forward_forward::{
    hybrid, hybrid_mask, positive_negative_batch, wrong_label, LabelEmbedding, LabelPlacement,
    MaskConfig, NegativeData,
};
use locus_data::{Batch, InMemoryDataset};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rand::seq::SliceRandom;

/// 256 cases per property, failures persisted under `proptest-regressions/` of this
/// crate (see locus-testing's `proptest-regressions/README.md` for why the path is set).
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/tests/forward_forward.txt"
        )))),
        ..ProptestConfig::default()
    }
}

/// A batch of labels among `classes`, with the number of classes.
fn labelled() -> impl Strategy<Value = (usize, Vec<usize>)> {
    (2..40usize)
        .prop_flat_map(|classes| (Just(classes), proptest::collection::vec(0..classes, 1..64)))
}

/// Whether any negative (second half) carries the label of its positive (first half).
fn some_negative_is_true(labels: &[usize]) -> bool {
    let n = labels.len() / 2;
    (0..n).any(|i| labels[i] == labels[n + i])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_wrong_label_is_never_the_true_one(
        (classes, labels) in labelled(),
        seed in any::<u64>(),
    ) {
        let mut rng = seeded_rng(seed);
        for &label in &labels {
            let wrong = wrong_label(label, classes, &mut rng).unwrap();
            prop_assert!(wrong < classes);
            prop_assert_ne!(wrong, label);
        }
    }

    #[test]
    fn supervised_negatives_never_carry_the_true_label(
        (classes, labels) in labelled(),
        seed in any::<u64>(),
    ) {
        // One-value samples holding their own index, so each row can be traced back.
        let n = labels.len();
        let features: Vec<f32> = (0..n * classes).map(|v| v as f32).collect();
        let data = InMemoryDataset::new("p", features, vec![classes], labels.clone(), classes)
            .unwrap();
        let embedding = LabelEmbedding::new(LabelPlacement::Prepend, classes).unwrap();
        let indices: Vec<usize> = (0..n).collect();
        let batch: Batch<f64> = positive_negative_batch(
            &data,
            &indices,
            &NegativeData::WrongLabel(embedding),
            &mut seeded_rng(seed),
        )
        .unwrap();
        prop_assert_eq!(&batch.labels[..n], &labels[..]);
        prop_assert!(!some_negative_is_true(&batch.labels));
        // The label written into each negative is its (wrong) label, and only that.
        for row in n..2 * n {
            for class in 0..classes {
                let expected = if class == batch.labels[row] { 1.0 } else { 0.0 };
                prop_assert_eq!(batch.inputs[[row, class]], expected);
            }
        }
    }

    #[test]
    fn masks_are_binary_and_of_the_sample_size(
        height in 1..20usize,
        width in 1..20usize,
        passes in 1..8usize,
        seed in any::<u64>(),
    ) {
        let config = MaskConfig { blur_passes: passes, ..MaskConfig::default() };
        let mask = hybrid_mask(&[height, width], &config, &mut seeded_rng(seed)).unwrap();
        prop_assert_eq!(mask.len(), height * width);
        prop_assert!(mask.iter().all(|&m| m == 0.0 || m == 1.0));
        prop_assert_eq!(
            &mask,
            &hybrid_mask(&[height, width], &config, &mut seeded_rng(seed)).unwrap()
        );
        // A hybrid takes every value from one of its two samples, as the mask says.
        let a: Vec<f32> = (0..mask.len()).map(|v| v as f32).collect();
        let b: Vec<f32> = a.iter().map(|v| -v - 1.0).collect();
        let h = hybrid(&a, &b, &mask).unwrap();
        for k in 0..mask.len() {
            prop_assert_eq!(h[k], if mask[k] == 1.0 { a[k] } else { b[k] });
        }
    }
}

/// The test above catches the known bug: negatives labelled with a shuffle of the
/// batch's labels (as a popular PyTorch port makes them) sometimes carry the true label.
#[test]
fn the_shuffled_labels_of_a_popular_port_are_caught() {
    let mut rng = seeded_rng(0);
    let labels: Vec<usize> = (0..100).map(|i| i % 10).collect();
    let mut shuffled = labels.clone();
    shuffled.shuffle(&mut rng);
    let mut both = labels.clone();
    both.extend(&shuffled);
    assert!(some_negative_is_true(&both));
    let hits = labels.iter().zip(&shuffled).filter(|(a, b)| a == b).count();
    // About one in ten, as expected with 10 balanced classes.
    assert!((3..=25).contains(&hits), "{hits}");
}

/// The fraction of neighbouring pairs (along both axes) with the same mask value.
fn agreement(mask: &[f32], height: usize, width: usize) -> f64 {
    let (mut same, mut pairs) = (0usize, 0usize);
    for r in 0..height {
        for c in 0..width {
            let v = mask[r * width + c];
            if c + 1 < width {
                same += usize::from(v == mask[r * width + c + 1]);
                pairs += 1;
            }
            if r + 1 < height {
                same += usize::from(v == mask[(r + 1) * width + c]);
                pairs += 1;
            }
        }
    }
    same as f64 / pairs as f64
}

#[test]
fn masks_have_large_regions_of_ones_and_zeros() {
    // Random bits agree with a neighbour half the time; blurred and thresholded masks
    // should agree far more often, and still hold both values in about equal measure.
    let mut rng = seeded_rng(11);
    let (mut ones, mut agree, mut mixed) = (0.0, 0.0, 0);
    let masks = 200;
    for _ in 0..masks {
        let m = hybrid_mask(&[28, 28], &MaskConfig::default(), &mut rng).unwrap();
        let frac = m.iter().sum::<f32>() as f64 / m.len() as f64;
        ones += frac;
        agree += agreement(&m, 28, 28);
        mixed += usize::from(frac > 0.05 && frac < 0.95);
    }
    let (ones, agree) = (ones / masks as f64, agree / masks as f64);
    assert!((0.4..0.6).contains(&ones), "mean fraction of ones {ones}");
    assert!(agree > 0.85, "neighbour agreement {agree}");
    assert!(
        mixed > masks * 9 / 10,
        "{mixed} of {masks} masks hold both values"
    );
    // More blurring, larger regions.
    let more = MaskConfig {
        blur_passes: 20,
        ..MaskConfig::default()
    };
    let agree_more = (0..masks)
        .map(|_| agreement(&hybrid_mask(&[28, 28], &more, &mut rng).unwrap(), 28, 28))
        .sum::<f64>()
        / masks as f64;
    assert!(agree_more > agree, "{agree_more} vs {agree}");
    // Without blur (one pass is the least allowed) regions are small: the measure can fail.
    let one = MaskConfig {
        blur_passes: 1,
        ..MaskConfig::default()
    };
    let agree_one = agreement(&hybrid_mask(&[28, 28], &one, &mut rng).unwrap(), 28, 28);
    assert!(agree_one < agree, "{agree_one} vs {agree}");
}
