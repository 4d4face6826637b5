use locus_core::{Error, SeededRng};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::Result;

/// How [`hybrid_mask`] makes a mask.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MaskConfig {
    /// How many times the random bits are blurred with `[1/4, 1/2, 1/4]` along every
    /// spatial axis (default 6). More passes make larger regions.
    pub blur_passes: usize,
    /// The blurred image is thresholded at this value (default 0.5, the paper's).
    pub threshold: f64,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            blur_passes: 6,
            threshold: 0.5,
        }
    }
}

impl MaskConfig {
    /// Checks the settings.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for zero blur passes (the mask would be random bits,
    /// not regions) or a threshold outside `(0, 1)`.
    pub fn check(&self) -> Result<()> {
        if self.blur_passes == 0 {
            return Err(
                Error::invalid("blur passes of a hybrid-image mask", "should be >= 1", 0).into(),
            );
        }
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(Error::invalid(
                "threshold of a hybrid-image mask",
                "should be in (0, 1)",
                self.threshold,
            )
            .into());
        }
        Ok(())
    }
}

/// A mask of fairly large regions of ones and zeros for one sample, made as in Hinton
/// (2022, "A simple unsupervised example of FF"): random bits, blurred again and again with
/// the filter `[1/4, 1/2, 1/4]` along the horizontal and vertical axes, then thresholded
/// at 0.5. [`hybrid`] mixes two images through it into a negative sample whose short-range
/// structure is real but whose long-range shape is not.
///
/// The sample shape may be `[length]` (blurred along its one axis), `[height, width]`, or
/// `[channels, height, width]` (one spatial mask shared by every channel). Borders
/// repeat their edge value, so the blur does not darken them. Values are 0 or 1.
///
/// # Errors
/// [`Error::InvalidParameter`] for a bad [`MaskConfig`]; [`Error::Shape`] for a sample
/// shape of rank 0 or above 3, or with a zero axis.
pub fn hybrid_mask(
    sample_shape: &[usize],
    config: &MaskConfig,
    rng: &mut SeededRng,
) -> Result<Vec<f32>> {
    config.check()?;
    let (channels, height, width) = match *sample_shape {
        [w] => (1, 1, w),
        [h, w] => (1, h, w),
        [c, h, w] => (c, h, w),
        _ => (0, 0, 0),
    };
    if channels * height * width == 0 {
        return Err(Error::shape(
            "hybrid-image mask",
            "a sample shape [length], [height, width] or [channels, height, width]",
            sample_shape,
        )
        .into());
    }
    let mut field: Vec<f64> = (0..height * width)
        .map(|_| if rng.random::<bool>() { 1.0 } else { 0.0 })
        .collect();
    let mut scratch = vec![0.0; field.len()];
    for _ in 0..config.blur_passes {
        // Horizontal, then vertical (a single row has no vertical axis to blur).
        blur(&field, &mut scratch, height, width, 1, width);
        std::mem::swap(&mut field, &mut scratch);
        if height > 1 {
            blur(&field, &mut scratch, width, height, width, 1);
            std::mem::swap(&mut field, &mut scratch);
        }
    }
    let plane: Vec<f32> = field
        .iter()
        .map(|&v| if v > config.threshold { 1.0 } else { 0.0 })
        .collect();
    Ok(plane.repeat(channels))
}

/// One pass of `[1/4, 1/2, 1/4]` along lines of `len` values `step` apart; `lines` lines,
/// each starting `stride` after the previous. Edges repeat their value.
fn blur(src: &[f64], dst: &mut [f64], lines: usize, len: usize, step: usize, stride: usize) {
    for line in 0..lines {
        let at = |i: usize| src[line * stride + i * step];
        for i in 0..len {
            let left = at(i.saturating_sub(1));
            let right = at((i + 1).min(len - 1));
            dst[line * stride + i * step] = 0.25 * left + 0.5 * at(i) + 0.25 * right;
        }
    }
}

/// The hybrid of two samples through a mask: `a ∘ mask + b ∘ (1 − mask)`, value by value.
///
/// # Errors
/// [`Error::Shape`] when the three slices differ in length.
pub fn hybrid(a: &[f32], b: &[f32], mask: &[f32]) -> Result<Vec<f32>> {
    if a.len() != b.len() || a.len() != mask.len() {
        return Err(Error::shape(
            "hybrid image: the two samples and the mask",
            format!("the same length ({} for the first sample)", a.len()),
            &[b.len(), mask.len()],
        )
        .into());
    }
    Ok(a.iter()
        .zip(b)
        .zip(mask)
        .map(|((&x, &y), &m)| x * m + y * (1.0 - m))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::seeded_rng;

    #[test]
    fn the_blur_keeps_a_constant_image_and_averages_neighbours() {
        let mut dst = vec![0.0; 3];
        blur(&[1.0, 1.0, 1.0], &mut dst, 1, 3, 1, 3);
        assert_eq!(dst, vec![1.0, 1.0, 1.0]);
        blur(&[0.0, 1.0, 0.0], &mut dst, 1, 3, 1, 3);
        assert_eq!(dst, vec![0.25, 0.5, 0.25]);
        // Vertical: a 3×1 column.
        blur(&[0.0, 4.0, 0.0], &mut dst, 1, 3, 1, 1);
        assert_eq!(dst, vec![1.0, 2.0, 1.0]);
    }

    #[test]
    fn channels_share_one_spatial_mask() {
        let m = hybrid_mask(&[3, 5, 4], &MaskConfig::default(), &mut seeded_rng(1)).unwrap();
        assert_eq!(m.len(), 60);
        assert_eq!(m[..20], m[20..40]);
        assert_eq!(m[..20], m[40..]);
    }

    #[test]
    fn bad_settings_and_shapes_are_named() {
        let mut rng = seeded_rng(0);
        for shape in [&[][..], &[2, 3, 4, 5][..], &[0, 3][..]] {
            assert!(hybrid_mask(shape, &MaskConfig::default(), &mut rng).is_err());
        }
        let none = MaskConfig {
            blur_passes: 0,
            ..MaskConfig::default()
        };
        let e = hybrid_mask(&[4], &none, &mut rng).unwrap_err().to_string();
        assert!(e.contains("blur passes"), "{e}");
        let bad = MaskConfig {
            threshold: 1.0,
            ..MaskConfig::default()
        };
        assert!(hybrid_mask(&[4], &bad, &mut rng).is_err());
        assert!(hybrid(&[1.0], &[1.0, 2.0], &[1.0]).is_err());
    }
}
