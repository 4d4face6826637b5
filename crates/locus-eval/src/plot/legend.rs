//! The legend: a boxed list of series names with their colours, in the plot corner where it
//! hides the least data. plotters' own legend goes where it is told; choosing the corner is
//! ours.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::chart::{Rgb, LINE_THICKNESS};
use super::font::{family, text_width};
use super::layout::Layout;
use super::PlotError;

/// Colour of the legend's border.
const BORDER: Rgb = Rgb::new(160, 160, 160);

/// A rectangle of pixels by its first and last column and row (both included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PixelRect {
    /// First column.
    pub x0: i32,
    /// First row.
    pub y0: i32,
    /// Last column.
    pub x1: i32,
    /// Last row.
    pub y1: i32,
}

impl PixelRect {
    fn contains(&self, (x, y): (i32, i32)) -> bool {
        (self.x0..=self.x1).contains(&x) && (self.y0..=self.y1).contains(&y)
    }
}

/// Opacity of the legend's white background.
const LEGEND_OPACITY: f64 = 0.75;

/// Draws a legend of `entries` (name, colour) inside `plot`, in the corner that covers the
/// fewest pixels of `drawn` (the series' lines and markers, in pixels). Does nothing
/// without entries.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    l: &Layout,
    plot: PixelRect,
    entries: &[(&str, Rgb)],
    drawn: &[Vec<(i32, i32)>],
) -> Result<(), PlotError> {
    if entries.is_empty() {
        return Ok(());
    }
    let px = |v: f64| v.round() as i32;
    let (swatch, gap, row_h) = (px(1.5 * l.text), px(0.3 * l.text), px(1.15 * l.text));
    let names_w = (entries.iter())
        .map(|(name, _)| px(text_width(name, l.text).ceil()))
        .max()
        .unwrap_or(0);
    let (w, h) = (
        3 * gap + swatch + gap + names_w,
        2 * gap + entries.len() as i32 * row_h,
    );
    let inset = 2 * gap;
    let (left, right) = (plot.x0 + inset, plot.x1 - inset - w);
    let (top, bottom) = (plot.y0 + inset, plot.y1 - inset - h);
    let at = |x0: i32, y0: i32| PixelRect {
        x0,
        y0,
        x1: x0 + w,
        y1: y0 + h,
    };
    // Preference order on ties: top right, bottom right, top left, bottom left.
    let corners = [
        at(right, top),
        at(right, bottom),
        at(left, top),
        at(left, bottom),
    ];
    let legend = corners
        .into_iter()
        .min_by_key(|r| hidden(r, drawn))
        .expect("four corners");

    let failed = |e: DrawingAreaErrorKind<DB::ErrorType>| PlotError::Backend {
        message: e.to_string(),
    };
    let corners = [(legend.x0, legend.y0), (legend.x1, legend.y1)];
    // Translucent: where every corner has data, the lines it covers stay visible.
    root.draw(&Rectangle::new(corners, WHITE.mix(LEGEND_OPACITY).filled()))
        .map_err(failed)?;
    root.draw(&Rectangle::new(corners, BORDER.colour()))
        .map_err(failed)?;
    let text = TextStyle::from((family(), l.text))
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, &(name, colour)) in entries.iter().enumerate() {
        let mid = legend.y0 + gap + i as i32 * row_h + row_h / 2;
        let start = legend.x0 + 2 * gap;
        let line = ShapeStyle::from(colour.colour()).stroke_width(LINE_THICKNESS);
        root.draw(&PathElement::new(
            vec![(start, mid), (start + swatch, mid)],
            line,
        ))
        .map_err(failed)?;
        root.draw_text(name, &text, (start + swatch + gap, mid))
            .map_err(failed)?;
    }
    Ok(())
}

/// How many pixels along the lines of `drawn` fall inside `r`: the data a legend there
/// would hide.
fn hidden(r: &PixelRect, drawn: &[Vec<(i32, i32)>]) -> usize {
    let mut n = 0;
    for path in drawn {
        if let [point] = path.as_slice() {
            n += usize::from(r.contains(*point));
        }
        for pair in path.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            let steps = (x1 - x0).abs().max((y1 - y0).abs()).max(1);
            n += (0..=steps)
                .filter(|&k| {
                    let t = f64::from(k) / f64::from(steps);
                    let x = f64::from(x0) + t * f64::from(x1 - x0);
                    let y = f64::from(y0) + t * f64::from(y1 - y0);
                    r.contains((x.round() as i32, y.round() as i32))
                })
                .count();
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_counts_line_pixels_and_markers_inside() {
        let r = PixelRect {
            x0: 10,
            y0: 10,
            x1: 19,
            y1: 19,
        };
        // A horizontal line across the box covers its 10 columns; one outside covers none.
        assert_eq!(hidden(&r, &[vec![(0, 15), (30, 15)]]), 10);
        assert_eq!(hidden(&r, &[vec![(0, 5), (30, 5)]]), 0);
        assert_eq!(hidden(&r, &[vec![(12, 12)], vec![(40, 40)]]), 1);
    }
}
