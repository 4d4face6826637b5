//! .npy reading: every supported dtype and version, the directory loader, and a clear
//! error for every kind of broken file.

mod common;

use common::{f32_bytes, f64_bytes, i64_bytes, npy_bytes, npy_with_header, TempDir};
use locus_data::npy::{load_npy_dir, read_npy, NpyArray, NpyData, NPY_FILES};
use locus_data::{DataError, Dataset};
use std::path::Path;

/// The error of reading `bytes` as a .npy file, checked to name the file.
fn npy_error(bytes: &[u8]) -> DataError {
    let dir = TempDir::new("npy-bad");
    let path = dir.write("bad.npy", bytes);
    let e = read_npy(&path).expect_err("broken file must not load");
    assert!(
        e.to_string().contains(&path.display().to_string()),
        "error does not name the file: {e}"
    );
    e
}

fn assert_kind(e: &DataError, unsupported: bool, want: &str) {
    let kind_ok = if unsupported {
        matches!(e, DataError::Unsupported { .. })
    } else {
        matches!(e, DataError::Malformed { .. })
    };
    assert!(
        kind_ok && e.to_string().contains(want),
        "wanted {want:?}: {e}"
    );
}

#[test]
fn every_dtype_and_version_round_trips() {
    let dir = TempDir::new("npy-ok");
    let cases: Vec<(&str, Vec<u8>, NpyData)> = vec![
        (
            "<f4",
            f32_bytes(&[1.5, -2.0, 0.25, 8.0]),
            NpyData::F32(vec![1.5, -2.0, 0.25, 8.0]),
        ),
        (
            "<f8",
            f64_bytes(&[1.5, -2.0, 0.25, 8.0]),
            NpyData::F64(vec![1.5, -2.0, 0.25, 8.0]),
        ),
        (
            "|u1",
            vec![0, 1, 200, 255],
            NpyData::U8(vec![0, 1, 200, 255]),
        ),
        (
            "|i1",
            vec![0, 1, 0xff, 0x80],
            NpyData::I8(vec![0, 1, -1, -128]),
        ),
        (
            "<i4",
            [7i32, -1, 0, i32::MAX]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            NpyData::I32(vec![7, -1, 0, i32::MAX]),
        ),
        (
            "<i8",
            i64_bytes(&[7, -1, 0, i64::MIN]),
            NpyData::I64(vec![7, -1, 0, i64::MIN]),
        ),
    ];
    for version in [1, 2, 3] {
        for (descr, bytes, data) in &cases {
            let path = dir.write("a.npy", &npy_bytes(version, descr, false, &[2, 2], bytes));
            let got = read_npy(&path).unwrap_or_else(|e| panic!("{descr} v{version}: {e}"));
            let want = NpyArray {
                shape: vec![2, 2],
                data: data.clone(),
            };
            assert_eq!(got, want, "{descr} v{version}");
            assert_eq!(got.data.dtype(), *descr);
        }
    }
    // A scalar has an empty shape and one value; 1-D Fortran order is the same as C order.
    let scalar = read_npy(dir.write(
        "s.npy",
        &npy_bytes(1, "<f8", false, &[], &f64_bytes(&[3.0])),
    ));
    assert_eq!(scalar.unwrap().shape, Vec::<usize>::new());
    let column = read_npy(dir.write("c.npy", &npy_bytes(1, "|u1", true, &[3], &[1, 2, 3])));
    assert_eq!(column.unwrap().data, NpyData::U8(vec![1, 2, 3]));
}

#[test]
fn empty_and_truncated_files() {
    assert_kind(&npy_error(&[]), false, "empty");
    assert_kind(&npy_error(b"\x93NUM"), false, "truncated");
    assert_kind(&npy_error(b"\x93NUMPY\x01\x00\x40"), false, "header length");
    let mut cut = npy_bytes(1, "<f4", false, &[2], &f32_bytes(&[1.0, 2.0]));
    cut.truncate(40);
    assert_kind(&npy_error(&cut), false, "truncated");
}

#[test]
fn bad_magic_and_versions() {
    assert_kind(
        &npy_error(b"PK\x03\x04 this is a zip, not npy"),
        false,
        "magic",
    );
    let mut v4 = npy_bytes(1, "<f4", false, &[1], &f32_bytes(&[1.0]));
    v4[6] = 4;
    assert_kind(&npy_error(&v4), true, "version 4.0");
}

#[test]
fn bad_header_dicts() {
    for header in [
        "not a dict at all",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
    ] {
        let e = npy_error(&npy_with_header(1, header, &f32_bytes(&[1.0, 2.0])));
        assert_kind(&e, false, "bad header");
    }
    let mut huge = b"\x93NUMPY\x02\x00".to_vec();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert_kind(&npy_error(&huge), false, "header length");
    let mut binary = npy_with_header(1, "{'descr': '<f4'}", &[]);
    binary[12] = 0xff;
    assert_kind(&npy_error(&binary), false, "not valid text");
}

#[test]
fn unknown_and_big_endian_dtypes() {
    let e = npy_error(&npy_bytes(1, "<c8", false, &[1], &[0; 8]));
    assert_kind(&e, true, "dtype '<c8'");
    let e = npy_error(&npy_bytes(1, "|O", false, &[1], &[0; 8]));
    assert_kind(&e, true, "dtype '|O'");
    let e = npy_error(&npy_bytes(1, ">f4", false, &[1], &[0; 4]));
    assert_kind(&e, true, "big-endian");
    let e = npy_error(&npy_with_header(
        1,
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}",
        &[0; 4],
    ));
    assert_kind(&e, false, "bad header");
}

#[test]
fn fortran_order_is_refused() {
    let e = npy_error(&npy_bytes(1, "<f4", true, &[2, 2], &f32_bytes(&[1.0; 4])));
    assert_kind(&e, true, "Fortran order");
}

#[test]
fn data_shorter_or_longer_than_shape() {
    let short = npy_bytes(1, "<f4", false, &[3, 2], &f32_bytes(&[1.0; 5]));
    assert_kind(&npy_error(&short), false, "too short");
    let long = npy_bytes(1, "<f4", false, &[3, 2], &f32_bytes(&[1.0; 7]));
    assert_kind(&npy_error(&long), false, "4 trailing bytes");
    let overflow = npy_bytes(1, "<f8", false, &[usize::MAX, 2], &[]);
    assert_kind(&npy_error(&overflow), false, "overflows");
    let huge = npy_bytes(1, "<f8", false, &[1 << 20, 1 << 20], &[0; 8]);
    assert_kind(&npy_error(&huge), false, "limit");
}

#[test]
fn empty_arrays_whose_other_dimensions_overflow_are_refused() {
    // Found by tests/parser_fuzz.rs: a dimension of 0 hid an overflow of the others (once
    // the product reached 0 nothing overflowed), so read_npy returned shapes no array can
    // have, which ndarray refuses and the checkpoint reader's `expect` panicked on.
    for shape in [&[1 << 63, 0][..], &[0, 1 << 32, 1 << 32], &[0, 1 << 62, 2]] {
        let file = npy_bytes(1, "|i1", false, shape, &[]);
        assert_kind(&npy_error(&file), false, "overflows");
    }
    // Empty arrays whose other dimensions fit still load, 0 first or last.
    let dir = TempDir::new("npy-empty");
    for shape in [&[0, 3][..], &[3, 0], &[0, 1 << 30, 2]] {
        let path = dir.write("empty.npy", &npy_bytes(1, "<f4", false, shape, &[]));
        let a = read_npy(&path).unwrap_or_else(|e| panic!("{shape:?}: {e}"));
        assert_eq!((a.shape.as_slice(), a.data), (shape, NpyData::F32(vec![])));
    }
}

/// Writes the four files of a directory from (x header parts, y header parts).
fn write_dir(dir: &Path, x: [(&str, &[usize], Vec<u8>); 2], y: [(&str, &[usize], Vec<u8>); 2]) {
    let [xtr, xte] = x;
    let [ytr, yte] = y;
    for (name, (descr, shape, data)) in NPY_FILES.iter().zip([xtr, ytr, xte, yte]) {
        std::fs::write(dir.join(name), npy_bytes(1, descr, false, shape, &data)).unwrap();
    }
}

fn good_x() -> [(&'static str, &'static [usize], Vec<u8>); 2] {
    [
        ("<f4", &[3, 2], f32_bytes(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0])),
        ("<f4", &[1, 2], f32_bytes(&[-1.0, 1.0])),
    ]
}

fn good_y() -> [(&'static str, &'static [usize], Vec<u8>); 2] {
    [("|u1", &[3], vec![0, 4, 1]), ("|u1", &[1], vec![2])]
}

#[test]
fn load_dir_reads_float_x_and_integer_y() {
    let dir = TempDir::new("npy-dir");
    write_dir(dir.path(), good_x(), good_y());
    let split = load_npy_dir(dir.path()).unwrap();
    assert_eq!((split.train.len(), split.test.len()), (3, 1));
    assert_eq!(split.train.sample_shape(), &[2]);
    assert_eq!(split.train.num_classes(), 5);
    assert_eq!(split.train.features(1), Some(&[2.0f32, 3.0][..]));
    assert_eq!(split.test.labels_all(), &[2]);
}

#[test]
fn load_dir_scales_byte_x_and_accepts_integral_float_y() {
    let dir = TempDir::new("npy-bytes");
    let x = [
        ("|u1", &[2, 1, 2][..], vec![0, 255, 51, 102]),
        ("|u1", &[1, 1, 2][..], vec![255, 0]),
    ];
    let y = [
        ("<f8", &[2][..], f64_bytes(&[1.0, 0.0])),
        ("<i8", &[1][..], i64_bytes(&[1])),
    ];
    write_dir(dir.path(), x, y);
    let split = load_npy_dir(dir.path()).unwrap();
    assert_eq!(split.train.sample_shape(), &[1, 2]);
    assert_eq!(split.train.features_all(), &[0.0, 1.0, 0.2, 0.4]);
    assert_eq!(split.train.labels_all(), &[1, 0]);
    assert_eq!(split.train.num_classes(), 2);
}

fn load_error(x: [(&str, &[usize], Vec<u8>); 2], y: [(&str, &[usize], Vec<u8>); 2]) -> String {
    let dir = TempDir::new("npy-dir-bad");
    write_dir(dir.path(), x, y);
    load_npy_dir(dir.path()).unwrap_err().to_string()
}

#[test]
fn load_dir_rejects_row_mismatch() {
    let mut y = good_y();
    y[0] = ("|u1", &[2], vec![0, 1]);
    let m = load_error(good_x(), y);
    assert!(
        m.contains("x has 3 rows but y has 2")
            && m.contains("x_train.npy")
            && m.contains("y_train.npy"),
        "{m}"
    );
}

#[test]
fn load_dir_rejects_bad_labels_naming_the_row() {
    let mut y = good_y();
    y[0] = ("<f4", &[3], f32_bytes(&[0.0, 1.0, 2.5]));
    let m = load_error(good_x(), y);
    assert!(
        m.contains("label 2.5 at row 2") && m.contains("y_train.npy"),
        "{m}"
    );
    let mut y = good_y();
    y[1] = ("<i8", &[1], i64_bytes(&[-3]));
    let m = load_error(good_x(), y);
    assert!(
        m.contains("label -3 at row 0") && m.contains("y_test.npy"),
        "{m}"
    );
    let mut y = good_y();
    y[0] = ("<f8", &[3], f64_bytes(&[0.0, f64::NAN, 1.0]));
    assert!(load_error(good_x(), y).contains("row 1"));
    let mut y = good_y();
    y[0] = ("<i8", &[3], i64_bytes(&[0, 1, 1 << 40]));
    assert!(load_error(good_x(), y).contains("row 2"));
}

#[test]
fn load_dir_rejects_bad_x() {
    let mut x = good_x();
    x[0] = ("<i4", &[3, 2], vec![0; 24]);
    let m = load_error(x, good_y());
    assert!(m.contains("x_train.npy") && m.contains("<i4"), "{m}");
    let mut x = good_x();
    x[1] = ("<f4", &[2], f32_bytes(&[1.0, 2.0]));
    let mut y = good_y();
    y[1] = ("|u1", &[2], vec![0, 1]);
    let m = load_error(x, y);
    assert!(
        m.contains("x_test.npy") && m.contains("at least 2 dimensions"),
        "{m}"
    );
    let mut x = good_x();
    x[0] = (
        "<f4",
        &[3, 2],
        f32_bytes(&[0.0, 1.0, 2.0, f32::INFINITY, 4.0, 5.0]),
    );
    let m = load_error(x, good_y());
    assert!(m.contains("x_train.npy") && m.contains("sample 1"), "{m}");
    let mut x = good_x();
    x[1] = ("<f4", &[1, 3], f32_bytes(&[0.0, 1.0, 2.0]));
    let m = load_error(x, good_y());
    assert!(m.contains("[2]") && m.contains("[3]"), "{m}");
    let mut y = good_y();
    y[0] = ("|u1", &[3, 1], vec![0, 1, 2]);
    assert!(load_error(good_x(), y).contains("1 dimension"));
}

#[test]
fn load_dir_missing_file() {
    let dir = TempDir::new("npy-missing");
    write_dir(dir.path(), good_x(), good_y());
    std::fs::remove_file(dir.path().join("y_test.npy")).unwrap();
    let e = load_npy_dir(dir.path()).unwrap_err();
    assert!(matches!(e, DataError::MissingFile { .. }) && e.to_string().contains("y_test.npy"));
}
