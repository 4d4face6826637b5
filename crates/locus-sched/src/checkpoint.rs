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
    let dtype = if params.float_name() == "f32" {
        "<f4"
    } else {
        "<f8"
    };
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
    let path = param_path(dir, p.stage, p.name);
    let fail = |e: std::io::Error| Error::Checkpoint {
        path: path.clone(),
        reason: format!("cannot write: {e}"),
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(fail)?;
    }
    let shape: Vec<String> = p.shape.iter().map(usize::to_string).collect();
    let shape = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.join(", ")),
    };
    let mut header = format!("{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}");
    // Version 1.0: magic (6) + version (2) + header length (2) + header, padded with
    // spaces and ended by a newline to a multiple of 64 bytes.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let header_len = u16::try_from(header.len()).map_err(|_| Error::Checkpoint {
        path: path.clone(),
        reason: format!("shape {:?} makes a header too long for .npy 1.0", p.shape),
    })?;
    let mut bytes = Vec::with_capacity(header.len() + 10 + p.values.len() * 8);
    bytes.extend_from_slice(b"\x93NUMPY\x01\x00");
    bytes.extend_from_slice(&header_len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for &v in &p.values {
        if dtype == "<f4" {
            bytes.extend_from_slice(&(v as f32).to_le_bytes());
        } else {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut file = std::fs::File::create(&path).map_err(fail)?;
    file.write_all(&bytes).map_err(fail)
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
            let path = param_path(dir, stage.name(), &p.name);
            let array = read_npy(&path)?;
            let mismatch = |reason: String| Error::Checkpoint {
                path: path.clone(),
                reason,
            };
            if array.shape != p.value.shape() {
                return Err(mismatch(format!(
                    "holds shape {:?}, but parameter '{}' of stage '{}' has shape {:?}",
                    array.shape,
                    p.name,
                    stage.name(),
                    p.value.shape()
                )));
            }
            let data: Vec<F> = match (&array.data, F::NAME) {
                (NpyData::F32(v), "f32") => v.iter().map(|&x| F::cast(f64::from(x))).collect(),
                (NpyData::F64(v), "f64") => v.iter().map(|&x| F::cast(x)).collect(),
                (other, name) => {
                    return Err(mismatch(format!(
                        "holds {} values, but the stages are {name}",
                        other.dtype()
                    )))
                }
            };
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(mismatch(format!("value {i} is not finite")));
            }
            values.push(
                Tensor::from_shape_vec(p.value.shape(), data).expect("the shape was checked"),
            );
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
