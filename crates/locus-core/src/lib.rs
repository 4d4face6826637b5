//! Core building blocks of locus: the [`Float`] alias, batch-first [`Tensor`]s, the
//! [`Module`] trait with caller-owned forward caches, layers, losses and optimizers.
//!
//! A module never stores activations: [`Module::forward`] hands the caller a [`Cache`],
//! and [`Module::backward`] reads it back. A stage can therefore keep several batches in
//! flight (pipelining, simulated delays) with one set of weights.
#![warn(missing_docs)]

mod error;
mod float;
pub mod init;
mod kernels;
pub mod layers;
pub mod loss;
mod matmul;
mod module;
pub mod optim;
mod rng;
pub mod scratch;
pub mod state;
mod tensor;

pub use error::{Error, Result};
pub use float::Float;
pub use layers::{
    Activation, AvgPool2d, BatchNorm1d, BatchNormConfig, Conv1d, Conv1dConfig, Conv2d,
    Conv2dConfig, Feedback, FeedbackRule, Flatten, LayerNorm, LayerNormConfig, Linear,
    LinearConfig, LstmCell, LstmConfig, LstmState, MaxPool2d, Patches, Pool2dConfig, Reshape,
    Sequential, SparseCoding, SparseCodingConfig,
};
pub use loss::Loss;
pub use matmul::{affine, limit_matmul_threads_here, matmul, matmul_threads};
pub use module::{Cache, Gradients, Module, Param, ParamMut};
pub use optim::{Adam, AdamConfig, Optimizer, OptimizerConfig, OptimizerState, Sgd, SgdConfig};
pub use rng::{seeded_rng, SeededRng};
pub use state::{load_optimizer, save_optimizer, StateDict, StateValue};
pub use tensor::{angle_deg, angle_deg_concat, as_matrix, check_finite, matrix_to_tensor, Tensor};
