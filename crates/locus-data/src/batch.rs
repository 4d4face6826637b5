use locus_core::{scratch, seeded_rng, Float, Tensor};
use rand::seq::SliceRandom;

use crate::{DataError, Dataset, Result};

/// A mini-batch ready for a model: stacked inputs and their class labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch<F> {
    /// The samples, shape `[n, ..sample_shape]`.
    pub inputs: Tensor<F>,
    /// The class of each row of `inputs`.
    pub labels: Vec<usize>,
}

/// Stacks the samples at `indices` (in that order) into a [`Batch`], converting to `F`.
///
/// # Errors
/// [`DataError::IndexOutOfRange`] naming the first index past the end of `data`;
/// [`DataError::InvalidData`] when a sample's length does not match the data set's
/// sample shape (a broken [`Dataset`] implementation).
pub fn gather<F: Float>(data: &dyn Dataset, indices: &[usize]) -> Result<Batch<F>> {
    let shape = data.sample_shape();
    let sample_len = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            DataError::invalid(data.name(), format!("sample shape {shape:?} overflows"))
        })?;
    let out_of_range = |index| DataError::IndexOutOfRange {
        dataset: data.name().to_string(),
        index,
        len: data.len(),
    };
    // Below its length, a data set without the sample holds none in this process (a
    // [`DatasetShape`](crate::DatasetShape)).
    let missing = |index| {
        if index < data.len() {
            DataError::invalid(
                data.name(),
                format!(
                    "holds no samples in this process (sample {index} of {} was asked for)",
                    data.len()
                ),
            )
        } else {
            out_of_range(index)
        }
    };
    let mut batch_shape = Vec::with_capacity(shape.len() + 1);
    batch_shape.push(indices.len());
    batch_shape.extend_from_slice(shape);
    if indices.len().checked_mul(sample_len).is_none() {
        return Err(DataError::invalid(
            data.name(),
            format!(
                "a batch of {} samples of shape {shape:?} overflows",
                indices.len()
            ),
        ));
    }
    // Recycled storage (the scheduler gives each batch back when it is done with it);
    // every element is written below before anything reads it.
    let mut inputs = scratch::tensor_for_overwrite::<F>(&batch_shape);
    let flat = inputs.as_slice_mut().expect("standard layout");
    let mut labels = Vec::with_capacity(indices.len());
    for (n, &i) in indices.iter().enumerate() {
        let row = data.features(i).ok_or_else(|| missing(i))?;
        let label = data.label(i).ok_or_else(|| missing(i))?;
        if row.len() != sample_len {
            return Err(DataError::invalid(
                data.name(),
                format!(
                    "sample {i} has {} features, but the sample shape {shape:?} needs {sample_len}",
                    row.len()
                ),
            ));
        }
        let out = &mut flat[n * sample_len..(n + 1) * sample_len];
        for (o, &v) in out.iter_mut().zip(row) {
            *o = F::cast(f64::from(v));
        }
        labels.push(label);
    }
    Ok(Batch { inputs, labels })
}

/// The sample indices of one epoch: a seeded shuffle of `0..len` cut into batches of
/// `batch_size` (the last one smaller when `batch_size` does not divide `len`).
///
/// The same `(seed, epoch)` always gives the same order; each epoch draws from its own
/// ChaCha8 stream (the seed picks the key, the epoch the stream), so epochs differ.
///
/// # Errors
/// [`DataError::Core`] (invalid parameter) when `batch_size` is 0.
pub fn epoch_batches(
    len: usize,
    batch_size: usize,
    seed: u64,
    epoch: u64,
) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 {
        return Err(locus_core::Error::invalid("batch size", "should be at least 1", 0).into());
    }
    let mut order: Vec<usize> = (0..len).collect();
    let mut rng = seeded_rng(seed);
    rng.set_stream(epoch);
    order.shuffle(&mut rng);
    Ok(order.chunks(batch_size).map(<[usize]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryDataset;

    fn toy() -> InMemoryDataset {
        let features = (0..12).map(|v| v as f32).collect();
        InMemoryDataset::new("toy", features, vec![2, 2], vec![0, 1, 2], 3).unwrap()
    }

    #[test]
    fn gather_stacks_rows_in_index_order() {
        let d = toy();
        let b: Batch<f64> = gather(&d, &[2, 0]).unwrap();
        assert_eq!(b.inputs.shape(), &[2, 2, 2]);
        assert_eq!(b.labels, vec![2, 0]);
        assert_eq!(b.inputs[[0, 0, 0]], 8.0);
        assert_eq!(b.inputs[[1, 1, 1]], 3.0);
        let empty: Batch<f32> = gather(&d, &[]).unwrap();
        assert_eq!(empty.inputs.shape(), &[0, 2, 2]);
    }

    #[test]
    fn gather_names_the_bad_index() {
        let m = gather::<f32>(&toy(), &[0, 7]).unwrap_err().to_string();
        assert!(m.contains("index 7") && m.contains("toy"), "{m}");
    }

    #[test]
    fn epoch_batches_is_a_seeded_partition() {
        let b = epoch_batches(10, 3, 5, 0).unwrap();
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 3, 1]);
        let mut all: Vec<usize> = b.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(b, epoch_batches(10, 3, 5, 0).unwrap());
        let flat = |seed, epoch| epoch_batches(100, 100, seed, epoch).unwrap().concat();
        assert_ne!(flat(5, 0), flat(5, 1));
        assert_ne!(flat(5, 0), flat(6, 0));
        assert_ne!(flat(5, 0), (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn epoch_batches_edge_cases() {
        assert!(epoch_batches(10, 0, 1, 0).is_err());
        assert!(epoch_batches(0, 4, 1, 0).unwrap().is_empty());
        assert_eq!(epoch_batches(3, 8, 1, 0).unwrap().len(), 1);
    }
}
