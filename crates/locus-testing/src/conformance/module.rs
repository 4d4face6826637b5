//! The conformance suite of the [`Module`] trait.

use locus_core::{seeded_rng, Module};

use super::module_checks::{
    backward_arguments, caller_owned_cache, deterministic, infer_matches_forward, input_gradient,
    param_gradients, param_names, reproducible, snapshot, valid_input,
};
use super::{expect_refusal, Check, ConformanceFailure};
use crate::finite_diff::{check_module, FdOptions};
use crate::sample::{away_from_zero, uniform};

/// Salt that keeps the suite's data stream apart from the module's own seed.
const DATA_SALT: u64 = 0x5eed_da7a;

/// How to run the module conformance suite: the input shape, the shapes the module must
/// refuse, the input values, the finite-difference settings and the seed.
///
/// Every check runs on modules built by `make(seed)`; the inputs are two batches with
/// magnitudes in [`ModuleConformance::input_magnitude`] and random signs, kept away from 0
/// so that ReLU-like kinks are not straddled by the finite differences.
///
/// # Example
/// ```
/// use locus_core::{seeded_rng, Module, LinearConfig};
/// use locus_testing::conformance::ModuleConformance;
///
/// let make = |seed| -> Box<dyn Module<f64>> {
///     Box::new(LinearConfig::new(4, 3).init(&mut seeded_rng(seed)).unwrap())
/// };
/// ModuleConformance::new(&[5, 4]).with_seed(7).run("linear", make).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleConformance {
    /// Shape of the valid test input, batch first.
    pub input_shape: Vec<usize>,
    /// Input magnitudes are uniform on `[min, max)` with random signs (default
    /// `(0.1, 1.0)`).
    pub input_magnitude: (f64, f64),
    /// Input shapes `forward` and `infer` must refuse with an error. By default: the last
    /// axis one longer, the last axis dropped, and an extra trailing axis of 2. Modules
    /// that take any shape (element-wise activations) set their own, possibly none.
    pub wrong_input_shapes: Vec<Vec<usize>>,
    /// Settings of the finite-difference check.
    pub fd: FdOptions,
    /// Seed passed to `make` and used for the data (default 0).
    pub seed: u64,
}

impl ModuleConformance {
    /// The suite for a module taking inputs of `input_shape`, with the default settings.
    ///
    /// # Panics
    /// When `input_shape` is empty (a module's input has at least a batch axis).
    pub fn new(input_shape: &[usize]) -> Self {
        assert!(
            !input_shape.is_empty(),
            "a module's test input needs at least a batch axis"
        );
        let rank = input_shape.len();
        let mut longer = input_shape.to_vec();
        longer[rank - 1] += 1;
        let shorter = input_shape[..rank - 1].to_vec();
        let mut deeper = input_shape.to_vec();
        deeper.push(2);
        ModuleConformance {
            input_shape: input_shape.to_vec(),
            input_magnitude: (0.1, 1.0),
            wrong_input_shapes: vec![longer, shorter, deeper],
            fd: FdOptions::default(),
            seed: 0,
        }
    }

    /// Sets the input shapes the module must refuse.
    pub fn with_wrong_input_shapes(mut self, shapes: Vec<Vec<usize>>) -> Self {
        self.wrong_input_shapes = shapes;
        self
    }

    /// Sets the range of the input magnitudes.
    ///
    /// # Panics
    /// When not `0 <= min < max`, both finite.
    pub fn with_input_magnitude(mut self, min: f64, max: f64) -> Self {
        assert!(
            min >= 0.0 && min < max && max.is_finite(),
            "input magnitudes need 0 <= min < max, got [{min}, {max})"
        );
        self.input_magnitude = (min, max);
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

    /// Runs every [`Check`] that applies to modules, in the order they are declared, and
    /// stops at the first that fails.
    ///
    /// `name` labels the failure (with the module's own `name()`); `make(seed)` must
    /// build the module from a seed, the same module for the same seed.
    ///
    /// # Errors
    /// The first [`ConformanceFailure`]. Panics inside the module are caught (and
    /// reported) where the contract asks for an error instead; a panic on a valid call
    /// propagates, and its message is the failure.
    pub fn run(
        &self,
        name: &str,
        make: impl Fn(u64) -> Box<dyn Module<f64>>,
    ) -> Result<(), ConformanceFailure> {
        let mut module = make(self.seed);
        let subject = format!("{name} ({})", module.name());
        let fail = |check: Check| {
            let subject = subject.clone();
            move |detail: String| ConformanceFailure {
                subject,
                check,
                detail,
            }
        };
        let (lo, hi) = self.input_magnitude;
        let mut rng = seeded_rng(self.seed ^ DATA_SALT);
        let x_a = away_from_zero(&self.input_shape, lo, hi, &mut rng);
        let x_b = away_from_zero(&self.input_shape, lo, hi, &mut rng);

        param_names(module.as_mut()).map_err(fail(Check::ParamNames))?;
        let params = snapshot(module.as_ref());
        reproducible(&params, make(self.seed).as_ref()).map_err(fail(Check::Reproducible))?;

        let m = module.as_ref();
        let a = valid_input(m, x_a, &mut rng).map_err(fail(Check::ValidInput))?;
        // Determinism first: every later check compares repeated calls.
        deterministic(m, &a, &params).map_err(fail(Check::Deterministic))?;
        param_gradients(m, &a.grads).map_err(fail(Check::ParamGradients))?;
        input_gradient(m, &a).map_err(fail(Check::InputGradient))?;
        infer_matches_forward(m, &a).map_err(fail(Check::InferMatchesForward))?;
        let r_b = uniform(a.y.shape(), -1.0, 1.0, &mut rng);
        caller_owned_cache(m, &a, x_b, r_b).map_err(fail(Check::CallerOwnedCache))?;
        for shape in &self.wrong_input_shapes {
            let x = away_from_zero(shape, lo, hi, &mut rng);
            expect_refusal(&format!("forward on an input of shape {shape:?}"), || {
                m.forward(&x)
            })
            .and_then(|()| {
                expect_refusal(&format!("infer on an input of shape {shape:?}"), || {
                    m.infer(&x)
                })
            })
            .map_err(fail(Check::WrongInputShape))?;
        }
        backward_arguments(m, &a).map_err(fail(Check::BackwardArguments))?;

        check_module(module.as_mut(), &a.x, &self.fd)
            .map(|_| ())
            .map_err(|e| e.to_string())
            .map_err(fail(Check::FiniteDifferences))
    }
}

/// Runs the module conformance suite with the default settings (see
/// [`ModuleConformance`]) on modules built by `make(seed)`, with a valid input of
/// `input_shape`.
///
/// # Errors
/// The first [`ConformanceFailure`].
///
/// # Example
/// ```
/// use locus_core::{seeded_rng, Activation, LinearConfig, Module, Sequential};
/// use locus_testing::conformance::module_conformance;
///
/// module_conformance(
///     "two-layer perceptron",
///     |seed| {
///         let mut rng = seeded_rng(seed);
///         Box::new(
///             Sequential::new()
///                 .push(LinearConfig::new(3, 8).init::<f64>(&mut rng).unwrap())
///                 .push(Activation::Tanh)
///                 .push(LinearConfig::new(8, 2).init::<f64>(&mut rng).unwrap()),
///         )
///     },
///     &[4, 3],
/// )
/// .unwrap();
/// ```
pub fn module_conformance(
    name: &str,
    make: impl Fn(u64) -> Box<dyn Module<f64>>,
    input_shape: &[usize],
) -> Result<(), ConformanceFailure> {
    ModuleConformance::new(input_shape).run(name, make)
}
