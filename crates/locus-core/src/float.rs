use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

use ndarray::{LinalgScalar, ScalarOperand};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The floating-point element type of every tensor in locus: `f32` or `f64`.
///
/// One trait gathers the num-traits and ndarray bounds the numerical code needs, so public
/// signatures read `F: Float` instead of a list of bounds. It is sealed: only `f32` and
/// `f64` implement it.
pub trait Float:
    num_traits::Float
    + num_traits::FromPrimitive
    + LinalgScalar
    + ScalarOperand
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + serde::Serialize
    + sealed::Sealed
    + crate::matmul::Product
    + crate::kernels::Kernels
    + crate::scratch::Pooled
    + 'static
{
    /// Converts from `f64`, rounding to the nearest representable value.
    fn cast(x: f64) -> Self;
    /// Converts to `f64` exactly.
    fn as_f64(self) -> f64;
    /// A short name for reports ("f32" or "f64").
    const NAME: &'static str;
}

impl Float for f32 {
    fn cast(x: f64) -> Self {
        x as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
    const NAME: &'static str = "f32";
}

impl Float for f64 {
    fn cast(x: f64) -> Self {
        x
    }
    fn as_f64(self) -> f64 {
        self
    }
    const NAME: &'static str = "f64";
}
