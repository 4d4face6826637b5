//! Fuzzing of every reader of external bytes in locus-data (`read_idx`, `read_npy`,
//! `load_idx_dir`, `load_npy_dir`, raw and gzip) with arbitrary bytes and with valid files
//! whose header fields were set to extreme values and whose bytes were flipped, cut,
//! overwritten or extended. Whatever the input, a reader returns: an array holding as many
//! values as its shape says (a shape any ndarray can take), or an error about the file
//! (malformed or unsupported, never an I/O error) that names it. A panic fails the test.
//! The allocation bound is checked separately, in `parser_alloc.rs`.

mod common;
mod fuzz_inputs;

use std::path::Path;

use common::TempDir;
use fuzz_inputs::{
    arbitrary_bytes, bytes_after_magic, idx_dir, idx_file, npy_dir, npy_file, storage, valid_idx,
    valid_npy, DirFiles, Storage,
};
use locus_data::idx::{load_idx_dir, read_idx, MNIST_FILES};
use locus_data::npy::{load_npy_dir, read_npy, NpyData, NPY_FILES};
use locus_data::{DataError, Dataset, Split};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// `cases` per property, failures persisted under `proptest-regressions/` of this crate
/// (see locus-testing's `proptest-regressions/README.md` for why the path is set).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/tests/parser_fuzz.txt"
        )))),
        ..ProptestConfig::default()
    }
}

/// An error for a file that exists must be about its content, and name it.
fn check_error(e: &DataError, path: &Path) {
    assert!(
        matches!(
            e,
            DataError::Malformed { .. } | DataError::Unsupported { .. }
        ),
        "an existing file gave another kind of error: {e}"
    );
    assert!(
        e.to_string().contains(&path.display().to_string()),
        "the error does not name the file: {e}"
    );
}

/// Whether ndarray accepts `shape` for `len` values, as the checkpoint reader needs.
fn fits_ndarray(shape: &[usize], len: usize) -> bool {
    ndarray::ArrayD::from_shape_vec(shape, vec![0u8; len]).is_ok()
}

fn check_idx(path: &Path) {
    match read_idx(path) {
        Ok(a) => {
            assert!((1..=8).contains(&a.dims.len()), "dims {:?}", a.dims);
            assert!(
                fits_ndarray(&a.dims, a.data.len()),
                "{} values for dims {:?}",
                a.data.len(),
                a.dims
            );
        }
        Err(e) => check_error(&e, path),
    }
}

fn npy_len(data: &NpyData) -> usize {
    match data {
        NpyData::F32(v) => v.len(),
        NpyData::F64(v) => v.len(),
        NpyData::U8(v) => v.len(),
        NpyData::I8(v) => v.len(),
        NpyData::I32(v) => v.len(),
        NpyData::I64(v) => v.len(),
        other => panic!("a dtype the fuzz test does not know: {}", other.dtype()),
    }
}

fn check_npy(path: &Path) {
    match read_npy(path) {
        Ok(a) => {
            let len = npy_len(&a.data);
            assert!(
                fits_ndarray(&a.shape, len),
                "{len} values for shape {:?}",
                a.shape
            );
        }
        Err(e) => check_error(&e, path),
    }
}

/// Reads `bytes` with both single-file readers.
fn check_file(bytes: &[u8]) {
    let dir = TempDir::new("fuzz");
    let path = dir.write("input", bytes);
    check_idx(&path);
    check_npy(&path);
}

/// Writes `files` under `names` and checks what `load` makes of the directory.
fn check_dir(files: &DirFiles, names: [&str; 4], load: fn(&Path) -> locus_data::Result<Split>) {
    let dir = TempDir::new("fuzz-dir");
    for (name, bytes) in names.iter().zip(&files.files) {
        dir.write(name, &bytes.0);
    }
    match load(dir.path()) {
        Ok(split) => {
            for part in [&split.train, &split.test] {
                assert_eq!(
                    part.features_all().len(),
                    part.len() * part.sample_len(),
                    "{}",
                    part.name()
                );
            }
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                !matches!(e, DataError::Io { .. } | DataError::MissingFile { .. }),
                "{message}"
            );
            assert!(
                message.contains(&dir.path().display().to_string()),
                "the error names no file of the directory: {message}"
            );
        }
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// The generators make valid files (so the mutated ones start valid): a check that
    /// the fuzzing below is not vacuous.
    #[test]
    fn unmutated_files_load(idx in valid_idx(), npy in valid_npy(), gzip in any::<bool>()) {
        let store = |b: Vec<u8>| if gzip { Storage::Gzip(Vec::new()).store(b) } else { b };
        let dir = TempDir::new("fuzz-valid");
        let idx_path = dir.write("a-idx", &store(idx));
        prop_assert!(read_idx(&idx_path).is_ok(), "{:?}", read_idx(&idx_path));
        let npy_path = dir.write("a.npy", &store(npy.bytes()));
        let a = read_npy(&npy_path);
        prop_assert!(a.is_ok(), "{npy:?}: {a:?}");
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in arbitrary_bytes(), storage in storage()) {
        check_file(&storage.store(bytes.0));
    }

    #[test]
    fn bytes_after_a_valid_magic_never_panic(bytes in bytes_after_magic(), storage in storage()) {
        check_file(&storage.store(bytes.0));
    }

    #[test]
    fn mutated_idx_files_never_panic(bytes in idx_file()) {
        check_file(&bytes.0);
    }

    #[test]
    fn mutated_npy_files_never_panic(bytes in npy_file()) {
        check_file(&bytes.0);
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn idx_dirs_with_a_corrupt_file_never_panic(files in idx_dir()) {
        check_dir(&files, MNIST_FILES, |d| load_idx_dir(d));
    }

    #[test]
    fn npy_dirs_with_a_corrupt_file_never_panic(files in npy_dir()) {
        check_dir(&files, NPY_FILES, |d| load_npy_dir(d));
    }
}
