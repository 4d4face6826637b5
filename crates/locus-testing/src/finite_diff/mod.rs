//! Central finite differences in `f64`: the ground truth every analytic gradient in locus
//! is checked against.
//!
//! [`check_module`] checks a [`Module`](locus_core::Module)'s input and parameter
//! gradients, [`check_objective`] a
//! [`LocalObjective`](locus_objectives::LocalObjective)'s gradient with respect to the
//! stage output. Both compare with the mixed tolerance of [`FdOptions`] and report the
//! first coordinate that disagrees as an [`FdFailure`].

mod module;
mod objective;
mod options;

pub use module::check_module;
pub use objective::check_objective;
pub use options::{FdFailure, FdOptions, FdReport};
