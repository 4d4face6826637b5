//! Weight initialisations for dense and convolutional layers.
//!
//! `fan_in` and `fan_out` are the number of inputs and outputs of one unit (for a dense
//! layer, its input and output widths).

use ndarray::ArrayD;
use rand::RngExt;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use crate::{Error, Float, Result, SeededRng};

/// How to draw a weight tensor's initial values.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum Init {
    /// All zeros (e.g. direct feedback alignment can start from zero weights).
    Zeros,
    /// Uniform on `[-a, a]`.
    Uniform(f64),
    /// Normal with mean 0 and the given standard deviation.
    Normal(f64),
    /// Glorot & Bengio (2010), uniform on `±sqrt(6 / (fan_in + fan_out))`; suits tanh and
    /// sigmoid.
    XavierUniform,
    /// He et al. (2015), normal with std `sqrt(2 / fan_in)`; suits ReLU.
    HeNormal,
    /// LeCun (1998), normal with std `sqrt(1 / fan_in)`.
    LeCunNormal,
    /// PyTorch's `nn.Linear` default: uniform on `±1/sqrt(fan_in)`. The default here too,
    /// so runs compare with PyTorch code out of the box.
    #[default]
    TorchDefault,
}

impl Init {
    /// Checks the parameters of `Uniform` and `Normal`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a negative or non-finite scale.
    pub fn check(&self) -> Result<()> {
        match *self {
            Init::Uniform(a) if !(a.is_finite() && a >= 0.0) => Err(Error::invalid(
                "uniform initialisation bound",
                "should be finite and >= 0",
                a,
            )),
            Init::Normal(s) if !(s.is_finite() && s >= 0.0) => Err(Error::invalid(
                "normal initialisation std",
                "should be finite and >= 0",
                s,
            )),
            _ => Ok(()),
        }
    }

    /// Draws a tensor of `shape` for a unit with the given fans.
    ///
    /// # Errors
    /// As [`Init::check`].
    pub fn sample<F: Float>(
        &self,
        shape: &[usize],
        fan_in: usize,
        fan_out: usize,
        rng: &mut SeededRng,
    ) -> Result<ArrayD<F>> {
        self.check()?;
        let fan_in = fan_in.max(1) as f64;
        let fan_out = fan_out.max(1) as f64;
        let uniform = |a: f64, rng: &mut SeededRng| -> Result<ArrayD<F>> {
            if a == 0.0 {
                return Ok(ArrayD::zeros(shape));
            }
            let dist = Uniform::new_inclusive(-a, a)
                .map_err(|e| Error::invalid("uniform initialisation", &e.to_string(), a))?;
            Ok(ArrayD::from_shape_simple_fn(shape, || {
                F::cast(dist.sample(rng))
            }))
        };
        let normal = |s: f64, rng: &mut SeededRng| -> Result<ArrayD<F>> {
            let dist = Normal::new(0.0, s)
                .map_err(|e| Error::invalid("normal initialisation", &e.to_string(), s))?;
            Ok(ArrayD::from_shape_simple_fn(shape, || {
                F::cast(dist.sample(rng))
            }))
        };
        match *self {
            Init::Zeros => Ok(ArrayD::zeros(shape)),
            Init::Uniform(a) => uniform(a, rng),
            Init::Normal(s) => normal(s, rng),
            Init::XavierUniform => uniform((6.0 / (fan_in + fan_out)).sqrt(), rng),
            Init::HeNormal => normal((2.0 / fan_in).sqrt(), rng),
            Init::LeCunNormal => normal((1.0 / fan_in).sqrt(), rng),
            Init::TorchDefault => uniform(1.0 / fan_in.sqrt(), rng),
        }
    }
}

/// Draws a `u64` seed from a generator, to derive independent child generators.
pub fn child_seed(rng: &mut SeededRng) -> u64 {
    rng.random()
}
