//! The copy and repeat-copy tasks of Graves, Wayne & Danihelka (2014, "Neural Turing
//! machines", sects. 4.1 and 4.2), as the DNI paper trains recurrent networks on them
//! (Jaderberg et al. 2016, "Decoupled neural interfaces using synthetic gradients",
//! sect. 3.1): generated on the fly, seeded, batch after batch.
//!
//! **Copy** with sequence length `N`: the network reads `N` random binary vectors of
//! `bits` bits (8 in both papers), then a step with only the delimiter channel set, then
//! `N` blank steps during which it must write the `N` vectors back in order.
//!
//! ```text
//! step      0 .. N-1        N            N+1 .. 2N
//! input     v_0 .. v_{N-1}  delimiter    0
//! target    —               —            v_0 .. v_{N-1}
//! ```
//!
//! **Repeat copy** with length `N` and a repeat count `R` drawn per sequence uniformly
//! from `1..=max_repeats`: the delimiter step also carries `R / max_repeats` on an extra
//! input channel, and the network must write the sequence `R` times and then set a stop
//! bit (an extra target channel) on the next step. Every sequence of a batch has
//! `N + 1 + max_repeats·N + 1` steps; those past a shorter sequence's stop bit are blank
//! and masked out. Graves et al. normalise the repeat count to mean 0 and variance 1;
//! dividing by the largest count keeps the channel in `(0, 1]` like the others.
//!
//! The mask is 1 exactly at the steps whose target counts in the loss: the `N` output
//! steps of a copy, the `R·N + 1` output steps (the stop step included) of a repeat copy.

use locus_core::{Error, Float, SeededRng};
use ndarray::{Array2, Array3};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::Result;

/// Upper bound on `time · batch · width` of one generated batch, so that a configuration
/// cannot ask for an unbounded allocation.
const MAX_VALUES: usize = 1 << 28;

/// Which of the two tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CopyTaskKind {
    /// Write the sequence back once.
    Copy,
    /// Write it back `R` times, `R` uniform in `1..=max_repeats` per sequence, then set a
    /// stop bit.
    RepeatCopy {
        /// The largest repeat count (>= 1).
        max_repeats: usize,
    },
}

/// A copy or repeat-copy task: its kind and the width of the vectors to copy. Build one
/// with [`CopyTask::copy`] or [`CopyTask::repeat_copy`], then draw batches with
/// [`CopyTask::batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyTask {
    /// Copy or repeat copy.
    pub kind: CopyTaskKind,
    /// Bits per vector (8 in the papers).
    pub bits: usize,
}

/// A batch of sequences, time first: what a recurrent network reads, what it must write,
/// and where its writing counts.
///
/// # Shapes
/// `inputs` `[time, batch, input_width]`, `targets` `[time, batch, target_width]`,
/// `mask` `[time, batch]` (1 where the target counts, 0 elsewhere).
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceBatch<F> {
    /// The inputs at every step.
    pub inputs: Array3<F>,
    /// The targets at every step (0 where the mask is 0).
    pub targets: Array3<F>,
    /// 1 at the steps whose targets count, 0 elsewhere.
    pub mask: Array2<F>,
}

impl<F: Float> SequenceBatch<F> {
    /// Number of time steps.
    pub fn steps(&self) -> usize {
        self.inputs.shape()[0]
    }

    /// Number of sequences.
    pub fn batch(&self) -> usize {
        self.inputs.shape()[1]
    }

    /// Number of (step, sequence) pairs whose target counts.
    pub fn output_steps(&self) -> usize {
        self.mask.iter().filter(|&&m| m != F::zero()).count()
    }
}

impl CopyTask {
    /// The copy task on vectors of `bits` bits.
    pub fn copy(bits: usize) -> Self {
        CopyTask {
            kind: CopyTaskKind::Copy,
            bits,
        }
    }

    /// The repeat-copy task on vectors of `bits` bits, with repeat counts up to
    /// `max_repeats`.
    pub fn repeat_copy(bits: usize, max_repeats: usize) -> Self {
        CopyTask {
            kind: CopyTaskKind::RepeatCopy { max_repeats },
            bits,
        }
    }

    /// A short name for reports: `"copy"` or `"repeat-copy"`.
    pub fn name(&self) -> &'static str {
        match self.kind {
            CopyTaskKind::Copy => "copy",
            CopyTaskKind::RepeatCopy { .. } => "repeat-copy",
        }
    }

    /// Checks the widths.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (as [`DataError::Core`](crate::DataError::Core)) for
    /// zero bits or a zero largest repeat count.
    pub fn check(&self) -> Result<()> {
        if self.bits == 0 {
            return Err(Error::invalid("copy task bits per vector", "should be >= 1", 0).into());
        }
        if self.kind == (CopyTaskKind::RepeatCopy { max_repeats: 0 }) {
            return Err(
                Error::invalid("repeat-copy largest repeat count", "should be >= 1", 0).into(),
            );
        }
        Ok(())
    }

    /// Input channels: the bits and the delimiter, plus the repeat count for repeat copy.
    pub fn input_width(&self) -> usize {
        match self.kind {
            CopyTaskKind::Copy => self.bits + 1,
            CopyTaskKind::RepeatCopy { .. } => self.bits + 2,
        }
    }

    /// Target channels: the bits, plus the stop bit for repeat copy.
    pub fn target_width(&self) -> usize {
        match self.kind {
            CopyTaskKind::Copy => self.bits,
            CopyTaskKind::RepeatCopy { .. } => self.bits + 1,
        }
    }

    /// Steps of a batch of sequences of `length` vectors: `2·length + 1` for copy,
    /// `length + 1 + max_repeats·length + 1` for repeat copy.
    pub fn steps(&self, length: usize) -> usize {
        match self.kind {
            CopyTaskKind::Copy => length.saturating_mul(2).saturating_add(1),
            CopyTaskKind::RepeatCopy { max_repeats } => max_repeats
                .saturating_mul(length)
                .saturating_add(length)
                .saturating_add(2),
        }
    }

    /// Draws `batch` sequences of `length` random vectors (each bit 0 or 1 with
    /// probability ½) from `rng`. The same generator state gives the same batch.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (as [`DataError::Core`](crate::DataError::Core)) for a
    /// zero length or batch, a bad task (see [`CopyTask::check`]), or a batch larger than
    /// 2²⁸ values.
    pub fn batch<F: Float>(
        &self,
        length: usize,
        batch: usize,
        rng: &mut SeededRng,
    ) -> Result<SequenceBatch<F>> {
        self.check()?;
        if length == 0 {
            return Err(Error::invalid("copy task sequence length", "should be >= 1", 0).into());
        }
        if batch == 0 {
            return Err(Error::invalid("copy task batch size", "should be >= 1", 0).into());
        }
        let steps = self.steps(length);
        let values = steps
            .checked_mul(batch)
            .and_then(|v| v.checked_mul(self.input_width().max(self.target_width())));
        if !matches!(values, Some(v) if v <= MAX_VALUES) {
            return Err(Error::invalid(
                "copy task batch (steps × batch × channels)",
                &format!("should be at most {MAX_VALUES} values"),
                format!("{steps} × {batch} × {}", self.input_width()),
            )
            .into());
        }
        let bits = self.bits;
        let delimiter = bits;
        let mut inputs = Array3::zeros((steps, batch, self.input_width()));
        let mut targets = Array3::zeros((steps, batch, self.target_width()));
        let mut mask = Array2::zeros((steps, batch));
        for b in 0..batch {
            let vectors: Vec<Vec<F>> = (0..length)
                .map(|_| {
                    (0..bits)
                        .map(|_| {
                            if rng.random::<bool>() {
                                F::one()
                            } else {
                                F::zero()
                            }
                        })
                        .collect()
                })
                .collect();
            for (t, v) in vectors.iter().enumerate() {
                for (k, &bit) in v.iter().enumerate() {
                    inputs[[t, b, k]] = bit;
                }
            }
            inputs[[length, b, delimiter]] = F::one();
            let repeats = match self.kind {
                CopyTaskKind::Copy => 1,
                CopyTaskKind::RepeatCopy { max_repeats } => {
                    let r = rng.random_range(1..=max_repeats);
                    inputs[[length, b, bits + 1]] = F::cast(r as f64 / max_repeats as f64);
                    r
                }
            };
            let first_output = length + 1;
            for r in 0..repeats {
                for (t, v) in vectors.iter().enumerate() {
                    let step = first_output + r * length + t;
                    for (k, &bit) in v.iter().enumerate() {
                        targets[[step, b, k]] = bit;
                    }
                    mask[[step, b]] = F::one();
                }
            }
            if let CopyTaskKind::RepeatCopy { .. } = self.kind {
                let stop = first_output + repeats * length;
                targets[[stop, b, bits]] = F::one();
                mask[[stop, b]] = F::one();
            }
        }
        Ok(SequenceBatch {
            inputs,
            targets,
            mask,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::seeded_rng;
    use ndarray::Axis;

    /// Channels `channels` of step `t`, row `row`.
    fn at<F: Copy>(
        a: &Array3<F>,
        t: usize,
        row: usize,
        channels: std::ops::Range<usize>,
    ) -> Vec<F> {
        channels.map(|k| a[[t, row, k]]).collect()
    }

    #[test]
    fn copy_sequences_have_the_documented_layout() {
        let task = CopyTask::copy(8);
        let n = 5;
        let b: SequenceBatch<f32> = task.batch(n, 4, &mut seeded_rng(1)).unwrap();
        assert_eq!(b.inputs.shape(), &[11, 4, 9]);
        assert_eq!(b.targets.shape(), &[11, 4, 8]);
        assert_eq!(b.mask.shape(), &[11, 4]);
        assert_eq!(b.output_steps(), 4 * n);
        assert!(b.inputs.iter().all(|&v| v == 0.0 || v == 1.0));
        for row in 0..4 {
            // Bits only during the first n steps, the delimiter only at step n.
            for t in 0..11 {
                let delimiter = b.inputs[[t, row, 8]];
                assert_eq!(delimiter, if t == n { 1.0 } else { 0.0 }, "t={t}");
                if t >= n {
                    assert!(
                        at(&b.inputs, t, row, 0..8).iter().all(|&v| v == 0.0),
                        "t={t}"
                    );
                }
                let counts = b.mask[[t, row]];
                assert_eq!(counts, if t > n { 1.0 } else { 0.0 }, "t={t}");
            }
            // The targets are the inputs, n + 1 steps later.
            for t in 0..n {
                assert_eq!(
                    at(&b.targets, t + n + 1, row, 0..8),
                    at(&b.inputs, t, row, 0..8)
                );
            }
            assert!((0..=n).all(|t| at(&b.targets, t, row, 0..8).iter().all(|&v| v == 0.0)));
        }
        // Bits are random: about half are set.
        let ones: f32 = (0..n)
            .flat_map(|t| (0..4).flat_map(move |row| (0..8).map(move |k| (t, row, k))))
            .map(|(t, row, k)| b.inputs[[t, row, k]])
            .sum();
        assert!(ones > 40.0 && ones < 120.0, "{ones} of 160 bits set");
    }

    #[test]
    fn repeat_copy_repeats_and_stops() {
        let task = CopyTask::repeat_copy(4, 3);
        let n = 3;
        let b: SequenceBatch<f64> = task.batch(n, 32, &mut seeded_rng(2)).unwrap();
        assert_eq!(b.steps(), n + 2 + 3 * n);
        assert_eq!(b.inputs.shape()[2], 6);
        assert_eq!(b.targets.shape()[2], 5);
        let mut seen = [false; 4];
        for row in 0..32 {
            let r_channel = b.inputs[[n, row, 5]];
            let r = (r_channel * 3.0).round() as usize;
            assert!((1..=3).contains(&r), "repeat channel {r_channel}");
            assert!((r_channel * 3.0 - r as f64).abs() < 1e-12);
            seen[r] = true;
            assert_eq!(b.inputs[[n, row, 4]], 1.0, "delimiter");
            let stop = n + 1 + r * n;
            for t in 0..b.steps() {
                let expect_mask = if t > n && t <= stop { 1.0 } else { 0.0 };
                assert_eq!(b.mask[[t, row]], expect_mask, "row {row} t={t}");
                let stop_bit = b.targets[[t, row, 4]];
                assert_eq!(stop_bit, if t == stop { 1.0 } else { 0.0 });
            }
            for rep in 0..r {
                for t in 0..n {
                    assert_eq!(
                        at(&b.targets, n + 1 + rep * n + t, row, 0..4),
                        at(&b.inputs, t, row, 0..4)
                    );
                }
            }
            // The repeat channel is set only on the delimiter step.
            let r_sum: f64 = (0..b.steps()).map(|t| b.inputs[[t, row, 5]]).sum();
            assert_eq!(r_sum, r_channel);
        }
        assert!(seen[1] && seen[2] && seen[3], "every repeat count drawn");
        let per_row: Vec<f64> = b.mask.sum_axis(Axis(0)).to_vec();
        assert!(per_row.iter().all(|&m| m >= (n + 1) as f64));
    }

    #[test]
    fn batches_are_reproducible_per_seed() {
        let task = CopyTask::repeat_copy(8, 2);
        let a: SequenceBatch<f32> = task.batch(4, 8, &mut seeded_rng(5)).unwrap();
        let b: SequenceBatch<f32> = task.batch(4, 8, &mut seeded_rng(5)).unwrap();
        let c: SequenceBatch<f32> = task.batch(4, 8, &mut seeded_rng(6)).unwrap();
        assert_eq!(a, b);
        assert_ne!(a.inputs, c.inputs);
        // Two draws from one generator differ.
        let mut rng = seeded_rng(5);
        let first: SequenceBatch<f32> = task.batch(4, 8, &mut rng).unwrap();
        let second: SequenceBatch<f32> = task.batch(4, 8, &mut rng).unwrap();
        assert_ne!(first.inputs, second.inputs);
    }

    #[test]
    fn bad_settings_are_named() {
        let mut rng = seeded_rng(0);
        let e = CopyTask::copy(8).batch::<f32>(0, 4, &mut rng).unwrap_err();
        assert!(e.to_string().contains("sequence length"), "{e}");
        let e = CopyTask::copy(8).batch::<f32>(3, 0, &mut rng).unwrap_err();
        assert!(e.to_string().contains("batch size"), "{e}");
        let e = CopyTask::copy(0).batch::<f32>(3, 2, &mut rng).unwrap_err();
        assert!(e.to_string().contains("bits"), "{e}");
        let e = CopyTask::repeat_copy(8, 0)
            .batch::<f32>(3, 2, &mut rng)
            .unwrap_err();
        assert!(e.to_string().contains("repeat count"), "{e}");
        let e = CopyTask::copy(8)
            .batch::<f32>(usize::MAX / 4, 2, &mut rng)
            .unwrap_err();
        assert!(e.to_string().contains("at most"), "{e}");
    }
}
