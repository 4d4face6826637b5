//! The HSIC bottleneck (Ma, Lewis & Kleijn 2020): a stage keeps what its output says about
//! the labels and forgets what it says about the network's input.

use std::borrow::Cow;

use locus_core::{Error, Float, Result, StateDict, Tensor};
use serde::{Deserialize, Serialize};

use crate::{
    hsic_with_grad, HsicEstimator, Kernel, LocalObjective, LocalSignal, Mode, StageContext,
};

/// A kernel of the HSIC bottleneck, for one of its three representations (the stage
/// output `Z`, the network input `X`, the one-hot labels `Y`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BottleneckKernel {
    /// The Gaussian kernel in the convention of the reference code (`kernelmat` in
    /// `hsicbt/math/hsic.py` of choasma/HSIC-bottleneck), which divides the squared
    /// distances by `2σ²·d`, `d` the width of the rows: for rows `d` wide this is
    /// [`Kernel::Gaussian`] with bandwidth `sigma·√d`. With the reference's `σ = 5`, a
    /// 64-unit layer gets `σ = 40`, a 40-sample MNIST-1D input `σ ≈ 31.6` and 10 one-hot
    /// classes `σ ≈ 15.8`. `sigma` must be finite and > 0.
    WidthScaledGaussian {
        /// The bandwidth per `√d`.
        sigma: f64,
    },
    /// A [`Kernel`] as it is, whatever the width of the rows.
    Fixed(Kernel),
}

impl BottleneckKernel {
    /// The [`Kernel`] for rows `width` wide.
    pub fn for_width(&self, width: usize) -> Kernel {
        match *self {
            BottleneckKernel::WidthScaledGaussian { sigma } => Kernel::Gaussian {
                sigma: sigma * (width as f64).sqrt(),
            },
            BottleneckKernel::Fixed(kernel) => kernel,
        }
    }

    fn check(&self, which: &str) -> Result<()> {
        match *self {
            BottleneckKernel::WidthScaledGaussian { sigma }
                if !(sigma.is_finite() && sigma > 0.0) =>
            {
                Err(Error::invalid(
                    &format!("HSIC bottleneck bandwidth σ of the {which} kernel"),
                    "should be finite and > 0",
                    sigma,
                ))
            }
            BottleneckKernel::WidthScaledGaussian { .. } => Ok(()),
            BottleneckKernel::Fixed(kernel) => kernel.validate(),
        }
    }
}

/// Configuration of a [`HsicBottleneck`], checked by [`HsicBottleneckConfig::check`].
///
/// The defaults are the reference configuration (`config/general-hsicbt.yaml` of
/// choasma/HSIC-bottleneck): `σ = 5` in the reference's convention for every kernel
/// ([`BottleneckKernel::WidthScaledGaussian`]), `λx = 1`, `λy = 50` (so `β = λy/λx = 50`)
/// and the estimator the reference code trains with,
/// [`HsicEstimator::NormalizedCca`] with `ε = 1e-5`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HsicBottleneckConfig {
    /// Number of classes: the width of the one-hot labels `Y` (>= 2).
    pub classes: usize,
    /// Weight `λx` of `nHSIC(Z, X)`, finite and >= 0 (default 1).
    pub lambda_x: f64,
    /// Weight `λy` of `nHSIC(Z, Y)`, finite and >= 0 (default 50).
    pub lambda_y: f64,
    /// The HSIC estimator (default [`HsicEstimator::NormalizedCca`], `ε = 1e-5`).
    pub estimator: HsicEstimator,
    /// Kernel of the stage output `Z` (default width-scaled Gaussian, `σ = 5`).
    pub kernel_z: BottleneckKernel,
    /// Kernel of the network input `X` (default width-scaled Gaussian, `σ = 5`).
    pub kernel_x: BottleneckKernel,
    /// Kernel of the one-hot labels `Y` (default width-scaled Gaussian, `σ = 5`).
    pub kernel_y: BottleneckKernel,
}

impl HsicBottleneckConfig {
    /// The reference configuration's `λx`.
    pub const DEFAULT_LAMBDA_X: f64 = 1.0;
    /// The reference configuration's `λy`.
    pub const DEFAULT_LAMBDA_Y: f64 = 50.0;
    /// The reference configuration's bandwidth `σ`, in its width-scaled convention
    /// ([`BottleneckKernel::WidthScaledGaussian`]).
    pub const DEFAULT_SIGMA: f64 = 5.0;

    /// The reference configuration for `classes` classes.
    pub fn new(classes: usize) -> Self {
        let kernel = BottleneckKernel::WidthScaledGaussian {
            sigma: Self::DEFAULT_SIGMA,
        };
        HsicBottleneckConfig {
            classes,
            lambda_x: Self::DEFAULT_LAMBDA_X,
            lambda_y: Self::DEFAULT_LAMBDA_Y,
            estimator: HsicEstimator::NormalizedCca { epsilon: 1e-5 },
            kernel_z: kernel,
            kernel_x: kernel,
            kernel_y: kernel,
        }
    }

    /// Sets the weights `λx` of `nHSIC(Z, X)` and `λy` of `nHSIC(Z, Y)`.
    pub fn with_lambdas(mut self, lambda_x: f64, lambda_y: f64) -> Self {
        self.lambda_x = lambda_x;
        self.lambda_y = lambda_y;
        self
    }

    /// Sets the estimator.
    pub fn with_estimator(mut self, estimator: HsicEstimator) -> Self {
        self.estimator = estimator;
        self
    }

    /// Sets one kernel for `Z`, `X` and `Y`.
    pub fn with_kernel(mut self, kernel: BottleneckKernel) -> Self {
        self.kernel_z = kernel;
        self.kernel_x = kernel;
        self.kernel_y = kernel;
        self
    }

    /// Sets the kernels of `Z`, `X` and `Y`.
    pub fn with_kernels(
        mut self,
        z: BottleneckKernel,
        x: BottleneckKernel,
        y: BottleneckKernel,
    ) -> Self {
        self.kernel_z = z;
        self.kernel_x = x;
        self.kernel_y = y;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the value: fewer than 2 classes, a `λ` that is
    /// not finite and >= 0, both `λ` zero, a kernel parameter that is not finite and > 0,
    /// or an estimator's `ε` that is not finite and > 0.
    pub fn check(&self) -> Result<()> {
        if self.classes < 2 {
            return Err(Error::invalid(
                "HSIC bottleneck number of classes",
                "should be >= 2",
                self.classes,
            ));
        }
        for (name, v) in [("λx", self.lambda_x), ("λy", self.lambda_y)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(
                    &format!("HSIC bottleneck weight {name}"),
                    "should be finite and >= 0",
                    v,
                ));
            }
        }
        if self.lambda_x == 0.0 && self.lambda_y == 0.0 {
            return Err(Error::invalid(
                "HSIC bottleneck weights λx and λy",
                "should not both be 0 (the stage would learn nothing)",
                "0 and 0",
            ));
        }
        if let HsicEstimator::NormalizedCca { epsilon } = self.estimator {
            if !(epsilon.is_finite() && epsilon > 0.0) {
                return Err(Error::invalid(
                    "HSIC bottleneck NOCCO regulariser ε",
                    "should be finite and > 0",
                    epsilon,
                ));
            }
        }
        self.kernel_z.check("Z (stage output)")?;
        self.kernel_x.check("X (network input)")?;
        self.kernel_y.check("Y (labels)")
    }

    /// Checks the configuration and builds the objective.
    ///
    /// # Errors
    /// As [`HsicBottleneckConfig::check`].
    pub fn build(&self) -> Result<HsicBottleneck> {
        self.check()?;
        Ok(HsicBottleneck {
            config: *self,
            last: None,
        })
    }
}

/// The HSIC bottleneck (Ma, Lewis & Kleijn 2020, "The HSIC Bottleneck: Deep Learning
/// without Back-Propagation", AAAI; the objective of §3): each stage on its own minimises
///
/// `L = λx·nHSIC(Z, X) − λy·nHSIC(Z, Y)`
///
/// on the batch, `Z` the stage's output, `X` the network's input batch (the data the first
/// stage received, [`StageContext::network_input`]) and `Y` the one-hot labels, each
/// flattened to one row per sample. The paper writes `nHSIC(Z, X) − β·nHSIC(Z, Y)`;
/// `β = λy/λx`. `L` is a statistic of the whole batch, not a mean of per-sample losses,
/// so its scale depends on the batch size (NOCCO's baseline grows with it). The signal is the exact gradient of `L` with respect to `Z`
/// ([`hsic_with_grad`]); `X` and `Y` are constants, so no error crosses the stages and
/// every stage can learn as soon as its forward pass is done, under any scheduler,
/// greedy layer-wise training included.
///
/// The network this trains is *unformatted*: its output depends on the labels, but not
/// as class scores. The paper's "format" step then trains one output layer by SGD on the
/// frozen last hidden layer (a linear probe).
///
/// As in the reference code, `σ` is relative to the width of each representation
/// ([`BottleneckKernel::WidthScaledGaussian`]), and the estimator is the regularised
/// normalisation [`HsicEstimator::NormalizedCca`] (`O(b³)` per batch of `b`). Unlike the
/// reference training loop, which runs the network forward again before each layer's
/// step, a lockstep scheduler gives every stage the same forward pass.
///
/// [`LocalObjective::metrics`] reports the last learned batch's `hsic_zx` and `hsic_zy`,
/// the per-layer curves of the paper's Fig. 2.
///
/// # Shapes
/// output `[b, …]`, network input `[b, …]`, labels `[b]` in `0..classes`; `b` at least
/// the estimator's [`min_batch`](HsicEstimator::min_batch).
///
/// # Errors
/// [`Error::InvalidParameter`] for a context without labels or without the network input;
/// [`Error::Shape`] when the labels or the network input do not have one row per output
/// row; [`Error::LabelOutOfRange`]; [`Error::NonFinite`] for a NaN or infinity in the
/// output or the network input; the estimator's errors (a batch that is too small).
#[derive(Debug, Clone, PartialEq)]
pub struct HsicBottleneck {
    config: HsicBottleneckConfig,
    /// `(nHSIC(Z, X), nHSIC(Z, Y))` of the last batch learned from.
    last: Option<(f64, f64)>,
}

impl HsicBottleneck {
    /// The configuration.
    pub fn config(&self) -> &HsicBottleneckConfig {
        &self.config
    }

    /// `(nHSIC(Z, X), nHSIC(Z, Y))` of the last batch learned from, if any.
    pub fn last_hsic(&self) -> Option<(f64, f64)> {
        self.last
    }

    /// The one-hot rows of `labels`, `[b, classes]`.
    fn one_hot<F: Float>(&self, labels: &[usize], batch: usize) -> Result<Tensor<F>> {
        if labels.len() != batch {
            return Err(Error::shape(
                "HSIC bottleneck labels",
                format!("one label per output row ({batch})"),
                &[labels.len()],
            ));
        }
        let classes = self.config.classes;
        if let Some((row, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
            return Err(Error::LabelOutOfRange {
                context: "HSIC bottleneck labels".into(),
                row,
                label,
                num_classes: classes,
            });
        }
        Ok(Tensor::from_shape_fn(vec![batch, classes], |i| {
            if labels[i[0]] == i[1] {
                F::one()
            } else {
                F::zero()
            }
        }))
    }
}

/// `t` as a `[b, features]` matrix (a view's copy only when it has more axes).
fn rows<F: Float>(t: &Tensor<F>) -> Result<Cow<'_, Tensor<F>>> {
    match t.shape() {
        [_, _] => Ok(Cow::Borrowed(t)),
        [b, rest @ ..] if !rest.is_empty() => {
            let width: usize = rest.iter().product();
            let flat = t
                .to_shape((*b, width))
                .map_err(|_| Error::shape("HSIC bottleneck rows", "[b, …]", t.shape()))?;
            Ok(Cow::Owned(flat.into_owned().into_dyn()))
        }
        _ => Err(Error::shape(
            "HSIC bottleneck representation",
            "[batch, features, …]",
            t.shape(),
        )),
    }
}

impl<F: Float> LocalObjective<F> for HsicBottleneck {
    fn name(&self) -> String {
        "hsic-bottleneck".into()
    }

    fn signal(&mut self, ctx: &StageContext<'_, F>, mode: Mode) -> Result<LocalSignal<F>> {
        let name = LocalObjective::<F>::name(self);
        let labels = ctx.labels.ok_or_else(|| {
            Error::invalid(
                "stage context for the HSIC bottleneck",
                "should carry labels",
                "a context without labels",
            )
        })?;
        let x = ctx.required_network_input(&name)?;
        let (z, x) = (rows(ctx.output)?, rows(x)?);
        let y = self.one_hot::<F>(labels, z.shape()[0])?;
        let width = |t: &Tensor<F>| t.shape()[1];
        let kz = self.config.kernel_z.for_width(width(&z));
        let kx = self.config.kernel_x.for_width(width(&x));
        let ky = self.config.kernel_y.for_width(width(&y));
        let estimator = self.config.estimator;
        let (zx, grad_zx) = hsic_with_grad(&z, &x, kz, kx, estimator)?;
        let (zy, grad_zy) = hsic_with_grad(&z, &y, kz, ky, estimator)?;
        let (lx, ly) = (self.config.lambda_x, self.config.lambda_y);
        let grad = grad_zx * F::cast(lx) - grad_zy * F::cast(ly);
        let grad_output = grad
            .into_shape_with_order(ctx.output.shape())
            .map_err(|_| Error::shape("HSIC bottleneck gradient", "the output's", &[]))?;
        if mode == Mode::Learn {
            self.last = Some((zx, zy));
        }
        Ok(LocalSignal {
            loss: F::cast(lx * zx - ly * zy),
            grad_output,
        })
    }

    fn needs_labels(&self) -> bool {
        true
    }

    fn needs_network_input(&self) -> bool {
        true
    }

    /// False only with [`Kernel::GaussianMedian`] for `Z`: its `σ`, the batch's median,
    /// moves with `Z` but is held constant in the gradient.
    fn is_exact_gradient(&self) -> bool {
        self.config.kernel_z != BottleneckKernel::Fixed(Kernel::GaussianMedian)
    }

    fn metrics(&self) -> Vec<(String, f64)> {
        self.last
            .map(|(zx, zy)| vec![("hsic_zx".into(), zx), ("hsic_zy".into(), zy)])
            .unwrap_or_default()
    }

    /// The figures of the last batch it learned from (`last`, exact bits), which it
    /// reports until it learns again.
    fn save_state(&self, prefix: &str, state: &mut StateDict<F>) {
        if let Some(v) = self.last {
            let v: Vec<f64> = vec![v.0, v.1];
            state.put_floats(format!("{prefix}last"), &v);
        }
    }

    fn load_state(&mut self, prefix: &str, state: &mut StateDict<F>) -> Result<()> {
        if let Some(v) = state.take_floats_if_present(&format!("{prefix}last"), 2)? {
            self.last = Some((v[0], v[1]));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn bottleneck(classes: usize) -> HsicBottleneck {
        HsicBottleneckConfig::new(classes).build().unwrap()
    }

    #[test]
    fn the_loss_is_the_weighted_difference_of_the_two_estimates() {
        let x = Tensor::from_shape_fn(vec![6, 2, 3], |i| (i[0] * 7 + i[1] * 3 + i[2]) as f64 % 5.0);
        let z = Tensor::from_shape_fn(vec![6, 4], |i| ((i[0] * 5 + i[1] * 2) % 7) as f64 - 3.0);
        let labels = [0, 1, 2, 0, 1, 2];
        let ctx = StageContext::new(&x, &z)
            .with_labels(&labels)
            .with_network_input(&x);
        let mut objective = bottleneck(3);
        let s = objective.signal(&ctx, Mode::Learn).unwrap();
        let flat_x = x.clone().into_shape_with_order(vec![6, 6]).unwrap();
        let y =
            Array2::from_shape_fn((6, 3), |(i, c)| f64::from(u8::from(labels[i] == c))).into_dyn();
        let est = HsicEstimator::NormalizedCca { epsilon: 1e-5 };
        let gauss = |d: f64| Kernel::Gaussian {
            sigma: 5.0 * d.sqrt(),
        };
        let (zx, _) = hsic_with_grad(&z, &flat_x, gauss(4.0), gauss(6.0), est).unwrap();
        let (zy, _) = hsic_with_grad(&z, &y, gauss(4.0), gauss(3.0), est).unwrap();
        assert!(
            (s.loss - (zx - 50.0 * zy)).abs() < 1e-12,
            "{} vs {}",
            s.loss,
            zx - 50.0 * zy
        );
        assert_eq!(
            LocalObjective::<f64>::metrics(&objective),
            vec![("hsic_zx".to_string(), zx), ("hsic_zy".to_string(), zy)]
        );
        // Evaluation leaves the figures of the last learned batch alone.
        let other = z.mapv(|v| v * 2.0);
        objective
            .signal(
                &StageContext {
                    output: &other,
                    ..ctx
                },
                Mode::Evaluate,
            )
            .unwrap();
        assert_eq!(objective.last_hsic(), Some((zx, zy)));
    }

    #[test]
    fn missing_or_misshapen_context_is_refused_by_name() {
        let x = Tensor::<f64>::from_shape_fn(vec![4, 3], |i| (i[0] + 2 * i[1]) as f64);
        let z = x.mapv(f64::sin);
        let mut objective = bottleneck(2);
        let labels = [0, 1, 1, 0];
        let no_labels = StageContext::new(&x, &z).with_network_input(&x);
        let e = objective.signal(&no_labels, Mode::Learn).unwrap_err();
        assert!(e.to_string().contains("labels"), "{e}");
        let no_input = StageContext::new(&x, &z).with_labels(&labels);
        let e = objective.signal(&no_input, Mode::Evaluate).unwrap_err();
        assert!(e.to_string().contains("network input"), "{e}");
        let short = Tensor::<f64>::zeros(vec![3, 3]);
        let e = objective
            .signal(&no_input.with_network_input(&short), Mode::Learn)
            .unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let e = objective
            .signal(&no_labels.with_labels(&[0, 1, 2, 0]), Mode::Learn)
            .unwrap_err();
        assert!(matches!(e, Error::LabelOutOfRange { label: 2, .. }), "{e}");
    }

    #[test]
    fn bad_configurations_are_refused_naming_the_value() {
        let base = HsicBottleneckConfig::new(10);
        assert!(base.check().is_ok());
        for (config, words) in [
            (HsicBottleneckConfig::new(1), "classes"),
            (base.with_lambdas(-1.0, 50.0), "λx"),
            (base.with_lambdas(1.0, f64::NAN), "λy"),
            (base.with_lambdas(0.0, 0.0), "both be 0"),
            (
                base.with_estimator(HsicEstimator::NormalizedCca { epsilon: 0.0 }),
                "ε",
            ),
            (
                base.with_kernel(BottleneckKernel::WidthScaledGaussian { sigma: -5.0 }),
                "-5",
            ),
            (
                base.with_kernels(
                    BottleneckKernel::WidthScaledGaussian { sigma: 5.0 },
                    BottleneckKernel::Fixed(Kernel::InverseMultiquadric { c: 0.0 }),
                    BottleneckKernel::WidthScaledGaussian { sigma: 5.0 },
                ),
                "inverse multiquadric",
            ),
        ] {
            let e = config.build().unwrap_err();
            assert!(e.to_string().contains(words), "{words}: {e}");
        }
    }

    #[test]
    fn the_reference_sigma_scales_with_the_width() {
        let k = BottleneckKernel::WidthScaledGaussian { sigma: 5.0 };
        assert_eq!(k.for_width(64), Kernel::Gaussian { sigma: 40.0 });
        let fixed = BottleneckKernel::Fixed(Kernel::Linear);
        assert_eq!(fixed.for_width(64), Kernel::Linear);
    }
}
