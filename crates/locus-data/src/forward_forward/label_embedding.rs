use locus_core::{Error, Float, Tensor};
use serde::{Deserialize, Serialize};

use crate::Result;

/// Where a [`LabelEmbedding`] puts the one-hot label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum LabelPlacement {
    /// Over the first `classes` values of each (flattened) sample, as in the paper: the
    /// first pixels of an MNIST image's top row are always black, so nothing is lost.
    /// The sample keeps its shape.
    #[default]
    FirstPixels,
    /// Before the sample: each sample becomes `[classes + values]`, flattened. For data
    /// whose every value matters (MNIST-1D).
    Prepend,
}

/// Writes a class label into every sample of a batch, as supervised Forward-Forward does
/// (Hinton 2022, "A simple supervised example of FF"): the network then judges whether an
/// image *and a label* go together, and predicts by trying every label.
///
/// The label is one-hot, `1` for the class and `0` elsewhere; the *neutral* label (for the
/// softmax read-out) is `1 / classes` everywhere.
///
/// # Shapes
/// inputs `[batch, …]` → `[batch, …]` (first pixels) or `[batch, classes + values]`
/// (prepend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelEmbedding {
    /// Where the label goes.
    pub placement: LabelPlacement,
    /// Number of classes (the length of the one-hot code).
    pub classes: usize,
}

impl LabelEmbedding {
    /// An embedding of `classes` labels at `placement`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for fewer than 2 classes (no label could be wrong).
    pub fn new(placement: LabelPlacement, classes: usize) -> Result<Self> {
        if classes < 2 {
            return Err(Error::invalid(
                "number of classes of a label embedding",
                "should be >= 2",
                classes,
            )
            .into());
        }
        Ok(LabelEmbedding { placement, classes })
    }

    /// The shape of one embedded sample, given the data's sample shape.
    pub fn sample_shape(&self, data_shape: &[usize]) -> Vec<usize> {
        match self.placement {
            LabelPlacement::FirstPixels => data_shape.to_vec(),
            LabelPlacement::Prepend => vec![self.classes + data_shape.iter().product::<usize>()],
        }
    }

    /// Every sample with its own label (`labels[row]`).
    ///
    /// # Errors
    /// [`Error::Shape`] when the batch has no batch axis, a label count other than the
    /// batch, or (first pixels) fewer values per sample than classes;
    /// [`Error::LabelOutOfRange`] for a label `>= classes`.
    pub fn embed<F: Float>(&self, inputs: &Tensor<F>, labels: &[usize]) -> Result<Tensor<F>> {
        let batch = self.batch_of(inputs)?;
        if labels.len() != batch {
            return Err(Error::shape(
                "label embedding: labels",
                format!("[{batch}] (one per sample)"),
                &[labels.len()],
            )
            .into());
        }
        if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= self.classes) {
            return Err(Error::LabelOutOfRange {
                context: "label embedding".into(),
                row,
                label,
                num_classes: self.classes,
            }
            .into());
        }
        self.write(inputs, |row, code| {
            code.fill(F::zero());
            code[labels[row]] = F::one();
        })
    }

    /// Every sample with the same label.
    ///
    /// # Errors
    /// As [`LabelEmbedding::embed`].
    pub fn embed_all<F: Float>(&self, inputs: &Tensor<F>, label: usize) -> Result<Tensor<F>> {
        let batch = self.batch_of(inputs)?;
        self.embed(inputs, &vec![label; batch])
    }

    /// Every sample with the neutral label, `1 / classes` in every position.
    ///
    /// # Errors
    /// [`Error::Shape`] as in [`LabelEmbedding::embed`].
    pub fn embed_neutral<F: Float>(&self, inputs: &Tensor<F>) -> Result<Tensor<F>> {
        self.batch_of(inputs)?;
        let value = F::cast(1.0 / self.classes as f64);
        self.write(inputs, |_, code| code.fill(value))
    }

    fn batch_of<F: Float>(&self, inputs: &Tensor<F>) -> Result<usize> {
        let shape = inputs.shape();
        let batch = shape
            .first()
            .copied()
            .ok_or_else(|| Error::shape("label embedding: inputs", "[batch, …]", shape))?;
        let values: usize = shape[1..].iter().product();
        if self.placement == LabelPlacement::FirstPixels
            && (shape.len() < 2 || values < self.classes)
        {
            return Err(Error::shape(
                "label embedding over the first pixels: inputs",
                format!(
                    "[batch, …] with at least {} values per sample",
                    self.classes
                ),
                shape,
            )
            .into());
        }
        Ok(batch)
    }

    /// The embedded batch, `write(row, code)` filling each sample's label code.
    fn write<F: Float>(
        &self,
        inputs: &Tensor<F>,
        mut write: impl FnMut(usize, &mut [F]),
    ) -> Result<Tensor<F>> {
        let shape = inputs.shape();
        let batch = shape[0];
        let values: usize = shape[1..].iter().product();
        let source = inputs.as_standard_layout();
        let source = source.as_slice().expect("standard layout is contiguous");
        let classes = self.classes;
        match self.placement {
            LabelPlacement::FirstPixels => {
                let mut out = source.to_vec();
                for (row, sample) in out.chunks_mut(values.max(1)).enumerate().take(batch) {
                    write(row, &mut sample[..classes]);
                }
                Ok(Tensor::from_shape_vec(shape.to_vec(), out).expect("same size"))
            }
            LabelPlacement::Prepend => {
                let width = classes + values;
                let mut out = vec![F::zero(); batch * width];
                for row in 0..batch {
                    let sample = &mut out[row * width..(row + 1) * width];
                    write(row, &mut sample[..classes]);
                    sample[classes..].copy_from_slice(&source[row * values..(row + 1) * values]);
                }
                Ok(Tensor::from_shape_vec(vec![batch, width], out).expect("batch × width"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> Tensor<f32> {
        Tensor::from_shape_fn(vec![2, 3, 4], |i| {
            (10 * i[0] + 4 * i[1] + i[2]) as f32 + 0.5
        })
    }

    #[test]
    fn first_pixels_are_overwritten_by_the_one_hot_label() {
        let e = LabelEmbedding::new(LabelPlacement::FirstPixels, 3).unwrap();
        let x = images();
        let y = e.embed(&x, &[2, 0]).unwrap();
        assert_eq!(y.shape(), x.shape());
        assert_eq!(y[[0, 0, 0]], 0.0);
        assert_eq!(y[[0, 0, 2]], 1.0);
        assert_eq!(y[[1, 0, 0]], 1.0);
        assert_eq!(y[[1, 0, 1]], 0.0);
        // Everything after the code is untouched.
        assert_eq!(y[[0, 0, 3]], x[[0, 0, 3]]);
        assert_eq!(y[[1, 2, 3]], x[[1, 2, 3]]);
        let n = e.embed_neutral(&x).unwrap();
        assert!((n[[1, 0, 1]] - 1.0 / 3.0).abs() < 1e-7);
        assert_eq!(n[[1, 1, 0]], x[[1, 1, 0]]);
        assert_eq!(e.embed_all(&x, 1).unwrap()[[0, 0, 1]], 1.0);
    }

    #[test]
    fn prepending_keeps_every_value() {
        let e = LabelEmbedding::new(LabelPlacement::Prepend, 2).unwrap();
        let x = images();
        let y = e.embed(&x, &[1, 0]).unwrap();
        assert_eq!(y.shape(), &[2, 14]);
        assert_eq!(e.sample_shape(&[3, 4]), vec![14]);
        assert_eq!(&y.as_slice().unwrap()[..3], &[0.0, 1.0, x[[0, 0, 0]]]);
        assert_eq!(y[[1, 13]], x[[1, 2, 3]]);
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(LabelEmbedding::new(LabelPlacement::FirstPixels, 1).is_err());
        let e = LabelEmbedding::new(LabelPlacement::FirstPixels, 3).unwrap();
        let x = images();
        let err = e.embed(&x, &[0, 3]).unwrap_err().to_string();
        assert!(err.contains("label 3") && err.contains("row 1"), "{err}");
        assert!(e.embed(&x, &[0]).is_err());
        let tiny = Tensor::<f32>::zeros(vec![2, 2]);
        let err = e.embed(&tiny, &[0, 1]).unwrap_err().to_string();
        assert!(err.contains("at least 3 values"), "{err}");
        assert!(e.embed_neutral(&Tensor::<f32>::zeros(vec![])).is_err());
    }
}
