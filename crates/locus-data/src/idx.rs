//! The IDX format of MNIST and its relatives (Fashion-MNIST, KMNIST, ...), raw or gzip.
//!
//! An IDX file is a 4-byte magic number (`00 00`, a type code, the number of dimensions),
//! one big-endian `u32` per dimension, then the data in row-major order. Only unsigned
//! bytes (type code `0x08`) are read, which is what every MNIST-like set uses.
//! Compression is detected from the gzip magic bytes, not from the file name.

use std::path::{Path, PathBuf};

use crate::dataset::class_count;
use crate::source::{data_bytes, Source};
use crate::{DataError, InMemoryDataset, Result, Split};

/// The most dimensions an IDX header may declare (MNIST uses 1 for labels, 3 for images).
const MAX_DIMS: u8 = 8;

/// The contents of one IDX file of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// The dimensions from the header, e.g. `[60000, 28, 28]`.
    pub dims: Vec<usize>,
    /// The values in row-major order; `data.len()` is the product of `dims`.
    pub data: Vec<u8>,
}

/// Reads one IDX file of unsigned bytes, raw or gzip-compressed.
///
/// # Errors
/// [`DataError::Io`] when the file cannot be read; [`DataError::Malformed`] for an empty
/// or truncated file, a wrong magic number, zero or more than 8 dimensions, dimensions whose
/// product overflows or exceeds 4 GiB (a dimension of 0 does not excuse the others from
/// overflowing), data shorter or longer than the dimensions say, or
/// a corrupt gzip stream; [`DataError::Unsupported`] for type codes other than `0x08`.
/// Each names the file.
pub fn read_idx(path: impl AsRef<Path>) -> Result<IdxArray> {
    let mut source = Source::open(path.as_ref())?;
    let path = source.path().to_path_buf();
    let mut magic = [0u8; 4];
    source.read_exact(&mut magic, "the IDX magic number")?;
    if magic[..2] != [0, 0] {
        return Err(DataError::malformed(
            &path,
            format!(
                "wrong magic number {:02x} {:02x} {:02x} {:02x}: an IDX file starts with 00 00, \
                 a type code and the number of dimensions",
                magic[0], magic[1], magic[2], magic[3]
            ),
        ));
    }
    let (type_code, ndims) = (magic[2], magic[3]);
    if type_code != 0x08 {
        return Err(DataError::unsupported(
            &path,
            format!(
                "IDX type code 0x{type_code:02x} ({}); only unsigned bytes (0x08) are supported",
                type_name(type_code)
            ),
        ));
    }
    if ndims == 0 || ndims > MAX_DIMS {
        return Err(DataError::malformed(
            &path,
            format!("the header declares {ndims} dimensions; expected 1 to {MAX_DIMS}"),
        ));
    }
    let mut header = vec![0u8; 4 * usize::from(ndims)];
    source.read_exact(&mut header, "the IDX dimension fields")?;
    let dims: Vec<usize> = header
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let count = data_bytes(&dims, 1).ok_or_else(|| {
        DataError::malformed(
            &path,
            format!("dimensions {dims:?} overflow when multiplied"),
        )
    })?;
    let data = source.read_to_end_exact(count, &format!("data for dimensions {dims:?}"))?;
    Ok(IdxArray { dims, data })
}

fn type_name(code: u8) -> &'static str {
    match code {
        0x09 => "signed byte",
        0x0b => "i16",
        0x0c => "i32",
        0x0d => "f32",
        0x0e => "f64",
        _ => "not an IDX type",
    }
}

/// The four standard MNIST file names: train images, train labels, test images, test labels.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Loads an MNIST-style directory: the four [`MNIST_FILES`], each raw or with `.gz`
/// appended (the raw file wins when both exist).
///
/// Pixels become `f32` in `[0, 1]` (divided by 255). The sample shape `[rows, cols]` comes
/// from the image header, so Fashion-MNIST and other sizes load too. `num_classes` is the
/// largest label in either part plus one (at least 2). The data sets are named after the
/// directory, e.g. `"mnist train"` and `"mnist test"`.
///
/// # Errors
/// [`DataError::MissingFile`] listing both names tried for a missing file; everything
/// [`read_idx`] reports; [`DataError::Malformed`] when an image file is not 3-D or a label
/// file not 1-D; [`DataError::Inconsistent`] when image and label counts differ or the
/// train and test images differ in size.
pub fn load_idx_dir(dir: impl AsRef<Path>) -> Result<Split> {
    let dir = dir.as_ref();
    let [train_x, train_y, test_x, test_y] = MNIST_FILES.map(|name| find_file(dir, name));
    let train = Part::read(&train_x?, &train_y?)?;
    let test = Part::read(&test_x?, &test_y?)?;
    if train.shape != test.shape {
        return Err(DataError::inconsistent(
            &train.images_path,
            &test.images_path,
            format!(
                "train images are {:?}, test images are {:?}",
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

/// One image file with its label file, checked against each other.
struct Part {
    images_path: PathBuf,
    /// Pixels in `[0, 1]`.
    pixels: Vec<f32>,
    /// `[rows, cols]`.
    shape: Vec<usize>,
    labels: Vec<usize>,
}

impl Part {
    fn read(images_path: &Path, labels_path: &Path) -> Result<Self> {
        let images = read_idx(images_path)?;
        let labels = read_idx(labels_path)?;
        if images.dims.len() != 3 || images.dims[1..].contains(&0) {
            return Err(DataError::malformed(
                images_path,
                format!(
                    "images need 3 dimensions [count, rows, cols] with rows and cols above 0, \
                     the header has {:?}",
                    images.dims
                ),
            ));
        }
        if labels.dims.len() != 1 {
            return Err(DataError::malformed(
                labels_path,
                format!(
                    "labels need 1 dimension [count], the header has {:?}",
                    labels.dims
                ),
            ));
        }
        if images.dims[0] != labels.dims[0] {
            return Err(DataError::inconsistent(
                images_path,
                labels_path,
                format!("{} images but {} labels", images.dims[0], labels.dims[0]),
            ));
        }
        Ok(Self {
            images_path: images_path.to_path_buf(),
            pixels: images.data.iter().map(|&p| f32::from(p) / 255.0).collect(),
            shape: images.dims[1..].to_vec(),
            labels: labels.data.iter().map(|&l| usize::from(l)).collect(),
        })
    }

    fn into_dataset(self, name: String, num_classes: usize) -> Result<InMemoryDataset> {
        let path = self.images_path;
        InMemoryDataset::new(name, self.pixels, self.shape, self.labels, num_classes)
            .map_err(|e| DataError::malformed(&path, e.to_string()))
    }
}

fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    let tried = [dir.join(name), dir.join(format!("{name}.gz"))];
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(DataError::MissingFile {
            dir: dir.to_path_buf(),
            tried: tried.to_vec(),
        }),
    }
}

/// The directory's last component, for data set names ("idx" when there is none).
pub(crate) fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "idx".to_string())
}
