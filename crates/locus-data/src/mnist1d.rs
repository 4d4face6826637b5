//! MNIST-1D, generated in memory: the default data set, needing no files.
//!
//! MNIST-1D (Greydanus & Steinbach, 2020; S. Greydanus, "Scaling down deep learning",
//! arXiv:2011.14439, with the reference generator `mnist1d` by S. Greydanus and
//! P. Steinbach) turns ten hand-drawn 1-D digit templates into 40-point signals that are
//! hard enough to separate models (logistic regression about 32% test accuracy, a CNN
//! about 94%) yet train in seconds on a CPU.
//!
//! [`generate`] follows the reference `make_dataset` / `transform` recipe step by step:
//!
//! 1. each template is standardised, shifted to start at 0 and divided by 6, and `1e-8`
//!    is added so the template stays distinguishable from padding;
//! 2. it is padded with a random number of zeros in `padding[0]..=padding[1]`;
//! 3. linearly interpolated to `template_len + padding[1]` points (72 by default);
//! 4. scaled by `1 + scale_coeff * (u - 0.5)`, `u` uniform in `[0, 1)`;
//! 5. rotated right by a uniform `0..max_translation` steps;
//! 6. every exactly-zero (padding) point is replaced by correlated noise:
//!    `corr_noise_scale` times i.i.d. normals smoothed by a Gaussian filter of standard
//!    deviation 2 (radius 8, reflecting at the ends, as `scipy.ndimage.gaussian_filter`);
//! 7. i.i.d. normal noise of standard deviation `iid_noise_scale` is added everywhere;
//! 8. sheared: `shear_scale * (u - 0.5)` times a ramp from -0.5 to 0.5 is subtracted;
//! 9. linearly interpolated to `final_seq_length` points (40).
//!
//! `num_samples / 10` samples are made per class, the samples are shuffled (and, with
//! `shuffle_seq`, the time axis permuted), the whole set is centred and scaled to
//! standard deviation 1, and the first `floor(n * train_split)` samples become the
//! training set.
//!
//! The defaults of [`Mnist1dConfig`] are those of the reference `make_dataset`:
//! 5000 samples, train split 0.8 (4000/1000), template length 12, padding `[36, 60]`,
//! scale coefficient 0.4, maximum translation 48, correlated noise scale 0.25, i.i.d.
//! noise scale 0.02, shear scale 0.75, no sequence shuffle, final length 40, seed 42.
//!
//! All randomness comes from one ChaCha8 stream ([`locus_core::seeded_rng`]), drawn in
//! the same order as the reference draws from NumPy. The generator is deterministic per
//! seed, but because NumPy's generator differs, samples do not match the published
//! `.npy` files bit for bit: only their distribution does.

mod templates;

use locus_core::{seeded_rng, Error, SeededRng};
use rand::seq::SliceRandom;
use rand::RngExt;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::{DataError, InMemoryDataset, Result, Split};
use templates::{templates, TEMPLATE_POINTS};

/// Added to the templates so that their zero-valued ends are not taken for padding.
const EPS: f64 = 1e-8;
/// The standard deviation (in dilated samples) of the correlated-noise smoothing.
const CORR_NOISE_SIGMA: f64 = 2.0;
/// Number of classes (digits).
const NUM_CLASSES: usize = 10;
/// Upper bound on the dilated and final signal lengths.
const MAX_LEN: usize = 1 << 20;
/// Upper bound on `num_samples * final_seq_length`, so a configuration cannot ask for an
/// unbounded allocation.
const MAX_VALUES: usize = 1 << 27;

/// The parameters of the MNIST-1D generator; see the [module docs](self) for the recipe.
///
/// The defaults reproduce the reference data set's distribution. Unknown fields are
/// rejected when deserialising; missing ones take their default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mnist1dConfig {
    /// Samples to make in total, rounded down to a multiple of 10 (default 5000).
    pub num_samples: usize,
    /// Fraction of samples in the training set, in `(0, 1)` (default 0.8).
    pub train_split: f64,
    /// Template length the dilation is based on: templates are stretched to
    /// `template_len + padding[1]` points (default 12, the built-in templates' length).
    pub template_len: usize,
    /// Inclusive range of zeros appended to a template before dilation (default `[36, 60]`).
    pub padding: [usize; 2],
    /// Amplitude scaling spread: the factor is uniform in `1 ± scale_coeff / 2`
    /// (default 0.4).
    pub scale_coeff: f64,
    /// Translations are uniform in `0..max_translation` steps (default 48).
    pub max_translation: usize,
    /// Standard deviation of the noise, before smoothing, that fills the padding
    /// (default 0.25).
    pub corr_noise_scale: f64,
    /// Standard deviation of the i.i.d. noise added to every point (default 0.02).
    pub iid_noise_scale: f64,
    /// Shear spread: the slope is uniform in `± shear_scale / 2` (default 0.75).
    pub shear_scale: f64,
    /// Whether to apply one fixed random permutation to the time axis (default false).
    pub shuffle_seq: bool,
    /// Points per output signal (default 40).
    pub final_seq_length: usize,
    /// Seed of the random stream (default 42).
    pub seed: u64,
}

impl Default for Mnist1dConfig {
    fn default() -> Self {
        Self {
            num_samples: 5000,
            train_split: 0.8,
            template_len: 12,
            padding: [36, 60],
            scale_coeff: 0.4,
            max_translation: 48,
            corr_noise_scale: 0.25,
            iid_noise_scale: 2e-2,
            shear_scale: 0.75,
            shuffle_seq: false,
            final_seq_length: 40,
            seed: 42,
        }
    }
}

impl Mnist1dConfig {
    /// Checks every parameter before any work is done.
    ///
    /// # Errors
    /// [`DataError::Core`] wrapping an invalid-parameter error that names the field, what
    /// a valid value is, and the value found.
    pub fn check(&self) -> Result<()> {
        let bad = |name: &str, reason: &str, value: &dyn std::fmt::Display| -> Result<()> {
            Err(Error::invalid(&format!("MNIST-1D {name}"), reason, value).into())
        };
        let n = self.samples();
        if n == 0 || self.num_samples > MAX_VALUES {
            return bad(
                "num_samples",
                &format!("should be in 10..={MAX_VALUES} (at least one sample per class)"),
                &self.num_samples,
            );
        }
        let train = self.train_len();
        if !(self.train_split > 0.0 && self.train_split < 1.0) || train == 0 || train == n {
            return bad(
                "train_split",
                &format!("should leave both the train and the test set non-empty for {n} samples"),
                &self.train_split,
            );
        }
        let [low, high] = self.padding;
        if low > high {
            return bad(
                "padding",
                "should be [low, high] with low <= high",
                &format!("[{low}, {high}]"),
            );
        }
        let dilated = self.template_len.saturating_add(high);
        if !(2..=MAX_LEN).contains(&dilated) {
            return bad(
                "template_len + padding[1]",
                &format!("should be in 2..={MAX_LEN}"),
                &dilated,
            );
        }
        if !(1..=dilated).contains(&self.max_translation) {
            return bad(
                "max_translation",
                &format!("should be in 1..={dilated} (template_len + padding[1])"),
                &self.max_translation,
            );
        }
        if !(self.scale_coeff >= 0.0 && self.scale_coeff < 2.0) {
            return bad(
                "scale_coeff",
                "should be in [0, 2) so the scale factor stays positive",
                &self.scale_coeff,
            );
        }
        for (name, value) in [
            ("corr_noise_scale", self.corr_noise_scale),
            ("iid_noise_scale", self.iid_noise_scale),
            ("shear_scale", self.shear_scale),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return bad(name, "should be finite and >= 0", &value);
            }
        }
        let len = self.final_seq_length;
        if !(2..=MAX_LEN).contains(&len) || n.saturating_mul(len) > MAX_VALUES {
            return bad(
                "final_seq_length",
                &format!(
                    "should be in 2..={MAX_LEN} with num_samples * final_seq_length \
                     <= {MAX_VALUES}"
                ),
                &len,
            );
        }
        Ok(())
    }

    /// The number of samples actually made: `num_samples` rounded down to a multiple of 10.
    fn samples(&self) -> usize {
        self.num_samples / NUM_CLASSES * NUM_CLASSES
    }

    fn train_len(&self) -> usize {
        (self.samples() as f64 * self.train_split).floor() as usize
    }
}

/// Generates MNIST-1D: `floor(num_samples / 10) * 10` signals of `final_seq_length`
/// points, split into train and test (4000 and 1000 of `[40]` by default), 10 classes,
/// centred with standard deviation 1 over the whole set.
///
/// The data sets are named `"mnist1d train"` and `"mnist1d test"`.
///
/// # Errors
/// What [`Mnist1dConfig::check`] reports.
pub fn generate(config: &Mnist1dConfig) -> Result<Split> {
    config.check()?;
    let n = config.samples();
    let len = config.final_seq_length;
    let mut rng = seeded_rng(config.seed);
    let kernel = gaussian_kernel(CORR_NOISE_SIGMA);
    let mut signals = Vec::with_capacity(n * len);
    let mut labels = Vec::with_capacity(n);
    for (label, template) in templates().iter().enumerate() {
        for _ in 0..n / NUM_CLASSES {
            signals.extend(transform(template, config, &kernel, &mut rng));
            labels.push(label);
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut time: Vec<usize> = (0..len).collect();
    if config.shuffle_seq {
        time.shuffle(&mut rng);
    }
    let count = (n * len) as f64;
    let mean = signals.iter().sum::<f64>() / count;
    let std = (signals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / count).sqrt();
    if !(std.is_finite() && std > 0.0) {
        return Err(DataError::invalid(
            "mnist1d",
            format!("the generated signals have standard deviation {std}; cannot normalise"),
        ));
    }
    let features: Vec<f32> = order
        .iter()
        .flat_map(|&i| time.iter().map(move |&t| i * len + t))
        .map(|k| ((signals[k] - mean) / std) as f32)
        .collect();
    let labels: Vec<usize> = order.iter().map(|&i| labels[i]).collect();
    let split = config.train_len();
    let (train_x, test_x) = features.split_at(split * len);
    let (train_y, test_y) = labels.split_at(split);
    let make = |name: &str, x: &[f32], y: &[usize]| {
        InMemoryDataset::new(name, x.to_vec(), vec![len], y.to_vec(), NUM_CLASSES)
    };
    Ok(Split {
        train: make("mnist1d train", train_x, train_y)?,
        test: make("mnist1d test", test_x, test_y)?,
    })
}

/// One sample from one template: steps 1 to 9 of the module docs.
fn transform(
    template: &[f64; TEMPLATE_POINTS],
    config: &Mnist1dConfig,
    kernel: &[f64],
    rng: &mut SeededRng,
) -> Vec<f64> {
    let [low, high] = config.padding;
    let pad = rng.random_range(low..=high);
    let mut padded: Vec<f64> = template.iter().map(|v| v + EPS).collect();
    padded.resize(TEMPLATE_POINTS + pad, 0.0);
    let dilated = config.template_len + high;
    let mut x = interpolate(&padded, dilated);

    let scale = 1.0 + config.scale_coeff * (rng.random::<f64>() - 0.5);
    x.iter_mut().for_each(|v| *v *= scale);
    x.rotate_right(rng.random_range(0..config.max_translation));

    let noise: Vec<f64> = (0..dilated)
        .map(|_| config.corr_noise_scale * rng.sample::<f64, _>(StandardNormal))
        .collect();
    let smooth = gaussian_filter(&noise, kernel);
    for (v, s) in x.iter_mut().zip(smooth) {
        if *v == 0.0 {
            *v = s;
        }
    }
    for v in x.iter_mut() {
        *v += config.iid_noise_scale * rng.sample::<f64, _>(StandardNormal);
    }

    let shear = config.shear_scale * (rng.random::<f64>() - 0.5);
    let last = (dilated - 1) as f64;
    for (i, v) in x.iter_mut().enumerate() {
        *v -= shear * (i as f64 / last - 0.5);
    }
    interpolate(&x, config.final_seq_length)
}

/// Resamples `x` (at least 2 points, taken as evenly spaced on `[0, 1]`) at `n >= 2`
/// evenly spaced points by linear interpolation.
fn interpolate(x: &[f64], n: usize) -> Vec<f64> {
    let last = x.len() - 1;
    (0..n)
        .map(|j| {
            let u = j as f64 / (n - 1) as f64 * last as f64;
            let i = (u.floor() as usize).min(last - 1);
            let frac = u - i as f64;
            x[i] + (x[i + 1] - x[i]) * frac
        })
        .collect()
}

/// Normalised Gaussian weights over `-radius..=radius`, radius = round(4 sigma), as
/// SciPy's default truncation.
fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as i64;
    let w: Vec<f64> = (-radius..=radius)
        .map(|k| (-0.5 * (k * k) as f64 / (sigma * sigma)).exp())
        .collect();
    let total: f64 = w.iter().sum();
    w.into_iter().map(|v| v / total).collect()
}

/// Convolves `x` with the symmetric `kernel`, reflecting at the ends
/// (`d c b a | a b c d | d c b a`, SciPy's `mode="reflect"`).
fn gaussian_filter(x: &[f64], kernel: &[f64]) -> Vec<f64> {
    let n = x.len() as i64;
    let radius = (kernel.len() / 2) as i64;
    let reflect = |i: i64| {
        let m = i.rem_euclid(2 * n);
        (if m < n { m } else { 2 * n - 1 - m }) as usize
    };
    (0..n)
        .map(|i| {
            kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * x[reflect(i + k as i64 - radius)])
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolate_keeps_ends_and_is_linear() {
        let y = interpolate(&[0.0, 1.0, 0.0], 5);
        assert_eq!(y, vec![0.0, 0.5, 1.0, 0.5, 0.0]);
        let z = interpolate(&[2.0, 4.0], 3);
        assert_eq!(z, vec![2.0, 3.0, 4.0]);
        // Exact zeros between zeros stay exactly zero: step 6 relies on it.
        let p = interpolate(&[1.0, 0.0, 0.0, 0.0, 0.0], 9);
        assert!(p[3..].iter().all(|&v| v == 0.0), "{p:?}");
    }

    #[test]
    fn gaussian_filter_matches_scipy_reflect() {
        let k = gaussian_kernel(2.0);
        assert_eq!(k.len(), 17);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // A constant stays constant under a normalised kernel with reflection.
        let c = gaussian_filter(&[3.0; 20], &k);
        assert!(c.iter().all(|v| (v - 3.0).abs() < 1e-12));
        // An impulse at the left edge: index -1 reflects onto index 0, so the output there
        // is (g(0) + g(1)) / sum of g(k) for |k| <= 8, with g(k) = exp(-k^2 / 8).
        let y = gaussian_filter(&[1.0, 0.0, 0.0, 0.0, 0.0, 0.0], &k);
        let g = |k: i32| (-f64::from(k * k) / 8.0).exp();
        let expected = (g(0) + g(1)) / (-8..=8).map(g).sum::<f64>();
        assert!((y[0] - expected).abs() < 1e-12, "{} vs {expected}", y[0]);
        // Index 1 sees index 0 at offset -1, and again at offset -2 (which reflects onto 0).
        assert!((y[1] - (g(1) + g(2)) / (-8..=8).map(g).sum::<f64>()).abs() < 1e-12);
        // Shorter signals than the kernel fold more than once without panicking.
        assert_eq!(gaussian_filter(&[1.0, 2.0], &k).len(), 2);
    }

    #[test]
    fn config_defaults_round_trip_through_serde() {
        let c = Mnist1dConfig::default();
        c.check().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Mnist1dConfig>(&json).unwrap(), c);
        let partial: Mnist1dConfig = serde_json::from_str(r#"{"seed": 7}"#).unwrap();
        assert_eq!(partial.seed, 7);
        assert_eq!(partial.num_samples, 5000);
        assert!(serde_json::from_str::<Mnist1dConfig>(r#"{"sede": 7}"#).is_err());
    }

    #[test]
    fn check_names_the_bad_field() {
        type Edit = fn(&mut Mnist1dConfig);
        let cases: [(&str, Edit); 9] = [
            ("num_samples", |c| c.num_samples = 9),
            ("train_split", |c| c.train_split = 1.0),
            ("train_split", |c| c.train_split = f64::NAN),
            ("padding", |c| c.padding = [10, 5]),
            ("max_translation", |c| c.max_translation = 0),
            ("max_translation", |c| c.max_translation = 73),
            ("scale_coeff", |c| c.scale_coeff = 2.0),
            ("shear_scale", |c| c.shear_scale = -1.0),
            ("final_seq_length", |c| c.final_seq_length = 1),
        ];
        for (field, edit) in cases {
            let mut c = Mnist1dConfig::default();
            edit(&mut c);
            let e = c.check().unwrap_err().to_string();
            assert!(e.contains(field), "{field}: {e}");
            assert!(generate(&c).is_err());
        }
        let huge = Mnist1dConfig {
            num_samples: usize::MAX,
            ..Mnist1dConfig::default()
        };
        assert!(huge.check().is_err());
    }
}
