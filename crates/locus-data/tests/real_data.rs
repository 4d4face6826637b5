//! The real data sets in the shared data directory (skipped locally when it is missing,
//! a failure under CI).

use locus_data::idx::load_idx_dir;
use locus_data::npy::load_npy_dir;
use locus_data::{gather, Batch, Dataset};
use locus_testing::shared_data::shared_data_dir;

fn label_counts(labels: &[usize]) -> Vec<usize> {
    let mut counts = vec![0; 10];
    labels.iter().for_each(|&l| counts[l] += 1);
    counts
}

#[test]
fn mnist_loads_with_the_published_counts_and_mean() {
    let Some(dir) = shared_data_dir("mnist") else {
        return;
    };
    let split = load_idx_dir(&dir).expect("shared MNIST loads");
    assert_eq!((split.train.len(), split.test.len()), (60000, 10000));
    assert_eq!(split.train.sample_shape(), &[28, 28]);
    assert_eq!(split.train.num_classes(), 10);
    assert_eq!(
        label_counts(split.train.labels_all()),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        label_counts(split.test.labels_all()),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let features = split.train.features_all();
    let mean = features.iter().map(|&v| f64::from(v)).sum::<f64>() / features.len() as f64;
    assert!(
        (mean * 255.0 - 33.318).abs() < 1e-3,
        "mean raw pixel {}",
        mean * 255.0
    );
    assert!(features.iter().all(|&v| (0.0..=1.0).contains(&v)));
    let batch: Batch<f32> = gather(&split.test, &[0, 9999]).unwrap();
    assert_eq!(batch.inputs.shape(), &[2, 28, 28]);
}

#[test]
fn mnist1d_npy_loads_as_the_standard_split() {
    let Some(dir) = shared_data_dir("mnist1d") else {
        return;
    };
    let split = load_npy_dir(&dir).expect("shared MNIST-1D loads");
    assert_eq!((split.train.len(), split.test.len()), (4000, 1000));
    assert_eq!(split.train.sample_shape(), &[40]);
    assert_eq!(split.test.sample_shape(), &[40]);
    assert_eq!(split.train.num_classes(), 10);
    let all: Vec<f64> = split
        .train
        .features_all()
        .iter()
        .chain(split.test.features_all())
        .map(|&v| f64::from(v))
        .collect();
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    let std = (all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / all.len() as f64).sqrt();
    assert!(
        mean.abs() < 1e-4 && (std - 1.0).abs() < 1e-4,
        "mean {mean}, std {std}"
    );
}
