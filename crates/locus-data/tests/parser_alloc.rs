//! The file readers allocate no more than the file justifies: a header announcing 10^12
//! elements in a 200-byte file is refused before anything of that size is allocated, and
//! no input, however corrupt, makes a reader allocate much more than the file holds.
//!
//! The bound: while `read_idx` or `read_npy` reads a file whose content is `n` bytes (after
//! gzip decompression, of which the readers take no more than the header announces plus
//! one byte), the heap grows by at most `4 n + 256 KiB`. That is the data, its decoded
//! copy and the doubling of a gzip stream's buffer, plus a constant for the file's and the
//! decompressor's buffers and the first 64 KiB of a gzip stream's data buffer (about
//! 150 KiB together), or a .npy header (at most 64 KiB).
//! `load_idx_dir` and `load_npy_dir` also convert to `f32` features and `usize` labels, so
//! for them the bound is `8 n + 256 KiB`, `n` being the content of the four files.
//!
//! The growth measured is the peak of live heap bytes above the level at the start of the
//! read, from a counting global allocator (`peak_alloc`: a `GlobalAlloc` needs unsafe code,
//! which the workspace forbids). It bounds the largest single allocation as well. The
//! counter is process-wide, so this file has a single test function, which runs every case
//! in turn.

mod common;
mod fuzz_inputs;

use std::io::Read;
use std::path::Path;

use common::{f64_bytes, gzip, idx_bytes, npy_bytes, TempDir};
use flate2::read::MultiGzDecoder;
use fuzz_inputs::{
    arbitrary_bytes, bytes_after_magic, idx_dir, idx_file, npy_dir, npy_file, Bytes, DirFiles,
};
use locus_data::idx::{load_idx_dir, read_idx, MNIST_FILES};
use locus_data::npy::{load_npy_dir, read_npy, NPY_FILES};
use peak_alloc::PeakAlloc;
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestRunner};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// What any read may use whatever the file: file and decompressor buffers, the first
/// buffer of gzip data, a .npy header.
const SLACK: usize = 256 << 10;

/// The most a single-file read may grow the heap for `n` bytes of content.
fn file_bound(n: usize) -> usize {
    4 * n + SLACK
}

/// The most a directory load may grow the heap for `n` bytes of content in its files.
fn dir_bound(n: usize) -> usize {
    8 * n + SLACK
}

/// How far the heap grew above its level at the start while `read` ran.
fn heap_growth<T>(read: impl FnOnce() -> T) -> (usize, T) {
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let out = read();
    (HEAP.peak_usage().saturating_sub(before), out)
}

/// The bytes a reader can see in `file`: the file itself, or for a gzip stream (detected
/// by its magic bytes, as the readers do) what decompresses before the end or an error.
fn content_len(file: &[u8]) -> usize {
    if file.starts_with(&[0x1f, 0x8b]) {
        let mut content = Vec::new();
        let _ = MultiGzDecoder::new(file).read_to_end(&mut content);
        content.len()
    } else {
        file.len()
    }
}

/// The heap growth of `read_idx` and of `read_npy` on `path`, with their errors (if any).
fn growth_of_both(path: &Path) -> [(usize, Option<String>); 2] {
    let (idx, r) = heap_growth(|| read_idx(path).map(drop));
    let idx_err = r.err().map(|e| e.to_string());
    let (npy, r) = heap_growth(|| read_npy(path).map(drop));
    let npy_err = r.err().map(|e| e.to_string());
    [(idx, idx_err), (npy, npy_err)]
}

/// Reads `file` with both readers and checks their growth against [`file_bound`] for
/// `content` bytes; returns the growth and error of the reader named `reader`.
fn check_file(
    file: &[u8],
    content: usize,
    reader: &str,
) -> Result<(usize, Option<String>), TestCaseError> {
    let dir = TempDir::new("alloc");
    let path = dir.write("input", file);
    let [idx, npy] = growth_of_both(&path);
    for (name, (growth, err)) in [("read_idx", &idx), ("read_npy", &npy)] {
        prop_assert!(
            *growth <= file_bound(content),
            "{name} grew the heap by {growth} bytes for {content} bytes of content ({err:?}): {:?}",
            Bytes(file.to_vec())
        );
    }
    Ok(if reader == "idx" { idx } else { npy })
}

/// [`check_file`] for the fixed cases, which panic.
fn check_fixed(file: &[u8], content: usize, reader: &str) -> (usize, Option<String>) {
    check_file(file, content, reader).unwrap_or_else(|e| panic!("{e}"))
}

/// A raw or gzip file with a header that announces far more than follows is refused, and
/// the reader allocates nothing of the announced size.
fn huge_announcements_are_refused_before_allocating() {
    // 10^12 one-byte elements, and 10^9 (under the 4 GiB limit), in 200-byte files.
    for (shape, want) in [
        (&[1_000_000, 1_000_000][..], "limit"),
        (&[1000, 1000, 1000][..], "too short"),
    ] {
        let mut file = npy_bytes(1, "|u1", false, shape, &[]);
        file.resize(200, 7);
        for file in [file.clone(), gzip(&file)] {
            let (_, err) = check_fixed(&file, 200, "npy");
            let err = err.expect("a 200-byte file cannot hold the shape");
            assert!(err.contains(want), "{err}");
        }
    }
    // A gzip stream's buffer started at 1 MiB when the header announced more, whatever
    // followed: found by the fuzzing below, shrunk to 12 bytes after a header announcing
    // 2^24 (20 bytes, 32 compressed).
    for (dims, data) in [([1 << 24], &[0; 12][..]), ([1 << 31], &[])] {
        let file = gzip(&idx_bytes(8, &dims, data));
        let (_, err) = check_fixed(&file, 8 + data.len(), "idx");
        assert!(err.expect("data is missing").contains("too short"));
    }
}

/// A gzip stream is decompressed no further than its header announces (plus one byte to
/// see that more follows): 16 MiB of zeros after an IDX header announcing 1000 bytes make
/// only the heap growth of a 1 KiB file.
fn gzip_is_not_decompressed_past_the_header() {
    let file = gzip(&idx_bytes(8, &[1000], &vec![0; 16 << 20]));
    let (growth, err) = check_fixed(&file, 16 << 20, "idx");
    assert!(err.expect("trailing data").contains("trailing bytes"));
    assert!(
        growth <= file_bound(8 + 1001),
        "{growth} bytes for a header announcing 1000"
    );
}

/// A .npy header of 64 KiB of control characters made an error message of 384 KiB, each
/// quoted as `\u{7f}`, and the read grow the heap by 11 times the file; the message now
/// quotes the header's start only.
fn a_huge_bad_header_makes_a_short_message() {
    for header in [
        "\x7f".repeat(65535),
        format!("{{'{}': 1}}", "\x7f".repeat(65000)),
    ] {
        let mut file = b"\x93NUMPY\x01\x00".to_vec();
        file.extend((header.len() as u16).to_le_bytes());
        file.extend(header.as_bytes());
        for file in [file.clone(), gzip(&file)] {
            let (_, err) = check_fixed(&file, 10 + header.len(), "npy");
            let err = err.expect("not a header");
            assert!(err.contains("bad header") && err.len() < 4096, "{err}");
        }
    }
}

/// A valid 1 MiB file, raw and gzip, loads within the bound, and the heap growth measured
/// is at least its data: the counter sees the reader's allocations.
fn valid_files_are_measured() {
    let values: Vec<f64> = (0..1 << 17).map(f64::from).collect();
    let file = npy_bytes(1, "<f8", false, &[values.len()], &f64_bytes(&values));
    for stored in [file.clone(), gzip(&file)] {
        let (growth, err) = check_fixed(&stored, file.len(), "npy");
        assert_eq!(err, None);
        assert!(
            growth >= 8 << 17,
            "{growth} bytes measured for 1 MiB of data"
        );
    }
}

/// Runs `test` on `cases` inputs of `strategy`, failures persisted under
/// `proptest-regressions/` of this crate.
fn run_cases<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let config = ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/tests/parser_alloc.txt"
        )))),
        ..ProptestConfig::default()
    };
    TestRunner::new(config)
        .run(&strategy, test)
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The fuzz inputs of `parser_fuzz.rs`, with the growth of every reader checked.
fn fuzz_inputs_stay_within_the_bound() {
    let file = prop_oneof![
        arbitrary_bytes(),
        bytes_after_magic(),
        idx_file(),
        npy_file()
    ];
    run_cases(1024, file, |file| {
        check_file(&file.0, content_len(&file.0), "idx").map(drop)
    });
    let dirs = prop_oneof![
        idx_dir().prop_map(|files| (files, MNIST_FILES)),
        npy_dir().prop_map(|files| (files, NPY_FILES)),
    ];
    run_cases(256, dirs, |(files, names): (DirFiles, [&str; 4])| {
        let dir = TempDir::new("alloc-dir");
        let mut content = 0;
        for (name, bytes) in names.iter().zip(&files.files) {
            dir.write(name, &bytes.0);
            content += content_len(&bytes.0);
        }
        let (growth, result) = if names == MNIST_FILES {
            heap_growth(|| load_idx_dir(dir.path()).map(drop))
        } else {
            heap_growth(|| load_npy_dir(dir.path()).map(drop))
        };
        prop_assert!(
            growth <= dir_bound(content),
            "loading grew the heap by {growth} bytes for {content} bytes of content \
             ({result:?}): {files:?}"
        );
        Ok(())
    });
}

#[test]
fn readers_allocate_no_more_than_the_file_justifies() {
    huge_announcements_are_refused_before_allocating();
    gzip_is_not_decompressed_past_the_header();
    a_huge_bad_header_makes_a_short_message();
    valid_files_are_measured();
    fuzz_inputs_stay_within_the_bound();
}
