use thiserror::Error;

/// Errors raised by modules, losses and optimizers.
///
/// Every variant names *where* the problem is (the layer, loss or hyper-parameter) and
/// *what* was found, so a user can act on the message alone.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A tensor did not have the shape an operation needs.
    #[error("shape mismatch in {context}: expected {expected}, got {got:?}")]
    Shape {
        /// The layer or function that checked the shape.
        context: String,
        /// The shape it needs, in words (e.g. "[batch, 784]").
        expected: String,
        /// The shape it received.
        got: Vec<usize>,
    },
    /// A hyper-parameter or configuration value is outside its valid range.
    #[error("invalid {name}: {reason}, but it is {value}")]
    InvalidParameter {
        /// The parameter's name (e.g. "learning rate").
        name: String,
        /// What a valid value looks like (e.g. "should be > 0").
        reason: String,
        /// The value received, printed.
        value: String,
    },
    /// A NaN or infinity appeared where only finite numbers make sense.
    #[error("non-finite value (NaN or infinity) in {context}")]
    NonFinite {
        /// Where it was found.
        context: String,
    },
    /// A label is outside `0..num_classes`.
    #[error(
        "label {label} at batch row {row} is out of range for {num_classes} classes in {context}"
    )]
    LabelOutOfRange {
        /// Where the label was used.
        context: String,
        /// The offending row of the batch.
        row: usize,
        /// The label found.
        label: usize,
        /// The number of classes (outputs) available.
        num_classes: usize,
    },
    /// A cache handed to `backward` was not made by the same module's `forward`.
    #[error("cache mismatch in {context}: {reason}")]
    Cache {
        /// The module whose backward pass received the cache.
        context: String,
        /// What was missing or wrong.
        reason: String,
    },
    /// Gradients do not line up with the parameters they should update.
    #[error("gradient/parameter mismatch in {context}: {reason}")]
    GradientMismatch {
        /// The optimizer or stage that noticed.
        context: String,
        /// What did not match.
        reason: String,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn invalid(name: &str, reason: &str, value: impl std::fmt::Display) -> Self {
        Error::InvalidParameter {
            name: name.to_string(),
            reason: reason.to_string(),
            value: value.to_string(),
        }
    }

    /// Shorthand for [`Error::Shape`].
    pub fn shape(context: impl Into<String>, expected: impl Into<String>, got: &[usize]) -> Self {
        Error::Shape {
            context: context.into(),
            expected: expected.into(),
            got: got.to_vec(),
        }
    }
}

/// Result type of locus-core.
pub type Result<T> = std::result::Result<T, Error>;
