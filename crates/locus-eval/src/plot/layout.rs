//! Where things go: text size, margins, the plot area, the axes, and the mapping from data
//! to pixels.

use super::chart::LineChart;
use super::font::{text_height, text_width};
use super::ticks::Axis;
use super::PlotError;

/// The plot area must be at least this many pixels each way.
const MIN_PLOT: i64 = 24;

/// A rectangle of pixels: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rect {
    /// Leftmost column.
    pub x: i64,
    /// Top row.
    pub y: i64,
    /// Width in pixels.
    pub w: i64,
    /// Height in pixels.
    pub h: i64,
}

impl Rect {
    /// Whether the pixel `(x, y)` lies inside.
    pub fn contains(&self, x: i64, y: i64) -> bool {
        (self.x..self.x + self.w).contains(&x) && (self.y..self.y + self.h).contains(&y)
    }

    /// The part of `self` inside `other` (possibly empty: zero width or height).
    pub fn intersect(&self, other: &Rect) -> Rect {
        let x = self.x.max(other.x);
        let y = self.y.max(other.y);
        let right = (self.x + self.w).min(other.x + other.w);
        let bottom = (self.y + self.h).min(other.y + other.h);
        Rect {
            x,
            y,
            w: (right - x).max(0),
            h: (bottom - y).max(0),
        }
    }
}

/// The geometry of one rendered chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    /// Image pixels per font pixel for tick labels, axis names and the legend.
    pub scale: i64,
    /// Image pixels per font pixel for the title (shrunk if the title would not fit).
    pub title_scale: i64,
    /// Blank space around the chart and between its parts.
    pub pad: i64,
    /// Length of the tick marks outside the plot area.
    pub tick_len: i64,
    /// The plot area, where the data is drawn; the frame lies just outside it.
    pub plot: Rect,
    /// The horizontal axis.
    pub x_axis: Axis,
    /// The vertical axis.
    pub y_axis: Axis,
}

impl Layout {
    /// Lays out `chart` on a `width` × `height` image whose data spans `x_data` and
    /// `y_data` (finite, `min <= max`; fixed ranges of the chart take precedence).
    ///
    /// # Errors
    /// [`PlotError::TooSmall`] if the plot area would be smaller than `MIN_PLOT` pixels.
    pub fn new(
        chart: &LineChart,
        width: u32,
        height: u32,
        x_data: (f64, f64),
        y_data: (f64, f64),
    ) -> Result<Self, PlotError> {
        let (w, h) = (i64::from(width), i64::from(height));
        // Text grows with the image so a chart stays legible when saved larger.
        let scale = (w.min(h) / 240).clamp(1, 8);
        let pad = 6 * scale;
        let tick_len = 3 * scale;
        let text_h = text_height(scale);

        let mut title_scale = scale + 1;
        while title_scale > 1 && text_width(&chart.title, title_scale) > w - 2 * pad {
            title_scale -= 1;
        }
        let top = if chart.title.is_empty() {
            pad + text_h / 2
        } else {
            2 * pad + text_height(title_scale)
        };
        let x_name_h = if chart.x_label.is_empty() {
            0
        } else {
            text_h + 4 * scale
        };
        let bottom = tick_len + 2 * scale + text_h + x_name_h + pad;
        let plot_h = h - top - bottom;

        let (y_lo, y_hi, y_fixed) = match chart.y_range {
            Some((lo, hi)) => (lo, hi, true),
            None => (y_data.0, y_data.1, false),
        };
        let y_axis = fitting_axis(y_lo, y_hi, y_fixed, false, plot_h, 3 * text_h, |_| text_h);
        let y_labels_w = y_axis
            .ticks
            .iter()
            .map(|&t| text_width(&y_axis.label(t), scale))
            .max()
            .unwrap_or(0);
        let y_name_w = if chart.y_label.is_empty() {
            0
        } else {
            text_h + pad
        };
        let left = pad + y_name_w + y_labels_w + 2 * scale + tick_len;

        let (x_lo, x_hi, x_fixed) = match chart.x_range {
            Some((lo, hi)) => (lo, hi, true),
            None => (x_data.0, x_data.1, false),
        };
        let x_room = w - left - pad;
        let x_axis = fitting_axis(
            x_lo,
            x_hi,
            x_fixed,
            chart.integer_x,
            x_room,
            5 * text_h,
            |a| {
                a.ticks
                    .iter()
                    .map(|&t| text_width(&a.label(t), scale))
                    .max()
                    .unwrap_or(0)
            },
        );
        // The last x tick label is centred on the right edge, so half of it needs room.
        let last_x_label_w = x_axis
            .ticks
            .last()
            .map_or(0, |&t| text_width(&x_axis.label(t), scale));
        let right = pad.max(last_x_label_w / 2 + pad / 2);
        let plot_w = w - left - right;

        if plot_w < MIN_PLOT || plot_h < MIN_PLOT {
            let min = |have: i64, plot: i64| (have - plot + MIN_PLOT).max(have) as u32;
            return Err(PlotError::TooSmall {
                width,
                height,
                min_width: min(w, plot_w),
                min_height: min(h, plot_h),
            });
        }
        Ok(Layout {
            scale,
            title_scale,
            pad,
            tick_len,
            plot: Rect {
                x: left,
                y: top,
                w: plot_w,
                h: plot_h,
            },
            x_axis,
            y_axis,
        })
    }

    /// The column (fractional) of the value `x`; the axis ends map to the plot area's first
    /// and last columns.
    pub fn px(&self, x: f64) -> f64 {
        let t = (x - self.x_axis.min) / (self.x_axis.max - self.x_axis.min);
        self.plot.x as f64 + t * (self.plot.w - 1) as f64
    }

    /// The row (fractional) of the value `y`; larger values are higher up.
    pub fn py(&self, y: f64) -> f64 {
        let t = (y - self.y_axis.min) / (self.y_axis.max - self.y_axis.min);
        (self.plot.y + self.plot.h - 1) as f64 - t * (self.plot.h - 1) as f64
    }
}

/// An axis over `length` pixels with about one tick per `spacing` pixels (2 to 10 ticks),
/// with fewer ticks while neighbouring labels, `label_size(axis)` pixels long plus a gap,
/// would overlap.
fn fitting_axis(
    lo: f64,
    hi: f64,
    fixed: bool,
    integer: bool,
    length: i64,
    spacing: i64,
    label_size: impl Fn(&Axis) -> i64,
) -> Axis {
    let mut target = (length / spacing.max(1)).clamp(2, 10) as usize;
    loop {
        let axis = Axis::new(lo, hi, target, fixed, integer);
        let tick_px = match axis.ticks.as_slice() {
            [a, b, ..] => length as f64 * (b - a) / (axis.max - axis.min),
            _ => f64::INFINITY,
        };
        if target <= 2 || tick_px >= (label_size(&axis) + spacing / 4) as f64 {
            return axis;
        }
        target -= 1;
    }
}
