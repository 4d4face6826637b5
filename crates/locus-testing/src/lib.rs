//! Test helpers for locus and for its users' own modules and objectives.
#![warn(missing_docs)]

pub mod shared_data;
