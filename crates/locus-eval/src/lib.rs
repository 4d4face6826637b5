//! Metrics, reports and plots: how runs are measured, written down and drawn.
#![warn(missing_docs)]

pub mod metrics;
pub mod plot;
mod report;

pub use report::{EpochRecord, RunReport, StageReport};
