//! Charts as a user sees them: PNG files any decoder reads back pixel for pixel, series
//! drawn where their values say, and clear errors for input that cannot be drawn.

use std::io::Read;

use locus_eval::plot::{Image, LineChart, PlotError, Rgb, Series, MAX_SIDE, PALETTE};

/// A decoded PNG: width, height, RGB bytes.
type Decoded = (u32, u32, Vec<u8>);

/// A strict decoder for what the encoder promises (8-bit RGB, filter type 0), written
/// independently of it: the CRCs are checked with flate2's CRC-32, which PNG shares.
fn decode(png: &[u8]) -> Result<Decoded, String> {
    let signature = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
    let mut rest = png.strip_prefix(&signature[..]).ok_or("bad signature")?;
    let (mut header, mut idat, mut ended) = (None, Vec::new(), false);
    while !rest.is_empty() {
        if ended {
            return Err("data after IEND".into());
        }
        if rest.len() < 12 {
            return Err("truncated chunk".into());
        }
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let body = rest.get(4..8 + len).ok_or("chunk longer than the file")?;
        let stored = rest.get(8 + len..12 + len).ok_or("missing CRC")?;
        let mut crc = flate2::Crc::new();
        crc.update(body);
        let kind = String::from_utf8_lossy(&body[..4]).into_owned();
        if crc.sum().to_be_bytes() != stored {
            return Err(format!("CRC mismatch in {kind}"));
        }
        let data = &body[4..];
        match kind.as_str() {
            "IHDR" => {
                let word = |i: usize| u32::from_be_bytes(data[i..i + 4].try_into().unwrap());
                if data.len() != 13 || data[8..] != [8, 2, 0, 0, 0] {
                    return Err(format!("unexpected IHDR {data:?}"));
                }
                header = Some((word(0), word(4)));
            }
            "IDAT" => idat.extend_from_slice(data),
            "IEND" => ended = true,
            other => return Err(format!("unexpected chunk {other}")),
        }
        rest = &rest[12 + len..];
    }
    let (width, height) = header.ok_or("no IHDR")?;
    if !ended {
        return Err("no IEND".into());
    }
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .map_err(|e| format!("IDAT does not inflate: {e}"))?;
    let row = 1 + 3 * width as usize;
    if raw.len() != row * height as usize {
        return Err(format!(
            "{} bytes of scanlines for {width}x{height}",
            raw.len()
        ));
    }
    let mut rgb = Vec::with_capacity(raw.len());
    for (y, line) in raw.chunks(row).enumerate() {
        if line[0] != 0 {
            return Err(format!("row {y} uses filter type {}", line[0]));
        }
        rgb.extend_from_slice(&line[1..]);
    }
    Ok((width, height, rgb))
}

#[test]
fn png_bytes_decode_to_the_same_pixels() {
    // Every channel takes many values, so a swapped channel or row is caught.
    let (w, h) = (37, 23);
    let mut img = Image::new(w, h, Rgb::WHITE).unwrap();
    for y in 0..h {
        for x in 0..w {
            let c = Rgb::new((x * 7) as u8, (y * 11) as u8, ((x * y) % 256) as u8);
            img.set_pixel(x.into(), y.into(), c);
        }
    }
    let (dw, dh, rgb) = decode(&img.to_png_bytes()).unwrap();
    assert_eq!((dw, dh), (w, h));
    assert_eq!(rgb, img.as_rgb_bytes());
    assert_eq!(img.pixel(5, 3), Some(Rgb::new(35, 33, 15)));

    let chart = LineChart::new("round trip")
        .x_label("epoch")
        .y_label("loss")
        .series(Series::new("a", vec![(1.0, 3.0), (2.0, 1.0), (3.0, 0.5)]));
    let img = chart.render(640, 400).unwrap();
    let (dw, dh, rgb) = decode(&img.to_png_bytes()).unwrap();
    assert_eq!((dw, dh), (640, 400));
    assert_eq!(rgb, img.as_rgb_bytes());
}

#[test]
fn the_decoder_notices_a_flipped_byte() {
    let png = Image::new(4, 4, Rgb::BLACK).unwrap().to_png_bytes();
    assert!(decode(&png).is_ok());
    for i in [8 + 10, png.len() - 20, png.len() - 1] {
        let mut bad = png.clone();
        bad[i] ^= 0x40;
        assert!(decode(&bad).is_err(), "flipping byte {i} went unnoticed");
    }
}

#[test]
fn write_png_writes_the_same_bytes_and_names_a_bad_path() {
    let img = Image::new(3, 2, Rgb::new(9, 8, 7)).unwrap();
    let path = std::env::temp_dir().join(format!("locus-eval-plot-{}.png", std::process::id()));
    img.write_png(&path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), img.to_png_bytes());
    std::fs::remove_file(&path).unwrap();
    let bad = std::path::Path::new("/nonexistent-dir/x.png");
    let err = img.write_png(bad).unwrap_err();
    assert!(matches!(err, PlotError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent-dir/x.png"), "{err}");
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
    let img = chart.render(600, 400).unwrap();
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
    let img = chart.render(400, 300).unwrap();
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

fn err(chart: &LineChart) -> PlotError {
    chart
        .render(400, 300)
        .expect_err("this chart should not render")
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
    assert!(huge.clone().y_range(0.0, 1.0).render(400, 300).is_ok());

    for (w, h) in [(0, 300), (400, 0), (MAX_SIDE + 1, 300)] {
        let e = ok().render(w, h).unwrap_err();
        assert!(matches!(e, PlotError::InvalidSize { .. }), "{w}x{h}: {e:?}");
    }
    let e = ok().x_label("x").y_label("y").render(40, 30).unwrap_err();
    match e {
        PlotError::TooSmall {
            min_width,
            min_height,
            ..
        } => {
            // The size it asks for is enough.
            let fits = ok().x_label("x").y_label("y").render(min_width, min_height);
            assert!(fits.is_ok(), "{min_width}x{min_height}: {:?}", fits.err());
        }
        other => panic!("expected TooSmall, got {other:?}"),
    }
}

#[test]
fn a_single_point_and_a_flat_series_still_draw() {
    let one = LineChart::new("one").series(Series::new("p", vec![(3.0, 7.0)]));
    let img = one.render(300, 200).unwrap();
    let (left, top, right, bottom) = plot_area(&img);
    let inside = (top..=bottom)
        .flat_map(|y| (left..=right).map(move |x| (x, y)))
        .filter(|&(x, y)| img.pixel(x, y) == Some(PALETTE[0]))
        .count();
    assert!(inside > 4, "the marker of a lone point is visible");
}
