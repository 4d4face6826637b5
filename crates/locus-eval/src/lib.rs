//! Metrics, reports and plots: how runs are measured, written down and drawn.
//!
//! Plots are drawn with plotters, as PNG or SVG, in DejaVu Sans compiled into the library
//! (no system font needed); [`plot`] says why plotters and which of its features.
#![warn(missing_docs)]

mod collapse;
pub mod metrics;
pub mod plot;
pub mod pooling;
pub mod probe;
mod report;
pub mod unformatted;

pub use collapse::{collapse_warnings, MAX_PROBE_DROP, MIN_INFONCE_BOUND, MIN_OUTPUT_STD};
pub use pooling::FeaturePooling;
pub use probe::{probe_accuracy, LinearProbe, ProbeConfig};
pub use report::{EpochRecord, ReportParseError, RunReport, StageReport};
pub use unformatted::{best_unit_matching, unformatted_accuracy};
