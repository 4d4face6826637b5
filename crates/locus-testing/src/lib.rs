//! Test helpers for locus and for its users' own modules and objectives.
//!
//! - [`strategies`]: proptest strategies for shapes, tensors, labels and hyper-parameters;
//! - [`finite_diff`]: central finite-difference checks of module and objective gradients;
//! - [`conformance`]: the contract every `Module` and `LocalObjective` must keep, checked
//!   in one call;
//! - [`estimators`]: the properties of InfoNCE, NWJ, DV, JS and HSIC as estimators, the
//!   true critic of correlated Gaussians, and the bias and variance study built on it;
//! - [`shared_data`]: where tests find the real data sets;
//! - [`mpi_job`]: an `mpirun` job started from a test, bounded in time.
#![warn(missing_docs)]

pub mod conformance;
pub mod estimators;
pub mod finite_diff;
pub mod mpi_job;
mod sample;
pub mod shared_data;
pub mod strategies;
