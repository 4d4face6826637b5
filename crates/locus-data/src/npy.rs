//! NumPy `.npy` arrays (format versions 1.0, 2.0 and 3.0) and directories of
//! `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy`.
//!
//! Little-endian `f4`, `f8`, `i4`, `i8` and the byte types `u1`, `i1` are read, in C
//! order. Big-endian data and Fortran order (for arrays of two or more dimensions) are
//! refused with a clear error rather than silently reordered.
//!
//! # Why not the `ndarray-npy` crate
//!
//! This reader is hand-written because `ndarray-npy` (0.10.0, for ndarray 0.17) cannot keep
//! the allocation bound of `tests/parser_alloc.rs` (a read grows the heap by at most 4 times
//! the file plus 256 KiB) on corrupt headers, measured with the same counting allocator on
//! its header parser (`npy::header::Header::from_reader`, `py_literal` over `pest`):
//!
//! | header (version 1.0, about 60 KB) | heap growth | time |
//! |---|---|---|
//! | NumPy's own 128-byte file, for scale | 10.7 KB | 0.1 ms |
//! | a valid dict with an extra key `'x': [0, 0, ...]`, or a `dict` of `1: 1` | 31.5 MB (525 x the file) | 0.5 s |
//! | a `shape` tuple of 30,000 entries | 31.5 MB | 0.6 s |
//! | 30,000 nested `[` or `(` | 6.1 to 9.0 MB | 0.1 s |
//! | a 60,000-digit shape entry | 7.9 MB | 0.1 s |
//!
//! The bound for those files is about 490 KB. Its data reading could be guarded (it
//! allocates the array from the header's shape before reading, so the shape would be
//! checked against the file size first), but keeping its header parser within the bound
//! would take a screen of the header text before the parser sees it: most of the parser in
//! `npy/header.rs` again. Its error
//! messages also quote the whole header (an 85 KB message for a 60 KB header) where this
//! reader's name the byte and what was expected, and it would add 13 crates to the build
//! (`py_literal`, `pest` and its derive, `num-bigint`, `stacker` with `psm`, which compiles
//! C). The checkpoint writer in `locus-sched` (40 lines) stays hand-written for the last
//! reason.

mod header;

use std::path::{Path, PathBuf};

use crate::dataset::class_count;
use crate::idx::dir_name;
use crate::source::{data_bytes, Source};
use crate::{DataError, InMemoryDataset, Result, Split};

/// The longest header accepted (NumPy writes about 128 bytes).
const MAX_HEADER_BYTES: usize = 1 << 16;

/// The largest label [`load_npy_dir`] accepts, so that a corrupt label cannot make a
/// downstream one-hot encoding allocate without bound.
pub const MAX_LABEL: usize = 1 << 20;

/// The values of an `.npy` array, by element type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NpyData {
    /// `<f4`.
    F32(Vec<f32>),
    /// `<f8`.
    F64(Vec<f64>),
    /// `|u1`.
    U8(Vec<u8>),
    /// `|i1`.
    I8(Vec<i8>),
    /// `<i4`.
    I32(Vec<i32>),
    /// `<i8`.
    I64(Vec<i64>),
}

impl NpyData {
    /// The NumPy type string of these values, e.g. `"<f4"`.
    pub fn dtype(&self) -> &'static str {
        match self {
            NpyData::F32(_) => "<f4",
            NpyData::F64(_) => "<f8",
            NpyData::U8(_) => "|u1",
            NpyData::I8(_) => "|i1",
            NpyData::I32(_) => "<i4",
            NpyData::I64(_) => "<i8",
        }
    }
}

/// One `.npy` array: its shape and its values in row-major (C) order.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape from the header (empty for a scalar).
    pub shape: Vec<usize>,
    /// The values; their count is the product of `shape`.
    pub data: NpyData,
}

/// Reads one `.npy` file.
///
/// # Errors
/// [`DataError::Io`] when the file cannot be read; [`DataError::Malformed`] for a bad
/// magic string, a truncated or unparsable header, a shape whose size overflows or exceeds
/// 4 GiB (a dimension of 0 does not excuse the others from overflowing), or data shorter
/// or longer than the shape says; [`DataError::Unsupported`] for
/// other format versions, unknown or big-endian dtypes, and Fortran order. Each names the
/// file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<NpyArray> {
    let mut source = Source::open(path.as_ref())?;
    let path = source.path().to_path_buf();
    let mut preamble = [0u8; 8];
    source.read_exact(&mut preamble, "the .npy magic string and version")?;
    if &preamble[..6] != b"\x93NUMPY" {
        return Err(DataError::malformed(
            &path,
            "wrong magic string: a .npy file starts with \\x93NUMPY",
        ));
    }
    let header_len = match (preamble[6], preamble[7]) {
        (1, 0) => {
            let mut b = [0u8; 2];
            source.read_exact(&mut b, "the .npy header length")?;
            usize::from(u16::from_le_bytes(b))
        }
        (2 | 3, 0) => {
            let mut b = [0u8; 4];
            source.read_exact(&mut b, "the .npy header length")?;
            u32::from_le_bytes(b) as usize
        }
        (major, minor) => {
            return Err(DataError::unsupported(
                &path,
                format!("npy format version {major}.{minor} (1.0, 2.0 and 3.0 are supported)"),
            ))
        }
    };
    if header_len > MAX_HEADER_BYTES {
        return Err(DataError::malformed(
            &path,
            format!("header length {header_len} exceeds the limit of {MAX_HEADER_BYTES} bytes"),
        ));
    }
    let mut text = vec![0u8; header_len];
    source.read_exact(&mut text, "the .npy header")?;
    let text = String::from_utf8(text)
        .map_err(|_| DataError::malformed(&path, "the header is not valid text"))?;
    let header = header::parse_header(&text).map_err(|e| {
        let quoted = header::quote_start(text.trim_end());
        DataError::malformed(&path, format!("bad header {quoted}: {e}"))
    })?;
    let dtype = Dtype::parse(&header.descr, &path)?;
    if header.fortran_order && header.shape.len() > 1 {
        return Err(DataError::unsupported(
            &path,
            "Fortran order (fortran_order: True); save the array in C order, e.g. with \
             np.ascontiguousarray",
        ));
    }
    let bytes = data_bytes(&header.shape, dtype.size()).ok_or_else(|| {
        DataError::malformed(&path, format!("shape {:?} overflows", header.shape))
    })?;
    let raw = source.read_to_end_exact(
        bytes,
        &format!("{} data of shape {:?}", header.descr, header.shape),
    )?;
    Ok(NpyArray {
        shape: header.shape,
        data: dtype.decode(&raw),
    })
}

#[derive(Clone, Copy)]
enum Dtype {
    F32,
    F64,
    U8,
    I8,
    I32,
    I64,
}

impl Dtype {
    fn parse(descr: &str, path: &Path) -> Result<Self> {
        Ok(match descr {
            "<f4" => Dtype::F32,
            "<f8" => Dtype::F64,
            "|u1" | "<u1" | ">u1" | "u1" => Dtype::U8,
            "|i1" | "<i1" | ">i1" | "i1" => Dtype::I8,
            "<i4" => Dtype::I32,
            "<i8" => Dtype::I64,
            _ => {
                let reason = match descr.strip_prefix('>') {
                    Some(rest) => format!(
                        "big-endian dtype '{descr}'; save it little-endian, e.g. with \
                         arr.astype('<{rest}')"
                    ),
                    None => format!("dtype '{descr}' (supported: <f4, <f8, |u1, |i1, <i4, <i8)"),
                };
                return Err(DataError::unsupported(path, reason));
            }
        })
    }

    fn size(self) -> u64 {
        match self {
            Dtype::U8 | Dtype::I8 => 1,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }

    fn decode(self, raw: &[u8]) -> NpyData {
        fn le<const N: usize, T>(raw: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
            raw.chunks_exact(N)
                .map(|c| {
                    let mut b = [0u8; N];
                    b.copy_from_slice(c);
                    f(b)
                })
                .collect()
        }
        match self {
            Dtype::F32 => NpyData::F32(le(raw, f32::from_le_bytes)),
            Dtype::F64 => NpyData::F64(le(raw, f64::from_le_bytes)),
            Dtype::U8 => NpyData::U8(raw.to_vec()),
            Dtype::I8 => NpyData::I8(le(raw, i8::from_le_bytes)),
            Dtype::I32 => NpyData::I32(le(raw, i32::from_le_bytes)),
            Dtype::I64 => NpyData::I64(le(raw, i64::from_le_bytes)),
        }
    }
}

/// The four file names [`load_npy_dir`] reads.
pub const NPY_FILES: [&str; 4] = ["x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy"];

/// Loads a directory of [`NPY_FILES`], such as the MNIST-1D export.
///
/// `x` holds `[samples, ..sample_shape]` floats (`<f4`, `<f8`, converted to `f32`) or
/// unsigned bytes (`|u1`, divided by 255 into `[0, 1]`, as for IDX images). `y` holds one
/// label per row: integers, or floats that are exact non-negative integers. Train and test
/// must share the sample shape. `num_classes` is the largest label plus one (at least 2).
///
/// # Errors
/// [`DataError::MissingFile`] for a missing file; everything [`read_npy`] reports;
/// [`DataError::Malformed`] when `x` has fewer than 2 dimensions or non-finite values,
/// `y` is not 1-D, or a label is negative, fractional or above [`MAX_LABEL`] (naming the
/// first bad row); [`DataError::Unsupported`] for other element types of `x`;
/// [`DataError::Inconsistent`] when `x` and `y` differ in rows or train and test in
/// sample shape.
pub fn load_npy_dir(dir: impl AsRef<Path>) -> Result<Split> {
    let dir = dir.as_ref();
    let [xtr, ytr, xte, yte] = NPY_FILES.map(|name| {
        let path = dir.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(DataError::MissingFile {
                dir: dir.to_path_buf(),
                tried: vec![path],
            })
        }
    });
    let train = Part::read(xtr?, ytr?)?;
    let test = Part::read(xte?, yte?)?;
    if train.shape != test.shape {
        return Err(DataError::inconsistent(
            &train.x_path,
            &test.x_path,
            format!(
                "train samples are {:?}, test samples are {:?}",
                train.shape, test.shape
            ),
        ));
    }
    let num_classes = class_count(&train.labels, &test.labels);
    let name = dir_name(dir);
    Ok(Split {
        train: train.into_dataset(format!("{name} train"), num_classes)?,
        test: test.into_dataset(format!("{name} test"), num_classes)?,
    })
}

/// One `x` file with its `y` file, checked against each other.
struct Part {
    x_path: PathBuf,
    features: Vec<f32>,
    shape: Vec<usize>,
    labels: Vec<usize>,
}

impl Part {
    fn read(x_path: PathBuf, y_path: PathBuf) -> Result<Self> {
        let x = read_npy(&x_path)?;
        let y = read_npy(&y_path)?;
        if x.shape.len() < 2 {
            return Err(DataError::malformed(
                &x_path,
                format!(
                    "x needs at least 2 dimensions [samples, ..], its shape is {:?}",
                    x.shape
                ),
            ));
        }
        if y.shape.len() != 1 {
            return Err(DataError::malformed(
                &y_path,
                format!("y needs 1 dimension [samples], its shape is {:?}", y.shape),
            ));
        }
        if x.shape[0] != y.shape[0] {
            return Err(DataError::inconsistent(
                &x_path,
                &y_path,
                format!("x has {} rows but y has {}", x.shape[0], y.shape[0]),
            ));
        }
        let features = match x.data {
            NpyData::F32(v) => v,
            NpyData::F64(v) => v.into_iter().map(|f| f as f32).collect(),
            NpyData::U8(v) => v.into_iter().map(|b| f32::from(b) / 255.0).collect(),
            other => {
                return Err(DataError::unsupported(
                    &x_path,
                    format!(
                        "x must hold floats (<f4, <f8) or unsigned bytes (|u1), found {}",
                        other.dtype()
                    ),
                ))
            }
        };
        let labels = labels(&y.data).map_err(|reason| DataError::malformed(&y_path, reason))?;
        Ok(Self {
            x_path,
            features,
            shape: x.shape[1..].to_vec(),
            labels,
        })
    }

    fn into_dataset(self, name: String, num_classes: usize) -> Result<InMemoryDataset> {
        let path = self.x_path;
        InMemoryDataset::new(name, self.features, self.shape, self.labels, num_classes)
            .map_err(|e| DataError::malformed(&path, e.to_string()))
    }
}

/// Class labels from integers or integral floats; the error names the first bad row.
fn labels(data: &NpyData) -> std::result::Result<Vec<usize>, String> {
    fn convert<T: Copy + std::fmt::Display>(
        values: &[T],
        to_label: impl Fn(T) -> Option<usize>,
    ) -> std::result::Result<Vec<usize>, String> {
        values
            .iter()
            .enumerate()
            .map(|(row, &v)| match to_label(v) {
                Some(l) if l <= MAX_LABEL => Ok(l),
                _ => Err(format!(
                    "label {v} at row {row} is not an integer in 0..={MAX_LABEL}"
                )),
            })
            .collect()
    }
    let float = |f: f64| {
        (f.is_finite() && f >= 0.0 && f.fract() == 0.0 && f <= MAX_LABEL as f64)
            .then_some(f as usize)
    };
    match data {
        NpyData::U8(v) => convert(v, |l| Some(usize::from(l))),
        NpyData::I8(v) => convert(v, |l| usize::try_from(l).ok()),
        NpyData::I32(v) => convert(v, |l| usize::try_from(l).ok()),
        NpyData::I64(v) => convert(v, |l| usize::try_from(l).ok()),
        NpyData::F32(v) => convert(v, |l| float(f64::from(l))),
        NpyData::F64(v) => convert(v, float),
    }
}
