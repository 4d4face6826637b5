//! Line charts: named series of `(x, y)` points drawn as lines over nice axes, with a title,
//! axis names and a legend.

use super::canvas::{Image, Rgb};
use super::font::{draw_text, text_height, text_width, Direction};
use super::layout::{Layout, Rect};
use super::legend::draw_legend;
use super::{PlotError, MAX_VALUE};

/// The colours series get in order (the "tab10" palette of matplotlib), repeating after
/// ten series.
pub const PALETTE: [Rgb; 10] = [
    Rgb::new(31, 119, 180),
    Rgb::new(255, 127, 14),
    Rgb::new(44, 160, 44),
    Rgb::new(214, 39, 40),
    Rgb::new(148, 103, 189),
    Rgb::new(140, 86, 75),
    Rgb::new(227, 119, 194),
    Rgb::new(127, 127, 127),
    Rgb::new(188, 189, 34),
    Rgb::new(23, 190, 207),
];

/// Width in pixels of series lines.
pub const LINE_THICKNESS: u32 = 2;

/// Series with at most this many points also get a square marker on each point, so short
/// curves (and single points) stay visible.
const MAX_MARKED_POINTS: usize = 40;

/// Colour of the grid lines behind the data.
pub(crate) const GRID: Rgb = Rgb::new(225, 225, 225);

/// The smallest and largest value of something.
type Span = (f64, f64);

/// One named line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    name: String,
    points: Vec<(f64, f64)>,
    colour: Option<Rgb>,
}

impl Series {
    /// A series called `name` (shown in the legend) through `points`, joined in the order
    /// given.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            colour: None,
        }
    }

    /// Draws the series in `colour` instead of its [`PALETTE`] colour.
    pub fn colour(mut self, colour: Rgb) -> Self {
        self.colour = Some(colour);
        self
    }

    /// The name shown in the legend.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The points, in drawing order.
    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }
}

/// A line chart: a title, axis names, and any number of [`Series`] over shared axes.
///
/// Axes span the data, widened to "nice" tick steps (1, 2 or 5 × 10^k), unless fixed with
/// [`x_range`](Self::x_range) or [`y_range`](Self::y_range); lines leaving a fixed range are
/// clipped at the plot's edge. Series take colours from [`PALETTE`] in order. The legend
/// goes in the corner of the plot where it hides the least data.
///
/// ```
/// use locus_eval::plot::{LineChart, Series};
///
/// let chart = LineChart::new("accuracy")
///     .x_label("epoch")
///     .y_label("test accuracy")
///     .y_range(0.0, 1.0)
///     .series(Series::new("bp", vec![(1.0, 0.81), (2.0, 0.90), (3.0, 0.93)]));
/// let image = chart.render(640, 400).unwrap();
/// assert_eq!((image.width(), image.height()), (640, 400));
/// assert!(image.to_png_bytes().starts_with(b"\x89PNG"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    pub(crate) title: String,
    pub(crate) x_label: String,
    pub(crate) y_label: String,
    pub(crate) series: Vec<Series>,
    pub(crate) x_range: Option<(f64, f64)>,
    pub(crate) y_range: Option<(f64, f64)>,
    pub(crate) integer_x: bool,
}

impl LineChart {
    /// An empty chart titled `title` (empty for none).
    pub fn new(title: impl Into<String>) -> Self {
        LineChart {
            title: title.into(),
            x_label: String::new(),
            y_label: String::new(),
            series: Vec::new(),
            x_range: None,
            y_range: None,
            integer_x: false,
        }
    }

    /// Names the horizontal axis.
    pub fn x_label(mut self, label: impl Into<String>) -> Self {
        self.x_label = label.into();
        self
    }

    /// Names the vertical axis (written upwards, left of the tick labels).
    pub fn y_label(mut self, label: impl Into<String>) -> Self {
        self.y_label = label.into();
        self
    }

    /// Adds a series, drawn over the ones added before.
    pub fn series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Fixes the horizontal axis to `[min, max]` instead of fitting the data; checked by
    /// [`render`](Self::render).
    pub fn x_range(mut self, min: f64, max: f64) -> Self {
        self.x_range = Some((min, max));
        self
    }

    /// Fixes the vertical axis to `[min, max]` instead of fitting the data; checked by
    /// [`render`](Self::render).
    pub fn y_range(mut self, min: f64, max: f64) -> Self {
        self.y_range = Some((min, max));
        self
    }

    /// Puts ticks on the horizontal axis only at whole numbers (for epochs or steps).
    pub fn integer_x(mut self, yes: bool) -> Self {
        self.integer_x = yes;
        self
    }

    /// Replaces the title (empty for none).
    pub fn set_title(&mut self, title: impl Into<String>) {
        self.title = title.into();
    }

    /// The title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The series, in drawing order.
    pub fn all_series(&self) -> &[Series] {
        &self.series
    }

    /// Whether any series has a point, i.e. whether [`render`](Self::render) has something
    /// to draw.
    pub fn has_points(&self) -> bool {
        self.series.iter().any(|s| !s.points.is_empty())
    }

    /// Draws the chart on a white `width` × `height` image.
    ///
    /// Series without points are allowed (they only appear in the legend), as long as some
    /// series has one.
    ///
    /// # Errors
    /// - [`PlotError::InvalidSize`] for a zero or oversized side;
    /// - [`PlotError::InvalidRange`] for a fixed range that is not finite and increasing;
    /// - [`PlotError::NonFinite`] for a point with a NaN or infinite coordinate;
    /// - [`PlotError::NoData`] if no series has a point;
    /// - [`PlotError::DataTooLarge`] for points beyond ±[`MAX_VALUE`] on an axis without a
    ///   fixed range;
    /// - [`PlotError::TooSmall`] if the labels leave no room for the plot area.
    pub fn render(&self, width: u32, height: u32) -> Result<Image, PlotError> {
        let mut img = Image::new(width, height, Rgb::WHITE)?;
        let within = |v: f64| v.abs() <= MAX_VALUE;
        for (axis, range) in [("x", self.x_range), ("y", self.y_range)] {
            if let Some((min, max)) = range {
                if !(within(min) && within(max) && min < max) {
                    return Err(PlotError::InvalidRange { axis, min, max });
                }
            }
        }
        let (x_data, y_data) = self.data_bounds()?;
        for (axis, fixed, (min, max)) in [("x", self.x_range, x_data), ("y", self.y_range, y_data)]
        {
            if fixed.is_none() && !(within(min) && within(max)) {
                return Err(PlotError::DataTooLarge { axis, min, max });
            }
        }
        let layout = Layout::new(self, width, height, x_data, y_data)?;

        self.draw_grid(&mut img, &layout);
        for (i, s) in self.series.iter().enumerate() {
            draw_series(&mut img, &layout, s, self.colour_of(i));
        }
        self.draw_frame_and_ticks(&mut img, &layout);
        self.draw_titles(&mut img, &layout);
        let entries: Vec<(&str, Rgb)> = (self.series.iter().enumerate())
            .map(|(i, s)| (s.name.as_str(), self.colour_of(i)))
            .collect();
        draw_legend(&mut img, &layout, &entries);
        Ok(img)
    }

    /// The colour of series `i`.
    fn colour_of(&self, i: usize) -> Rgb {
        self.series[i].colour.unwrap_or(PALETTE[i % PALETTE.len()])
    }

    /// The smallest and largest x and y over all points.
    fn data_bounds(&self) -> Result<(Span, Span), PlotError> {
        let mut x = (f64::INFINITY, f64::NEG_INFINITY);
        let mut y = x;
        for s in &self.series {
            for (index, &(px, py)) in s.points.iter().enumerate() {
                if !(px.is_finite() && py.is_finite()) {
                    return Err(PlotError::NonFinite {
                        series: s.name.clone(),
                        index,
                        x: px,
                        y: py,
                    });
                }
                x = (x.0.min(px), x.1.max(px));
                y = (y.0.min(py), y.1.max(py));
            }
        }
        if !self.has_points() {
            return Err(PlotError::NoData {
                title: self.title.clone(),
            });
        }
        Ok((x, y))
    }

    fn draw_grid(&self, img: &mut Image, l: &Layout) {
        let p = l.plot;
        for &t in &l.x_axis.ticks {
            let x = l.px(t).round() as i64;
            img.fill_rect(x, p.y, 1, p.h, GRID);
        }
        for &t in &l.y_axis.ticks {
            let y = l.py(t).round() as i64;
            img.fill_rect(p.x, y, p.w, 1, GRID);
        }
    }

    /// The frame just outside the plot area, tick marks and tick labels.
    fn draw_frame_and_ticks(&self, img: &mut Image, l: &Layout) {
        let (p, s, black) = (l.plot, l.scale, Rgb::BLACK);
        img.fill_rect(p.x - 1, p.y - 1, p.w + 2, 1, black);
        img.fill_rect(p.x - 1, p.y + p.h, p.w + 2, 1, black);
        img.fill_rect(p.x - 1, p.y - 1, 1, p.h + 2, black);
        img.fill_rect(p.x + p.w, p.y - 1, 1, p.h + 2, black);
        for &t in &l.x_axis.ticks {
            let x = l.px(t).round() as i64;
            img.fill_rect(x, p.y + p.h, 1, l.tick_len, black);
            let label = l.x_axis.label(t);
            let at = (
                x - text_width(&label, s) / 2,
                p.y + p.h + l.tick_len + 2 * s,
            );
            draw_text(img, at, &label, s, Direction::Horizontal, black);
        }
        for &t in &l.y_axis.ticks {
            let y = l.py(t).round() as i64;
            img.fill_rect(p.x - l.tick_len, y, l.tick_len, 1, black);
            let label = l.y_axis.label(t);
            // Centre the capital height (7 of the 8 font rows) on the tick.
            let at = (
                p.x - l.tick_len - 2 * s - text_width(&label, s),
                y - 7 * s / 2,
            );
            draw_text(img, at, &label, s, Direction::Horizontal, black);
        }
    }

    /// The title above the plot and the axis names.
    fn draw_titles(&self, img: &mut Image, l: &Layout) {
        let (p, s, black) = (l.plot, l.scale, Rgb::BLACK);
        let centred = |width: i64, centre: i64| (centre - width / 2).max(l.pad);
        if !self.title.is_empty() {
            let w = text_width(&self.title, l.title_scale);
            let x = centred(w, i64::from(img.width()) / 2);
            draw_text(
                img,
                (x, l.pad),
                &self.title,
                l.title_scale,
                Direction::Horizontal,
                black,
            );
        }
        if !self.x_label.is_empty() {
            let w = text_width(&self.x_label, s);
            let y = i64::from(img.height()) - l.pad - text_height(s);
            let x = centred(w, p.x + p.w / 2);
            draw_text(img, (x, y), &self.x_label, s, Direction::Horizontal, black);
        }
        if !self.y_label.is_empty() {
            let w = text_width(&self.y_label, s);
            let bottom = (p.y + p.h / 2 + w / 2).min(i64::from(img.height()) - 1);
            draw_text(
                img,
                (l.pad, bottom),
                &self.y_label,
                s,
                Direction::Upward,
                black,
            );
        }
    }
}

/// Draws one series: its segments clipped to the plot area, and markers on short series.
fn draw_series(img: &mut Image, l: &Layout, series: &Series, colour: Rgb) {
    let p = l.plot;
    let bounds = (
        p.x as f64,
        p.y as f64,
        (p.x + p.w - 1) as f64,
        (p.y + p.h - 1) as f64,
    );
    // Values far outside a fixed range map to huge (even infinite) pixel coordinates;
    // bounding them keeps clipping exact where it matters, a few pixels around the plot.
    let bound = |v: f64| v.clamp(-1e9, 1e9);
    let pixel = |&(x, y): &(f64, f64)| (bound(l.px(x)), bound(l.py(y)));
    let points: Vec<(f64, f64)> = series.points.iter().map(pixel).collect();
    let round = |(x, y): (f64, f64)| (x.round() as i64, y.round() as i64);
    for pair in points.windows(2) {
        if let Some((a, b)) = clip_segment(pair[0], pair[1], bounds) {
            img.draw_line(round(a), round(b), LINE_THICKNESS, colour);
        }
    }
    if points.len() <= MAX_MARKED_POINTS {
        let size = 2 * l.scale + 2;
        for &(x, y) in &points {
            let (x, y) = round((x, y));
            if p.contains(x, y) {
                let marker = Rect {
                    x: x - size / 2,
                    y: y - size / 2,
                    w: size,
                    h: size,
                }
                .intersect(&p);
                img.fill_rect(marker.x, marker.y, marker.w, marker.h, colour);
            }
        }
    }
}

/// The part of the segment `a`–`b` inside the box `(x_min, y_min, x_max, y_max)`, by
/// Liang–Barsky clipping, or `None` if it misses the box.
fn clip_segment(
    a: (f64, f64),
    b: (f64, f64),
    (x_min, y_min, x_max, y_max): (f64, f64, f64, f64),
) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - x_min),
        (dx, x_max - a.0),
        (-dy, a.1 - y_min),
        (dy, y_max - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_inside_parts_and_drops_misses() {
        let bx = (0.0, 0.0, 10.0, 10.0);
        assert_eq!(
            clip_segment((1.0, 1.0), (2.0, 3.0), bx),
            Some(((1.0, 1.0), (2.0, 3.0)))
        );
        assert_eq!(
            clip_segment((-10.0, 5.0), (20.0, 5.0), bx),
            Some(((0.0, 5.0), (10.0, 5.0)))
        );
        assert_eq!(clip_segment((-1.0, -1.0), (-5.0, 20.0), bx), None);
        // Pixel coordinates are bounded to ±1e9 before clipping, where it stays exact
        // enough.
        let ((x0, y0), (x1, y1)) = clip_segment((5.0, 1e9), (7.0, -1e9), bx).unwrap();
        for (got, want) in [(x0, 6.0), (y0, 10.0), (x1, 6.0), (y1, 0.0)] {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        assert_eq!(
            clip_segment((3.0, 3.0), (3.0, 3.0), bx),
            Some(((3.0, 3.0), (3.0, 3.0)))
        );
    }

    #[test]
    fn far_out_of_range_values_are_clipped_not_walked() {
        // Without clipping, Bresenham would step through ~1e15 pixels here.
        let chart = LineChart::new("").y_range(0.0, 1.0).series(Series::new(
            "huge",
            vec![(0.0, 0.5), (1.0, 1e18), (2.0, -1e18)],
        ));
        let img = chart.render(200, 150).unwrap();
        assert!(img.as_rgb_bytes().chunks(3).any(|c| c == [31, 119, 180]));
    }

    #[test]
    fn colours_follow_the_palette_unless_set() {
        let chart = LineChart::new("t")
            .series(Series::new("a", vec![(0.0, 0.0)]))
            .series(Series::new("b", vec![(1.0, 1.0)]).colour(Rgb::new(1, 2, 3)));
        assert_eq!(chart.colour_of(0), PALETTE[0]);
        assert_eq!(chart.colour_of(1), Rgb::new(1, 2, 3));
        assert_eq!(chart.all_series()[1].name(), "b");
    }
}
