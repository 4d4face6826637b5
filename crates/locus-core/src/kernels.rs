//! Element-wise kernels of the training step, vectorised for the CPU at hand.
//!
//! Each kernel is a plain loop over slices without branches, compiled once per
//! instruction set through [`pulp`]'s run-time dispatch (AVX-512, AVX2 + FMA, or the
//! baseline SSE2) so the compiler can vectorise it with the widest registers the machine
//! has; `unsafe` stays out of locus. The `f64` versions call the standard library's
//! functions, element by element: `f64` is the type of gradient checks, not of speed.
//!
//! The hyperbolic tangent of `f32` is the odd rational approximation of degrees 13/6
//! used by Eigen, XLA and ONNX Runtime's MLAS (its coefficients below), clamped at
//! ±7.905 where `tanh` rounds to ±1 in `f32`: at most 7 units in the last place from the
//! exact value (4.4·10⁻⁷ absolute, near |x| = 5.9; the test below measures it over every
//! 97th `f32` in [-10, 10]). glibc's `tanhf` goes through `expm1f` one element at a time
//! and took 60% of a backprop step of the 784-1000-1000-10 tanh MLP. NaN stays NaN.

/// Below this magnitude `tanh(x)` rounds to `x` in `f32`, and the rational form is not
/// used (it would only lose the last bit).
const TANH_LINEAR_BELOW: f32 = 0.0004;
/// Beyond this magnitude `tanh(x)` rounds to ±1 in `f32`; inputs are clamped here.
const TANH_SATURATES_AT: f32 = 7.905_311;

// The published coefficients, as Eigen writes them; the compiler rounds them to f32.
/// Numerator coefficients α₁, α₃, …, α₁₃ (odd powers).
#[allow(clippy::excessive_precision)]
const TANH_ALPHA: [f32; 7] = [
    4.89352455891786e-03,
    6.37261928875436e-04,
    1.48572235717979e-05,
    5.12229709037114e-08,
    -8.60467152213735e-11,
    2.00018790482477e-13,
    -2.76076847742355e-16,
];
/// Denominator coefficients β₀, β₂, β₄, β₆ (even powers).
#[allow(clippy::excessive_precision)]
const TANH_BETA: [f32; 4] = [
    4.89352518554385e-03,
    2.26843463243900e-03,
    1.18534705686654e-04,
    1.19825839466702e-06,
];

/// `tanh(x)` in `f32` by the rational approximation; NaN in, NaN out.
#[inline(always)]
pub(crate) fn tanh_f32(x: f32) -> f32 {
    // `clamp` passes NaN through.
    let c = x.clamp(-TANH_SATURATES_AT, TANH_SATURATES_AT);
    let x2 = c * c;
    let a = &TANH_ALPHA;
    let b = &TANH_BETA;
    let p = x2 * (x2 * (x2 * (x2 * (x2 * (x2 * a[6] + a[5]) + a[4]) + a[3]) + a[2]) + a[1]) + a[0];
    let q = x2 * (x2 * (x2 * b[3] + b[2]) + b[1]) + b[0];
    let t = c * p / q;
    if x.abs() < TANH_LINEAR_BELOW {
        x
    } else {
        t
    }
}

/// A loop body run under the widest instruction set the CPU offers.
struct Vectorised<Op>(Op);

impl<Op: FnOnce()> pulp::WithSimd for Vectorised<Op> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> Self::Output {
        (self.0)()
    }
}

/// Runs `op` compiled for the best instruction set of this CPU (chosen once by pulp).
#[inline(always)]
pub(crate) fn vectorised(op: impl FnOnce()) {
    pulp::Arch::new().dispatch(Vectorised(op));
}

/// `out[i] = f(a[i])` over tensors of one shape, as one vectorised pass over contiguous
/// slices (through `ndarray::Zip` when a tensor is not in standard layout). Each variant
/// of an element-wise layer calls it with its own branch-free closure: a `match` inside
/// the loop keeps the compiler from vectorising it.
#[inline(always)]
pub(crate) fn map_into<F: Copy>(
    out: &mut crate::Tensor<F>,
    a: &crate::Tensor<F>,
    f: impl Fn(F) -> F,
) {
    debug_assert_eq!(out.shape(), a.shape());
    match (out.as_slice_mut(), a.as_slice()) {
        (Some(out), Some(a)) => vectorised(
            #[inline(always)]
            || {
                for (o, &a) in out.iter_mut().zip(a) {
                    *o = f(a);
                }
            },
        ),
        _ => ndarray::Zip::from(out).and(a).for_each(|o, &a| *o = f(a)),
    }
}

/// `out[i] = f(a[i], b[i])` over tensors of one shape, as [`map_into`].
#[inline(always)]
pub(crate) fn zip_map_into<F: Copy>(
    out: &mut crate::Tensor<F>,
    a: &crate::Tensor<F>,
    b: &crate::Tensor<F>,
    f: impl Fn(F, F) -> F,
) {
    debug_assert_eq!(out.shape(), a.shape());
    debug_assert_eq!(out.shape(), b.shape());
    match (out.as_slice_mut(), a.as_slice(), b.as_slice()) {
        (Some(out), Some(a), Some(b)) => vectorised(
            #[inline(always)]
            || {
                let n = out.len();
                let (a, b) = (&a[..n], &b[..n]);
                for i in 0..n {
                    out[i] = f(a[i], b[i]);
                }
            },
        ),
        _ => ndarray::Zip::from(out)
            .and(a)
            .and(b)
            .for_each(|o, &a, &b| *o = f(a, b)),
    }
}

/// The element-wise kernels behind the layers, implemented for `f32` and `f64` only; a
/// private supertrait of [`crate::Float`] so generic code reaches the typed kernels.
pub trait Kernels: Sized + Copy {
    /// `x ← tanh(x)` for every element.
    #[doc(hidden)]
    fn tanh_in_place(x: &mut [Self]);

    /// Whether every element is finite (no NaN, no infinity).
    #[doc(hidden)]
    fn all_finite(x: &[Self]) -> bool;
}

/// Whether every element is finite, without an early exit so the loop vectorises:
/// `v - v` is 0 for a finite `v` and NaN for NaN and infinities.
macro_rules! all_finite {
    ($x:expr, $zero:expr) => {{
        let mut finite = true;
        for &v in $x {
            finite &= v - v == $zero;
        }
        finite
    }};
}

impl Kernels for f32 {
    fn tanh_in_place(x: &mut [f32]) {
        vectorised(
            #[inline(always)]
            || {
                for v in x.iter_mut() {
                    *v = tanh_f32(*v);
                }
            },
        );
    }

    fn all_finite(x: &[f32]) -> bool {
        let mut finite = true;
        vectorised(
            #[inline(always)]
            || finite = all_finite!(x, 0.0f32),
        );
        finite
    }
}

impl Kernels for f64 {
    fn tanh_in_place(x: &mut [f64]) {
        for v in x.iter_mut() {
            *v = v.tanh();
        }
    }

    fn all_finite(x: &[f64]) -> bool {
        let mut finite = true;
        vectorised(
            #[inline(always)]
            || finite = all_finite!(x, 0.0f64),
        );
        finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite `f32`s of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        if a == b {
            return 0;
        }
        assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{a} vs {b}");
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn f32_tanh_is_within_a_few_ulps_of_the_exact_value_everywhere() {
        // Every 97th f32 in [-10, 10] (about 21 million values): the magnitude bits step
        // through all exponents, subnormals included.
        let mut worst = (0u32, 0.0f32);
        let mut worst_abs = 0.0f64;
        let mut bits = 0u32;
        let limit = 10.0f32.to_bits();
        while bits <= limit {
            for x in [f32::from_bits(bits), -f32::from_bits(bits)] {
                let exact = (x as f64).tanh() as f32;
                let got = tanh_f32(x);
                let d = ulps(got, exact);
                worst_abs = worst_abs.max((got as f64 - (x as f64).tanh()).abs());
                if d > worst.0 {
                    worst = (d, x);
                }
            }
            bits += 97;
        }
        eprintln!(
            "worst {} ulps at x = {}, worst absolute error {worst_abs:e}",
            worst.0, worst.1
        );
        assert!(worst.0 <= 8, "{} ulps at x = {}", worst.0, worst.1);
        assert!(worst_abs < 5e-7, "absolute error {worst_abs}");
    }

    #[test]
    fn f32_tanh_saturates_keeps_zero_signs_and_propagates_nan() {
        let mut x = vec![
            f32::INFINITY,
            f32::NEG_INFINITY,
            100.0,
            -100.0,
            0.0,
            -0.0,
            f32::NAN,
        ];
        f32::tanh_in_place(&mut x);
        assert_eq!(x[0], 1.0);
        assert_eq!(x[1], -1.0);
        assert_eq!(x[2], 1.0);
        assert_eq!(x[3], -1.0);
        assert_eq!(x[4].to_bits(), 0.0f32.to_bits());
        assert_eq!(x[5].to_bits(), (-0.0f32).to_bits());
        assert!(x[6].is_nan());
    }

    #[test]
    fn all_finite_finds_each_kind_of_non_finite_value_at_any_position() {
        for len in [1, 5, 16, 17, 64, 100] {
            let x: Vec<f32> = (0..len).map(|i| i as f32 * 1e30).collect();
            assert!(f32::all_finite(&x));
            let y: Vec<f64> = x.iter().map(|&v| v as f64 * 1e270).collect();
            assert!(f64::all_finite(&y));
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [0, len / 2, len - 1] {
                    let mut z = x.clone();
                    z[at] = bad;
                    assert!(!f32::all_finite(&z), "{bad} at {at} of {len}");
                    let mut w = y.clone();
                    w[at] = bad as f64;
                    assert!(!f64::all_finite(&w), "{bad} at {at} of {len}");
                }
            }
        }
        assert!(f32::all_finite(&[]));
    }

    #[test]
    fn the_slice_kernel_agrees_with_the_scalar_one_at_every_length() {
        // Lengths around the vector widths, so both the vector body and the tail run.
        for len in [0, 1, 3, 7, 8, 15, 16, 17, 33, 100] {
            let x: Vec<f32> = (0..len).map(|i| (i as f32 - 40.0) * 0.173).collect();
            let mut y = x.clone();
            f32::tanh_in_place(&mut y);
            for (a, b) in x.iter().zip(&y) {
                assert_eq!(tanh_f32(*a).to_bits(), b.to_bits(), "len {len}, x = {a}");
            }
        }
    }
}
