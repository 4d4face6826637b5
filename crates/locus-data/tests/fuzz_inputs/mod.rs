//! Inputs for fuzzing the file readers (`parser_fuzz.rs`, `parser_alloc.rs`): arbitrary
//! bytes, valid IDX and `.npy` files built from random parts, header fields set to extreme
//! values, byte-level mutations, and gzip compression before or after mutating.
#![allow(dead_code)]

use proptest::collection::vec;
use proptest::prelude::*;

use crate::common::{gzip, idx_bytes, npy_bytes, npy_with_header};

/// A file's bytes, shown as a byte string literal in failure reports.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text: String = self
            .0
            .iter()
            .flat_map(|&b| b.escape_ascii())
            .map(char::from)
            .collect();
        write!(f, "b\"{text}\" ({} bytes)", self.0.len())
    }
}

/// A change to a file's bytes. Positions are taken modulo the file's length, so every
/// mutation applies to every file.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// XOR one byte with a non-zero mask.
    Flip { at: usize, mask: u8 },
    /// Cut the file after `at` bytes.
    Truncate { at: usize },
    /// Replace bytes from `at` on, extending the file when they run past its end.
    Overwrite { at: usize, bytes: Vec<u8> },
    /// Insert bytes at `at`.
    Insert { at: usize, bytes: Vec<u8> },
    /// Append junk.
    Append(Vec<u8>),
}

impl Mutation {
    pub fn apply(&self, file: &mut Vec<u8>) {
        let pos = |at: usize, len: usize| at % (len + 1);
        match self {
            Mutation::Flip { at, mask } => {
                if !file.is_empty() {
                    let i = at % file.len();
                    file[i] ^= mask;
                }
            }
            Mutation::Truncate { at } => file.truncate(pos(*at, file.len())),
            Mutation::Overwrite { at, bytes } => {
                let start = pos(*at, file.len());
                let end = (start + bytes.len()).min(file.len());
                file.splice(start..end, bytes.iter().copied());
            }
            Mutation::Insert { at, bytes } => {
                let start = pos(*at, file.len());
                file.splice(start..start, bytes.iter().copied());
            }
            Mutation::Append(bytes) => file.extend_from_slice(bytes),
        }
    }
}

/// Applies `mutations` in order.
pub fn mutated(mut file: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        m.apply(&mut file);
    }
    file
}

/// A position, mostly in the first bytes where the headers are.
fn position() -> impl Strategy<Value = usize> {
    prop_oneof![3 => 0..16usize, 3 => 0..160usize, 1 => any::<usize>()]
}

/// Values that break size arithmetic: 0, 1, powers of two at type boundaries, maxima.
pub fn extreme_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(2),
        Just(255),
        Just(65_535),
        Just(65_536),
        Just(1 << 31),
        Just(u32::MAX - 1),
        Just(u32::MAX),
        any::<u32>(),
    ]
}

/// The bytes of an extreme number, in either byte order and at the widths the headers use.
fn extreme_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        extreme_u32().prop_map(|v| v.to_be_bytes().to_vec()),
        extreme_u32().prop_map(|v| v.to_le_bytes().to_vec()),
        extreme_u32().prop_map(|v| (v as u16).to_le_bytes().to_vec()),
        Just(u64::MAX.to_le_bytes().to_vec()),
        vec(any::<u8>(), 1..9),
    ]
}

/// Any mutation, biased towards the header.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (position(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        2 => position().prop_map(|at| Mutation::Truncate { at }),
        3 => (position(), extreme_bytes()).prop_map(|(at, bytes)| Mutation::Overwrite { at, bytes }),
        1 => (position(), vec(any::<u8>(), 1..16)).prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
    ]
}

/// Zero to three mutations.
pub fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    vec(mutation(), 0..4)
}

/// How a file is stored: raw, or gzip-compressed and then possibly corrupted.
#[derive(Debug, Clone)]
pub enum Storage {
    Raw,
    Gzip(Vec<Mutation>),
}

impl Storage {
    pub fn store(&self, plain: Vec<u8>) -> Vec<u8> {
        match self {
            Storage::Raw => plain,
            Storage::Gzip(after) => mutated(gzip(&plain), after),
        }
    }
}

/// Raw two times in three; gzip otherwise, with its compressed bytes intact half the time.
pub fn storage() -> impl Strategy<Value = Storage> {
    prop_oneof![
        2 => Just(Storage::Raw),
        1 => prop_oneof![Just(Vec::new()), vec(mutation(), 1..3)].prop_map(Storage::Gzip),
    ]
}

/// Arbitrary bytes, up to 4 KiB.
pub fn arbitrary_bytes() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..4096).prop_map(Bytes)
}

/// Arbitrary bytes after a valid start (the IDX magic and a dimension count, or the .npy
/// magic string and version), so the fuzzing reaches past the first check.
pub fn bytes_after_magic() -> impl Strategy<Value = Bytes> {
    let idx = (1..=8u8, vec(any::<u8>(), 0..256)).prop_map(|(n, rest)| {
        let mut b = vec![0, 0, 8, n];
        b.extend(rest);
        b
    });
    let npy = (1..=3u8, vec(any::<u8>(), 0..256)).prop_map(|(v, rest)| {
        let mut b = b"\x93NUMPY".to_vec();
        b.extend([v, 0]);
        b.extend(rest);
        b
    });
    prop_oneof![idx, npy].prop_map(Bytes)
}

/// The product of `dims`, for sizing test data.
fn product(dims: &[usize]) -> usize {
    dims.iter().product()
}

/// A valid IDX file of unsigned bytes: 1 to 4 dimensions of 0 to 4, random data.
pub fn valid_idx() -> impl Strategy<Value = Vec<u8>> {
    vec(0..5u32, 1..=4)
        .prop_flat_map(|dims| {
            let n: usize = dims.iter().map(|&d| d as usize).product();
            (Just(dims), vec(any::<u8>(), n))
        })
        .prop_map(|(dims, data)| idx_bytes(8, &dims, &data))
}

/// Overwrites of the IDX header fields: the type code, the dimension count, and any of
/// the first nine dimensions (big-endian `u32`s from byte 4 on) with extreme values.
fn idx_field_edit() -> impl Strategy<Value = Mutation> {
    let byte = |at: usize| {
        prop_oneof![Just(0u8), Just(1), Just(8), Just(9), Just(255), any::<u8>()]
            .prop_map(move |b| Mutation::Overwrite { at, bytes: vec![b] })
    };
    prop_oneof![
        1 => byte(2),
        1 => byte(3),
        3 => (prop_oneof![0..4usize, 0..9usize], extreme_u32()).prop_map(|(k, v)| Mutation::Overwrite {
            at: 4 + 4 * k,
            bytes: v.to_be_bytes().to_vec(),
        }),
    ]
}

/// An IDX header of 1 to 8 extreme dimensions followed by no data or a few bytes.
fn extreme_idx() -> impl Strategy<Value = Vec<u8>> {
    (vec(extreme_u32(), 1..=8), vec(any::<u8>(), 0..16))
        .prop_map(|(dims, data)| idx_bytes(8, &dims, &data))
}

/// A valid IDX file or extreme header, with header fields set to extreme values (and a
/// third of the time its data dropped, so that shapes of zero elements parse) and random
/// mutations, raw or gzip.
pub fn idx_file() -> impl Strategy<Value = Bytes> {
    (
        prop_oneof![3 => valid_idx(), 1 => extreme_idx()],
        vec(idx_field_edit(), 0..4),
        prop_oneof![2 => Just(false), 1 => Just(true)],
        mutations(),
        storage(),
    )
        .prop_map(|(file, edits, drop_data, mutations, storage)| {
            let mut file = mutated(file, &edits);
            if drop_data {
                file.truncate(4 + 4 * usize::from(file[3]));
            }
            Bytes(storage.store(mutated(file, &mutations)))
        })
}

/// The element types read, with the size of one element.
const DTYPES: [(&str, usize); 10] = [
    ("<f4", 4),
    ("<f8", 8),
    ("|u1", 1),
    ("u1", 1),
    ("|i1", 1),
    ("<i1", 1),
    ("<i4", 4),
    ("<i8", 8),
    (">u1", 1),
    (">i1", 1),
];

/// Type strings that are not read, or not type strings at all.
const BAD_DTYPES: [&str; 12] = [
    "", "<f2", ">f4", ">i8", "|b1", "<c8", "<U10", "O", "<f4\0", "<f4 ", "é", "<i4<i4",
];

/// Shape entries that break size arithmetic: 0, 1 and numbers at type boundaries.
const EXTREME_DIMS: [&str; 11] = [
    "0",
    "1",
    "3",
    "65536",
    "4294967295",
    "4294967296",
    "4611686018427387904",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
];

/// Shape entries that are not non-negative integers (or are, written as Python 2 did).
const JUNK_DIMS: [&str; 6] = ["99999999999999999999999999", "-1", "1.5", "2L", "", "1e3"];

/// The text of a shape tuple: `valid`, a well-formed tuple of up to 8 entries from
/// [`EXTREME_DIMS`], or a tuple with junk entries or brackets.
fn shape_text(valid: String) -> impl Strategy<Value = String> {
    let tuple = |dims: Vec<&str>, comma: bool, (open, close): (&str, &str)| {
        let comma = if comma { "," } else { "" };
        format!("{open}{}{comma}{close}", dims.join(", "))
    };
    let extreme = (
        vec(prop::sample::select(&EXTREME_DIMS[..]), 0..8),
        any::<bool>(),
    )
        .prop_map(move |(dims, comma)| tuple(dims, comma, ("(", ")")));
    let entry = prop_oneof![
        3 => prop::sample::select(&EXTREME_DIMS[..]),
        1 => prop::sample::select(&JUNK_DIMS[..]),
    ];
    let brackets = prop_oneof![
        3 => Just(("(", ")")),
        1 => Just(("(", "")),
        1 => Just(("", ")")),
        1 => Just(("[", "]")),
    ];
    let junk = (vec(entry, 0..12), any::<bool>(), brackets)
        .prop_map(move |(dims, comma, brackets)| tuple(dims, comma, brackets));
    prop_oneof![2 => Just(valid), 2 => extreme, 1 => junk]
}

/// The text NumPy writes for `shape`: `(3,)`, `(2, 5)`, `()`.
pub fn shape_tuple(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        dims => format!(
            "({})",
            dims.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The parts of a `.npy` file before it is assembled, so header fields can be replaced.
#[derive(Debug, Clone)]
pub struct NpyParts {
    pub version: u8,
    pub descr: String,
    pub fortran: String,
    pub shape: String,
    pub data: Vec<u8>,
}

impl NpyParts {
    pub fn bytes(&self) -> Vec<u8> {
        let dict = format!(
            "{{'descr': '{}', 'fortran_order': {}, 'shape': {}, }}",
            self.descr, self.fortran, self.shape
        );
        npy_with_header(self.version, &dict, &self.data)
    }
}

/// A valid `.npy` file of any read dtype and version, shape of 0 to 3 dimensions of 0 to
/// 4, random data.
pub fn valid_npy() -> impl Strategy<Value = NpyParts> {
    (
        1..=3u8,
        prop::sample::select(&DTYPES[..]),
        vec(0..5usize, 0..=3),
    )
        .prop_flat_map(|(version, (descr, size), shape)| {
            let fortran = if shape.len() <= 1 {
                prop_oneof![Just("False"), Just("True")].boxed()
            } else {
                Just("False").boxed()
            };
            (
                Just(version),
                Just(descr),
                fortran,
                Just(shape.clone()),
                vec(any::<u8>(), product(&shape) * size),
            )
        })
        .prop_map(|(version, descr, fortran, shape, data)| NpyParts {
            version,
            descr: descr.to_string(),
            fortran: fortran.to_string(),
            shape: shape_tuple(&shape),
            data,
        })
}

/// A `.npy` file whose header fields may hold extreme or wrong values (dtype, Fortran
/// flag, shape), and a third of the time no data, so that shapes of zero elements parse.
fn npy_with_edited_header() -> impl Strategy<Value = Vec<u8>> {
    valid_npy()
        .prop_flat_map(|parts| {
            let descr = prop_oneof![
                3 => Just(parts.descr.clone()),
                1 => prop::sample::select(&BAD_DTYPES[..]).prop_map(str::to_string),
            ];
            let data = prop_oneof![2 => Just(parts.data.clone()), 1 => Just(Vec::new())];
            let fortran = prop_oneof![
                3 => Just(parts.fortran.clone()),
                1 => prop::sample::select(&["True", "0", "None", "", "Tru"][..]).prop_map(str::to_string),
            ];
            let shape = shape_text(parts.shape.clone());
            (Just(parts), descr, fortran, shape, data)
        })
        .prop_map(|(parts, descr, fortran, shape, data)| {
            NpyParts {
                descr,
                fortran,
                shape,
                data,
                ..parts
            }
            .bytes()
        })
}

/// Overwrites of the .npy preamble: the version bytes (6, 7) and the little-endian header
/// length (bytes 8 and 9 in version 1, 8 to 11 after).
fn npy_field_edit() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (
            6..8usize,
            prop_oneof![Just(0u8), Just(1), Just(2), Just(3), Just(4), any::<u8>()]
        )
            .prop_map(|(at, b)| Mutation::Overwrite { at, bytes: vec![b] }),
        extreme_u32().prop_map(|v| Mutation::Overwrite {
            at: 8,
            bytes: (v as u16).to_le_bytes().to_vec(),
        }),
        extreme_u32().prop_map(|v| Mutation::Overwrite {
            at: 8,
            bytes: v.to_le_bytes().to_vec(),
        }),
    ]
}

/// A valid `.npy` file with extreme header fields and random mutations, raw or gzip.
pub fn npy_file() -> impl Strategy<Value = Bytes> {
    (
        npy_with_edited_header(),
        vec(npy_field_edit(), 0..2),
        mutations(),
        storage(),
    )
        .prop_map(|(file, edits, mutations, storage)| {
            Bytes(storage.store(mutated(mutated(file, &edits), &mutations)))
        })
}

/// Files for a directory loader: valid ones, one of which (the victim) has edited header
/// fields and mutations, raw or gzip.
#[derive(Debug, Clone)]
pub struct DirFiles {
    pub files: [Bytes; 4],
}

fn corrupt_one(
    files: [Vec<u8>; 4],
    victim: usize,
    edits: &[Mutation],
    mutations: &[Mutation],
    storage: &Storage,
) -> DirFiles {
    let mut files = files.map(Bytes);
    let file = std::mem::take(&mut files[victim]).0;
    files[victim] = Bytes(storage.store(mutated(mutated(file, edits), mutations)));
    DirFiles { files }
}

/// An MNIST-like directory (train images, train labels, test images, test labels) of 1 to
/// 3 images of up to 3 x 3 pixels per part and labels below 12, one file corrupted.
pub fn idx_dir() -> impl Strategy<Value = DirFiles> {
    (1..4u32, 1..4u32, 1..4u32, 1..4u32)
        .prop_flat_map(|(n_train, n_test, rows, cols)| {
            let px = (rows * cols) as usize;
            let part = move |n: u32| {
                (vec(any::<u8>(), n as usize * px), vec(0..12u8, n as usize)).prop_map(
                    move |(images, labels)| {
                        (
                            idx_bytes(8, &[n, rows, cols], &images),
                            idx_bytes(8, &[n], &labels),
                        )
                    },
                )
            };
            (part(n_train), part(n_test))
        })
        .prop_map(|((xtr, ytr), (xte, yte))| [xtr, ytr, xte, yte])
        .prop_flat_map(|files| {
            (
                Just(files),
                0..4usize,
                vec(idx_field_edit(), 0..2),
                mutations(),
                storage(),
            )
        })
        .prop_map(|(files, victim, edits, mutations, storage)| {
            corrupt_one(files, victim, &edits, &mutations, &storage)
        })
}

/// Small non-negative integers as little-endian values of `descr`.
fn encode(descr: &str, values: &[u8]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|&v| match descr {
            "<f4" => f32::from(v).to_le_bytes().to_vec(),
            "<f8" => f64::from(v).to_le_bytes().to_vec(),
            "<i4" => i32::from(v).to_le_bytes().to_vec(),
            "<i8" => i64::from(v).to_le_bytes().to_vec(),
            _ => vec![v],
        })
        .collect()
}

/// A directory of `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy`: 1 to 3 rows
/// per part of 1 or 2 sample dimensions of 1 to 3, `x` of any float or byte dtype (or
/// `<i4`, which is refused), `y` of any dtype with labels below 12; one file corrupted.
pub fn npy_dir() -> impl Strategy<Value = DirFiles> {
    let x_dtype = prop::sample::select(&["<f4", "<f8", "|u1", "<i4"][..]);
    let y_dtype = prop::sample::select(&["<f4", "<f8", "|u1", "|i1", "<i4", "<i8"][..]);
    (
        1..=3u8,
        x_dtype,
        y_dtype,
        1..4usize,
        1..4usize,
        vec(1..4usize, 1..=2),
    )
        .prop_flat_map(|(version, xd, yd, n_train, n_test, sample)| {
            let sample_len: usize = sample.iter().product();
            let part = move |n: usize| {
                let sample = sample.clone();
                (vec(any::<u8>(), n * sample_len), vec(0..12u8, n)).prop_map(move |(x, y)| {
                    let mut shape = vec![n];
                    shape.extend(&sample);
                    (
                        npy_bytes(version, xd, false, &shape, &encode(xd, &x)),
                        npy_bytes(version, yd, false, &[n], &encode(yd, &y)),
                    )
                })
            };
            (part(n_train), part(n_test))
        })
        .prop_map(|((xtr, ytr), (xte, yte))| [xtr, ytr, xte, yte])
        .prop_flat_map(|files| {
            (
                Just(files),
                0..4usize,
                vec(npy_field_edit(), 0..2),
                mutations(),
                storage(),
            )
        })
        .prop_map(|(files, victim, edits, mutations, storage)| {
            corrupt_one(files, victim, &edits, &mutations, &storage)
        })
}
