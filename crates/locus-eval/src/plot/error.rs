use std::path::PathBuf;

use thiserror::Error;

/// Errors raised while drawing a chart or writing an image.
///
/// Every message names what was wrong (the series, the point, the size), so a user can act
/// on it alone.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PlotError {
    /// An image side is zero or larger than [`MAX_SIDE`](crate::plot::MAX_SIDE).
    #[error(
        "image size {width}x{height} is invalid: each side should be between 1 and {max} pixels",
        max = crate::plot::MAX_SIDE
    )]
    InvalidSize {
        /// The width asked for.
        width: u32,
        /// The height asked for.
        height: u32,
    },
    /// The image is too small to hold the chart's title, labels and a plot area.
    #[error(
        "image size {width}x{height} is too small for this chart: it needs at least \
         {min_width}x{min_height} pixels"
    )]
    TooSmall {
        /// The width asked for.
        width: u32,
        /// The height asked for.
        height: u32,
        /// The smallest width that fits, at the text size used for this image.
        min_width: u32,
        /// The smallest height that fits, at the text size used for this image.
        min_height: u32,
    },
    /// The chart has no series, or none of its series has a point.
    #[error("chart {title:?} has nothing to plot: no series has any point")]
    NoData {
        /// The chart's title.
        title: String,
    },
    /// A point with a NaN or infinite coordinate.
    #[error("series {series:?} has a non-finite point at index {index}: ({x}, {y})")]
    NonFinite {
        /// The series' name.
        series: String,
        /// The point's index in the series.
        index: usize,
        /// Its x coordinate.
        x: f64,
        /// Its y coordinate.
        y: f64,
    },
    /// A fixed axis range that is not finite, not increasing, or beyond
    /// ±[`MAX_VALUE`](crate::plot::MAX_VALUE).
    #[error(
        "{axis} range [{min}, {max}] is invalid: both ends should be finite, within ±{limit:e}, \
         and min < max",
        limit = crate::plot::MAX_VALUE
    )]
    InvalidRange {
        /// `"x"` or `"y"`.
        axis: &'static str,
        /// The lower end asked for.
        min: f64,
        /// The upper end asked for.
        max: f64,
    },
    /// Data beyond ±[`MAX_VALUE`](crate::plot::MAX_VALUE) on an axis without a fixed range,
    /// whose span would overflow.
    #[error(
        "{axis} values span [{min}, {max}]; without a fixed {axis} range only values within \
         ±{limit:e} can be plotted",
        limit = crate::plot::MAX_VALUE
    )]
    DataTooLarge {
        /// `"x"` or `"y"`.
        axis: &'static str,
        /// The smallest value.
        min: f64,
        /// The largest value.
        max: f64,
    },
    /// [`LineChart::save`](crate::plot::LineChart::save) was given a file name that ends
    /// neither in `.png` nor in `.svg`.
    #[error("cannot tell the image format of {}: the file name should end in .png or .svg", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// plotters or the PNG encoder failed; not expected for a chart that passed the
    /// checks above, and reported rather than unwrapped.
    #[error("drawing the chart failed: {message}")]
    Backend {
        /// What the drawing library said.
        message: String,
    },
    /// Writing an image file failed.
    #[error("cannot write {}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error. It is part of the message and deliberately not a
        /// `source()`, so chain-printing reporters do not say it twice.
        cause: std::io::Error,
    },
}
