use locus_core::{Error, Float, Result, SeededRng, Tensor};
use rand::RngExt;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

/// Input corruption of a denoising autoencoder (Vincent et al. 2008, §2.3; 2010, §3.3):
/// the stage's module encodes a corrupted copy `x̃` of its input while its
/// [`Reconstruction`](crate::Reconstruction) objective reconstructs the clean `x`.
///
/// An objective sees the stage input and output only after the module has run, so it
/// cannot corrupt what the module encodes, and a [`Module`](locus_core::Module) has no
/// training mode in which noise could be switched on (its `infer` must equal its
/// `forward`). Corruption is therefore applied by the scheduler, which runs
/// `forward(x̃)` and passes the clean `x` as the context's input:
/// `locus_sched::Greedy` does this for every stage it pretrains. Evaluation and the
/// features handed to the next stage use the clean input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum Corruption {
    /// No corruption: a plain autoencoder.
    #[default]
    None,
    /// Masking noise: each input value is set to 0 with probability `p` in `[0, 1)`
    /// (Vincent et al. 2010, "MN").
    Masking(f64),
    /// Additive isotropic Gaussian noise of standard deviation `σ ≥ 0`
    /// (Vincent et al. 2010, "GS").
    Gaussian(f64),
}

impl Corruption {
    /// Checks the probability or standard deviation.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a masking probability outside `[0, 1)` or a
    /// negative or non-finite deviation.
    pub fn check(&self) -> Result<()> {
        match *self {
            Corruption::Masking(p) if !(0.0..1.0).contains(&p) => Err(Error::invalid(
                "masking-noise probability",
                "should be in [0, 1)",
                p,
            )),
            Corruption::Gaussian(s) if !(s.is_finite() && s >= 0.0) => Err(Error::invalid(
                "Gaussian-noise standard deviation",
                "should be finite and >= 0",
                s,
            )),
            _ => Ok(()),
        }
    }

    /// Whether this leaves inputs untouched.
    pub fn is_none(&self) -> bool {
        matches!(self, Corruption::None)
            || matches!(*self, Corruption::Masking(p) if p == 0.0)
            || matches!(*self, Corruption::Gaussian(s) if s == 0.0)
    }

    /// A corrupted copy of `x`, drawn from `rng` (so a seeded generator gives the same
    /// corruption every run).
    ///
    /// # Errors
    /// As [`Corruption::check`].
    pub fn apply<F: Float>(&self, x: &Tensor<F>, rng: &mut SeededRng) -> Result<Tensor<F>> {
        self.check()?;
        Ok(match *self {
            Corruption::None => x.clone(),
            Corruption::Masking(p) => x.mapv(|v| {
                if rng.random::<f64>() < p {
                    F::zero()
                } else {
                    v
                }
            }),
            Corruption::Gaussian(sigma) => {
                let normal = Normal::new(0.0, sigma)
                    .map_err(|e| Error::invalid("Gaussian noise", &e.to_string(), sigma))?;
                x.mapv(|v| v + F::cast(normal.sample(rng)))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::seeded_rng;

    #[test]
    fn masking_zeroes_about_the_requested_fraction() {
        let x = Tensor::<f64>::ones(vec![100, 50]);
        let y = Corruption::Masking(0.3)
            .apply(&x, &mut seeded_rng(1))
            .unwrap();
        let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / 5000.0;
        assert!((zeros - 0.3).abs() < 0.03, "{zeros}");
        assert!(y.iter().all(|&v| v == 0.0 || v == 1.0));
        let again = Corruption::Masking(0.3)
            .apply(&x, &mut seeded_rng(1))
            .unwrap();
        assert_eq!(y, again);
    }

    #[test]
    fn gaussian_noise_has_the_requested_spread() {
        let x = Tensor::<f64>::zeros(vec![200, 50]);
        let y = Corruption::Gaussian(0.5)
            .apply(&x, &mut seeded_rng(2))
            .unwrap();
        let var = y.iter().map(|v| v * v).sum::<f64>() / 10_000.0;
        assert!((var.sqrt() - 0.5).abs() < 0.02, "{}", var.sqrt());
        assert_eq!(Corruption::None.apply(&x, &mut seeded_rng(0)).unwrap(), x);
    }

    #[test]
    fn bad_settings_are_named() {
        let e = Corruption::Masking(1.0).check().unwrap_err();
        assert!(e.to_string().contains("masking"), "{e}");
        let e = Corruption::Gaussian(f64::NAN).check().unwrap_err();
        assert!(e.to_string().contains("Gaussian"), "{e}");
        assert!(Corruption::Gaussian(-1.0)
            .apply(&Tensor::<f64>::zeros(vec![1, 1]), &mut seeded_rng(0))
            .is_err());
    }
}
