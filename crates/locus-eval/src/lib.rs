//! Metrics and reports: how runs are measured and written down.
#![warn(missing_docs)]

pub mod metrics;
mod report;

pub use report::{EpochRecord, RunReport, StageReport};
