//! Line charts: named series of `(x, y)` points drawn as lines over nice axes, with a title,
//! axis names and a legend.

use std::path::Path;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::{family, text_width};
use super::layout::Layout;
use super::legend::{draw_legend, PixelRect};
use super::raster::{encode_png, GlyphText};
use super::{PlotError, MAX_SIDE, MAX_VALUE};

/// A colour: 8-bit red, green and blue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rgb {
    /// Red, 0–255.
    pub r: u8,
    /// Green, 0–255.
    pub g: u8,
    /// Blue, 0–255.
    pub b: u8,
}

impl Rgb {
    /// White, the chart background.
    pub const WHITE: Rgb = Rgb::new(255, 255, 255);
    /// Black, for axes and text.
    pub const BLACK: Rgb = Rgb::new(0, 0, 0);

    /// A colour from its three channels.
    pub const fn new(r: u8, g: u8, b: u8) -> Self {
        Rgb { r, g, b }
    }

    /// The same colour for plotters (kept out of the public API, so plotters' version is
    /// not part of ours).
    pub(crate) fn colour(self) -> RGBColor {
        RGBColor(self.r, self.g, self.b)
    }
}

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
const GRID: Rgb = Rgb::new(225, 225, 225);

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
/// let png = chart.to_png(640, 400).unwrap();
/// assert!(png.starts_with(b"\x89PNG"));
/// let svg = chart.to_svg(640, 400).unwrap();
/// assert!(svg.contains("test accuracy"));
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
    /// [`to_png`](Self::to_png).
    pub fn x_range(mut self, min: f64, max: f64) -> Self {
        self.x_range = Some((min, max));
        self
    }

    /// Fixes the vertical axis to `[min, max]` instead of fitting the data; checked by
    /// [`to_png`](Self::to_png).
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

    /// Whether any series has a point, i.e. whether [`to_png`](Self::to_png) has something
    /// to draw.
    pub fn has_points(&self) -> bool {
        self.series.iter().any(|s| !s.points.is_empty())
    }

    /// The chart as a PNG file (8-bit RGB) of `width` × `height` pixels.
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
    /// - [`PlotError::TooSmall`] if the labels leave no room for the plot area;
    /// - [`PlotError::Backend`] if plotters or the PNG encoder fails (not expected).
    pub fn to_png(&self, width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
        let layout = self.layout(width, height)?;
        let mut rgb = vec![255u8; width as usize * height as usize * 3];
        {
            let backend = GlyphText(BitMapBackend::with_buffer(&mut rgb, (width, height)));
            let root = backend.into_drawing_area();
            self.draw(&root, &layout)?;
            root.present().map_err(backend_error)?;
        }
        encode_png(width, height, &rgb)
    }

    /// The chart as an SVG document of `width` × `height` pixels. Its text names the font
    /// family `sans-serif`: a viewer draws it in its own sans-serif font, and the layout,
    /// measured with the embedded DejaVu Sans, fits fonts of similar width.
    ///
    /// # Errors
    /// As [`to_png`](Self::to_png).
    pub fn to_svg(&self, width: u32, height: u32) -> Result<String, PlotError> {
        let layout = self.layout(width, height)?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            self.draw(&root, &layout)?;
            root.present().map_err(backend_error)?;
        }
        Ok(svg)
    }

    /// Writes the chart to `path`, replacing any file there: as SVG if the file name ends
    /// in `.svg`, as PNG if it ends in `.png` (either case).
    ///
    /// # Errors
    /// [`PlotError::UnknownFormat`] for another file name, [`PlotError::Io`] (with the path)
    /// if the file cannot be written, and the errors of [`to_png`](Self::to_png).
    pub fn save(&self, path: &Path, width: u32, height: u32) -> Result<(), PlotError> {
        let extension = path.extension().and_then(|e| e.to_str());
        let bytes = match extension.map(str::to_ascii_lowercase).as_deref() {
            Some("png") => self.to_png(width, height)?,
            Some("svg") => self.to_svg(width, height)?.into_bytes(),
            _ => {
                return Err(PlotError::UnknownFormat {
                    path: path.to_path_buf(),
                })
            }
        };
        std::fs::write(path, bytes).map_err(|cause| PlotError::Io {
            path: path.to_path_buf(),
            cause,
        })
    }

    /// Checks the chart and the size, and lays the chart out.
    fn layout(&self, width: u32, height: u32) -> Result<Layout, PlotError> {
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            return Err(PlotError::InvalidSize { width, height });
        }
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
        Layout::new(self, width, height, x_data, y_data)
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

    /// Draws the laid-out chart on `root`: grid, ticks and axis names by plotters' mesh,
    /// then the series (clipped to the axes), the frame, the title and the legend.
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        l: &Layout,
    ) -> Result<(), PlotError> {
        root.fill(&WHITE).map_err(backend_error)?;
        let text = TextStyle::from((family(), l.text)).color(&BLACK);
        let (xa, ya) = (&l.x_axis, &l.y_axis);
        let x_range = Ticked::new(xa.min, xa.max, &xa.ticks);
        let y_range = Ticked::new(ya.min, ya.max, &ya.ticks);
        let mut chart = ChartBuilder::on(root)
            .margin_top(l.top)
            .margin_bottom(l.pad)
            .margin_left(l.pad)
            .margin_right(l.right)
            .x_label_area_size(l.bottom - l.pad)
            .y_label_area_size(l.left - l.pad)
            .build_cartesian_2d(x_range, y_range)
            .map_err(backend_error)?;
        let x_label = |v: &f64| xa.label(*v);
        let y_label = |v: &f64| ya.label(*v);
        let mut mesh = chart.configure_mesh();
        mesh.bold_line_style(GRID.colour())
            .light_line_style(TRANSPARENT)
            .axis_style(BLACK)
            .set_all_tick_mark_size(l.tick_len)
            .label_style(text.clone())
            .axis_desc_style(text.clone())
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label);
        if !self.x_label.is_empty() {
            mesh.x_desc(self.x_label.as_str());
        }
        if !self.y_label.is_empty() {
            mesh.y_desc(self.y_label.as_str());
        }
        mesh.draw().map_err(backend_error)?;

        let (xs, ys) = chart.plotting_area().get_pixel_range();
        let plot = PixelRect {
            x0: xs.start,
            y0: ys.start,
            x1: xs.end - 1,
            y1: ys.end - 1,
        };
        let bounds = (xa.min, ya.min, xa.max, ya.max);
        // Every drawn line and marker in pixels, for the legend to avoid.
        let mut drawn: Vec<Vec<(i32, i32)>> = Vec::new();
        for (i, s) in self.series.iter().enumerate() {
            let colour = self.colour_of(i).colour();
            let line = ShapeStyle::from(colour).stroke_width(LINE_THICKNESS);
            for run in clipped_runs(&s.points, bounds) {
                drawn.push(run.iter().map(|p| chart.backend_coord(p)).collect());
                chart
                    .draw_series(std::iter::once(PathElement::new(run, line)))
                    .map_err(backend_error)?;
            }
            if s.points.len() <= MAX_MARKED_POINTS {
                let half = (l.text / 8.0).round().max(2.0) as i32;
                let inside = |&&(x, y): &&(f64, f64)| {
                    (bounds.0..=bounds.2).contains(&x) && (bounds.1..=bounds.3).contains(&y)
                };
                for p in s.points.iter().filter(inside) {
                    let (x, y) = chart.backend_coord(p);
                    drawn.push(vec![(x, y)]);
                    // Squares cut at the frame, so no series colour leaves the plot area.
                    let corner = |dx: i32, dy: i32| {
                        (
                            (x + dx).clamp(plot.x0, plot.x1),
                            (y + dy).clamp(plot.y0, plot.y1),
                        )
                    };
                    let square =
                        Rectangle::new([corner(-half, -half), corner(half, half)], colour.filled());
                    root.draw(&square).map_err(backend_error)?;
                }
            }
        }
        // The frame just outside the plot area.
        let frame = [(plot.x0 - 1, plot.y0 - 1), (plot.x1 + 1, plot.y1 + 1)];
        root.draw(&Rectangle::new(frame, BLACK))
            .map_err(backend_error)?;

        if !self.title.is_empty() {
            let (width, _) = root.dim_in_pixel();
            let half = (text_width(&self.title, l.title) / 2.0).ceil() as i32;
            let centre = (width as i32 / 2).max(l.pad + half);
            let style = TextStyle::from((family(), l.title))
                .color(&BLACK)
                .pos(Pos::new(HPos::Center, VPos::Top));
            root.draw_text(&self.title, &style, (centre, l.pad))
                .map_err(backend_error)?;
        }
        let entries: Vec<(&str, Rgb)> = (self.series.iter().enumerate())
            .map(|(i, s)| (s.name.as_str(), self.colour_of(i)))
            .collect();
        draw_legend(root, l, plot, &entries, &drawn)
    }
}

/// An axis as plotters sees it: our span, and our ticks (nice steps, whole numbers for
/// epochs, a fixed range kept exact) as its key points, which plotters' own choice for `f64`
/// does not offer.
struct Ticked {
    span: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ticked {
    fn new(min: f64, max: f64, ticks: &[f64]) -> Self {
        Ticked {
            span: (min..max).into(),
            ticks: ticks.to_vec(),
        }
    }
}

impl Ranged for Ticked {
    // Labels come from `Axis::label` through the mesh's formatters.
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.span.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Grid lines at the ticks only: no lighter lines between them.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.span.range()
    }
}

/// A plotters failure as a [`PlotError`].
fn backend_error(e: impl std::fmt::Display) -> PlotError {
    PlotError::Backend {
        message: e.to_string(),
    }
}

/// The parts of the line through `points` inside the box `(x_min, y_min, x_max, y_max)`,
/// each a run of joined points.
fn clipped_runs(points: &[(f64, f64)], bounds: (f64, f64, f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    // Whether the last run ends at the previous point, unclipped, so the next segment
    // continues it.
    let mut open = false;
    for pair in points.windows(2) {
        match clip_segment(pair[0], pair[1], bounds) {
            Some((a, b)) => {
                match runs.last_mut() {
                    Some(run) if open && a == pair[0] => run.push(b),
                    _ => runs.push(vec![a, b]),
                }
                open = b == pair[1];
            }
            None => open = false,
        }
    }
    runs
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
    fn runs_split_where_the_line_leaves_the_box() {
        let bx = (0.0, 0.0, 10.0, 10.0);
        let points = [(1.0, 1.0), (2.0, 2.0), (3.0, 20.0), (4.0, 2.0), (5.0, 3.0)];
        let runs = clipped_runs(&points, bx);
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[0][..2], [(1.0, 1.0), (2.0, 2.0)]);
        assert_eq!(runs[0].len(), 3);
        assert_eq!(runs[1].len(), 3);
        assert_eq!(runs[1][1..], [(4.0, 2.0), (5.0, 3.0)]);
        // Far beyond the box: clipped in data space, so plotters never walks ~1e15 pixels.
        let far = clipped_runs(&[(0.0, 0.5), (1.0, 1e18), (2.0, -1e18)], bx);
        assert_eq!(far.len(), 2);
        assert!(far
            .iter()
            .flatten()
            .all(|&(_, y)| (0.0..=10.0).contains(&y)));
        assert!(clipped_runs(&[(-1.0, -1.0), (-2.0, -3.0)], bx).is_empty());
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
