//! PNG output: plotters' bitmap backend with text set by ab_glyph at each glyph's true
//! position, and the pixels encoded by the `png` crate.
//!
//! Why not plotters' own text: with the `ab_glyph` feature, plotters 0.3.7 draws each glyph's
//! outline from the left edge of its pixel box instead of from the pen position plus the
//! glyph's left side bearing, and rounds the pen down per glyph. Letters with a large
//! bearing (`i`, `l`, `1`, `.`) then sit against their left neighbour and words look
//! unevenly spaced. [`GlyphText`] forwards every drawing call to the bitmap backend but
//! `draw_text` (and `estimate_text_size`, to agree with it), which it does itself: glyphs
//! placed with subpixel pen positions, kerning, then rasterised with their bearings.

use std::collections::HashMap;

use ab_glyph::{point, Font, ScaleFont};
use plotters::backend::BitMapBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle};
use plotters_backend::{DrawingBackend, DrawingErrorKind};

use super::font::font;
use super::PlotError;

/// A bitmap backend whose text is drawn glyph by glyph with ab_glyph (see the module doc).
pub(crate) struct GlyphText<'a>(pub BitMapBackend<'a>);

/// The bitmap backend's error type (plotters does not re-export its name).
type BitMapBackendError = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

type Drawn = Result<(), DrawingErrorKind<BitMapBackendError>>;

impl GlyphText<'_> {
    /// Each glyph of `text` at `size` with its pen position, the text's box starting at
    /// `(0, 0)` (top of the ascender), and the box's width and height.
    fn lay_out(text: &str, size: f32) -> (Vec<ab_glyph::Glyph>, f32, f32) {
        let font = font().as_scaled(size);
        let (mut glyphs, mut caret, mut previous) = (Vec::new(), 0.0f32, None);
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                caret += font.kern(p, id);
            }
            glyphs.push(id.with_scale_and_position(size, point(caret, font.ascent())));
            caret += font.h_advance(id);
            previous = Some(id);
        }
        (glyphs, caret, font.ascent() - font.descent())
    }
}

impl DrawingBackend for GlyphText<'_> {
    type ErrorType = BitMapBackendError;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }

    fn ensure_prepared(&mut self) -> Drawn {
        self.0.ensure_prepared()
    }

    fn present(&mut self) -> Drawn {
        self.0.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Drawn {
        self.0.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(&mut self, from: BackendCoord, to: BackendCoord, s: &S) -> Drawn {
        self.0.draw_line(from, to, s)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Drawn {
        self.0.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Drawn {
        self.0.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Drawn {
        self.0.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Drawn {
        self.0.fill_polygon(vert, style)
    }

    fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Drawn {
        self.0.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<BitMapBackendError>> {
        let (_, width, height) = Self::lay_out(text, style.size() as f32);
        Ok((width.ceil() as u32, height.ceil() as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Drawn {
        let colour = style.color();
        if colour.alpha == 0.0 {
            return Ok(());
        }
        let size = style.size() as f32;
        let (glyphs, width, height) = Self::lay_out(text, size);
        // Shift the box so its anchor lands on `pos` (before any rotation, as plotters does).
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Center => -width / 2.0,
            HPos::Right => -width,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -height / 2.0,
            VPos::Bottom => -height,
        };
        let transform = style.transform();
        let mut pixels = Vec::new();
        for mut glyph in glyphs {
            glyph.position.x += dx;
            glyph.position.y += dy;
            // Spaces have no outline.
            let Some(outline) = font().outline_glyph(glyph) else {
                continue;
            };
            let bounds = outline.px_bounds();
            let (x0, y0) = (bounds.min.x as i32, bounds.min.y as i32);
            outline.draw(|x, y, coverage| {
                if coverage > 0.0 {
                    pixels.push((x0 + x as i32, y0 + y as i32, coverage.min(1.0)));
                }
            });
        }
        for (x, y, coverage) in pixels {
            let (x, y) = transform.transform(x, y);
            // Coverage in eighths: smooth enough to read, and few enough shades that a
            // chart stays within a 256-colour palette (a PNG a third the size).
            let coverage = (f64::from(coverage) * 8.0).round() / 8.0;
            let colour = BackendColor {
                alpha: colour.alpha * coverage,
                rgb: colour.rgb,
            };
            self.0.draw_pixel((pos.0 + x, pos.1 + y), colour)?;
        }
        Ok(())
    }
}

/// `rgb` (`width * height` pixels, 3 bytes each, rows from the top) as a PNG file: indexed
/// when it has at most 256 colours (a chart's white, grey, series colours and the shades of
/// its anti-aliased text usually do), which makes the file about a third the size, else
/// 8-bit RGB.
pub(crate) fn encode_png(width: u32, height: u32, rgb: &[u8]) -> Result<Vec<u8>, PlotError> {
    let failed = |e: png::EncodingError| PlotError::Backend {
        message: format!("PNG encoding: {e}"),
    };
    let mut index: HashMap<[u8; 3], u8> = HashMap::new();
    let mut indices = Vec::with_capacity(rgb.len() / 3);
    for pixel in rgb.chunks_exact(3) {
        let colour = [pixel[0], pixel[1], pixel[2]];
        let next = index.len();
        let i = *index.entry(colour).or_insert(next.min(255) as u8);
        if index.len() > 256 {
            break;
        }
        indices.push(i);
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let data = if index.len() <= 256 {
        let mut palette = vec![0u8; 3 * index.len()];
        for (colour, &i) in &index {
            palette[3 * usize::from(i)..][..3].copy_from_slice(colour);
        }
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_palette(palette);
        &indices[..]
    } else {
        encoder.set_color(png::ColorType::Rgb);
        rgb
    };
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(data).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::font::family;
    use plotters::prelude::*;

    /// The columns of a `width`-pixel-wide RGB raster that hold ink (a dark pixel).
    fn inked_columns(rgb: &[u8], width: usize) -> Vec<i32> {
        let mut columns: Vec<i32> = (rgb.chunks(3).enumerate())
            .filter(|(_, p)| p[0] < 128)
            .map(|(i, _)| (i % width) as i32)
            .collect();
        columns.sort_unstable();
        columns.dedup();
        columns
    }

    #[test]
    fn glyphs_start_at_the_pen_plus_their_left_side_bearing() {
        // plotters' own ab_glyph text puts each outline at the pen, without the bearing.
        let (w, h, size) = (300u32, 150u32, 100.0f32);
        let mut rgb = vec![255u8; (w * h * 3) as usize];
        {
            let root = GlyphText(BitMapBackend::with_buffer(&mut rgb, (w, h))).into_drawing_area();
            let style = TextStyle::from((family(), f64::from(size))).color(&BLACK);
            root.draw_text("ll", &style, (20, 10)).unwrap();
            root.present().unwrap();
        }
        let font = font().as_scaled(size);
        let l = font.glyph_id('l');
        let (bearing, advance) = (font.h_side_bearing(l), font.h_advance(l));
        assert!(bearing > 5.0, "DejaVu's l has a visible bearing: {bearing}");
        let columns = inked_columns(&rgb, w as usize);
        // The first stem starts at the pen plus the bearing, the second one advance later.
        let stems: Vec<i32> = (columns.iter().enumerate())
            .filter(|&(i, &c)| i == 0 || columns[i - 1] != c - 1)
            .map(|(_, &c)| c)
            .collect();
        let want = [20.0 + bearing, 20.0 + advance + bearing];
        assert_eq!(stems.len(), 2, "{columns:?}");
        for (got, want) in stems.iter().zip(want) {
            assert!(
                (*got as f32 - want).abs() <= 1.0,
                "stem at {got}, want {want}"
            );
        }
    }
}
