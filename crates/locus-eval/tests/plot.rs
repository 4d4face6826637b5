//! Charts as a user sees them: PNG files a decoder reads back at the asked size, series
//! drawn where their values say, SVG documents naming what they show, and clear errors for
//! input that cannot be drawn.

use locus_eval::plot::{LineChart, PlotError, Rgb, Series, MAX_SIDE, PALETTE};

/// A decoded PNG: width, height and each pixel's colour, row-major from the top left.
struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Image {
    /// Decodes `png` with the `png` crate (indexed colour expanded to RGB).
    fn decode(png: &[u8]) -> Image {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut rgb = vec![0; reader.output_buffer_size().expect("a sane size")];
        let info = reader.next_frame(&mut rgb).expect("PNG data");
        assert_eq!(info.color_type, png::ColorType::Rgb, "8-bit RGB pixels");
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        rgb.truncate(info.buffer_size());
        Image {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    fn render(chart: &LineChart, width: u32, height: u32) -> Image {
        Image::decode(&chart.to_png(width, height).unwrap())
    }

    fn width(&self) -> u32 {
        self.width
    }

    fn height(&self) -> u32 {
        self.height
    }

    fn pixel(&self, x: u32, y: u32) -> Option<Rgb> {
        (x < self.width && y < self.height).then(|| {
            let i = 3 * (y as usize * self.width as usize + x as usize);
            Rgb::new(self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
        })
    }
}

fn chart() -> LineChart {
    LineChart::new("round trip")
        .x_label("epoch")
        .y_label("loss")
        .series(Series::new(
            "train",
            vec![(1.0, 3.0), (2.0, 1.0), (3.0, 0.5)],
        ))
        .series(Series::new(
            "test",
            vec![(1.0, 3.5), (2.0, 1.5), (3.0, 1.0)],
        ))
}

#[test]
fn png_decodes_to_the_asked_size_with_the_series_colours() {
    for (w, h) in [(640, 400), (123, 457), (1600, 1000)] {
        let img = Image::render(&chart(), w, h);
        assert_eq!((img.width(), img.height()), (w, h));
        for colour in [Rgb::WHITE, Rgb::BLACK, PALETTE[0], PALETTE[1]] {
            let n = (0..h)
                .flat_map(|y| (0..w).map(move |x| (x, y)))
                .filter(|&(x, y)| img.pixel(x, y) == Some(colour))
                .count();
            assert!(n > 20, "{w}x{h}: {n} pixels of {colour:?}");
        }
    }
}

#[test]
fn svg_is_a_document_of_the_asked_size_naming_what_it_shows() {
    let svg = chart().to_svg(640, 400).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains(r#"width="640""#) && svg.contains(r#"height="400""#));
    // plotters writes each text element's content on a line of its own.
    for text in ["round trip", "train", "test", "epoch", "loss"] {
        assert!(
            svg.lines().any(|l| l.trim() == text),
            "no {text} in the SVG"
        );
    }
    // Series are drawn in their palette colours.
    assert!(
        svg.contains("#1F77B4") || svg.contains("#1f77b4"),
        "no series colour"
    );
}

#[test]
fn save_picks_the_format_from_the_name_and_names_a_bad_path() {
    let dir = std::env::temp_dir().join(format!("locus-eval-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("chart.PNG");
    chart().save(&png, 300, 200).unwrap();
    let img = Image::decode(&std::fs::read(&png).unwrap());
    assert_eq!((img.width(), img.height()), (300, 200));
    let svg = dir.join("chart.svg");
    chart().save(&svg, 300, 200).unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));

    let jpeg = dir.join("chart.jpg");
    let err = chart().save(&jpeg, 300, 200).unwrap_err();
    assert!(matches!(err, PlotError::UnknownFormat { .. }), "{err:?}");
    assert!(err.to_string().contains("chart.jpg"), "{err}");
    assert!(!jpeg.exists());
    let bad = std::path::Path::new("/nonexistent-dir/x.png");
    let err = chart().save(bad, 300, 200).unwrap_err();
    assert!(matches!(err, PlotError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent-dir/x.png"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The plot area, found as the inside of the black frame: the rows and columns holding a
/// black run longer than half the image.
fn plot_area(img: &Image) -> (u32, u32, u32, u32) {
    let (w, h) = (img.width(), img.height());
    let black = |x: u32, y: u32| img.pixel(x, y) == Some(Rgb::BLACK);
    let longest = |cells: &mut dyn Iterator<Item = bool>| {
        let (mut best, mut run) = (0, 0);
        for b in cells {
            run = if b { run + 1 } else { 0 };
            best = best.max(run);
        }
        best
    };
    let rows: Vec<u32> = (0..h)
        .filter(|&y| longest(&mut (0..w).map(|x| black(x, y))) > w / 2)
        .collect();
    let cols: Vec<u32> = (0..w)
        .filter(|&x| longest(&mut (0..h).map(|y| black(x, y))) > h / 2)
        .collect();
    assert_eq!(
        (rows.len(), cols.len()),
        (2, 2),
        "frame rows {rows:?}, columns {cols:?}"
    );
    // Inside the frame: first and last row and column of the plot area.
    (cols[0] + 1, rows[0] + 1, cols[1] - 1, rows[1] - 1)
}

/// Rows of column `x` (within `y0..=y1`) painted `colour`.
fn rows_of(img: &Image, x: u32, (y0, y1): (u32, u32), colour: Rgb) -> Vec<u32> {
    (y0..=y1)
        .filter(|&y| img.pixel(x, y) == Some(colour))
        .collect()
}

#[test]
fn series_land_where_their_values_say() {
    let chart = LineChart::new("levels")
        .x_range(0.0, 1.0)
        .y_range(0.0, 1.0)
        .series(Series::new("half", vec![(0.0, 0.5), (1.0, 0.5)]))
        .series(Series::new("quarter", vec![(0.0, 0.25), (1.0, 0.25)]))
        .series(Series::new("rising", vec![(0.0, 0.0), (1.0, 0.8)]));
    let img = Image::render(&chart, 600, 400);
    let (left, top, right, bottom) = plot_area(&img);
    // Value v sits on row bottom - v * (bottom - top); the 2-pixel line covers it and the
    // row above.
    let row = |v: f64| bottom as f64 - v * (bottom - top) as f64;
    let near = |rows: &[u32], v: f64| {
        !rows.is_empty() && rows.iter().all(|&r| (r as f64 - row(v)).abs() <= 1.5)
    };
    // Columns clear of where the rising line crosses the flat ones (it is drawn last).
    let column = |f: f64| left + (f * (right - left) as f64) as u32;
    // Rows of values up to 0.75: below the legend, which takes an empty top corner.
    let band = (row(0.75) as u32, bottom);
    for x in [column(0.1), column(0.45), column(0.9)] {
        let half = rows_of(&img, x, band, PALETTE[0]);
        assert!(
            near(&half, 0.5),
            "column {x}: 0.5 drawn on rows {half:?}, want ~{}",
            row(0.5)
        );
        let quarter = rows_of(&img, x, band, PALETTE[1]);
        assert!(near(&quarter, 0.25), "column {x}: 0.25 on rows {quarter:?}");
    }
    // The rising line is at 0.8 x; its slope widens its footprint in a column a little.
    for f in [0.2, 0.5, 0.8] {
        let x = column(f);
        let x_frac = (x - left) as f64 / (right - left) as f64;
        let rising = rows_of(&img, x, band, PALETTE[2]);
        assert!(!rising.is_empty(), "no rising line in column {x}");
        let want = row(0.8 * x_frac);
        assert!(
            rising.iter().all(|&r| (r as f64 - want).abs() <= 2.5),
            "{rising:?} vs {want}"
        );
    }
    // The flat line runs across the whole plot area (the legend aside).
    let y = row(0.5).round() as u32;
    let across = (left..=right)
        .filter(|&x| img.pixel(x, y) == Some(PALETTE[0]))
        .count();
    assert!(
        across as f64 > 0.8 * (right - left) as f64,
        "{across} of {}",
        right - left
    );
    // Nothing in a series colour strays outside the plot area but the legend swatches,
    // which are inside it too.
    for yy in 0..img.height() {
        for xx in 0..img.width() {
            let c = img.pixel(xx, yy).unwrap();
            if PALETTE[..3].contains(&c) {
                assert!(
                    (left..=right).contains(&xx) && (top..=bottom).contains(&yy),
                    "({xx}, {yy})"
                );
            }
        }
    }
}

#[test]
fn values_outside_a_fixed_range_are_clipped_at_the_edge() {
    let chart = LineChart::new("")
        .y_range(0.0, 1.0)
        .series(Series::new("up", vec![(0.0, 0.5), (1.0, 5.0)]));
    let img = Image::render(&chart, 400, 300);
    let (left, top, right, bottom) = plot_area(&img);
    let mut seen = false;
    for y in 0..img.height() {
        for x in 0..img.width() {
            if img.pixel(x, y) == Some(PALETTE[0]) {
                seen = true;
                assert!(
                    (left..=right).contains(&x) && (top..=bottom).contains(&y),
                    "({x}, {y})"
                );
            }
        }
    }
    assert!(seen);
}

/// The error of drawing `chart`, the same for PNG and SVG.
fn err(chart: &LineChart) -> PlotError {
    let png = chart
        .to_png(400, 300)
        .expect_err("this chart should not draw");
    let svg = chart
        .to_svg(400, 300)
        .expect_err("this chart should not draw");
    assert_eq!(png.to_string(), svg.to_string());
    png
}

#[test]
fn undrawable_input_is_a_clear_error() {
    assert!(matches!(
        err(&LineChart::new("nothing")),
        PlotError::NoData { .. }
    ));
    let empty = LineChart::new("empty").series(Series::new("a", Vec::new()));
    let e = err(&empty);
    assert!(matches!(e, PlotError::NoData { .. }));
    assert!(e.to_string().contains("empty"), "{e}");

    let nan = LineChart::new("t")
        .series(Series::new("fine", vec![(0.0, 1.0)]))
        .series(Series::new("diverged", vec![(0.0, 1.0), (1.0, f64::NAN)]));
    let e = err(&nan);
    assert!(matches!(e, PlotError::NonFinite { index: 1, .. }), "{e:?}");
    assert!(e.to_string().contains("diverged"), "{e}");
    let inf = LineChart::new("t").series(Series::new("s", vec![(f64::INFINITY, 1.0)]));
    assert!(matches!(err(&inf), PlotError::NonFinite { index: 0, .. }));

    let ok = || LineChart::new("t").series(Series::new("s", vec![(0.0, 1.0), (1.0, 2.0)]));
    for (lo, hi) in [
        (1.0, 0.0),
        (0.5, 0.5),
        (f64::NAN, 1.0),
        (0.0, f64::INFINITY),
        (-1e308, 1e308),
    ] {
        let e = err(&ok().y_range(lo, hi));
        assert!(
            matches!(e, PlotError::InvalidRange { axis: "y", .. }),
            "{e:?}"
        );
        assert!(matches!(
            err(&ok().x_range(lo, hi)),
            PlotError::InvalidRange { axis: "x", .. }
        ));
    }
    let huge = LineChart::new("t").series(Series::new("s", vec![(0.0, -1e308), (1.0, 1e308)]));
    assert!(matches!(
        err(&huge),
        PlotError::DataTooLarge { axis: "y", .. }
    ));
    // The same points on a fixed range are just clipped.
    assert!(huge.clone().y_range(0.0, 1.0).to_png(400, 300).is_ok());

    for (w, h) in [(0, 300), (400, 0), (MAX_SIDE + 1, 300)] {
        let e = ok().to_png(w, h).unwrap_err();
        assert!(matches!(e, PlotError::InvalidSize { .. }), "{w}x{h}: {e:?}");
    }
    let e = ok().x_label("x").y_label("y").to_png(40, 30).unwrap_err();
    match e {
        PlotError::TooSmall {
            min_width,
            min_height,
            ..
        } => {
            // The size it asks for is enough.
            let fits = ok().x_label("x").y_label("y").to_png(min_width, min_height);
            assert!(fits.is_ok(), "{min_width}x{min_height}: {:?}", fits.err());
        }
        other => panic!("expected TooSmall, got {other:?}"),
    }
}

#[test]
fn a_single_point_and_a_flat_series_still_draw() {
    let one = LineChart::new("one").series(Series::new("p", vec![(3.0, 7.0)]));
    let img = Image::render(&one, 300, 200);
    let (left, top, right, bottom) = plot_area(&img);
    let inside = (top..=bottom)
        .flat_map(|y| (left..=right).map(move |x| (x, y)))
        .filter(|&(x, y)| img.pixel(x, y) == Some(PALETTE[0]))
        .count();
    assert!(inside > 4, "the marker of a lone point is visible");
}
