//! State files: a [`StateDict`] as one safetensors file (Hugging Face's format: a JSON
//! header of names, dtypes, shapes and offsets, then the raw little-endian data), which
//! PyTorch, NumPy and JAX users read with the `safetensors` package.
//!
//! Float tensors are stored as `F32` or `F64` (the stages' float type), counters as
//! one-dimensional `U64` tensors. The header's metadata holds `format` (this module's
//! [`STATE_FORMAT`]) and `float` (`f32` or `f64`), plus whatever the caller adds.
//!
//! Files are written atomically: into a temporary file beside the target, flushed to disk,
//! then renamed over it, so a crash mid-write leaves the previous file whole.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use locus_core::{Float, StateDict, StateValue, Tensor};
use safetensors::{Dtype, SafeTensors};

use crate::{Error, Result};

/// The `format` metadata of the state files this version writes and reads.
pub const STATE_FORMAT: &str = "locus state 1";

fn checkpoint_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn float_dtype<F: Float>() -> Dtype {
    if F::NAME == "f32" {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// FNV-1a (64 bits) over the tensors' names and data in name order: catches a flipped
/// or overwritten byte that still leaves a well-formed file (a few lines, where a
/// cryptographic hash would add a dependency and guard against nothing more here).
struct Checksum(u64);

impl Checksum {
    fn new() -> Self {
        Checksum(0xcbf2_9ce4_8422_2325)
    }

    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Separates the pieces, so ("ab", "c") and ("a", "bc") differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn hex(&self) -> String {
        format!("fnv1a64:{:016x}", self.0)
    }
}

/// The bytes of a safetensors file holding `state`, with `metadata` (plus `format` and
/// `float`) in its header.
///
/// # Errors
/// [`Error::Checkpoint`] naming `path` (used only in the message) if the header cannot
/// be built.
pub fn state_to_bytes<F: Float>(
    state: &StateDict<F>,
    metadata: &BTreeMap<String, String>,
    path: &Path,
) -> Result<Vec<u8>> {
    let mut views = Vec::with_capacity(state.len());
    let data: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = state
        .iter()
        .map(|(name, value)| match value {
            StateValue::Tensor(t) => {
                let mut bytes = Vec::with_capacity(t.len() * std::mem::size_of::<F>());
                for v in t.iter() {
                    if F::NAME == "f32" {
                        bytes.extend_from_slice(&(v.as_f64() as f32).to_le_bytes());
                    } else {
                        bytes.extend_from_slice(&v.as_f64().to_le_bytes());
                    }
                }
                (name.clone(), float_dtype::<F>(), t.shape().to_vec(), bytes)
            }
            StateValue::Counters(c) => {
                let bytes = c.iter().flat_map(|v| v.to_le_bytes()).collect();
                (name.clone(), Dtype::U64, vec![c.len()], bytes)
            }
        })
        .collect();
    for (name, dtype, shape, bytes) in &data {
        let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
            .map_err(|e| checkpoint_error(path, format!("tensor '{name}': {e}")))?;
        views.push((name.clone(), view));
    }
    let mut info: HashMap<String, String> = metadata.clone().into_iter().collect();
    let mut sum = Checksum::new();
    for (name, _, _, bytes) in &data {
        sum.add(name.as_bytes());
        sum.add(bytes);
    }
    info.insert("checksum".into(), sum.hex());
    info.insert("format".into(), STATE_FORMAT.into());
    info.insert("float".into(), F::NAME.into());
    safetensors::serialize(views, Some(info))
        .map_err(|e| checkpoint_error(path, format!("cannot encode: {e}")))
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, flushed to disk, then
/// renamed over `path` (and the directory flushed), creating the directory.
///
/// # Errors
/// [`Error::Checkpoint`] naming the file that could not be written.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let fail = |p: &Path, e: std::io::Error| checkpoint_error(p, format!("cannot write: {e}"));
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp: PathBuf = dir.join(name);
    {
        let mut file = std::fs::File::create(&tmp).map_err(|e| fail(&tmp, e))?;
        file.write_all(bytes).map_err(|e| fail(&tmp, e))?;
        file.sync_all().map_err(|e| fail(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| fail(path, e))?;
    // The rename is durable once the directory is; not every platform lets a directory
    // be opened for that, and the data is already safe in the renamed file.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes `state` to `path` as a safetensors file (float tensors as `F32` or `F64`,
/// counters as one-dimensional `U64`, a checksum of the data and `metadata` in the
/// header), atomically: see [`write_atomically`].
///
/// # Errors
/// [`Error::Checkpoint`] naming the file that could not be written.
pub fn write_state_file<F: Float>(
    path: &Path,
    state: &StateDict<F>,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    write_atomically(path, &state_to_bytes(state, metadata, path)?)
}

/// Reads a state file written by [`write_state_file`]: the state and the header's
/// metadata.
///
/// # Errors
/// [`Error::Checkpoint`] naming `path` (and the tensor, where one is at fault) for a
/// missing or unreadable file, a truncated or corrupt one, another format, a float type
/// other than `F`, or a tensor of a dtype or shape this format never writes.
pub fn read_state_file<F: Float>(path: &Path) -> Result<(StateDict<F>, BTreeMap<String, String>)> {
    let bytes =
        std::fs::read(path).map_err(|e| checkpoint_error(path, format!("cannot read: {e}")))?;
    state_from_bytes(&bytes, path)
}

/// Parses the bytes of a state file; `path` names it in errors.
///
/// # Errors
/// As [`read_state_file`].
pub fn state_from_bytes<F: Float>(
    bytes: &[u8],
    path: &Path,
) -> Result<(StateDict<F>, BTreeMap<String, String>)> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| {
        checkpoint_error(
            path,
            format!("is not a whole safetensors file (truncated or corrupt?): {e}"),
        )
    })?;
    let metadata: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    match metadata.get("format").map(String::as_str) {
        Some(STATE_FORMAT) => {}
        Some(other) => {
            return Err(checkpoint_error(
                path,
                format!("has format '{other}'; this version of locus reads '{STATE_FORMAT}'"),
            ))
        }
        None => {
            return Err(checkpoint_error(
                path,
                "is a safetensors file but not a locus state (no 'format' in its metadata)",
            ))
        }
    }
    match metadata.get("float").map(String::as_str) {
        Some(float) if float == F::NAME => {}
        other => {
            return Err(checkpoint_error(
                path,
                format!(
                    "holds {} values; this network is {}",
                    other.unwrap_or("unknown"),
                    F::NAME
                ),
            ))
        }
    }
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| {
        checkpoint_error(
            path,
            format!("is not a whole safetensors file (truncated or corrupt?): {e}"),
        )
    })?;
    let mut sum = Checksum::new();
    let mut views = tensors.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, view) in &views {
        sum.add(name.as_bytes());
        sum.add(view.data());
    }
    if metadata.get("checksum") != Some(&sum.hex()) {
        return Err(checkpoint_error(
            path,
            format!(
                "is corrupt: its data do not match the checksum in its header ({} saved, {} now)",
                metadata.get("checksum").map_or("none", String::as_str),
                sum.hex()
            ),
        ));
    }
    let mut state = StateDict::new();
    for (name, view) in views {
        let bad = |what: String| checkpoint_error(path, format!("tensor '{name}': {what}"));
        let data = view.data();
        let value = match view.dtype() {
            Dtype::U64 if view.shape().len() == 1 => StateValue::Counters(
                data.chunks_exact(8)
                    .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
                    .collect(),
            ),
            Dtype::U64 => return Err(bad("counters should be one-dimensional".into())),
            d if d == float_dtype::<F>() => {
                let values: Vec<F> = if F::NAME == "f32" {
                    data.chunks_exact(4)
                        .map(|b| F::cast(f32::from_le_bytes(b.try_into().expect("4 bytes")) as f64))
                        .collect()
                } else {
                    data.chunks_exact(8)
                        .map(|b| F::cast(f64::from_le_bytes(b.try_into().expect("8 bytes"))))
                        .collect()
                };
                let t = Tensor::from_shape_vec(view.shape().to_vec(), values)
                    .map_err(|e| bad(format!("shape {:?}: {e}", view.shape())))?;
                StateValue::Tensor(t)
            }
            d => {
                return Err(bad(format!(
                    "has dtype {d:?}; a {} state holds only {:?} and U64",
                    F::NAME,
                    float_dtype::<F>()
                )))
            }
        };
        state.put(name, value);
    }
    Ok((state, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StateDict<f32> {
        let mut s = StateDict::new();
        s.put_tensor(
            "stage1.module.0.weight",
            Tensor::from_shape_vec(vec![2, 3], vec![1.0, -2.5, 3.0, 0.0, 1e-30, f32::MAX]).unwrap(),
        );
        s.put_counter("stage1.steps", 42);
        s.put_counters("empty", vec![]);
        s
    }

    #[test]
    fn a_state_comes_back_bit_for_bit() {
        let dir = std::env::temp_dir().join(format!("locus-state-file-{}", std::process::id()));
        let path = dir.join("state.safetensors");
        let meta = BTreeMap::from([("algorithm".to_string(), "bp".to_string())]);
        write_state_file(&path, &sample(), &meta).unwrap();
        let (back, m) = read_state_file::<f32>(&path).unwrap();
        assert_eq!(back, sample());
        assert_eq!(m["algorithm"], "bp");
        assert_eq!(m["float"], "f32");
        assert!(!dir.join("state.safetensors.tmp").exists());
        let err = read_state_file::<f64>(&path).unwrap_err().to_string();
        assert!(err.contains("holds f32 values"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn truncated_and_corrupt_files_are_refused_by_name() {
        let path = Path::new("run/state.safetensors");
        let bytes = state_to_bytes(&sample(), &BTreeMap::new(), path).unwrap();
        for cut in [0, 7, 8, 20, bytes.len() / 2, bytes.len() - 1] {
            let err = state_from_bytes::<f32>(&bytes[..cut], path)
                .unwrap_err()
                .to_string();
            assert!(err.contains("run/state.safetensors"), "{err}");
        }
        let mut other = bytes.clone();
        let needle = b"locus state 1";
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        other[at + 12] = b'9';
        let err = state_from_bytes::<f32>(&other, path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("locus state 9"), "{err}");
        // A flipped bit in the data leaves a well-formed file that the checksum refuses.
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let err = state_from_bytes::<f32>(&flipped, path)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("corrupt") && err.contains("run/state.safetensors"),
            "{err}"
        );
    }
}
