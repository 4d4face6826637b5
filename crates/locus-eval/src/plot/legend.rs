//! The legend: a boxed list of series names with their colours, in the plot corner where it
//! hides the least data.

use super::canvas::{Image, Rgb};
use super::chart::{GRID, LINE_THICKNESS};
use super::font::{draw_text, text_height, text_width, Direction};
use super::layout::{Layout, Rect};

/// Colour of the legend's border.
const BORDER: Rgb = Rgb::new(160, 160, 160);

/// Draws a legend of `entries` (name, colour) inside the plot area of `img`, whose series
/// are already drawn. Does nothing without entries.
pub(crate) fn draw_legend(img: &mut Image, l: &Layout, entries: &[(&str, Rgb)]) {
    if entries.is_empty() {
        return;
    }
    let s = l.scale;
    let (swatch, gap, row_h) = (8 * s, 3 * s, text_height(s) + 2 * s);
    let names_w = entries
        .iter()
        .map(|(name, _)| text_width(name, s))
        .max()
        .unwrap_or(0);
    let (w, h) = (
        4 * gap + swatch + gap + names_w,
        2 * gap + entries.len() as i64 * row_h - 2 * s,
    );
    let box_at = |x: i64, y: i64| Rect { x, y, w, h };

    let p = l.plot;
    let inset = 2 * gap;
    let (left, right) = (p.x + inset, p.x + p.w - inset - w);
    let (top, bottom) = (p.y + inset, p.y + p.h - inset - h);
    // Preference order on ties: top right, bottom right, top left, bottom left.
    let corners = [
        box_at(right, top),
        box_at(right, bottom),
        box_at(left, top),
        box_at(left, bottom),
    ];
    let legend = corners
        .into_iter()
        .min_by_key(|r| hidden_pixels(img, r))
        .expect("four corners");

    img.fill_rect(legend.x, legend.y, legend.w, legend.h, Rgb::WHITE);
    let (x, y, rw, rh) = (legend.x, legend.y, legend.w, legend.h);
    img.fill_rect(x, y, rw, 1, BORDER);
    img.fill_rect(x, y + rh - 1, rw, 1, BORDER);
    img.fill_rect(x, y, 1, rh, BORDER);
    img.fill_rect(x + rw - 1, y, 1, rh, BORDER);
    for (i, &(name, colour)) in entries.iter().enumerate() {
        let row_y = y + gap + i as i64 * row_h;
        // The swatch sits at mid capital height, like the y tick labels.
        let mid = row_y + 7 * s / 2;
        let start = x + 2 * gap;
        img.draw_line(
            (start, mid),
            (start + swatch - 1, mid),
            LINE_THICKNESS,
            colour,
        );
        draw_text(
            img,
            (start + swatch + gap, row_y),
            name,
            s,
            Direction::Horizontal,
            Rgb::BLACK,
        );
    }
}

/// How many pixels in `r` are neither background nor grid: series that a legend there would
/// hide.
fn hidden_pixels(img: &Image, r: &Rect) -> usize {
    let mut n = 0;
    for y in r.y.max(0)..r.y + r.h {
        for x in r.x.max(0)..r.x + r.w {
            let (Ok(xu), Ok(yu)) = (u32::try_from(x), u32::try_from(y)) else {
                continue;
            };
            if let Some(c) = img.pixel(xu, yu) {
                if c != Rgb::WHITE && c != GRID {
                    n += 1;
                }
            }
        }
    }
    n
}
