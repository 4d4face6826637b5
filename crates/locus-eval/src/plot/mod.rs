//! Learning-curve plots as PNG files, with no plotting dependency: a small RGB raster, a
//! built-in bitmap font, a line chart with nice axes and a legend, and a PNG encoder.
//!
//! ```
//! use locus_eval::plot::{LineChart, Series};
//!
//! let image = LineChart::new("loss")
//!     .x_label("epoch")
//!     .series(Series::new("train", vec![(1.0, 2.3), (2.0, 1.1), (3.0, 0.7)]))
//!     .series(Series::new("test", vec![(1.0, 2.4), (2.0, 1.3), (3.0, 0.9)]))
//!     .render(800, 500)?;
//! let png: Vec<u8> = image.to_png_bytes();
//! # assert!(png.len() > 100);
//! # Ok::<(), locus_eval::plot::PlotError>(())
//! ```

mod canvas;
mod chart;
mod curves;
mod error;
mod font;
mod layout;
mod legend;
mod png;
mod stage_accuracy;
mod ticks;

pub use canvas::{Image, Rgb};
pub use chart::{LineChart, Series, LINE_THICKNESS, PALETTE};
pub use curves::{alignment_curves, learning_curves, loss_curves, stage_metric_curves, Metric};
pub use error::PlotError;
pub use stage_accuracy::stage_accuracy_curves;

/// The largest image side, in pixels, that [`Image::new`] and [`LineChart::render`] accept.
pub const MAX_SIDE: u32 = 8192;

/// The largest magnitude an axis end may have. Beyond it the span of an axis could overflow
/// `f64`; points beyond it can still be drawn (clipped) on an axis with a fixed range.
pub const MAX_VALUE: f64 = 1e300;
