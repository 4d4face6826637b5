//! `locus plot` as a user meets it: curves of real runs as a valid PNG of the asked size,
//! and clear errors naming the file for missing or corrupt results.

use std::io::Read;
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

/// Checks `png` is a well-formed 8-bit RGB PNG (signature, chunk CRCs, IHDR, IDAT that
/// inflates to one filter-0 scanline per row, IEND last) and returns its width and height.
fn check_png(png: &[u8]) -> (u32, u32) {
    let signature = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];
    assert_eq!(png[..8], signature, "PNG signature");
    let (mut rest, mut kinds, mut idat, mut size) = (&png[8..], Vec::new(), Vec::new(), (0, 0));
    while !rest.is_empty() {
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        let (body, crc) = (&rest[4..8 + len], &rest[8 + len..12 + len]);
        let mut expected = flate2::Crc::new();
        expected.update(body);
        let kind = String::from_utf8_lossy(&body[..4]).into_owned();
        assert_eq!(expected.sum().to_be_bytes(), crc, "CRC of {kind}");
        let data = &body[4..];
        match kind.as_str() {
            "IHDR" => {
                let word = |i: usize| u32::from_be_bytes(data[i..i + 4].try_into().unwrap());
                size = (word(0), word(4));
                assert_eq!(data[8..], [8, 2, 0, 0, 0], "8-bit RGB, not interlaced");
            }
            "IDAT" => idat.extend_from_slice(data),
            _ => {}
        }
        kinds.push(kind);
        rest = &rest[12 + len..];
    }
    assert_eq!(kinds.first().map(String::as_str), Some("IHDR"));
    assert_eq!(kinds.last().map(String::as_str), Some("IEND"));
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&idat[..])
        .read_to_end(&mut raw)
        .expect("IDAT inflates");
    let row = 1 + 3 * size.0 as usize;
    assert_eq!(raw.len(), row * size.1 as usize, "scanline bytes");
    assert!(raw.chunks(row).all(|line| line[0] == 0), "filter type 0");
    // A chart is not blank: more than one colour.
    let first = &raw[1..4];
    assert!(
        raw.chunks(row)
            .any(|l| l[1..].chunks(3).any(|px| px != first)),
        "the image is a single colour"
    );
    size
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
