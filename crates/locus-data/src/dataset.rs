use crate::{DataError, Result};

/// A labelled classification data set: fixed-shape `f32` samples with class labels.
///
/// Object safe, so trainers take `&dyn Dataset` and do not care whether the samples come
/// from MNIST files, `.npy` arrays or the MNIST-1D generator. Batches are made with
/// [`gather`](crate::gather).
pub trait Dataset: Send + Sync {
    /// A short name for reports and error messages (e.g. `"mnist train"`).
    fn name(&self) -> &str;
    /// The number of samples.
    fn len(&self) -> usize;
    /// Whether there are no samples.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The shape of one sample, without the batch axis (e.g. `[28, 28]` or `[40]`).
    fn sample_shape(&self) -> &[usize];
    /// The number of classes; every label is below it.
    fn num_classes(&self) -> usize;
    /// The features of sample `index` in row-major order, or `None` past the end.
    fn features(&self, index: usize) -> Option<&[f32]>;
    /// The class of sample `index`, or `None` past the end.
    fn label(&self, index: usize) -> Option<usize>;
}

/// A data set held in memory as one contiguous `f32` buffer and a label vector.
///
/// Every loader in this crate returns one; [`InMemoryDataset::new`] checks the invariants
/// once (lengths agree, labels in range, features finite) so users of the [`Dataset`]
/// trait need not.
#[derive(Debug, Clone, PartialEq)]
pub struct InMemoryDataset {
    name: String,
    features: Vec<f32>,
    sample_shape: Vec<usize>,
    sample_len: usize,
    labels: Vec<usize>,
    num_classes: usize,
}

/// A train/test pair of data sets, as the loaders and the generator return them.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The samples to train on.
    pub train: InMemoryDataset,
    /// The held-out samples to evaluate on.
    pub test: InMemoryDataset,
}

/// The mean and standard deviation [`Split::standardize`] measured on the training split.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Standardization {
    /// Mean of every feature value of the training samples.
    pub mean: f64,
    /// Their (population) standard deviation.
    pub std: f64,
}

impl Split {
    /// Standardises the inputs as the common MNIST protocols do (e.g. Nøkland 2016's,
    /// and PyTorch examples' `Normalize((0.1307,), (0.3081,))`): one mean and one standard
    /// deviation over every feature value of the **training** split, then
    /// `x ← (x − mean) / std` for both splits, so the test data never informs the
    /// statistics. Returns them, to be recorded with the run.
    ///
    /// # Errors
    /// [`DataError::InvalidData`] when the training split is empty or all its values are
    /// equal (no spread to divide by).
    pub fn standardize(&mut self) -> Result<Standardization> {
        let values = &self.train.features;
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        let std = var.sqrt();
        if values.is_empty() || !(std.is_finite() && std > 0.0) {
            return Err(DataError::invalid(
                &self.train.name,
                format!(
                    "cannot standardise: the training split has {} values with standard \
                     deviation {std}",
                    values.len()
                ),
            ));
        }
        let stats = Standardization { mean, std };
        for set in [&mut self.train, &mut self.test] {
            for v in &mut set.features {
                *v = ((f64::from(*v) - mean) / std) as f32;
            }
        }
        Ok(stats)
    }
}

impl InMemoryDataset {
    /// Builds a data set from row-major `features` (`labels.len()` samples of
    /// `sample_shape` each) and class `labels`.
    ///
    /// # Errors
    /// [`DataError::InvalidData`] when `sample_shape` is empty or has a zero dimension,
    /// `num_classes` is 0, the feature count is not `labels.len()` times the sample size,
    /// a label is not below `num_classes`, or a feature is NaN or infinite. The message
    /// names the first bad sample.
    pub fn new(
        name: impl Into<String>,
        features: Vec<f32>,
        sample_shape: Vec<usize>,
        labels: Vec<usize>,
        num_classes: usize,
    ) -> Result<Self> {
        let name = name.into();
        let invalid = |reason: String| DataError::invalid(&name, reason);
        if sample_shape.is_empty() || sample_shape.contains(&0) {
            return Err(invalid(format!(
                "sample shape must have at least one dimension and no zero dimension, \
                 got {sample_shape:?}"
            )));
        }
        let sample_len = sample_shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| invalid(format!("sample shape {sample_shape:?} overflows")))?;
        if num_classes == 0 {
            return Err(invalid("num_classes must be at least 1, got 0".to_string()));
        }
        let expected = labels.len().checked_mul(sample_len);
        if expected != Some(features.len()) {
            return Err(invalid(format!(
                "{} features do not make {} samples of shape {sample_shape:?} ({} values each)",
                features.len(),
                labels.len(),
                sample_len
            )));
        }
        if let Some((i, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= num_classes) {
            return Err(invalid(format!(
                "label {label} of sample {i} is not below num_classes = {num_classes}"
            )));
        }
        if let Some(pos) = features.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!(
                "feature {} of sample {} is {} (features must be finite)",
                pos % sample_len,
                pos / sample_len,
                features[pos]
            )));
        }
        Ok(Self {
            name,
            features,
            sample_shape,
            sample_len,
            labels,
            num_classes,
        })
    }

    /// A new data set of the samples at `indices`, in that order (repeats allowed), with
    /// the same shape and number of classes; e.g. a small labelled fraction of a set.
    /// Its name is this one's with `" (subset of N)"` appended, N being `indices.len()`.
    ///
    /// # Errors
    /// [`DataError::IndexOutOfRange`] naming the first index past the end.
    pub fn subset(&self, indices: &[usize]) -> Result<Self> {
        let mut features = Vec::with_capacity(indices.len().saturating_mul(self.sample_len));
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let row = self.features(i).ok_or_else(|| self.out_of_range(i))?;
            features.extend_from_slice(row);
            labels.push(self.labels[i]);
        }
        Ok(Self {
            name: format!("{} (subset of {})", self.name, indices.len()),
            features,
            sample_shape: self.sample_shape.clone(),
            sample_len: self.sample_len,
            labels,
            num_classes: self.num_classes,
        })
    }

    /// All features, sample after sample, row-major within each sample.
    pub fn features_all(&self) -> &[f32] {
        &self.features
    }

    /// All labels, in sample order.
    pub fn labels_all(&self) -> &[usize] {
        &self.labels
    }

    /// The number of `f32` values in one sample (the product of the sample shape).
    pub fn sample_len(&self) -> usize {
        self.sample_len
    }

    fn out_of_range(&self, index: usize) -> DataError {
        DataError::IndexOutOfRange {
            dataset: self.name.clone(),
            index,
            len: self.labels.len(),
        }
    }
}

impl Dataset for InMemoryDataset {
    fn name(&self) -> &str {
        &self.name
    }
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }
    fn num_classes(&self) -> usize {
        self.num_classes
    }
    fn features(&self, index: usize) -> Option<&[f32]> {
        if index >= self.labels.len() {
            return None;
        }
        let start = index * self.sample_len;
        self.features.get(start..start + self.sample_len)
    }
    fn label(&self, index: usize) -> Option<usize> {
        self.labels.get(index).copied()
    }
}

/// The number of classes the loaders assign: the largest label in either part plus one,
/// and at least 2.
pub(crate) fn class_count(train: &[usize], test: &[usize]) -> usize {
    let max = train.iter().chain(test).copied().max().unwrap_or(0);
    max.saturating_add(1).max(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> InMemoryDataset {
        let features = (0..12).map(|v| v as f32).collect();
        InMemoryDataset::new("toy", features, vec![2, 2], vec![0, 1, 2], 3).unwrap()
    }

    fn message(r: Result<InMemoryDataset>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn accessors_return_rows_and_labels() {
        let d = toy();
        assert_eq!(d.len(), 3);
        assert!(!d.is_empty());
        assert_eq!(d.sample_shape(), &[2, 2]);
        assert_eq!(d.sample_len(), 4);
        assert_eq!(d.num_classes(), 3);
        assert_eq!(d.features(1), Some(&[4.0, 5.0, 6.0, 7.0][..]));
        assert_eq!(d.label(2), Some(2));
        assert_eq!(d.features(3), None);
        assert_eq!(d.label(3), None);
        assert_eq!(d.features_all().len(), 12);
        assert_eq!(d.labels_all(), &[0, 1, 2]);
    }

    #[test]
    fn new_rejects_length_mismatch() {
        let m = message(InMemoryDataset::new(
            "t",
            vec![0.0; 7],
            vec![2],
            vec![0; 4],
            2,
        ));
        assert!(m.contains("7 features") && m.contains("4 samples"), "{m}");
    }

    #[test]
    fn new_rejects_label_out_of_range_naming_index() {
        let m = message(InMemoryDataset::new(
            "t",
            vec![0.0; 3],
            vec![1],
            vec![0, 1, 5],
            2,
        ));
        assert!(m.contains("label 5 of sample 2"), "{m}");
    }

    #[test]
    fn new_rejects_non_finite_naming_sample() {
        let mut f = vec![0.0; 6];
        f[4] = f32::NAN;
        let m = message(InMemoryDataset::new("t", f, vec![2], vec![0; 3], 1));
        assert!(
            m.contains("feature 0 of sample 2") && m.contains("NaN"),
            "{m}"
        );
    }

    #[test]
    fn new_rejects_bad_shapes_and_zero_classes() {
        assert!(InMemoryDataset::new("t", vec![], vec![], vec![], 2).is_err());
        assert!(InMemoryDataset::new("t", vec![], vec![3, 0], vec![], 2).is_err());
        assert!(InMemoryDataset::new("t", vec![], vec![usize::MAX, 2], vec![], 2).is_err());
        assert!(InMemoryDataset::new("t", vec![], vec![1], vec![], 0).is_err());
        let empty = InMemoryDataset::new("t", vec![], vec![1], vec![], 2).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn subset_copies_rows_in_order() {
        let d = toy();
        let s = d.subset(&[2, 0, 2]).unwrap();
        assert_eq!(s.labels_all(), &[2, 0, 2]);
        assert_eq!(s.features(1), d.features(0));
        assert_eq!(s.features(2), d.features(2));
        assert_eq!(s.num_classes(), 3);
        assert!(s.name().starts_with("toy"));
        let m = d.subset(&[0, 3]).unwrap_err().to_string();
        assert!(m.contains("index 3") && m.contains("3 samples"), "{m}");
    }
}

#[cfg(test)]
mod standardize_tests {
    use super::*;

    fn set(values: Vec<f32>) -> InMemoryDataset {
        let n = values.len() / 2;
        InMemoryDataset::new("toy", values, vec![2], vec![0; n], 2).unwrap()
    }

    #[test]
    fn standardising_uses_the_training_split_alone() {
        let mut split = Split {
            train: set(vec![0.0, 1.0, 2.0, 3.0]),
            test: set(vec![10.0, 1.5]),
        };
        let s = split.standardize().unwrap();
        assert_eq!(s.mean, 1.5);
        assert!((s.std - 1.25f64.sqrt()).abs() < 1e-12);
        let train = split.train.features_all();
        let mean: f32 = train.iter().sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6);
        // The test split moves by the training split's statistics, not its own.
        assert!((split.test.features_all()[1] - 0.0).abs() < 1e-6);
        assert!(split.test.features_all()[0] > 7.0);
        let mut flat = Split {
            train: set(vec![1.0; 4]),
            test: set(vec![1.0; 2]),
        };
        let e = flat.standardize().unwrap_err().to_string();
        assert!(e.contains("standard deviation 0"), "{e}");
    }
}
