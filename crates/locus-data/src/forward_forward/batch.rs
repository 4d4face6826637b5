use locus_core::{Error, Float, SeededRng, Tensor};
use ndarray::{concatenate, Axis, IxDyn};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::{hybrid, hybrid_mask, wrong_labels, LabelEmbedding, MaskConfig};
use crate::{gather, Batch, DataError, Dataset, Result};

/// How Forward-Forward makes its negative data (Hinton 2022).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum NegativeData {
    /// Supervised: a positive sample carries its true label, written in by the
    /// embedding; its negative twin is the same sample with a wrong label
    /// ([`wrong_label`](super::wrong_label)).
    WrongLabel(LabelEmbedding),
    /// Unsupervised: a positive sample is the sample itself; its negative is a hybrid of
    /// it and another sample of the data set through a fresh [`hybrid_mask`].
    Hybrid(MaskConfig),
}

impl NegativeData {
    /// `"wrong-label"` or `"hybrid"`.
    pub fn name(&self) -> &'static str {
        match self {
            NegativeData::WrongLabel(_) => "wrong-label",
            NegativeData::Hybrid(_) => "hybrid",
        }
    }

    /// The shape of one sample the network sees, given the data's sample shape.
    pub fn sample_shape(&self, data_shape: &[usize]) -> Vec<usize> {
        match self {
            NegativeData::WrongLabel(embedding) => embedding.sample_shape(data_shape),
            NegativeData::Hybrid(_) => data_shape.to_vec(),
        }
    }

    /// A batch as the network sees it when no label is known (for the softmax read-out):
    /// with the neutral label (`1 / classes` everywhere) for supervised data, unchanged
    /// for unsupervised data.
    ///
    /// # Errors
    /// The label embedding's shape errors.
    pub fn neutral<F: Float>(&self, inputs: &Tensor<F>) -> Result<Tensor<F>> {
        match self {
            NegativeData::WrongLabel(embedding) => embedding.embed_neutral(inputs),
            NegativeData::Hybrid(_) => Ok(inputs.clone()),
        }
    }
}

/// The batch a Forward-Forward stack trains on for the samples at `indices`: their `n`
/// positive versions in rows `0..n`, then their `n` negative versions in rows `n..2n`
/// (the layout `locus_objectives::ForwardForward` expects). The labels are the ones written into each row (wrong ones for supervised
/// negatives); a hybrid negative is labelled with the class of the sample it was made
/// from, which nothing trains on.
///
/// Everything random (wrong labels, partners, masks) comes from `rng`, so a seeded
/// generator reproduces the batch.
///
/// # Errors
/// [`DataError::IndexOutOfRange`] for an index past the end; the label embedding's
/// errors; for hybrids, an error when the data set has fewer than two samples (a
/// negative needs a different partner) or a sample shape [`hybrid_mask`] cannot mask.
pub fn positive_negative_batch<F: Float>(
    data: &dyn Dataset,
    indices: &[usize],
    negatives: &NegativeData,
    rng: &mut SeededRng,
) -> Result<Batch<F>> {
    let batch: Batch<F> = gather(data, indices)?;
    let (positives, negatives, negative_labels) = match negatives {
        NegativeData::WrongLabel(embedding) => {
            let wrong = wrong_labels(&batch.labels, embedding.classes, rng)?;
            (
                embedding.embed(&batch.inputs, &batch.labels)?,
                embedding.embed(&batch.inputs, &wrong)?,
                wrong,
            )
        }
        NegativeData::Hybrid(mask) => {
            let hybrids = hybrids::<F>(data, indices, mask, rng)?;
            (batch.inputs, hybrids, batch.labels.clone())
        }
    };
    let inputs = concatenate(Axis(0), &[positives.view(), negatives.view()])
        .expect("positives and negatives have the same sample shape");
    let mut labels = batch.labels;
    labels.extend(negative_labels);
    Ok(Batch { inputs, labels })
}

/// One hybrid per index, each with a partner drawn among the other samples.
fn hybrids<F: Float>(
    data: &dyn Dataset,
    indices: &[usize],
    mask: &MaskConfig,
    rng: &mut SeededRng,
) -> Result<Tensor<F>> {
    let len = data.len();
    if len < 2 {
        return Err(DataError::invalid(
            data.name(),
            format!("hybrid negatives need at least 2 samples to mix, the data set has {len}"),
        ));
    }
    let shape = data.sample_shape().to_vec();
    let mut values = Vec::with_capacity(indices.len() * shape.iter().product::<usize>());
    for &i in indices {
        let own = data.features(i).ok_or(DataError::IndexOutOfRange {
            dataset: data.name().to_string(),
            index: i,
            len,
        })?;
        let drawn = rng.random_range(0..len - 1);
        let partner = if drawn >= i { drawn + 1 } else { drawn };
        let other = data.features(partner).expect("partner is below len");
        let m = hybrid_mask(&shape, mask, rng)?;
        values.extend(
            hybrid(own, other, &m)?
                .into_iter()
                .map(|v| F::cast(f64::from(v))),
        );
    }
    let mut batch_shape = vec![indices.len()];
    batch_shape.extend(&shape);
    Tensor::from_shape_vec(IxDyn(&batch_shape), values).map_err(|e| {
        Error::shape(
            format!("hybrid negatives of {}: {e}", data.name()),
            format!("{batch_shape:?}"),
            &shape,
        )
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward_forward::LabelPlacement;
    use crate::InMemoryDataset;
    use locus_core::seeded_rng;

    fn toy() -> InMemoryDataset {
        let features = (0..5 * 12).map(|v| v as f32).collect();
        InMemoryDataset::new("toy", features, vec![3, 4], vec![0, 1, 2, 1, 0], 3).unwrap()
    }

    #[test]
    fn supervised_batches_put_positives_first_with_their_twins_after() {
        let data = toy();
        let embedding = LabelEmbedding::new(LabelPlacement::FirstPixels, 3).unwrap();
        let b: Batch<f32> = positive_negative_batch(
            &data,
            &[4, 1, 2],
            &NegativeData::WrongLabel(embedding),
            &mut seeded_rng(0),
        )
        .unwrap();
        assert_eq!(b.inputs.shape(), &[6, 3, 4]);
        assert_eq!(&b.labels[..3], &[0, 1, 2]);
        for row in 0..3 {
            let (pos, neg) = (row, row + 3);
            assert_ne!(
                b.labels[pos], b.labels[neg],
                "a negative with its true label"
            );
            assert_eq!(b.inputs[[pos, 0, b.labels[pos]]], 1.0);
            assert_eq!(b.inputs[[neg, 0, b.labels[neg]]], 1.0);
            // The rest of the image is the same sample.
            assert_eq!(b.inputs[[pos, 2, 3]], b.inputs[[neg, 2, 3]]);
        }
    }

    #[test]
    fn hybrid_negatives_mix_each_sample_with_another() {
        let data = toy();
        let b: Batch<f64> = positive_negative_batch(
            &data,
            &[0, 3],
            &NegativeData::Hybrid(MaskConfig::default()),
            &mut seeded_rng(2),
        )
        .unwrap();
        assert_eq!(b.inputs.shape(), &[4, 3, 4]);
        assert_eq!(b.labels, vec![0, 1, 0, 1]);
        // Positives are the samples themselves.
        assert_eq!(b.inputs[[1, 0, 0]], 36.0);
        // Every value of a hybrid comes from the sample itself or from one other sample.
        for (row, own) in [(2, 0usize), (3, 3)] {
            let mut partners = std::collections::BTreeSet::new();
            for k in 0..12 {
                let v = b.inputs[[row, k / 4, k % 4]];
                let from = (v as usize - k) / 12;
                assert_eq!((v as usize - k) % 12, 0);
                if from != own {
                    partners.insert(from);
                }
            }
            assert!(partners.len() <= 1, "{partners:?}");
        }
        let one = InMemoryDataset::new("one", vec![0.0; 12], vec![3, 4], vec![0], 1).unwrap();
        let e = positive_negative_batch::<f32>(
            &one,
            &[0],
            &NegativeData::Hybrid(MaskConfig::default()),
            &mut seeded_rng(0),
        )
        .unwrap_err();
        assert!(e.to_string().contains("at least 2 samples"), "{e}");
    }

    #[test]
    fn the_same_seed_gives_the_same_batch() {
        let data = toy();
        for negatives in [
            NegativeData::Hybrid(MaskConfig::default()),
            NegativeData::WrongLabel(LabelEmbedding::new(LabelPlacement::Prepend, 3).unwrap()),
        ] {
            let make = |seed| -> Batch<f32> {
                positive_negative_batch(&data, &[0, 1, 2, 3, 4], &negatives, &mut seeded_rng(seed))
                    .unwrap()
            };
            assert_eq!(make(7), make(7));
        }
    }
}
