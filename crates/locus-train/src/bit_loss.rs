//! The loss of the copy tasks: a sigmoid cross-entropy per target bit, counted only
//! where the sequence mask says an output is expected.

use locus_core::{Error, Float};
use ndarray::{Array3, ArrayView2, ArrayView3};

/// What [`masked_bit_loss`] measures on a batch of logits.
#[derive(Debug, Clone)]
pub struct BitLoss<F> {
    /// `Σ mask · BCE(σ(z), y) / batch` in nats: the batch mean of each sequence's summed
    /// cross-entropy, the loss whose gradient is `grad`.
    pub loss: F,
    /// `∂loss/∂z = mask · (σ(z) − y) / batch`, the shape of the logits.
    pub grad: Array3<F>,
    /// The summed cross-entropy in bits (not divided by the batch).
    pub bits: f64,
    /// Target bits counted (masked steps × channels).
    pub counted_bits: usize,
    /// Masked steps (one per sequence and output step).
    pub counted_steps: usize,
    /// Counted bits whose prediction `σ(z) > ½` differs from the target.
    pub wrong_bits: usize,
}

/// Binary cross-entropy of logits `z` (`[time, batch, channels]`) against 0/1 `targets`
/// of the same shape, where `mask` (`[time, batch]`) is 1, as in Graves et al. (2014,
/// sect. 4: "the sigmoid output layer and cross-entropy objective function"); computed
/// stably as `max(z, 0) − z·y + ln(1 + e^{−|z|})`.
///
/// # Errors
/// [`Error::Shape`] when the shapes disagree; [`Error::NonFinite`] for a NaN or infinite
/// logit.
pub fn masked_bit_loss<F: Float>(
    logits: ArrayView3<'_, F>,
    targets: ArrayView3<'_, F>,
    mask: ArrayView2<'_, F>,
) -> Result<BitLoss<F>, Error> {
    if logits.dim() != targets.dim() {
        return Err(Error::shape(
            "copy-task loss (targets)",
            format!("the logits' shape {:?}", logits.shape()),
            targets.shape(),
        ));
    }
    let (time, batch, channels) = logits.dim();
    if mask.dim() != (time, batch) {
        return Err(Error::shape(
            "copy-task loss (mask)",
            format!("[{time}, {batch}] (time, batch)"),
            mask.shape(),
        ));
    }
    if logits.iter().any(|z| !z.is_finite()) {
        return Err(Error::NonFinite {
            context: "copy-task loss input (read-out logits)".into(),
        });
    }
    let inv_batch = F::one() / F::cast(batch.max(1) as f64);
    let mut grad = Array3::zeros((time, batch, channels));
    let (mut nats, mut counted_steps, mut wrong_bits) = (0.0f64, 0usize, 0usize);
    for t in 0..time {
        for b in 0..batch {
            let m = mask[[t, b]];
            if m == F::zero() {
                continue;
            }
            counted_steps += 1;
            for k in 0..channels {
                let (z, y) = (logits[[t, b, k]], targets[[t, b, k]]);
                let zf = z.as_f64();
                let yf = y.as_f64();
                nats += m.as_f64() * (zf.max(0.0) - zf * yf + (-zf.abs()).exp().ln_1p());
                let p = F::one() / (F::one() + (-z).exp());
                grad[[t, b, k]] = m * (p - y) * inv_batch;
                if (zf > 0.0) != (yf > 0.5) {
                    wrong_bits += 1;
                }
            }
        }
    }
    let loss = F::cast(nats / batch.max(1) as f64);
    Ok(BitLoss {
        loss,
        grad,
        bits: nats / std::f64::consts::LN_2,
        counted_bits: counted_steps * channels,
        counted_steps,
        wrong_bits,
    })
}

/// Sums `b` into `a` field by field (for losses measured chunk by chunk).
pub(crate) fn accumulate<F: Float>(a: &mut BitTotals, b: &BitLoss<F>) {
    a.bits += b.bits;
    a.counted_bits += b.counted_bits;
    a.counted_steps += b.counted_steps;
    a.wrong_bits += b.wrong_bits;
}

/// [`BitLoss`] figures summed over the chunks of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct BitTotals {
    pub bits: f64,
    pub counted_bits: usize,
    pub counted_steps: usize,
    pub wrong_bits: usize,
}

impl BitTotals {
    /// Cross-entropy in bits per counted output step (the curriculum's criterion).
    pub fn bits_per_step(&self) -> f64 {
        self.bits / self.counted_steps.max(1) as f64
    }

    /// Fraction of counted bits predicted wrongly.
    pub fn bit_error(&self) -> f64 {
        self.wrong_bits as f64 / self.counted_bits.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, Array3, Zip};

    /// Whether `grad` is 0 wherever `mask` is 0.
    fn masked_out_is_zero<F: Float>(grad: &Array3<F>, mask: ArrayView2<'_, F>) -> bool {
        let mut ok = true;
        Zip::indexed(grad).for_each(|(t, b, _), &g| {
            if mask[[t, b]] == F::zero() && g != F::zero() {
                ok = false;
            }
        });
        ok
    }

    #[test]
    fn loss_and_gradient_match_finite_differences() {
        let z = Array3::from_shape_fn((3, 2, 2), |(t, b, k)| {
            0.7 * t as f64 - 0.9 * b as f64 + 0.3 * k as f64 - 0.4
        });
        let y = Array3::from_shape_fn((3, 2, 2), |(t, b, k)| ((t + b + k) % 2) as f64);
        let mut mask = Array2::ones((3, 2));
        mask[[0, 1]] = 0.0;
        let out = masked_bit_loss(z.view(), y.view(), mask.view()).unwrap();
        assert_eq!(out.counted_steps, 5);
        assert_eq!(out.counted_bits, 10);
        assert!(masked_out_is_zero(&out.grad, mask.view()));
        let eps = 1e-6;
        for idx in [(0, 0, 0), (1, 1, 1), (2, 0, 1), (0, 1, 0)] {
            let mut up = z.clone();
            up[idx] += eps;
            let mut down = z.clone();
            down[idx] -= eps;
            let l = |zz: &Array3<f64>| masked_bit_loss(zz.view(), y.view(), mask.view()).unwrap();
            let numeric = (l(&up).loss - l(&down).loss) / (2.0 * eps);
            assert!((numeric - out.grad[idx]).abs() < 1e-8, "{idx:?}");
        }
        assert!((out.bits - out.loss * 2.0 / std::f64::consts::LN_2).abs() < 1e-9);
    }

    #[test]
    fn confident_right_answers_cost_nothing_and_errors_are_counted() {
        let y = Array3::from_shape_fn((2, 1, 3), |(t, _, k)| ((t + k) % 2) as f64);
        let z = y.mapv(|v| if v > 0.5 { 30.0 } else { -30.0 });
        let mask = Array2::ones((2, 1));
        let out = masked_bit_loss(z.view(), y.view(), mask.view()).unwrap();
        assert!(out.bits < 1e-9 && out.wrong_bits == 0);
        let flipped = z.mapv(|v| -v);
        let out = masked_bit_loss(flipped.view(), y.view(), mask.view()).unwrap();
        assert_eq!(out.wrong_bits, 6);
        assert!(out.bits > 6.0 * 30.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let z = Array3::<f64>::zeros((2, 3, 4));
        let e = masked_bit_loss(
            z.view(),
            Array3::zeros((2, 3, 5)).view(),
            Array2::ones((2, 3)).view(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("targets"), "{e}");
        let e = masked_bit_loss(z.view(), z.view(), Array2::ones((3, 2)).view()).unwrap_err();
        assert!(e.to_string().contains("mask"), "{e}");
        let mut nan = z.clone();
        nan[[1, 1, 1]] = f64::NAN;
        let e = masked_bit_loss(nan.view(), z.view(), Array2::ones((2, 3)).view()).unwrap_err();
        assert!(matches!(e, Error::NonFinite { .. }), "{e}");
    }
}
