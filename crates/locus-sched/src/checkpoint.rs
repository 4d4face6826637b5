//! Checkpoints: every parameter of a stack as one NumPy `.npy` file, readable from Python
//! with `numpy.load`, and an observer that writes one every few epochs.

use std::io::Write;
use std::path::{Path, PathBuf};

use locus_core::{Float, Tensor};
use locus_data::npy::{read_npy, NpyData};

use crate::{EpochEnd, Error, Observer, ParamRecord, Result, StackParams, Stage};

/// Writes every parameter of `params` into `dir` as `<stage>/<parameter>.npy` (e.g.
/// `stage1/1.weight.npy`), as little-endian `f4` for `f32` stages and `f8` for `f64`,
/// creating the directories. [`load_checkpoint`] reads them back.
///
/// # Errors
/// [`Error::Checkpoint`] naming the file that could not be written.
pub fn save_checkpoint<P: StackParams + ?Sized>(params: &P, dir: &Path) -> Result<()> {
    let dtype = npy_dtype(params.float_name());
    let mut result = Ok(());
    params.visit_params(&mut |p: ParamRecord<'_>| {
        if result.is_ok() {
            result = write_param(dir, &p, dtype);
        }
    });
    result
}

fn param_path(dir: &Path, stage: &str, name: &str) -> PathBuf {
    dir.join(stage).join(format!("{name}.npy"))
}

fn write_param(dir: &Path, p: &ParamRecord<'_>, dtype: &str) -> Result<()> {
    write_npy(
        &param_path(dir, p.stage, p.name),
        p.shape,
        p.values.iter().copied(),
        dtype,
    )
}

/// Writes `values` of `shape` as a `.npy` file of `dtype` (`<f4` or `<f8`) at `path`,
/// creating its directory.
pub(crate) fn write_npy(
    path: &Path,
    shape: &[usize],
    values: impl ExactSizeIterator<Item = f64>,
    dtype: &str,
) -> Result<()> {
    let fail = |e: std::io::Error| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("cannot write: {e}"),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let dims = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '{dtype}', 'fortran_order': False, 'shape': {dims}, }}");
    // Version 1.0: magic (6) + version (2) + header length (2) + header, padded with
    // spaces and ended by a newline to a multiple of 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let header_len = u16::try_from(header.len()).map_err(|_| Error::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("shape {shape:?} makes a header too long for .npy 1.0"),
    })?;
    let mut bytes = Vec::with_capacity(header.len() + 10 + values.len() * 8);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&header_len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in values {
        if dtype == "<f4" {
            bytes.extend_from_slice(&(v as f32).to_le_bytes());
        } else {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut file = std::fs::File::create(path).map_err(fail)?;
    file.write_all(&bytes).map_err(fail)
}

/// The `.npy` type code of values of the float type named `float_name` (`F::NAME`).
pub(crate) fn npy_dtype(float_name: &str) -> &'static str {
    if float_name == "f32" {
        "<f4"
    } else {
        "<f8"
    }
}

/// Reads the `.npy` file at `path` as a tensor of `F` with finite values and, when given,
/// `shape` (`what` names the tensor in errors).
pub(crate) fn read_tensor<F: Float>(
    path: &Path,
    shape: Option<&[usize]>,
    what: &str,
) -> Result<Tensor<F>> {
    let array = read_npy(path)?;
    let mismatch = |reason: String| Error::Checkpoint {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(shape) = shape.filter(|&s| array.shape != s) {
        return Err(mismatch(format!(
            "holds shape {:?}, but {what} has shape {shape:?}",
            array.shape
        )));
    }
    let data: Vec<F> = match (&array.data, F::NAME) {
        (NpyData::F32(v), "f32") => v.iter().map(|&x| F::cast(f64::from(x))).collect(),
        (NpyData::F64(v), "f64") => v.iter().map(|&x| F::cast(x)).collect(),
        (other, name) => {
            return Err(mismatch(format!(
                "holds {} values, but {what} is {name}",
                other.dtype()
            )))
        }
    };
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(mismatch(format!("value {i} is not finite")));
    }
    Ok(Tensor::from_shape_vec(array.shape, data).expect("the file's shape holds its values"))
}

/// Reads a checkpoint written by [`save_checkpoint`] into `stages`: every parameter of
/// every stage must have its file, with the parameter's shape and the stages' float type.
/// Nothing is changed unless every file is read and checked.
///
/// # Errors
/// [`Error::Data`] when a file cannot be read or is not a valid `.npy` file (naming it);
/// [`Error::Checkpoint`] when its shape or element type does not match the parameter.
pub fn load_checkpoint<F: Float>(stages: &mut [Stage<F>], dir: &Path) -> Result<()> {
    let mut loaded: Vec<Vec<Tensor<F>>> = Vec::with_capacity(stages.len());
    for stage in stages.iter() {
        let mut values = Vec::new();
        for p in stage.module().params() {
            let what = format!("parameter '{}' of stage '{}'", p.name, stage.name());
            values.push(read_tensor(
                &param_path(dir, stage.name(), &p.name),
                Some(p.value.shape()),
                &what,
            )?);
        }
        loaded.push(values);
    }
    for (stage, values) in stages.iter_mut().zip(loaded) {
        for (p, v) in stage.module_mut().params_mut().into_iter().zip(values) {
            *p.value = v;
        }
    }
    Ok(())
}

/// An observer that writes a checkpoint every `every` epochs, into
/// `dir/epoch-<n>` (`n` counted from 1), with [`save_checkpoint`].
///
/// Observers cannot stop training, so a failed write is kept: check
/// [`Checkpoints::result`] after each epoch (or at the end).
#[derive(Debug)]
pub struct Checkpoints {
    dir: PathBuf,
    every: u64,
    written: Vec<PathBuf>,
    error: Option<Error>,
}

impl Checkpoints {
    /// A checkpoint every `every` epochs (at least 1) under `dir`.
    ///
    /// # Errors
    /// [`Error::Config`] when `every` is 0.
    pub fn new(dir: impl Into<PathBuf>, every: u64) -> Result<Self> {
        if every == 0 {
            return Err(Error::Config(
                "checkpoint interval should be >= 1 epoch, but it is 0".into(),
            ));
        }
        Ok(Checkpoints {
            dir: dir.into(),
            every,
            written: Vec::new(),
            error: None,
        })
    }

    /// The checkpoint directories written so far.
    pub fn written(&self) -> &[PathBuf] {
        &self.written
    }

    /// The first write error, if any.
    ///
    /// # Errors
    /// That error, once; later calls return `Ok`.
    pub fn result(&mut self) -> Result<()> {
        self.error.take().map_or(Ok(()), Err)
    }
}

impl Observer for Checkpoints {
    fn on_epoch_end(&mut self, info: &EpochEnd<'_>) {
        let epoch = info.report.epoch + 1;
        if epoch % self.every != 0 || self.error.is_some() {
            return;
        }
        let dir = self.dir.join(format!("epoch-{epoch}"));
        match save_checkpoint(info.params, &dir) {
            Ok(()) => self.written.push(dir),
            Err(e) => self.error = Some(e),
        }
    }
}
