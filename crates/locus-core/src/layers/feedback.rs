//! Backward rules: which matrix a weight layer sends its output gradient down through.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::{ArrayD, Zip};
use serde::{Deserialize, Serialize};

use crate::init::{child_seed, Init};
use crate::{angle_deg, seeded_rng, Float, Result, SeededRng, StateDict, Tensor};

/// The backward rule of a weight layer: which matrix it sends its output gradient down
/// through.
///
/// Backpropagation sends `δx = δy Wᵀ`. The rules here replace `W` by a feedback matrix
/// `B` of the same shape, so the layer below learns without access to the weights above
/// (the *weight transport* problem):
///
/// | rule | `B` | paper |
/// |---|---|---|
/// | [`FeedbackRule::Transpose`] | `W` (exact gradient) | — |
/// | [`FeedbackRule::FixedRandom`] | a fixed random matrix | Lillicrap et al. 2016, eq. (1) |
/// | [`FeedbackRule::SignSymmetry`] | `sign(W) · mean(abs(W))` | Liao, Leibo & Poggio 2016 (uSF) |
/// | [`FeedbackRule::BatchRandomSign`] | `abs(M_t) ∘ sign(W) · s`, `M_t` redrawn every batch | Liao et al. 2016 (brSF) |
/// | [`FeedbackRule::FixedRandomSign`] | `abs(M) ∘ sign(W) · s`, `M` fixed | Liao et al. 2016 (frSF) |
///
/// Random matrices are drawn from the layer's own weight initialisation, so FA's `B` has
/// the scale `W` starts with. Plain `sign(W)` has entries of size 1, tens of times larger than
/// the weights of a wide layer; uSF here scales it by the mean absolute weight so that the
/// signal reaching lower layers has the size backpropagation's has (the paper used batch
/// normalisation for the same purpose). For the same reason brSF and frSF rescale their
/// random magnitudes by `s = mean(abs(W)) / mean(abs(M))`, so their feedback follows the
/// weights as they grow instead of keeping the scale the weights started with. The
/// scaling does not change any sign, nor the angle between `B` and `W`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum FeedbackRule {
    /// `B = W`: the exact gradient (backpropagation).
    #[default]
    Transpose,
    /// Feedback alignment: a fixed random `B`, drawn once.
    FixedRandom,
    /// Uniform sign-concordant feedback (uSF): `B = sign(W) · mean|W|`.
    SignSymmetry,
    /// Batchwise-random-magnitude sign-concordant feedback (brSF): `B = |M_t| ∘ sign(W)`
    /// with a fresh random `M_t` for every backward pass, rescaled to `mean|W|`.
    BatchRandomSign,
    /// Fixed-random-magnitude sign-concordant feedback (frSF): `B = |M| ∘ sign(W)` with a
    /// fixed random `M`, rescaled to `mean|W|`.
    FixedRandomSign,
}

impl FeedbackRule {
    /// The short name used on the command line and in reports (`bp`, `fa`, `usf`, `brsf`,
    /// `frsf`).
    pub fn short_name(self) -> &'static str {
        match self {
            FeedbackRule::Transpose => "bp",
            FeedbackRule::FixedRandom => "fa",
            FeedbackRule::SignSymmetry => "usf",
            FeedbackRule::BatchRandomSign => "brsf",
            FeedbackRule::FixedRandomSign => "frsf",
        }
    }
}

/// A layer's feedback state: the rule and whatever it needs (a fixed matrix, a stream of
/// random magnitudes).
///
/// It is built with the layer's weight shape, fans and initialisation so that random
/// matrices have the weights' scale.
#[derive(Debug)]
pub struct Feedback<F> {
    rule: FeedbackRule,
    /// `B` for [`FeedbackRule::FixedRandom`], `|M|` for [`FeedbackRule::FixedRandomSign`].
    fixed: Option<Tensor<F>>,
    /// What [`FeedbackRule::BatchRandomSign`] draws its magnitudes from.
    init: Init,
    fans: (usize, usize),
    seed: u64,
    /// Backward passes made with [`FeedbackRule::BatchRandomSign`]; each gets its own draw,
    /// so a run is reproducible from its seed when the passes come in the same order.
    draws: AtomicU64,
}

impl<F: Float> Feedback<F> {
    /// Exact backpropagation: no state.
    pub fn transpose() -> Self {
        Feedback {
            rule: FeedbackRule::Transpose,
            fixed: None,
            init: Init::default(),
            fans: (1, 1),
            seed: 0,
            draws: AtomicU64::new(0),
        }
    }

    /// The state of `rule` for a weight of `shape` initialised by `init` with the given
    /// fans; random draws come from `rng`.
    ///
    /// # Errors
    /// As [`Init::sample`].
    pub fn new(
        rule: FeedbackRule,
        shape: &[usize],
        fans: (usize, usize),
        init: Init,
        rng: &mut SeededRng,
    ) -> Result<Self> {
        // Zero-initialised layers (allowed for DFA) would get an all-zero feedback matrix;
        // draw it as PyTorch would draw the weights instead.
        let init = if init == Init::Zeros {
            Init::TorchDefault
        } else {
            init
        };
        let fixed = match rule {
            FeedbackRule::FixedRandom => Some(init.sample::<F>(shape, fans.0, fans.1, rng)?),
            FeedbackRule::FixedRandomSign => Some(
                init.sample::<F>(shape, fans.0, fans.1, rng)?
                    .mapv(|m| m.abs()),
            ),
            _ => None,
        };
        Ok(Feedback {
            rule,
            fixed,
            init,
            fans,
            seed: child_seed(rng),
            draws: AtomicU64::new(0),
        })
    }

    /// The rule.
    pub fn rule(&self) -> FeedbackRule {
        self.rule
    }

    /// The matrix that takes `weight`'s place in the backward pass. For
    /// [`FeedbackRule::BatchRandomSign`] every call draws new magnitudes.
    ///
    /// # Errors
    /// Only if a random draw fails (it cannot with the checked initialisations).
    pub fn matrix<'a>(&'a self, weight: &'a Tensor<F>) -> Result<Cow<'a, Tensor<F>>> {
        let sign = |w: F| {
            if w > F::zero() {
                F::one()
            } else if w < F::zero() {
                -F::one()
            } else {
                F::zero()
            }
        };
        Ok(match self.rule {
            FeedbackRule::Transpose => Cow::Borrowed(weight),
            FeedbackRule::FixedRandom => Cow::Borrowed(self.fixed_matrix()),
            FeedbackRule::SignSymmetry => {
                let n = F::cast(weight.len().max(1) as f64);
                let scale = weight.iter().fold(F::zero(), |s, &w| s + w.abs()) / n;
                Cow::Owned(weight.mapv(|w| sign(w) * scale))
            }
            FeedbackRule::FixedRandomSign => {
                Cow::Owned(signed_magnitudes(weight, self.fixed_matrix(), sign))
            }
            FeedbackRule::BatchRandomSign => {
                let draw = self.draws.fetch_add(1, Ordering::Relaxed);
                let mut rng = seeded_rng(self.seed ^ draw.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let m: ArrayD<F> =
                    self.init
                        .sample(weight.shape(), self.fans.0, self.fans.1, &mut rng)?;
                Cow::Owned(signed_magnitudes(weight, &m, sign))
            }
        })
    }

    /// `weight_alignment_deg`, the angle between `weight` and the feedback matrix, for
    /// rules that have one (none for [`FeedbackRule::Transpose`]).
    pub fn diagnostics(&self, weight: &Tensor<F>) -> Vec<(String, f64)> {
        if self.rule == FeedbackRule::Transpose {
            return Vec::new();
        }
        match self.matrix(weight) {
            Ok(b) => vec![("weight_alignment_deg".into(), angle_deg(weight, &b))],
            Err(_) => Vec::new(),
        }
    }

    /// Writes the rule's state under `prefix`: the fixed matrix (`fixed`, FA's `B` or
    /// frSF's `|M|`, in PyTorch's `[out, in]` layout like the weight it stands for), the
    /// seed of brSF's draws (`seed`) and how many it made (`draws`). Backpropagation and
    /// uSF have none.
    pub fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        if let Some(fixed) = &self.fixed {
            state.put_tensor(
                format!("{prefix}fixed"),
                fixed.t().as_standard_layout().into_owned(),
            );
        }
        if self.rule == FeedbackRule::BatchRandomSign {
            state.put_counters(
                format!("{prefix}draws"),
                vec![self.seed, self.draws.load(Ordering::Relaxed)],
            );
        }
    }

    /// Reads what [`Feedback::save_state`] wrote under `prefix` for a weight of `shape`
    /// (`[inputs, outputs]`).
    ///
    /// # Errors
    /// A missing or mis-shaped entry, named.
    pub fn load_state(
        &mut self,
        prefix: &str,
        shape: &[usize],
        state: &mut StateDict<F>,
    ) -> Result<()> {
        if self.fixed.is_some() {
            let torch: Vec<usize> = shape.iter().rev().copied().collect();
            let fixed = state.take_tensor(&format!("{prefix}fixed"), Some(&torch))?;
            self.fixed = Some(fixed.t().as_standard_layout().into_owned());
        }
        if self.rule == FeedbackRule::BatchRandomSign {
            let c = state.take_counters(&format!("{prefix}draws"), 2)?;
            self.seed = c[0];
            self.draws.store(c[1], Ordering::Relaxed);
        }
        Ok(())
    }

    fn fixed_matrix(&self) -> &Tensor<F> {
        self.fixed
            .as_ref()
            .expect("fixed-matrix rules are built with their matrix")
    }
}

/// `|m| ∘ sign(w) · s`, element-wise, with `s` such that the result has the mean absolute
/// value of `w`: the random magnitudes keep their relative sizes and, like uSF's, the
/// feedback follows the weight's scale (all zeros when `w` or `m` is).
fn signed_magnitudes<F: Float>(w: &Tensor<F>, m: &Tensor<F>, sign: impl Fn(F) -> F) -> Tensor<F> {
    let n = F::cast(w.len().max(1) as f64);
    let w_scale = w.iter().fold(F::zero(), |s, &v| s + v.abs()) / n;
    // Entries where `w` is zero get no feedback, so only the others count towards |B|.
    let m_scale =
        w.iter().zip(m.iter()).fold(
            F::zero(),
            |s, (&wv, &mv)| {
                if wv == F::zero() {
                    s
                } else {
                    s + mv.abs()
                }
            },
        ) / n;
    let scale = if m_scale > F::zero() {
        w_scale / m_scale
    } else {
        F::zero()
    };
    let mut out = w.clone();
    Zip::from(&mut out)
        .and(m)
        .for_each(|o, &mag| *o = sign(*o) * mag.abs() * scale);
    out
}

impl<F: Clone> Clone for Feedback<F> {
    fn clone(&self) -> Self {
        Feedback {
            rule: self.rule,
            fixed: self.fixed.clone(),
            init: self.init,
            fans: self.fans,
            seed: self.seed,
            draws: AtomicU64::new(self.draws.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight() -> Tensor<f64> {
        ndarray::arr2(&[[0.5, -0.25], [0.0, 1.0], [-2.0, 0.75]]).into_dyn()
    }

    fn build(rule: FeedbackRule) -> Feedback<f64> {
        Feedback::new(
            rule,
            &[3, 2],
            (3, 2),
            Init::TorchDefault,
            &mut seeded_rng(1),
        )
        .unwrap()
    }

    #[test]
    fn transpose_is_the_weight_itself() {
        let w = weight();
        let fb = build(FeedbackRule::Transpose);
        assert!(matches!(fb.matrix(&w).unwrap(), Cow::Borrowed(_)));
    }

    #[test]
    fn fixed_random_does_not_follow_the_weight() {
        let fb = build(FeedbackRule::FixedRandom);
        let a = fb.matrix(&weight()).unwrap().into_owned();
        let b = fb.matrix(&(weight() * 3.0)).unwrap().into_owned();
        assert_eq!(a, b);
        assert_ne!(a, weight());
        let bound = 1.0 / 3f64.sqrt();
        assert!(a.iter().all(|v| v.abs() <= bound));
    }

    #[test]
    fn sign_symmetry_keeps_signs_and_mean_magnitude() {
        let fb = build(FeedbackRule::SignSymmetry);
        let b = fb.matrix(&weight()).unwrap().into_owned();
        let mean_abs = (0.5 + 0.25 + 0.0 + 1.0 + 2.0 + 0.75) / 6.0;
        let expected = ndarray::arr2(&[
            [mean_abs, -mean_abs],
            [0.0, mean_abs],
            [-mean_abs, mean_abs],
        ])
        .into_dyn();
        assert!((b - expected).iter().all(|d| d.abs() < 1e-12));
    }

    #[test]
    fn sign_concordant_rules_agree_in_sign_with_the_weight() {
        for rule in [FeedbackRule::BatchRandomSign, FeedbackRule::FixedRandomSign] {
            let fb = build(rule);
            let w = weight();
            let b = fb.matrix(&w).unwrap().into_owned();
            for (&bw, &ww) in b.iter().zip(w.iter()) {
                assert!(bw * ww >= 0.0, "{rule:?}: {bw} vs {ww}");
                assert_eq!(
                    bw == 0.0,
                    ww == 0.0,
                    "{rule:?}: zero weights give zero feedback"
                );
            }
        }
    }

    #[test]
    fn random_magnitude_rules_have_the_mean_magnitude_of_the_weight() {
        let mean_abs = |t: &Tensor<f64>| t.iter().map(|v| v.abs()).sum::<f64>() / t.len() as f64;
        for rule in [FeedbackRule::BatchRandomSign, FeedbackRule::FixedRandomSign] {
            let fb = build(rule);
            for w in [weight(), weight() * 7.0] {
                let b = fb.matrix(&w).unwrap().into_owned();
                assert!(
                    (mean_abs(&b) - mean_abs(&w)).abs() < 1e-12,
                    "{rule:?}: mean |B| {} vs mean |W| {}",
                    mean_abs(&b),
                    mean_abs(&w)
                );
            }
            let zero = Tensor::<f64>::zeros(vec![3, 2]);
            assert!(fb.matrix(&zero).unwrap().iter().all(|&v| v == 0.0));
        }
    }

    #[test]
    fn batch_random_redraws_and_fixed_random_does_not() {
        let w = weight();
        let br = build(FeedbackRule::BatchRandomSign);
        assert_ne!(
            br.matrix(&w).unwrap().into_owned(),
            br.matrix(&w).unwrap().into_owned()
        );
        let fr = build(FeedbackRule::FixedRandomSign);
        assert_eq!(
            fr.matrix(&w).unwrap().into_owned(),
            fr.matrix(&w).unwrap().into_owned()
        );
    }

    #[test]
    fn batch_random_is_reproducible_from_its_seed() {
        let w = weight();
        let (a, b) = (
            build(FeedbackRule::BatchRandomSign),
            build(FeedbackRule::BatchRandomSign),
        );
        for _ in 0..3 {
            assert_eq!(
                a.matrix(&w).unwrap().into_owned(),
                b.matrix(&w).unwrap().into_owned()
            );
        }
    }

    #[test]
    fn zero_initialised_layers_get_a_nonzero_feedback_matrix() {
        let fb = Feedback::<f64>::new(
            FeedbackRule::FixedRandom,
            &[3, 2],
            (3, 2),
            Init::Zeros,
            &mut seeded_rng(1),
        )
        .unwrap();
        let w = Tensor::<f64>::zeros(vec![3, 2]);
        assert!(fb.matrix(&w).unwrap().iter().any(|&v| v != 0.0));
    }
}
