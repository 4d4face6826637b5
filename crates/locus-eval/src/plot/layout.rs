//! Where things go: text sizes, margins, the plot area and the axes. plotters draws what is
//! laid out here; it does not itself fit margins to the labels or refuse an image too small
//! for them.

use super::chart::LineChart;
use super::font::text_width;
use super::ticks::Axis;
use super::PlotError;

/// The plot area must be at least this many pixels each way.
const MIN_PLOT: i32 = 24;

/// The geometry of one rendered chart, in pixels from the image's top-left corner.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    /// Font size (ascender to descender, pixels) of tick labels, axis names and the legend.
    pub text: f64,
    /// Font size of the title (smaller than usual if a long title would not fit).
    pub title: f64,
    /// Blank space around the chart.
    pub pad: i32,
    /// Length of the tick marks outside the plot area.
    pub tick_len: i32,
    /// Space left of the plot area: the y axis name, tick labels and marks.
    pub left: i32,
    /// Space right of the plot area.
    pub right: i32,
    /// Space above the plot area: the title.
    pub top: i32,
    /// Space below the plot area: tick marks and labels, the x axis name.
    pub bottom: i32,
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
        let (w, h) = (width as i32, height as i32);
        // Text grows with the image so a chart stays legible when saved larger.
        let text = (f64::from(w.min(h)) / 25.0).clamp(7.0, 240.0);
        let px = |v: f64| v.round() as i32;
        let (pad, gap, tick_len) = (px(0.5 * text), px(0.25 * text).max(1), px(0.3 * text));
        // plotters sets tick labels twice the tick length away from the axis.
        let label_dist = 2 * tick_len;

        let mut title = 1.2 * text;
        while title > 6.0 && text_width(&chart.title, title) > f64::from(w - 2 * pad) {
            title *= 0.9;
        }
        let top = if chart.title.is_empty() {
            pad + px(text / 2.0)
        } else {
            2 * pad + px(title)
        };
        let x_name_h = if chart.x_label.is_empty() {
            0
        } else {
            gap + px(text)
        };
        let bottom = label_dist + px(text) + x_name_h + pad;
        let plot_h = h - top - bottom;

        let (y_lo, y_hi, y_fixed) = match chart.y_range {
            Some((lo, hi)) => (lo, hi, true),
            None => (y_data.0, y_data.1, false),
        };
        let text_h = px(text);
        let y_axis = fitting_axis(y_lo, y_hi, y_fixed, false, plot_h, 3 * text_h, |_| text_h);
        let y_labels_w = (y_axis.ticks.iter())
            .map(|&t| px(text_width(&y_axis.label(t), text).ceil()))
            .max()
            .unwrap_or(0);
        let y_name_w = if chart.y_label.is_empty() {
            0
        } else {
            px(text) + gap
        };
        let left = pad + y_name_w + y_labels_w + label_dist;

        let (x_lo, x_hi, x_fixed) = match chart.x_range {
            Some((lo, hi)) => (lo, hi, true),
            None => (x_data.0, x_data.1, false),
        };
        let x_room = w - left - pad;
        let label_w = |a: &Axis, t: f64| px(text_width(&a.label(t), text).ceil());
        let x_axis = fitting_axis(
            x_lo,
            x_hi,
            x_fixed,
            chart.integer_x,
            x_room,
            5 * text_h,
            |a| a.ticks.iter().map(|&t| label_w(a, t)).max().unwrap_or(0),
        );
        // The last x tick label is centred on the right edge, so half of it needs room.
        let last_x_label_w = x_axis.ticks.last().map_or(0, |&t| label_w(&x_axis, t));
        let right = pad.max(last_x_label_w / 2 + pad / 2);
        let plot_w = w - left - right;

        if plot_w < MIN_PLOT || plot_h < MIN_PLOT {
            let min = |have: i32, plot: i32| (have - plot + MIN_PLOT).max(have) as u32;
            return Err(PlotError::TooSmall {
                width,
                height,
                min_width: min(w, plot_w),
                min_height: min(h, plot_h),
            });
        }
        Ok(Layout {
            text,
            title,
            pad,
            tick_len,
            left,
            right,
            top,
            bottom,
            x_axis,
            y_axis,
        })
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
    length: i32,
    spacing: i32,
    label_size: impl Fn(&Axis) -> i32,
) -> Axis {
    let mut target = (length / spacing.max(1)).clamp(2, 10) as usize;
    loop {
        let axis = Axis::new(lo, hi, target, fixed, integer);
        let tick_px = match axis.ticks.as_slice() {
            [a, b, ..] => f64::from(length) * (b - a) / (axis.max - axis.min),
            _ => f64::INFINITY,
        };
        if target <= 2 || tick_px >= f64::from(label_size(&axis) + spacing / 4) {
            return axis;
        }
        target -= 1;
    }
}
