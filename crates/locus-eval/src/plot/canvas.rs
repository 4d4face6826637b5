//! An RGB raster with the few primitives a chart needs: pixels, filled rectangles and thick
//! lines, all without anti-aliasing so colours stay exact (and testable).

use std::path::Path;

use super::{png, PlotError, MAX_SIDE};

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
}

/// An RGB image held in memory, row-major from the top-left corner.
///
/// Drawing outside the image is silently clipped, so callers never need bounds checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    width: u32,
    height: u32,
    /// `width * height * 3` bytes: R, G, B of each pixel, rows top to bottom.
    rgb: Vec<u8>,
}

impl Image {
    /// A `width` × `height` image filled with `background`.
    ///
    /// # Errors
    /// [`PlotError::InvalidSize`] if a side is 0 or above [`MAX_SIDE`].
    pub fn new(width: u32, height: u32, background: Rgb) -> Result<Self, PlotError> {
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            return Err(PlotError::InvalidSize { width, height });
        }
        let rgb =
            [background.r, background.g, background.b].repeat(width as usize * height as usize);
        Ok(Image { width, height, rgb })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The raw pixels: R, G, B bytes of each pixel, row-major from the top-left corner.
    pub fn as_rgb_bytes(&self) -> &[u8] {
        &self.rgb
    }

    /// The colour at column `x`, row `y` (row 0 is the top), or `None` outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> Option<Rgb> {
        let i = self.index(i64::from(x), i64::from(y))?;
        Some(Rgb::new(self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]))
    }

    /// Sets one pixel; coordinates outside the image are ignored.
    pub fn set_pixel(&mut self, x: i64, y: i64, colour: Rgb) {
        if let Some(i) = self.index(x, y) {
            self.rgb[i..i + 3].copy_from_slice(&[colour.r, colour.g, colour.b]);
        }
    }

    /// Fills the rectangle of `width` × `height` pixels whose top-left corner is `(x, y)`;
    /// the part outside the image is ignored.
    pub fn fill_rect(&mut self, x: i64, y: i64, width: i64, height: i64, colour: Rgb) {
        let x0 = x.clamp(0, i64::from(self.width));
        let x1 = x.saturating_add(width).clamp(0, i64::from(self.width));
        let y0 = y.clamp(0, i64::from(self.height));
        let y1 = y.saturating_add(height).clamp(0, i64::from(self.height));
        for yy in y0..y1 {
            for xx in x0..x1 {
                self.set_pixel(xx, yy, colour);
            }
        }
    }

    /// Draws a line from `(x0, y0)` to `(x1, y1)`, both ends included, with Bresenham's
    /// algorithm and a square brush `thickness` pixels wide (0 draws nothing).
    ///
    /// The brush covers `thickness / 2` pixels left of and above the ideal line, the rest
    /// right of and below it. Callers clip long lines first: the cost is one step per pixel
    /// of length, visible or not.
    pub fn draw_line(
        &mut self,
        (x0, y0): (i64, i64),
        (x1, y1): (i64, i64),
        thickness: u32,
        colour: Rgb,
    ) {
        let t = i64::from(thickness);
        let offset = t / 2;
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.fill_rect(x - offset, y - offset, t, t, colour);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// The image encoded as a PNG file (8-bit RGB).
    pub fn to_png_bytes(&self) -> Vec<u8> {
        png::encode_rgb(self.width, self.height, &self.rgb)
    }

    /// Writes the image to `path` as a PNG file, replacing any file there.
    ///
    /// # Errors
    /// [`PlotError::Io`], with the path, if the file cannot be written.
    pub fn write_png(&self, path: &Path) -> Result<(), PlotError> {
        std::fs::write(path, self.to_png_bytes()).map_err(|cause| PlotError::Io {
            path: path.to_path_buf(),
            cause,
        })
    }

    /// The byte offset of pixel `(x, y)`, or `None` outside the image.
    fn index(&self, x: i64, y: i64) -> Option<usize> {
        let inside =
            (0..i64::from(self.width)).contains(&x) && (0..i64::from(self.height)).contains(&y);
        inside.then(|| (y as usize * self.width as usize + x as usize) * 3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RED: Rgb = Rgb::new(255, 0, 0);

    fn coloured(img: &Image, colour: Rgb) -> Vec<(u32, u32)> {
        let mut v = Vec::new();
        for y in 0..img.height() {
            for x in 0..img.width() {
                if img.pixel(x, y) == Some(colour) {
                    v.push((x, y));
                }
            }
        }
        v
    }

    #[test]
    fn zero_and_huge_sizes_are_errors() {
        assert!(matches!(
            Image::new(0, 5, Rgb::WHITE),
            Err(PlotError::InvalidSize { width: 0, .. })
        ));
        assert!(matches!(
            Image::new(5, 0, Rgb::WHITE),
            Err(PlotError::InvalidSize { height: 0, .. })
        ));
        assert!(Image::new(MAX_SIDE + 1, 1, Rgb::WHITE).is_err());
        assert!(Image::new(1, 1, Rgb::WHITE).is_ok());
    }

    #[test]
    fn thin_lines_cover_exactly_the_bresenham_pixels() {
        let mut img = Image::new(10, 10, Rgb::WHITE).unwrap();
        img.draw_line((1, 1), (7, 4), 1, RED);
        let px = coloured(&img, RED);
        // One pixel per column from x=1 to x=7, y rising by 3 over 6 steps.
        assert_eq!(px.len(), 7);
        assert_eq!(px.first(), Some(&(1, 1)));
        assert_eq!(px.last(), Some(&(7, 4)));
        // Reversed ends draw the same number of pixels.
        let mut back = Image::new(10, 10, Rgb::WHITE).unwrap();
        back.draw_line((7, 4), (1, 1), 1, RED);
        assert_eq!(coloured(&back, RED).len(), 7);
    }

    #[test]
    fn thick_lines_are_two_pixels_wide() {
        let mut img = Image::new(10, 10, Rgb::WHITE).unwrap();
        img.draw_line((2, 5), (7, 5), 2, RED);
        // Horizontal line at y=5, brush one pixel up: rows 4 and 5, columns 1..=7.
        let px = coloured(&img, RED);
        assert_eq!(px.len(), 2 * 7);
        assert!(px
            .iter()
            .all(|&(x, y)| (1..=7).contains(&x) && (y == 4 || y == 5)));
    }

    #[test]
    fn drawing_off_the_image_is_clipped() {
        let mut img = Image::new(4, 4, Rgb::WHITE).unwrap();
        img.fill_rect(-10, -10, 12, 12, RED);
        img.draw_line((-5, 3), (8, 3), 2, RED);
        img.set_pixel(100, 0, RED);
        // The 2x2 visible corner of the rectangle, and rows 2 and 3 across the image.
        assert_eq!(coloured(&img, RED).len(), 4 + 8);
    }
}
