//! A data set's description without its samples.

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};

/// What a data set is (its name, length, sample shape and number of classes) without
/// any of its samples: all a process needs that builds the network and counts the
/// batches but never reads a sample, such as an MPI rank whose stages get their inputs
/// from another rank. It implements [`Dataset`] with no sample to give:
/// [`Dataset::features`] and [`Dataset::label`] are `None` for every index, so
/// [`gather`](crate::gather) fails with an error naming the data set instead of
/// returning anything made up.
///
/// It serialises (serde) so that the process that read the files can send it to the
/// others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetShape {
    name: String,
    len: usize,
    sample_shape: Vec<usize>,
    num_classes: usize,
}

impl DatasetShape {
    /// The description of `data`.
    pub fn of(data: &dyn Dataset) -> Self {
        DatasetShape {
            name: data.name().to_string(),
            len: data.len(),
            sample_shape: data.sample_shape().to_vec(),
            num_classes: data.num_classes(),
        }
    }

    /// Checks a description that came from elsewhere (another process, a file): a
    /// sample shape with at least one dimension and no zero one, and at least one class.
    ///
    /// # Errors
    /// [`DataError::InvalidData`] naming the data set and what is wrong.
    pub fn check(self) -> Result<Self> {
        if self.sample_shape.is_empty() || self.sample_shape.contains(&0) {
            return Err(DataError::invalid(
                &self.name,
                format!(
                    "sample shape must have at least one dimension and no zero dimension, \
                     got {:?}",
                    self.sample_shape
                ),
            ));
        }
        if self.num_classes == 0 {
            return Err(DataError::invalid(
                &self.name,
                "num_classes must be at least 1, got 0",
            ));
        }
        Ok(self)
    }
}

impl Dataset for DatasetShape {
    fn name(&self) -> &str {
        &self.name
    }

    fn len(&self) -> usize {
        self.len
    }

    fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Always `None`: the samples are elsewhere.
    fn features(&self, _index: usize) -> Option<&[f32]> {
        None
    }

    /// Always `None`: the samples are elsewhere.
    fn label(&self, _index: usize) -> Option<usize> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{gather, InMemoryDataset};

    fn toy() -> InMemoryDataset {
        InMemoryDataset::new("toy train", vec![0.5; 12], vec![2, 2], vec![0, 2, 1], 3).unwrap()
    }

    #[test]
    fn describes_its_data_set_and_survives_json() {
        let shape = DatasetShape::of(&toy());
        assert_eq!(
            (
                shape.name(),
                shape.len(),
                shape.sample_shape(),
                shape.num_classes()
            ),
            ("toy train", 3, &[2, 2][..], 3)
        );
        let text = serde_json::to_string(&shape).unwrap();
        let back: DatasetShape = serde_json::from_str(&text).unwrap();
        assert_eq!(back.check().unwrap(), shape);
    }

    #[test]
    fn gives_no_sample_and_gather_says_so() {
        let shape = DatasetShape::of(&toy());
        assert!(shape.features(0).is_none() && shape.label(0).is_none());
        let err = gather::<f32>(&shape, &[0]).unwrap_err().to_string();
        assert!(
            err.contains("toy train") && err.contains("holds no samples"),
            "{err}"
        );
        // An empty batch needs no sample.
        assert_eq!(
            gather::<f32>(&shape, &[]).unwrap().inputs.shape(),
            &[0, 2, 2]
        );
    }

    #[test]
    fn check_refuses_a_bad_description_by_name() {
        let bad = |text: &str| {
            serde_json::from_str::<DatasetShape>(text)
                .unwrap()
                .check()
                .unwrap_err()
                .to_string()
        };
        let err = bad(r#"{"name":"x","len":3,"sample_shape":[2,0],"num_classes":3}"#);
        assert!(err.contains("x") && err.contains("[2, 0]"), "{err}");
        let err = bad(r#"{"name":"y","len":3,"sample_shape":[4],"num_classes":0}"#);
        assert!(err.contains("y") && err.contains("num_classes"), "{err}");
    }
}
