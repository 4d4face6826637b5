//! The one font every chart uses, embedded so that drawing needs no system font: DejaVu
//! Sans 2.37 (`fonts/DejaVuSans.ttf`, its license in `fonts/LICENSE-DejaVu`).

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, ScaleFont};
use plotters::style::{FontFamily, FontStyle};

/// The font file, compiled into the library.
static TTF: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");

/// The family name text styles ask for: plotters finds the embedded font under it, and an
/// SVG names it, so a viewer without DejaVu Sans falls back to its own sans-serif font.
pub(crate) const FAMILY: &str = "sans-serif";

/// The parsed font, registered with plotters (which looks fonts up by family name) on
/// first use.
pub(crate) fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        // Both only fail on a file that is not a font; this one is compiled in and checked
        // by every chart test.
        let font = FontRef::try_from_slice(TTF).expect("the embedded font parses");
        if plotters::style::register_font(FAMILY, FontStyle::Normal, TTF).is_err() {
            unreachable!("the embedded font parses");
        }
        font
    })
}

/// The family to give plotters' text styles; calling it registers the font.
pub(crate) fn family() -> FontFamily<'static> {
    font();
    FontFamily::Name(FAMILY)
}

/// The width in pixels of `text` set at `size` (the distance from the font's ascender to
/// its descender, in pixels, as plotters and ab_glyph measure a font size), kerning
/// included.
pub(crate) fn text_width(text: &str, size: f64) -> f64 {
    let font = font().as_scaled(size as f32);
    let mut width = 0.0f32;
    let mut previous = None;
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = previous {
            width += font.kern(p, id);
        }
        width += font.h_advance(id);
        previous = Some(id);
    }
    f64::from(width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_grow_with_text_and_size() {
        let (one, two) = (text_width("0.5", 20.0), text_width("0.55", 20.0));
        assert!(one > 10.0 && two > one, "{one} {two}");
        assert!((text_width("0.5", 40.0) - 2.0 * one).abs() < 1e-3);
        assert_eq!(text_width("", 20.0), 0.0);
        // A narrow letter is narrower than a wide one: real metrics, not a fixed cell.
        assert!(text_width("i", 20.0) < 0.5 * text_width("W", 20.0));
    }
}
