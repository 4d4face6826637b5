use locus_core::{Float, Tensor};
use serde::{Deserialize, Serialize};

/// The goodness of a layer's activity in Forward-Forward (Hinton 2022, eq. 1): a number per
/// sample that the layer learns to make high for positive (real) data and low for negative
/// data.
///
/// Hinton's paper uses the sum of the squared activities, `Σⱼ yⱼ²`; the widely used PyTorch
/// port uses their mean, `Σⱼ yⱼ² / width`, which keeps the same threshold meaningful for
/// layers of any width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Goodness {
    /// `Σⱼ yⱼ²` (the paper's).
    #[default]
    SumOfSquares,
    /// `Σⱼ yⱼ² / width`.
    MeanOfSquares,
}

impl Goodness {
    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Goodness::SumOfSquares => "sum-of-squares",
            Goodness::MeanOfSquares => "mean-of-squares",
        }
    }

    /// The factor `c` in `goodness = c · Σⱼ yⱼ²` for a layer `width` wide.
    pub fn scale(&self, width: usize) -> f64 {
        match self {
            Goodness::SumOfSquares => 1.0,
            Goodness::MeanOfSquares => 1.0 / width.max(1) as f64,
        }
    }

    /// The goodness of every sample of a batch `[batch, …]` (each sample flattened).
    pub fn per_sample<F: Float>(&self, activity: &Tensor<F>) -> Vec<F> {
        let batch = activity.shape().first().copied().unwrap_or(0);
        if batch == 0 {
            return Vec::new();
        }
        let width = activity.len() / batch;
        let scale = F::cast(self.scale(width));
        let values = activity.as_standard_layout();
        values
            .as_slice()
            .expect("standard layout is contiguous")
            .chunks(width.max(1))
            .map(|row| row.iter().fold(F::zero(), |s, &v| s + v * v) * scale)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn goodness_of_known_rows() {
        let h = arr2(&[[1.0, 2.0], [0.0, -3.0]]).into_dyn();
        assert_eq!(Goodness::SumOfSquares.per_sample::<f64>(&h), vec![5.0, 9.0]);
        assert_eq!(
            Goodness::MeanOfSquares.per_sample::<f64>(&h),
            vec![2.5, 4.5]
        );
        let empty = Tensor::<f64>::zeros(vec![0, 3]);
        assert!(Goodness::SumOfSquares.per_sample(&empty).is_empty());
    }
}
