//! `locus plot` as a user meets it: curves of real runs as a PNG of the asked size or an
//! SVG, and clear errors naming the file for missing or corrupt results.

use std::path::{Path, PathBuf};

mod common;
use common::{locus, scratch, stderr};

/// Trains a tiny MNIST-1D run into `dir` and returns its results.json.
fn train(dir: &Path, seed: &str) -> PathBuf {
    let out = dir.to_str().unwrap();
    let o = locus(&[
        "train",
        "--dataset",
        "mnist1d",
        "--hidden",
        "16",
        "--epochs",
        "2",
        "--batch-size",
        "100",
        "--seed",
        seed,
        "--out",
        out,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    dir.join("results.json")
}

/// Decodes `png` (with the `png` crate) and returns its width and height, after checking it
/// is not blank: a chart has more than one colour.
fn check_png(png: &[u8]) -> (u32, u32) {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane size")];
    let info = reader.next_frame(&mut pixels).expect("PNG data");
    assert_eq!(info.color_type, png::ColorType::Rgb, "RGB pixels");
    let pixels = &pixels[..info.buffer_size()];
    assert!(
        pixels.chunks(3).any(|px| px != &pixels[..3]),
        "the image is a single colour"
    );
    (info.width, info.height)
}

#[test]
fn plots_trained_runs_as_a_png_of_the_asked_size() {
    let dir = scratch("runs");
    let a = train(&dir.join("a"), "1");
    let b = train(&dir.join("b"), "2");
    // `locus train --out` also draws its own curves.
    for name in ["curves.png", "loss.png"] {
        let png = std::fs::read(dir.join("a").join(name)).unwrap();
        assert_eq!(check_png(&png), (800, 500), "{name}");
    }

    let out = dir.join("one.png");
    let o = locus(&["plot", a.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(check_png(&std::fs::read(&out).unwrap()), (800, 500));

    // Several runs (one given by its directory), another metric, size and title.
    let out = dir.join("two.png");
    let o = locus(&[
        "plot",
        a.to_str().unwrap(),
        dir.join("b").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--metric",
        "train-loss",
        "--title",
        "two seeds",
        "--width",
        "640",
        "--height",
        "360",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(check_png(&std::fs::read(&out).unwrap()), (640, 360));
    assert!(b.exists());

    // The same as SVG, chosen by the file name; the legend names the runs.
    let svg = dir.join("two.svg");
    let o = locus(&[
        "plot",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        svg.to_str().unwrap(),
        "--labels",
        "first,second",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.starts_with(r#"<svg width="800" height="500""#),
        "{svg:.80}"
    );
    for label in ["first", "second", "epoch", "test accuracy"] {
        assert!(
            svg.lines().any(|l| l.trim() == label),
            "no {label} in the SVG"
        );
    }
}

#[test]
fn redraw_draws_a_runs_own_plots_again_from_its_results() {
    let dir = scratch("redraw");
    train(&dir.join("run"), "3");
    let run = dir.join("run");
    for name in ["curves.png", "loss.png"] {
        std::fs::remove_file(run.join(name)).unwrap();
    }
    let o = locus(&["redraw", run.to_str().unwrap(), "--only", "curves"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        check_png(&std::fs::read(run.join("curves.png")).unwrap()),
        (800, 500)
    );
    assert!(
        !run.join("loss.png").exists(),
        "--only curves drew loss.png"
    );

    // Every plot, as SVG, the run given by its results.json.
    let results = run.join("results.json");
    let o = locus(&["redraw", results.to_str().unwrap(), "--format", "svg"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for name in ["curves.svg", "loss.svg"] {
        let svg = std::fs::read_to_string(run.join(name)).unwrap();
        assert!(svg.starts_with("<svg"), "{name}");
    }
    fails_with(
        &["redraw", run.to_str().unwrap(), "--only", "speed"],
        &["speed", "curves, loss, alignment, stage-accuracy"],
    );
    // A bp run has no alignment curves (its updates are exact gradients).
    fails_with(
        &["redraw", run.to_str().unwrap(), "--only", "alignment"],
        &["none of the plots", "curves"],
    );
    let missing = dir.join("nothing-here");
    fails_with(
        &["redraw", missing.to_str().unwrap()],
        &[missing.to_str().unwrap()],
    );
}

/// Asserts a run failed with a message containing every `needle`, and did not panic.
fn fails_with(args: &[&str], needles: &[&str]) {
    let o = locus(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} should fail; stderr: {err}");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: expected {n:?} in: {err}");
    }
}

#[test]
fn bad_results_files_are_named() {
    let dir = scratch("bad");
    let out = dir.join("x.png");
    let out = out.to_str().unwrap();

    let missing = dir.join("missing").join("results.json");
    let missing = missing.to_str().unwrap();
    fails_with(&["plot", missing, "--out", out], &[missing]);

    let corrupt = dir.join("corrupt.json");
    std::fs::write(&corrupt, "{\"algo\": \"bp\", \"history\": [").unwrap();
    let corrupt = corrupt.to_str().unwrap();
    fails_with(&["plot", corrupt, "--out", out], &[corrupt, "results.json"]);

    let wrong = dir.join("wrong.json");
    std::fs::write(&wrong, "{\"algo\": \"bp\"}").unwrap();
    let wrong = wrong.to_str().unwrap();
    fails_with(&["plot", wrong, "--out", out], &[wrong, "missing field"]);
    assert!(!Path::new(out).exists(), "no image is written on error");

    fails_with(&["plot", "--out", out], &["RESULTS.json"]);
    fails_with(
        &["plot", corrupt, "--out", out, "--metric", "speed"],
        &["speed"],
    );
}

#[test]
fn unplottable_requests_are_errors_not_panics() {
    let dir = scratch("unplottable");
    let results = train(&dir.join("run"), "0");
    let results = results.to_str().unwrap();
    let out = dir.join("x.png");
    let out = out.to_str().unwrap();
    fails_with(&["plot", results, "--out", out, "--width", "0"], &["0x500"]);
    fails_with(
        &[
            "plot", results, "--out", out, "--width", "30", "--height", "20",
        ],
        &["too small"],
    );
    let jpeg = dir.join("x.jpg");
    let jpeg = jpeg.to_str().unwrap();
    fails_with(&["plot", results, "--out", jpeg], &[jpeg, ".png or .svg"]);
    let unwritable = dir.join("no-such-dir").join("x.png");
    let unwritable = unwritable.to_str().unwrap();
    fails_with(&["plot", results, "--out", unwritable], &[unwritable]);

    // A run with no history has nothing to plot.
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results).unwrap()).unwrap();
    json["history"] = serde_json::json!([]);
    let empty = dir.join("empty.json");
    std::fs::write(&empty, json.to_string()).unwrap();
    let empty = empty.to_str().unwrap();
    fails_with(&["plot", empty, "--out", out], &[empty, "history"]);

    // A diverged epoch, written as null (serde_json's NaN), is left out of the curve.
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(results).unwrap()).unwrap();
    json["history"][0]["test_accuracy"] = serde_json::Value::Null;
    json["history"][0]["train_loss"] = serde_json::Value::Null;
    let diverged = dir.join("diverged.json");
    std::fs::write(&diverged, json.to_string()).unwrap();
    let o = locus(&["plot", diverged.to_str().unwrap(), "--out", out]);
    assert!(o.status.success(), "{}", stderr(&o));

    // --labels names one series per file, no more, no fewer.
    fails_with(
        &[
            "plot", results, results, "--out", out, "--labels", "only-one",
        ],
        &["--labels", "1", "2"],
    );
    let o = locus(&[
        "plot",
        results,
        results,
        "--out",
        out,
        "--labels",
        "first,second",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}
