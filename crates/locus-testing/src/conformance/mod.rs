//! Conformance suites: the contract every [`Module`](locus_core::Module) and every
//! [`LocalObjective`](locus_objectives::LocalObjective) must keep, checked in one call.
//!
//! [`module_conformance`] and [`objective_conformance`] run with defaults;
//! [`ModuleConformance`] and [`ObjectiveConformance`] set shapes, tolerances and seeds.
//! A failure says which [`Check`] broke and why, so a new layer or learning rule is
//! debugged from the message alone. Run them from your own tests on your own modules and
//! objectives, as `locus-testing`'s `tests/conformance.rs` does for the built-in ones.

mod module;
mod module_checks;
mod objective;
mod objective_checks;

pub use module::{module_conformance, ModuleConformance};
pub use objective::{objective_conformance, ObjectiveConformance};

use std::panic::{catch_unwind, AssertUnwindSafe};

use thiserror::Error;

/// One property of the contract, as named in a [`ConformanceFailure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// Parameter names are non-empty and unique, and `params_mut` lists the same names
    /// and shapes as `params`, in the same order.
    ParamNames,
    /// Building twice from the same seed gives the same parameters (modules) or the same
    /// signal (objectives).
    Reproducible,
    /// Calls on a valid input succeed and return finite values of the right shapes.
    ValidInput,
    /// Repeated calls give bit-identical results and leave the parameters unchanged.
    Deterministic,
    /// `Gradients::params` has one gradient per parameter, in the order and with the
    /// shapes of `params`.
    ParamGradients,
    /// `need_input_grad = true` returns an input gradient of the input's shape;
    /// `need_input_grad = false` returns none and the same parameter gradients.
    InputGradient,
    /// `infer` returns what `forward` returns.
    InferMatchesForward,
    /// Caches are caller-owned: two batches in flight (forward A, forward B, backward A,
    /// backward B) give the same results as each batch alone.
    CallerOwnedCache,
    /// An input of a shape the module does not take is refused with an error, not a
    /// panic.
    WrongInputShape,
    /// `backward` refuses a `grad_output` of the wrong shape with an error, and a foreign
    /// cache does not make it panic.
    BackwardArguments,
    /// Analytic gradients agree with central finite differences.
    FiniteDifferences,
    /// Mode::Evaluate is pure: two calls give identical results.
    EvaluateIsPure,
    /// Labels are required exactly when `needs_labels()` says so, and bad labels are
    /// refused.
    Labels,
    /// The message from above is required in `Mode::Learn` exactly when `needs_message()`
    /// says so (in `Mode::Evaluate` it may be optional), and a message of the wrong shape is
    /// refused.
    Message,
    /// The network input is required exactly when `needs_network_input()` says so, and
    /// one of the wrong batch size or holding a NaN is refused.
    NetworkInput,
    /// A NaN in the output (or in a required message) is an error, not a silently
    /// non-finite or finite loss.
    NonFinite,
}

impl Check {
    /// The property in words, for messages.
    pub fn description(&self) -> &'static str {
        match self {
            Check::ParamNames => "parameter names are non-empty, unique and the same in params_mut",
            Check::Reproducible => "construction is reproducible from its seed",
            Check::ValidInput => "calls on a valid input succeed with finite, well-shaped results",
            Check::ParamGradients => {
                "parameter gradients follow params() in count, order and shape"
            }
            Check::InputGradient => "need_input_grad controls the input gradient only",
            Check::InferMatchesForward => "infer equals forward's output",
            Check::Deterministic => {
                "repeated calls are bit-identical and leave parameters unchanged"
            }
            Check::CallerOwnedCache => "caches are caller-owned (two batches in flight)",
            Check::WrongInputShape => "a wrong input shape is an error, not a panic",
            Check::BackwardArguments => {
                "backward refuses a wrong grad_output shape without panicking"
            }
            Check::FiniteDifferences => "gradients match central finite differences",
            Check::EvaluateIsPure => "Mode::Evaluate is pure",
            Check::Labels => "labels are required exactly when needs_labels() says so",
            Check::Message => "the message is required exactly when needs_message() says so",
            Check::NetworkInput => {
                "the network input is required exactly when needs_network_input() says so"
            }
            Check::NonFinite => "a NaN input to the objective is an error",
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

/// A broken contract: which implementation, which [`Check`], and what was found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{subject} fails conformance: {check}: {detail}")]
pub struct ConformanceFailure {
    /// The name given to the suite, with the implementation's own `name()`.
    pub subject: String,
    /// The property that does not hold.
    pub check: Check,
    /// What was found, with the values involved.
    pub detail: String,
}

/// Runs `f`, turning a panic into `Err` with the panic's message.
fn no_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

/// Calls `f`, which must return an error without panicking; `what` names the call.
fn expect_refusal<T, E>(what: &str, f: impl FnOnce() -> Result<T, E>) -> Result<(), String> {
    match no_panic(f) {
        Ok(Err(_)) => Ok(()),
        Ok(Ok(_)) => Err(format!("{what} was accepted (it should return an error)")),
        Err(message) => Err(format!(
            "{what} panicked instead of returning an error: {message}"
        )),
    }
}

/// The first position where two tensors differ in shape or in bits, in words.
fn first_difference(a: &locus_core::Tensor<f64>, b: &locus_core::Tensor<f64>) -> Option<String> {
    if a.shape() != b.shape() {
        return Some(format!("shapes {:?} and {:?}", a.shape(), b.shape()));
    }
    a.iter()
        .zip(b.iter())
        .position(|(x, y)| x.to_bits() != y.to_bits())
        .map(|flat| {
            let index = crate::sample::unravel(flat, a.shape());
            format!("at {index:?}: {:e} vs {:e}", a[&index[..]], b[&index[..]])
        })
}
