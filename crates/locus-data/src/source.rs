//! Bounded reading of a data file, raw or gzip-compressed, for the IDX and .npy readers.
//!
//! Headers of untrusted files state how much data follows. Nothing is allocated from
//! such a number before it has been checked: against [`MAX_DATA_BYTES`], against the file
//! size for raw files, and for gzip streams by reading at most one byte more than stated.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use crate::{DataError, Result};

/// The largest data block a header may announce: 4 GiB.
pub(crate) const MAX_DATA_BYTES: u64 = 1 << 32;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The buffer first reserved for a gzip stream's data, whose size is unknown until it is
/// read. Small, as the stream may hold far less than its header announces; the buffer
/// then doubles as data arrives.
const GZIP_FIRST_CAPACITY: u64 = 64 << 10;

/// The number of data bytes of an array of `dims` with `item_size`-byte elements, or `None`
/// when the dimensions overflow. As in NumPy, a dimension of 0 makes the array empty but
/// does not excuse the others: they must still multiply to at most `isize::MAX` bytes (the
/// largest any array can have), whatever their order, so that every shape read from a file
/// fits an `ndarray`.
pub(crate) fn data_bytes(dims: &[usize], item_size: u64) -> Option<u64> {
    let extent = dims
        .iter()
        .filter(|&&d| d != 0)
        .try_fold(item_size, |acc, &d| acc.checked_mul(u64::try_from(d).ok()?))?;
    if extent > isize::MAX as u64 {
        return None;
    }
    Some(if dims.contains(&0) { 0 } else { extent })
}

/// An open data file whose bytes are read through the checks described above.
pub(crate) struct Source {
    path: PathBuf,
    reader: Box<dyn Read>,
    /// The file size for raw files; `None` for gzip streams, whose size is unknown.
    raw_len: Option<u64>,
    consumed: u64,
}

impl Source {
    /// Opens `path`, detecting gzip compression by its magic bytes (not by extension).
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let io = |e| DataError::io(path, e);
        let mut file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            return Err(DataError::malformed(path, "empty file"));
        }
        let mut magic = [0u8; 2];
        let gzip = len >= 2 && {
            file.read_exact(&mut magic).map_err(io)?;
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            magic == GZIP_MAGIC
        };
        let (reader, raw_len): (Box<dyn Read>, _) = if gzip {
            (Box::new(MultiGzDecoder::new(BufReader::new(file))), None)
        } else {
            (Box::new(BufReader::new(file)), Some(len))
        };
        Ok(Self {
            path: path.to_path_buf(),
            reader,
            raw_len,
            consumed: 0,
        })
    }

    /// The file's path, for error messages.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Fills `buf` with the next bytes; `what` names them for the error when the file
    /// ends first (e.g. "the IDX header").
    pub(crate) fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.reader.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.read_error(e)),
            }
        }
        self.consumed += filled as u64;
        if filled < buf.len() {
            let reason = if self.consumed == 0 {
                format!("empty{}", self.after_gzip())
            } else {
                format!(
                    "truncated: {what} needs {} bytes but the file ends after {} bytes{}",
                    buf.len(),
                    self.consumed,
                    self.after_gzip()
                )
            };
            return Err(DataError::malformed(&self.path, reason));
        }
        Ok(())
    }

    /// Reads the rest of the file, which the header says is exactly `expected` bytes of
    /// `what`; shorter data or trailing bytes are errors.
    pub(crate) fn read_to_end_exact(&mut self, expected: u64, what: &str) -> Result<Vec<u8>> {
        if expected > MAX_DATA_BYTES {
            return Err(DataError::malformed(
                &self.path,
                format!(
                    "the header announces {expected} bytes of {what}, more than the limit \
                     of {MAX_DATA_BYTES}"
                ),
            ));
        }
        if let Some(len) = self.raw_len {
            let remaining = len.saturating_sub(self.consumed);
            if remaining != expected {
                return Err(self.size_mismatch(expected, remaining, what));
            }
        }
        // For raw files `expected` is now the checked file size; a gzip stream grows the
        // buffer only as data actually arrives, from a start small enough for any file.
        let capacity = if self.raw_len.is_some() {
            expected
        } else {
            expected.min(GZIP_FIRST_CAPACITY)
        };
        let mut data = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        (&mut self.reader)
            .take(expected + 1)
            .read_to_end(&mut data)
            .map_err(|e| self.read_error(e))?;
        let got = data.len() as u64;
        if got != expected {
            return Err(self.size_mismatch(expected, got, what));
        }
        self.consumed += got;
        Ok(data)
    }

    fn size_mismatch(&self, expected: u64, got: u64, what: &str) -> DataError {
        let reason = if got < expected {
            format!(
                "data too short: the header announces {expected} bytes of {what}, but only {got} follow{}",
                self.after_gzip()
            )
        } else if self.raw_len.is_some() {
            format!(
                "{} trailing bytes: the header announces {expected} bytes of {what}, but {got} follow",
                got - expected
            )
        } else {
            format!(
                "trailing bytes: the header announces {expected} bytes of {what}, but more follow{}",
                self.after_gzip()
            )
        };
        DataError::malformed(&self.path, reason)
    }

    fn read_error(&self, e: std::io::Error) -> DataError {
        let corrupt = matches!(
            e.kind(),
            ErrorKind::InvalidInput | ErrorKind::InvalidData | ErrorKind::UnexpectedEof
        );
        if self.raw_len.is_none() && corrupt {
            DataError::malformed(&self.path, format!("corrupt gzip stream: {e}"))
        } else {
            DataError::io(&self.path, e)
        }
    }

    fn after_gzip(&self) -> &'static str {
        if self.raw_len.is_none() {
            " (after gzip decompression)"
        } else {
            ""
        }
    }
}
