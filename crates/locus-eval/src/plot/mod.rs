//! Learning-curve plots as PNG or SVG files, drawn with [plotters].
//!
//! ```
//! use locus_eval::plot::{LineChart, Series};
//!
//! let chart = LineChart::new("loss")
//!     .x_label("epoch")
//!     .series(Series::new("train", vec![(1.0, 2.3), (2.0, 1.1), (3.0, 0.7)]))
//!     .series(Series::new("test", vec![(1.0, 2.4), (2.0, 1.3), (3.0, 0.9)]));
//! let png: Vec<u8> = chart.to_png(800, 500)?;
//! # assert!(png.starts_with(b"\x89PNG"));
//! let svg: String = chart.to_svg(800, 500)?;
//! # assert!(svg.lines().any(|l| l.trim() == "train"));
//! # Ok::<(), locus_eval::plot::PlotError>(())
//! ```
//!
//! # Why plotters, and which parts of it
//! plotters is the common Rust plotting library: it draws the grid, tick marks and labels,
//! axis names, lines and shapes, on a bitmap (PNG) or as SVG from the same code, which a
//! hand-written raster could not do. It is used with `default-features = false` and only:
//! - `bitmap_backend`: the in-memory RGB raster behind PNG output (the pixels are encoded by
//!   the `png` crate; plotters' `bitmap_encoder` would add the `image` crate with a JPEG
//!   decoder only to write files by path);
//! - `svg_backend`: SVG output;
//! - `line_series`: drawing series as lines;
//! - `ab_glyph`: text from a font registered at run time, here DejaVu Sans compiled into the
//!   library (`fonts/`, with its license), so no system font is needed; plotters' `ttf`
//!   feature would load system fonts through font-kit.
//!
//! Ours are what plotters does not do: the checks that turn undrawable input into a
//! [`PlotError`] instead of a panic or a blank image; the layout (text sizes that grow with
//! the image, margins fitted to the labels, [`PlotError::TooSmall`]); the ticks (1, 2 or
//! 5 × 10^k, whole numbers for epochs, a fixed range kept exact); clipping lines to the axes
//! before they reach plotters (a value of 1e18 on a fixed [0, 1] axis would otherwise be
//! walked pixel by pixel); the legend's corner (the one hiding the least data); PNG text
//! drawn glyph by glyph (plotters' ab_glyph text drops each glyph's left side bearing, see
//! `raster.rs`); and the curves of a [`RunReport`](crate::RunReport).

mod chart;
mod curves;
mod error;
mod font;
mod layout;
mod legend;
mod raster;
mod stage_accuracy;
mod ticks;

pub use chart::{LineChart, Rgb, Series, LINE_THICKNESS, PALETTE};
pub use curves::{alignment_curves, learning_curves, loss_curves, stage_metric_curves, Metric};
pub use error::PlotError;
pub use stage_accuracy::stage_accuracy_curves;

/// The largest image side, in pixels, that [`LineChart::to_png`] and [`LineChart::to_svg`]
/// accept.
pub const MAX_SIDE: u32 = 8192;

/// The largest magnitude an axis end may have. Beyond it the span of an axis could overflow
/// `f64`; points beyond it can still be drawn (clipped) on an axis with a fixed range.
pub const MAX_VALUE: f64 = 1e300;
