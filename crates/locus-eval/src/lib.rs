//! Metrics, reports and plots: how runs are measured, written down and drawn.
#![warn(missing_docs)]

pub mod metrics;
pub mod plot;
pub mod pooling;
pub mod probe;
mod report;

pub use pooling::FeaturePooling;
pub use probe::{probe_accuracy, LinearProbe, ProbeConfig};
pub use report::{EpochRecord, RunReport, StageReport};
