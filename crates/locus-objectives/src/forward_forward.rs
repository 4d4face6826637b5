use locus_core::{check_finite, Error, Float, Result, StateDict, Tensor};
use serde::{Deserialize, Serialize};

use crate::{Goodness, LocalObjective, LocalSignal, Mode, StageContext};

/// Configuration of a [`ForwardForward`] objective, checked by
/// [`ForwardForwardConfig::build`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForwardForwardConfig {
    /// How activity becomes goodness (default [`Goodness::SumOfSquares`], the paper's).
    pub goodness: Goodness,
    /// The mean squared activity per unit at which a sample is judged positive with
    /// probability 1/2: the threshold `θ` of the paper is this times the layer's width
    /// for [`Goodness::SumOfSquares`], and this itself for [`Goodness::MeanOfSquares`]
    /// (default 1, so `θ` = width, as in Löwe's public reimplementation that reaches
    /// 1.45% test error on MNIST; the PyTorch port of Pezeshki uses mean-of-squares with
    /// 2).
    pub threshold: f64,
    /// Weight `λ` of the peer-normalisation term (Löwe's public reimplementation, which
    /// reaches 1.45% test error on MNIST, uses 0.03), which keeps every unit of the layer
    /// about as active as its peers so none is always on or always off (default 0: off).
    /// See [`ForwardForward`] for the term.
    #[serde(default)]
    pub peer_normalization: f64,
    /// Momentum `m` of the running mean activity per unit that peer normalisation
    /// compares (default 0.9, as in Löwe's reimplementation).
    #[serde(default = "default_peer_momentum")]
    pub peer_momentum: f64,
}

fn default_peer_momentum() -> f64 {
    0.9
}

impl Default for ForwardForwardConfig {
    fn default() -> Self {
        ForwardForwardConfig {
            goodness: Goodness::SumOfSquares,
            threshold: 1.0,
            peer_normalization: 0.0,
            peer_momentum: default_peer_momentum(),
        }
    }
}

impl ForwardForwardConfig {
    /// Sets the goodness.
    pub fn with_goodness(mut self, goodness: Goodness) -> Self {
        self.goodness = goodness;
        self
    }

    /// Sets the threshold (mean squared activity per unit).
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// Sets the weight `λ` of peer normalisation (0 turns it off) and the momentum `m` of
    /// its running means.
    pub fn with_peer_normalization(mut self, weight: f64, momentum: f64) -> Self {
        self.peer_normalization = weight;
        self.peer_momentum = momentum;
        self
    }

    /// The threshold `θ` in goodness units for a layer `width` wide.
    pub fn theta(&self, width: usize) -> f64 {
        self.threshold * width as f64 * self.goodness.scale(width)
    }

    /// Checks the threshold.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for a threshold or a peer-normalisation weight that is
    /// not finite and `>= 0`, or a peer momentum outside `[0, 1)`.
    pub fn check(&self) -> Result<()> {
        if !(self.threshold.is_finite() && self.threshold >= 0.0) {
            return Err(Error::invalid(
                "Forward-Forward threshold (mean squared activity per unit)",
                "should be finite and >= 0",
                self.threshold,
            ));
        }
        if !(self.peer_normalization.is_finite() && self.peer_normalization >= 0.0) {
            return Err(Error::invalid(
                "Forward-Forward peer-normalisation weight",
                "should be finite and >= 0",
                self.peer_normalization,
            ));
        }
        if !(0.0..1.0).contains(&self.peer_momentum) {
            return Err(Error::invalid(
                "Forward-Forward peer-normalisation momentum",
                "should be in [0, 1)",
                self.peer_momentum,
            ));
        }
        Ok(())
    }

    /// Checks the configuration and builds the objective.
    ///
    /// # Errors
    /// As [`ForwardForwardConfig::check`].
    pub fn build(&self) -> Result<ForwardForward> {
        self.check()?;
        Ok(ForwardForward {
            config: *self,
            last: None,
            running_means: None,
        })
    }
}

/// Forward-Forward (Hinton 2022, "The Forward-Forward Algorithm: Some Preliminary
/// Investigations"): a layer learns to give high goodness `g` to positive (real) data and
/// low goodness to negative data, judging a sample positive with probability
/// `p = σ(g − θ)` (eq. 1). Its loss is the logistic loss of that judgement,
///
/// `L = mean over rows of softplus(θ − g)` for positive rows and `softplus(g − θ)` for
/// negative rows,
///
/// and its signal the exact gradient of `L` with respect to the stage output, so no
/// error crosses the stages: each learns from its own two forward passes.
///
/// **Which rows are which.** The batch holds the positive samples first and the same
/// number of negative samples after them: rows `0..n` positive, `n..2n` negative. Building
/// such batches (the label written into the image, wrong labels, hybrid images) is the
/// data's business; see `locus_data::forward_forward` and `locus_sched`'s
/// `ForwardForwardTrainer`. Labels are not needed.
///
/// **Peer normalisation** (optional, weight `λ` > 0). Each unit `j` keeps a running mean
/// of its activity over the positive rows, `r_j ← m·r_j + (1 − m)·a_j` with `a_j` the
/// batch mean, starting from zero; the loss gains `λ · mean_j (r_j − r̄)²`, `r̄` the mean
/// over units, whose gradient reaches this batch through `a_j` and pulls every unit's
/// activity towards its peers' average (Löwe's reimplementation uses `λ = 0.03`,
/// `m = 0.9`). [`Mode::Learn`] updates the
/// running means; [`Mode::Evaluate`] uses them without change. The running means are
/// the objective's own state: saving the stage's parameters does not save them.
///
/// **Normalisation.** The goodness is computed on the stage's output; the *next* stage
/// must length-normalise it (`locus_core::LayerNormConfig::length`) before using it, or it
/// could simply read the goodness off the vector's length (Hinton 2022).
///
/// [`LocalObjective::metrics`] reports, for the last [`Mode::Learn`] batch, the mean
/// goodness of the positive and negative rows (`goodness_positive`,
/// `goodness_negative`, divided by the width: mean squared activity per unit, comparable
/// with the threshold) and the fraction of rows on the right side of `θ`
/// (`separation_accuracy`).
///
/// # Shapes
/// output `[2n, …]` (flattened per sample), `n >= 1`.
///
/// # Errors
/// [`Error::Shape`] for an output with an odd or zero number of rows, or (with peer
/// normalisation) a width other than the earlier batches';
/// [`Error::NonFinite`] for a NaN or infinity in the output.
#[derive(Debug, Clone)]
pub struct ForwardForward {
    config: ForwardForwardConfig,
    /// `(goodness_positive, goodness_negative, separation_accuracy)` of the last batch
    /// learned from.
    last: Option<(f64, f64, f64)>,
    /// Running mean activity per unit over positive rows (peer normalisation), once a
    /// batch has been learned from.
    running_means: Option<Vec<f64>>,
}

impl ForwardForward {
    /// The configuration.
    pub fn config(&self) -> &ForwardForwardConfig {
        &self.config
    }

    /// Adds the peer-normalisation gradient to `grad` (rows `0..half` of `output` are
    /// positive, each `width` wide) and returns its loss term; updates the running means
    /// in [`Mode::Learn`].
    ///
    /// # Errors
    /// [`Error::Shape`] for an output whose width is not the one the running means were
    /// kept for.
    fn peer_normalization<F: Float>(
        &mut self,
        output: &Tensor<F>,
        grad: &mut Tensor<F>,
        half: usize,
        width: usize,
        mode: Mode,
    ) -> Result<f64> {
        if let Some(kept) = self.running_means.as_ref().filter(|r| r.len() != width) {
            return Err(Error::shape(
                "forward-forward: stage output (peer normalisation)",
                format!(
                    "{} values per sample, the width of the earlier batches",
                    kept.len()
                ),
                &[width],
            ));
        }
        let (lambda, m) = (self.config.peer_normalization, self.config.peer_momentum);
        let output = output.as_standard_layout();
        let values = output.as_slice().expect("standard layout is contiguous");
        // r_j ← m·r_j + (1 − m)·a_j, a_j the mean over positive rows; r starts at zero.
        let mut running: Vec<f64> = match &self.running_means {
            Some(kept) => kept.iter().map(|r| m * r).collect(),
            None => vec![0.0; width],
        };
        let share = (1.0 - m) / half as f64;
        for row in values[..half * width].chunks(width) {
            for (r, &h) in running.iter_mut().zip(row) {
                *r += share * h.as_f64();
            }
        }
        let peers = running.iter().sum::<f64>() / width as f64;
        let loss = lambda * running.iter().map(|r| (r - peers).powi(2)).sum::<f64>() / width as f64;
        // d loss / d h_ij = (2λ / width) (r_j − r̄) (1 − m) / half, for positive rows i
        // (the r̄ terms cancel: the deviations sum to zero).
        let per_unit: Vec<F> = running
            .iter()
            .map(|r| F::cast(2.0 * lambda / width as f64 * (r - peers) * share))
            .collect();
        for row in grad
            .as_slice_mut()
            .expect("standard layout is contiguous")
            .chunks_mut(width)
            .take(half)
        {
            for (g, &d) in row.iter_mut().zip(&per_unit) {
                *g += d;
            }
        }
        if mode == Mode::Learn {
            self.running_means = Some(running);
        }
        Ok(loss)
    }
}

/// `log(1 + eˣ)` without overflow.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// `1 / (1 + e⁻ˣ)` without overflow.
fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl<F: Float> LocalObjective<F> for ForwardForward {
    fn name(&self) -> String {
        format!(
            "forward-forward({}, threshold {})",
            self.config.goodness.name(),
            self.config.threshold
        )
    }

    fn signal(&mut self, ctx: &StageContext<'_, F>, mode: Mode) -> Result<LocalSignal<F>> {
        let rows = ctx.output.shape().first().copied().unwrap_or(0);
        if rows == 0 || rows % 2 == 1 || ctx.output.is_empty() {
            return Err(Error::shape(
                "forward-forward: stage output",
                "[2n, …] with n >= 1: n positive rows, then n negative rows",
                ctx.output.shape(),
            ));
        }
        check_finite(ctx.output, "forward-forward: stage output")?;
        let half = rows / 2;
        let width = ctx.output.len() / rows;
        let theta = self.config.theta(width);
        let scale = self.config.goodness.scale(width);
        let goodness = self.config.goodness.per_sample(ctx.output);
        let mut loss = 0.0;
        // dL/dg per row; positive rows want g above θ, negative rows below.
        let mut dl_dg = Vec::with_capacity(rows);
        let mut separated = 0usize;
        for (row, &g) in goodness.iter().enumerate() {
            let margin = g.as_f64() - theta;
            let sign = if row < half { -1.0 } else { 1.0 };
            loss += softplus(sign * margin);
            dl_dg.push(sign * sigmoid(sign * margin) / rows as f64);
            if sign * margin < 0.0 {
                separated += 1;
            }
        }
        loss /= rows as f64;
        // dg/dh = 2·scale·h.
        let mut grad_output = ctx.output.as_standard_layout().into_owned();
        for (row, values) in grad_output
            .as_slice_mut()
            .expect("standard layout is contiguous")
            .chunks_mut(width)
            .enumerate()
        {
            let factor = F::cast(2.0 * scale * dl_dg[row]);
            values.iter_mut().for_each(|v| *v *= factor);
        }
        if self.config.peer_normalization > 0.0 {
            loss += self.peer_normalization(ctx.output, &mut grad_output, half, width, mode)?;
        }
        if mode == Mode::Learn {
            let mean = |range: std::ops::Range<usize>| {
                goodness[range].iter().map(|g| g.as_f64()).sum::<f64>()
                    / (half as f64 * width as f64 * scale)
            };
            self.last = Some((
                mean(0..half),
                mean(half..rows),
                separated as f64 / rows as f64,
            ));
        }
        Ok(LocalSignal {
            loss: F::cast(loss),
            grad_output,
        })
    }

    fn metrics(&self) -> Vec<(String, f64)> {
        self.last
            .map(|(pos, neg, acc)| {
                vec![
                    ("goodness_positive".to_string(), pos),
                    ("goodness_negative".to_string(), neg),
                    ("separation_accuracy".to_string(), acc),
                ]
            })
            .unwrap_or_default()
    }

    /// Peer normalisation's running mean activities, once started, as `peer_means`
    /// (the bits of each `f64`, so they come back exactly).
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        if let Some(v) = self.last {
            let v: Vec<f64> = vec![v.0, v.1, v.2];
            state.put_floats(format!("{prefix}last"), &v);
        }
        if let Some(means) = &self.running_means {
            let bits = means.iter().map(|m| m.to_bits()).collect();
            state.put_counters(format!("{prefix}peer_means"), bits);
        }
    }

    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        if let Some(v) = state.take_floats_if_present(&format!("{prefix}last"), 3)? {
            self.last = Some((v[0], v[1], v[2]));
        }
        let name = format!("{prefix}peer_means");
        if let Some(bits) = state.take_counters_if_present(&name)? {
            let means: Vec<f64> = bits.into_iter().map(f64::from_bits).collect();
            if means.iter().any(|m| !m.is_finite()) {
                return Err(Error::NonFinite {
                    context: format!("state entry '{name}'"),
                });
            }
            self.running_means = Some(means);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use locus_core::Tensor;
    use ndarray::arr2;

    fn ff(goodness: Goodness, threshold: f64) -> ForwardForward {
        ForwardForwardConfig::default()
            .with_goodness(goodness)
            .with_threshold(threshold)
            .build()
            .unwrap()
    }

    #[test]
    fn loss_is_the_logistic_loss_of_goodness_against_the_threshold() {
        // Width 2, θ = 1 per unit: sum-of-squares θ = 2.
        let h = arr2(&[[1.0, 1.0], [2.0, 0.0], [0.0, 0.0], [1.0, 0.0]]).into_dyn();
        let mut obj = ff(Goodness::SumOfSquares, 1.0);
        let s = LocalObjective::<f64>::signal(&mut obj, &StageContext::new(&h, &h), Mode::Learn)
            .unwrap();
        // Goodness 2, 4 (positive) and 0, 1 (negative).
        let expected = (softplus(0.0) + softplus(-2.0) + softplus(-2.0) + softplus(-1.0)) / 4.0;
        assert!(
            (s.loss - expected).abs() < 1e-12,
            "{} vs {expected}",
            s.loss
        );
        // Positive rows are pushed up (negative gradient along h), negative rows down.
        assert!(s.grad_output[[0, 0]] < 0.0 && s.grad_output[[1, 0]] < 0.0);
        assert!(s.grad_output[[3, 0]] > 0.0);
        assert_eq!(s.grad_output[[2, 0]], 0.0);
        let m: std::collections::BTreeMap<_, _> =
            LocalObjective::<f64>::metrics(&obj).into_iter().collect();
        assert_eq!(m["goodness_positive"], 1.5); // (2 + 4) / 2 rows / 2 units
        assert_eq!(m["goodness_negative"], 0.25);
        assert_eq!(m["separation_accuracy"], 0.75); // g = θ is not separated
    }

    #[test]
    fn mean_goodness_divides_by_the_width() {
        let h = arr2(&[[2.0, 2.0], [0.0, 0.0]]).into_dyn();
        let mut obj = ff(Goodness::MeanOfSquares, 2.0);
        let s = LocalObjective::<f64>::signal(&mut obj, &StageContext::new(&h, &h), Mode::Evaluate)
            .unwrap();
        // Goodness 4 against θ = 2, and 0 against 2.
        let expected = (softplus(-2.0) + softplus(-2.0)) / 2.0;
        assert!((s.loss - expected).abs() < 1e-12);
        assert!(
            LocalObjective::<f64>::metrics(&obj).is_empty(),
            "Evaluate records nothing"
        );
    }

    #[test]
    fn extreme_goodness_stays_finite() {
        let h = arr2(&[[1e3, 1e3], [1e3, 1e3]]).into_dyn();
        let mut obj = ff(Goodness::SumOfSquares, 1.0);
        let s = LocalObjective::<f32>::signal(
            &mut obj,
            &StageContext::new(&h.mapv(|v| v as f32), &h.mapv(|v| v as f32)),
            Mode::Evaluate,
        )
        .unwrap();
        assert!(s.loss.is_finite() && s.loss > 1e5);
        assert!(s.grad_output.iter().all(|g| g.is_finite()));
    }

    #[test]
    fn bad_batches_and_settings_are_named() {
        let mut obj = ff(Goodness::SumOfSquares, 1.0);
        let odd = Tensor::<f64>::zeros(vec![3, 2]);
        let e = obj
            .signal(&StageContext::new(&odd, &odd), Mode::Learn)
            .unwrap_err();
        assert!(e.to_string().contains("positive rows"), "{e}");
        let empty = Tensor::<f64>::zeros(vec![0, 2]);
        assert!(obj
            .signal(&StageContext::new(&empty, &empty), Mode::Learn)
            .is_err());
        let mut nan = Tensor::<f64>::zeros(vec![2, 2]);
        nan[[1, 1]] = f64::NAN;
        assert!(matches!(
            obj.signal(&StageContext::new(&nan, &nan), Mode::Learn),
            Err(Error::NonFinite { .. })
        ));
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let e = ForwardForwardConfig::default()
                .with_threshold(bad)
                .build()
                .unwrap_err();
            assert!(e.to_string().contains("threshold"), "{e}");
        }
    }

    fn peer(weight: f64) -> ForwardForward {
        ForwardForwardConfig::default()
            .with_peer_normalization(weight, 0.9)
            .build()
            .unwrap()
    }

    #[test]
    fn peer_normalization_gradient_matches_finite_differences_after_learning() {
        // Two positive rows, two negative rows, width 3; one unit far more active.
        let first = arr2(&[
            [3.0, 0.1, 0.5],
            [2.0, 0.2, 0.4],
            [0.3, 0.1, 0.2],
            [0.5, 0.4, 0.1],
        ])
        .into_dyn();
        let h = arr2(&[
            [1.5, 0.3, 0.6],
            [2.5, 0.0, 0.9],
            [0.7, 0.2, 0.3],
            [0.1, 0.6, 0.8],
        ])
        .into_dyn();
        let mut obj = peer(0.5);
        // Learning from the first batch sets non-zero running means.
        LocalObjective::<f64>::signal(&mut obj, &StageContext::new(&first, &first), Mode::Learn)
            .unwrap();
        let loss_at = |obj: &mut ForwardForward, x: &Tensor<f64>| {
            LocalObjective::<f64>::signal(obj, &StageContext::new(x, x), Mode::Evaluate)
                .unwrap()
                .loss
        };
        let s = LocalObjective::<f64>::signal(&mut obj, &StageContext::new(&h, &h), Mode::Evaluate)
            .unwrap();
        let plain = LocalObjective::<f64>::signal(
            &mut peer(0.0),
            &StageContext::new(&h, &h),
            Mode::Evaluate,
        )
        .unwrap();
        assert!(s.loss > plain.loss, "the peer term adds to the loss");
        let eps = 1e-6;
        for (index, &analytic) in s.grad_output.indexed_iter() {
            let (mut up, mut down) = (h.clone(), h.clone());
            up[&index] += eps;
            down[&index] -= eps;
            let numeric = (loss_at(&mut obj, &up) - loss_at(&mut obj, &down)) / (2.0 * eps);
            assert!(
                (numeric - analytic).abs() < 1e-7,
                "{index:?}: {numeric} vs {analytic}"
            );
        }
        // Negative rows get no peer gradient; the most active unit is pulled down.
        assert_eq!(s.grad_output[[2, 0]], plain.grad_output[[2, 0]]);
        assert!(s.grad_output[[0, 0]] > plain.grad_output[[0, 0]]);
        assert!(s.grad_output[[0, 1]] < plain.grad_output[[0, 1]]);
    }

    #[test]
    fn peer_normalization_running_means_follow_learn_batches_only() {
        let h = arr2(&[[2.0, 0.0], [4.0, 0.0], [9.0, 9.0], [9.0, 9.0]]).into_dyn();
        let mut obj = peer(1.0);
        let eval = |obj: &mut ForwardForward| {
            LocalObjective::<f64>::signal(obj, &StageContext::new(&h, &h), Mode::Evaluate)
                .unwrap()
                .loss
        };
        let before = eval(&mut obj);
        assert_eq!(eval(&mut obj), before, "Evaluate leaves the running means");
        assert!(obj.running_means.is_none());
        LocalObjective::<f64>::signal(&mut obj, &StageContext::new(&h, &h), Mode::Learn).unwrap();
        // Positive-row means (3, 0), from zero with momentum 0.9: (0.3, 0).
        let r = obj.running_means.clone().unwrap();
        assert!((r[0] - 0.3).abs() < 1e-12 && r[1] == 0.0, "{r:?}");
        assert_ne!(eval(&mut obj), before, "the next batch sees the new means");
    }

    #[test]
    fn peer_normalization_refuses_a_change_of_width() {
        let mut obj = peer(0.1);
        let narrow = Tensor::<f64>::ones(vec![2, 3]);
        LocalObjective::<f64>::signal(&mut obj, &StageContext::new(&narrow, &narrow), Mode::Learn)
            .unwrap();
        let wide = Tensor::<f64>::ones(vec![2, 4]);
        let e =
            LocalObjective::<f64>::signal(&mut obj, &StageContext::new(&wide, &wide), Mode::Learn)
                .unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        assert!(e.to_string().contains("3 values per sample"), "{e}");
    }

    #[test]
    fn bad_peer_settings_are_named() {
        for (weight, momentum) in [(-0.1, 0.9), (f64::NAN, 0.9), (0.03, 1.0), (0.03, -0.5)] {
            let e = ForwardForwardConfig::default()
                .with_peer_normalization(weight, momentum)
                .build()
                .unwrap_err();
            assert!(e.to_string().contains("peer-normalisation"), "{e}");
        }
    }
}
