//! The conformance suite of the [`LocalObjective`] trait.

use locus_objectives::{LocalObjective, Mode};

use super::objective_checks::{
    evaluate_is_pure, labels_checked, message_checked, nan_refused, network_input_checked,
    same_signal, signal_of, valid_signal, ContextData, FULL,
};
use super::{Check, ConformanceFailure};
use crate::finite_diff::{check_objective, FdOptions};

/// How to run the objective conformance suite: the shapes of the stage context, the
/// number of classes, the output values, the finite-difference settings and the seed.
///
/// The suite builds a full context (input, output, labels, a message of the output's
/// shape, a network input, and a global error when
/// [`ObjectiveConformance::global_error_shape`] is set), then removes or spoils one field
/// at a time.
///
/// # Example
/// ```
/// use locus_core::Loss;
/// use locus_objectives::{LocalObjective, SupervisedLoss};
/// use locus_testing::conformance::ObjectiveConformance;
///
/// ObjectiveConformance::new(&[6, 4])
///     .with_output_range(-3.0, 3.0)
///     .run("cross-entropy", |_seed| -> Box<dyn LocalObjective<f64>> {
///         Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
///     })
///     .unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectiveConformance {
    /// Shape of the stage output, batch first.
    pub output_shape: Vec<usize>,
    /// Shape of the stage input (default: the output's).
    pub input_shape: Vec<usize>,
    /// Labels are drawn from `0..classes` (default: the output's last axis).
    pub classes: usize,
    /// Output values are uniform on this range (default `(-2, 2)`).
    pub output_range: (f64, f64),
    /// Shape of the global error to put in the context, if any (default none).
    pub global_error_shape: Option<Vec<usize>>,
    /// Shape of the network input (the data the first stage received), batch first
    /// (default: the input's). Its values are drawn apart from the input's.
    pub network_input_shape: Vec<usize>,
    /// Settings of the finite-difference check.
    pub fd: FdOptions,
    /// Seed passed to `make` and used for the data (default 0).
    pub seed: u64,
}

impl ObjectiveConformance {
    /// The suite for a stage output of `output_shape`, with the default settings.
    ///
    /// # Panics
    /// When `output_shape` is empty or has a zero axis.
    pub fn new(output_shape: &[usize]) -> Self {
        assert!(
            !output_shape.is_empty() && output_shape.iter().all(|&d| d > 0),
            "a stage output needs a batch axis and no empty axis, got {output_shape:?}"
        );
        ObjectiveConformance {
            output_shape: output_shape.to_vec(),
            input_shape: output_shape.to_vec(),
            classes: output_shape[output_shape.len() - 1],
            output_range: (-2.0, 2.0),
            global_error_shape: None,
            network_input_shape: output_shape.to_vec(),
            fd: FdOptions::default(),
            seed: 0,
        }
    }

    /// Sets the stage input's shape, and the network input's to the same.
    pub fn with_input_shape(mut self, shape: &[usize]) -> Self {
        self.input_shape = shape.to_vec();
        self.network_input_shape = shape.to_vec();
        self
    }

    /// Sets the network input's shape (after [`ObjectiveConformance::with_input_shape`],
    /// which resets it).
    ///
    /// # Panics
    /// When `shape` is empty, has a zero axis or another batch size than the output's.
    pub fn with_network_input_shape(mut self, shape: &[usize]) -> Self {
        assert!(
            shape.first() == self.output_shape.first() && shape.iter().all(|&d| d > 0),
            "the network input needs the output's batch ({:?}) and no empty axis, got {shape:?}",
            self.output_shape[0]
        );
        self.network_input_shape = shape.to_vec();
        self
    }

    /// Sets the number of classes of the labels.
    ///
    /// # Panics
    /// When `classes` is 0.
    pub fn with_classes(mut self, classes: usize) -> Self {
        assert!(classes >= 1, "labels need at least one class");
        self.classes = classes;
        self
    }

    /// Sets the range of the output values.
    ///
    /// # Panics
    /// When not `lo < hi`, both finite.
    pub fn with_output_range(mut self, lo: f64, hi: f64) -> Self {
        assert!(
            lo.is_finite() && hi.is_finite() && lo < hi,
            "the output range needs finite lo < hi, got [{lo}, {hi})"
        );
        self.output_range = (lo, hi);
        self
    }

    /// Puts a global error of this shape in the context.
    pub fn with_global_error_shape(mut self, shape: &[usize]) -> Self {
        self.global_error_shape = Some(shape.to_vec());
        self
    }

    /// Sets the finite-difference settings.
    pub fn with_fd(mut self, fd: FdOptions) -> Self {
        self.fd = fd;
        self
    }

    /// Sets the seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Runs every [`Check`] that applies to objectives and stops at the first that fails:
    /// [`Check::ValidInput`], [`Check::EvaluateIsPure`], [`Check::Reproducible`],
    /// [`Check::Labels`], [`Check::Message`], [`Check::NetworkInput`],
    /// [`Check::NonFinite`] and, when
    /// [`LocalObjective::is_exact_gradient`] is true, [`Check::FiniteDifferences`].
    ///
    /// Label checks refuse a missing label list, one of the wrong length and a label
    /// `>= classes` when `needs_labels()`, and require success without labels
    /// otherwise. Message checks, when `needs_message()`, refuse a missing message in
    /// [`Mode::Learn`] (in [`Mode::Evaluate`] an objective may predict without one, as a
    /// synthetic gradient does, but must then return a valid signal) and a message of the
    /// wrong shape in both modes; otherwise they require success without a message.
    /// Network-input checks, when `needs_network_input()`, refuse in both modes a missing
    /// network input, one with a row more than the output and one holding a NaN; otherwise
    /// they require success without one. Each
    /// check that may change the objective uses a fresh one from `make(seed)`.
    ///
    /// # Errors
    /// The first [`ConformanceFailure`]. A panic where an error is required is caught
    /// and reported.
    pub fn run(
        &self,
        name: &str,
        make: impl Fn(u64) -> Box<dyn LocalObjective<f64>>,
    ) -> Result<(), ConformanceFailure> {
        let fresh = || make(self.seed);
        let subject = format!("{name} ({})", fresh().name());
        let fail = |check: Check| {
            let subject = subject.clone();
            move |detail: String| ConformanceFailure {
                subject,
                check,
                detail,
            }
        };
        let data = ContextData::draw(self);
        let full = data.context();

        let evaluated = valid_signal(fresh().as_mut(), &full).map_err(fail(Check::ValidInput))?;
        evaluate_is_pure(fresh().as_mut(), &full).map_err(fail(Check::EvaluateIsPure))?;
        let again = signal_of(fresh().as_mut(), &full, Mode::Evaluate, FULL)
            .map_err(fail(Check::Reproducible))?;
        same_signal("a second objective from the same seed", &evaluated, &again)
            .map_err(fail(Check::Reproducible))?;
        labels_checked(&fresh, &data, self.classes).map_err(fail(Check::Labels))?;
        message_checked(&fresh, &data).map_err(fail(Check::Message))?;
        network_input_checked(&fresh, &data).map_err(fail(Check::NetworkInput))?;
        nan_refused(&fresh, &data).map_err(fail(Check::NonFinite))?;

        if fresh().is_exact_gradient() {
            check_objective(fresh().as_mut(), &full, &self.fd)
                .map(|_| ())
                .map_err(|e| e.to_string())
                .map_err(fail(Check::FiniteDifferences))?;
        }
        Ok(())
    }
}

/// Runs the objective conformance suite with the default settings (see
/// [`ObjectiveConformance`]) on objectives built by `make(seed)`, for a stage output of
/// `output_shape`.
///
/// # Errors
/// The first [`ConformanceFailure`].
///
/// # Example
/// ```
/// use locus_objectives::UpstreamGradient;
/// use locus_testing::conformance::objective_conformance;
///
/// objective_conformance("backprop", |_| Box::new(UpstreamGradient), &[3, 5]).unwrap();
/// ```
pub fn objective_conformance(
    name: &str,
    make: impl Fn(u64) -> Box<dyn LocalObjective<f64>>,
    output_shape: &[usize],
) -> Result<(), ConformanceFailure> {
    ObjectiveConformance::new(output_shape).run(name, make)
}
