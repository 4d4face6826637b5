//! IDX reading: round trips, and a clear error (never a panic, hang or huge allocation)
//! for every kind of broken file.

mod common;

use common::{gzip, idx_bytes, TempDir};
use locus_data::idx::{load_idx_dir, read_idx, IdxArray, MNIST_FILES};
use locus_data::{DataError, Dataset};
use std::path::Path;

/// The error of reading `bytes` as an IDX file, checked to name the file.
fn idx_error(bytes: &[u8]) -> DataError {
    let dir = TempDir::new("idx-bad");
    let path = dir.write("bad-idx", bytes);
    let e = read_idx(&path).expect_err("broken file must not load");
    assert!(
        e.to_string().contains(&path.display().to_string()),
        "error does not name the file: {e}"
    );
    e
}

fn assert_malformed(e: &DataError, want: &str) {
    assert!(
        matches!(e, DataError::Malformed { .. }) && e.to_string().contains(want),
        "expected a malformed-file error mentioning {want:?}, got {e}"
    );
}

#[test]
fn raw_and_gzip_round_trip_detected_by_magic_not_name() {
    let data: Vec<u8> = (0..12).collect();
    let bytes = idx_bytes(0x08, &[3, 2, 2], &data);
    let want = IdxArray {
        dims: vec![3, 2, 2],
        data,
    };
    let dir = TempDir::new("idx-ok");
    for (name, content) in [
        ("raw", bytes.clone()),
        ("raw-named.gz", bytes.clone()),
        ("gzip-without-suffix", gzip(&bytes)),
        ("gzip.gz", gzip(&bytes)),
    ] {
        let got = read_idx(dir.write(name, &content)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, want, "{name}");
    }
}

#[test]
fn empty_file() {
    assert_malformed(&idx_error(&[]), "empty");
    assert_malformed(&idx_error(&gzip(&[])), "empty");
}

#[test]
fn truncated_header() {
    assert_malformed(&idx_error(&[0, 0, 8]), "truncated");
    let e = idx_error(&[0, 0, 8, 3, 0, 0, 0, 5, 0, 0]);
    assert_malformed(&e, "dimension");
    assert_malformed(&idx_error(&gzip(&[0, 0, 8, 3, 0, 0])), "truncated");
}

#[test]
fn wrong_magic_number() {
    assert_malformed(
        &idx_error(&[0x50, 0x4b, 3, 4, 0, 0, 0, 0]),
        "wrong magic number 50 4b",
    );
    assert_malformed(&idx_error(&idx_bytes(0x08, &[], &[])), "0 dimensions");
    assert_malformed(&idx_error(&[0, 0, 8, 9]), "9 dimensions");
}

#[test]
fn unsupported_type_code_is_named() {
    for (code, name) in [(0x0d, "0x0d"), (0x0b, "0x0b"), (0x42, "0x42")] {
        let e = idx_error(&idx_bytes(code, &[1], &[0, 0, 0, 0]));
        assert!(
            matches!(e, DataError::Unsupported { .. }) && e.to_string().contains(name),
            "{e}"
        );
    }
}

#[test]
fn data_shorter_or_longer_than_dimensions() {
    for wrap in [|b: Vec<u8>| b, |b: Vec<u8>| gzip(&b)] {
        assert_malformed(&idx_error(&wrap(idx_bytes(8, &[10], &[1; 5]))), "too short");
        assert_malformed(
            &idx_error(&wrap(idx_bytes(8, &[2, 2], &[1; 6]))),
            "trailing",
        );
    }
    // Exactly how many trailing bytes, when the file size says so.
    assert_malformed(
        &idx_error(&idx_bytes(8, &[2, 2], &[1; 7])),
        "3 trailing bytes",
    );
}

#[test]
fn huge_or_overflowing_dimensions_fail_before_allocating() {
    let max = u32::MAX;
    for wrap in [|b: Vec<u8>| b, |b: Vec<u8>| gzip(&b)] {
        assert_malformed(
            &idx_error(&wrap(idx_bytes(8, &[max; 8], &[1; 8]))),
            "overflow",
        );
        assert_malformed(
            &idx_error(&wrap(idx_bytes(8, &[65536, 65536, 2], &[1]))),
            "limit",
        );
    }
    // Under the cap but far beyond the data: a raw file is refused from its size, a gzip
    // stream after reading what is there (the test would run out of time or memory if
    // the reader allocated the announced 2 GiB up front).
    assert_malformed(&idx_error(&idx_bytes(8, &[1 << 31], &[1; 3])), "too short");
    assert_malformed(
        &idx_error(&gzip(&idx_bytes(8, &[1 << 31], &[1; 3]))),
        "too short",
    );
}

#[test]
fn empty_arrays_whose_other_dimensions_overflow_are_refused() {
    // Found by tests/parser_fuzz.rs: a dimension of 0 hid an overflow of the others, so
    // read_idx returned dimensions no array can have (more than isize::MAX elements).
    for dims in [&[65536, 65536, 0, 1 << 31][..], &[0, u32::MAX, u32::MAX]] {
        assert_malformed(&idx_error(&idx_bytes(8, dims, &[])), "overflow");
    }
    // Empty arrays whose other dimensions fit still load, 0 first or last.
    let dir = TempDir::new("idx-empty");
    for dims in [[0, 28, 28], [28, 28, 0]] {
        let path = dir.write("empty-idx", &idx_bytes(8, &dims, &[]));
        let got = read_idx(&path).unwrap_or_else(|e| panic!("{dims:?}: {e}"));
        assert_eq!(
            (got.dims, got.data),
            (dims.map(|d| d as usize).to_vec(), vec![])
        );
    }
}

#[test]
fn corrupt_gzip_stream() {
    let good = gzip(&idx_bytes(8, &[64], &[7; 64]));
    let mut garbage = good[..10].to_vec();
    garbage.extend_from_slice(&[0xff; 40]);
    assert_malformed(&idx_error(&garbage), "gzip");
    let truncated = &good[..good.len() - 6];
    assert_malformed(&idx_error(truncated), "gzip");
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 8] ^= 0xff;
    assert_malformed(&idx_error(&bad_crc), "gzip");
}

#[test]
fn missing_file_reports_an_io_error_with_the_path() {
    let e = read_idx("/nonexistent/locus/train-images-idx3-ubyte").unwrap_err();
    assert!(matches!(e, DataError::Io { .. }), "{e}");
    assert!(e
        .to_string()
        .contains("/nonexistent/locus/train-images-idx3-ubyte"));
}

/// Writes a tiny MNIST-like directory: `n_train`/`n_test` images of `rows x cols`.
fn write_set(dir: &Path, n_train: u32, n_test: u32, rows: u32, cols: u32, gz: bool) {
    let px = (rows * cols) as usize;
    let files = [
        idx_bytes(8, &[n_train, rows, cols], &vec![255; n_train as usize * px]),
        idx_bytes(
            8,
            &[n_train],
            &(0..n_train).map(|i| (i % 3) as u8).collect::<Vec<_>>(),
        ),
        idx_bytes(8, &[n_test, rows, cols], &vec![51; n_test as usize * px]),
        idx_bytes(8, &[n_test], &vec![1; n_test as usize]),
    ];
    for (name, bytes) in MNIST_FILES.iter().zip(files) {
        if gz {
            std::fs::write(dir.join(format!("{name}.gz")), gzip(&bytes)).unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn load_dir_reads_shapes_scales_pixels_and_counts_classes() {
    for gz in [false, true] {
        let dir = TempDir::new("idx-dir");
        write_set(dir.path(), 5, 2, 3, 4, gz);
        let split = load_idx_dir(dir.path()).unwrap();
        assert_eq!((split.train.len(), split.test.len()), (5, 2));
        assert_eq!(split.train.sample_shape(), &[3, 4]);
        assert_eq!(split.train.num_classes(), 3);
        assert_eq!(split.test.num_classes(), 3);
        assert_eq!(split.train.labels_all(), &[0, 1, 2, 0, 1]);
        assert!(split.train.features_all().iter().all(|&v| v == 1.0));
        assert!(split
            .test
            .features_all()
            .iter()
            .all(|&v| (v - 0.2).abs() < 1e-7));
        assert!(split.train.name().ends_with("train"));
    }
}

#[test]
fn load_dir_prefers_the_raw_file_and_needs_two_classes() {
    let dir = TempDir::new("idx-both");
    write_set(dir.path(), 2, 1, 2, 2, false);
    // A different, gzip-compressed train image file beside the raw one is ignored.
    let other = idx_bytes(8, &[2, 2, 2], &[0; 8]);
    std::fs::write(dir.path().join("train-images-idx3-ubyte.gz"), gzip(&other)).unwrap();
    let split = load_idx_dir(dir.path()).unwrap();
    assert!(split.train.features_all().iter().all(|&v| v == 1.0));
    // Labels 0 and 1 only in train, 1 in test: still 2 classes, never 1.
    assert_eq!(split.train.num_classes(), 2);
}

#[test]
fn load_dir_missing_file_lists_both_names() {
    let dir = TempDir::new("idx-missing");
    write_set(dir.path(), 2, 1, 2, 2, true);
    std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let e = load_idx_dir(dir.path()).unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, DataError::MissingFile { .. }), "{m}");
    assert!(
        m.contains("t10k-labels-idx1-ubyte,") && m.contains("t10k-labels-idx1-ubyte.gz"),
        "{m}"
    );
}

#[test]
fn load_dir_image_and_label_counts_must_match() {
    let dir = TempDir::new("idx-count");
    write_set(dir.path(), 4, 2, 2, 2, false);
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte"),
        idx_bytes(8, &[3], &[0, 1, 2]),
    )
    .unwrap();
    let e = load_idx_dir(dir.path()).unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, DataError::Inconsistent { .. }), "{m}");
    assert!(
        m.contains("4 images but 3 labels")
            && m.contains("train-images-idx3-ubyte")
            && m.contains("train-labels-idx1-ubyte"),
        "{m}"
    );
}

#[test]
fn load_dir_rejects_wrong_ranks_and_mismatched_image_sizes() {
    let dir = TempDir::new("idx-rank");
    write_set(dir.path(), 2, 1, 2, 2, false);
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        idx_bytes(8, &[2, 4], &[0; 8]),
    )
    .unwrap();
    let m = load_idx_dir(dir.path()).unwrap_err().to_string();
    assert!(
        m.contains("3 dimensions") && m.contains("train-images-idx3-ubyte"),
        "{m}"
    );

    let dir = TempDir::new("idx-label-rank");
    write_set(dir.path(), 2, 1, 2, 2, false);
    std::fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        idx_bytes(8, &[1, 1], &[0]),
    )
    .unwrap();
    let m = load_idx_dir(dir.path()).unwrap_err().to_string();
    assert!(
        m.contains("1 dimension") && m.contains("t10k-labels-idx1-ubyte"),
        "{m}"
    );

    let dir = TempDir::new("idx-sizes");
    write_set(dir.path(), 2, 1, 2, 2, false);
    std::fs::write(
        dir.path().join("t10k-images-idx3-ubyte"),
        idx_bytes(8, &[1, 3, 3], &[0; 9]),
    )
    .unwrap();
    let e = load_idx_dir(dir.path()).unwrap_err();
    assert!(matches!(e, DataError::Inconsistent { .. }), "{e}");

    let dir = TempDir::new("idx-zero");
    write_set(dir.path(), 2, 1, 2, 2, false);
    std::fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        idx_bytes(8, &[2, 0, 2], &[]),
    )
    .unwrap();
    let m = load_idx_dir(dir.path()).unwrap_err().to_string();
    assert!(
        m.contains("train-images-idx3-ubyte") && m.contains("[2, 0, 2]"),
        "{m}"
    );
}
