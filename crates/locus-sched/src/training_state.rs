//! Training state: what a learner needs to go on training exactly where it stopped, so a
//! long run can be split over several processes and give the same numbers as one.
//!
//! A learner is a module and its optimizer. Its state directory holds every parameter as
//! `<parameter>.npy` (the layout of [`save_checkpoint`](crate::save_checkpoint), so a
//! stack's state directory is also a checkpoint), the optimizer's buffers as
//! `optimizer/<k>.npy`, and the step counts in `steps.txt`.
//!
//! Not covered: parameters an objective learns itself (local classifiers' heads,
//! synthetic-gradient models), random streams, and the epoch. Trainers whose randomness
//! comes from the seed, the epoch and the batch (like
//! [`ForwardForwardTrainer`](crate::ForwardForwardTrainer)) resume exactly at an epoch
//! boundary; the caller keeps the epoch.

use std::path::{Path, PathBuf};

use locus_core::{Float, Module, Optimizer, OptimizerState, Tensor};

use crate::checkpoint::{npy_dtype, read_tensor, write_npy};
use crate::{Error, Result, Stage};

/// The file of step counts in a learner's state directory.
const STEPS_FILE: &str = "steps.txt";

/// What [`load_learner`] reads before it changes anything.
struct LearnerState<F> {
    params: Vec<Tensor<F>>,
    optimizer: OptimizerState<F>,
    steps: u64,
}

/// Writes the parameters of `module`, the state of its `optimizer` and `steps` (the
/// learner's own step count) into `dir`, creating it.
///
/// # Errors
/// [`Error::Checkpoint`] naming the file that could not be written.
pub fn save_learner<F: Float>(
    dir: &Path,
    module: &dyn Module<F>,
    optimizer: &dyn Optimizer<F>,
    steps: u64,
) -> Result<()> {
    let dtype = npy_dtype(F::NAME);
    for p in module.params() {
        let values = p.value.iter().map(|v| v.as_f64());
        write_npy(
            &dir.join(format!("{}.npy", p.name)),
            p.value.shape(),
            values,
            dtype,
        )?;
    }
    let state = optimizer.state();
    for (k, buffer) in state.buffers.iter().enumerate() {
        let values = buffer.iter().map(|v| v.as_f64());
        write_npy(&optimizer_path(dir, k), buffer.shape(), values, dtype)?;
    }
    let path = dir.join(STEPS_FILE);
    let text = format!(
        "kind {}\nlearner {steps}\noptimizer {}\nbuffers {}\n",
        optimizer_kind(optimizer),
        state.steps,
        state.buffers.len()
    );
    std::fs::write(&path, text).map_err(|e| Error::Checkpoint {
        path,
        reason: format!("cannot write: {e}"),
    })
}

/// The optimizer's kind: its name without the settings (`SGD`, `Adam`).
fn optimizer_kind<F: Float>(optimizer: &dyn Optimizer<F>) -> String {
    let name = optimizer.name();
    name.split('(')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn optimizer_path(dir: &Path, k: usize) -> PathBuf {
    dir.join("optimizer").join(format!("{k}.npy"))
}

/// Reads what [`save_learner`] wrote into `dir` for a learner of `module`'s parameters.
fn read_learner<F: Float>(
    dir: &Path,
    module: &dyn Module<F>,
    optimizer: &dyn Optimizer<F>,
    owner: &str,
) -> Result<LearnerState<F>> {
    let path = dir.join(STEPS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Checkpoint {
        path: path.clone(),
        reason: format!("cannot read: {e}"),
    })?;
    let count = |key: &str| -> Result<u64> {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| Error::Checkpoint {
                path: path.clone(),
                reason: format!("has no line '{key} <count>'"),
            })
    };
    let kind = text
        .lines()
        .find_map(|line| line.strip_prefix("kind "))
        .unwrap_or_default();
    if kind != optimizer_kind(optimizer) {
        return Err(Error::Checkpoint {
            path,
            reason: format!(
                "was saved from a '{kind}' optimizer, but {owner} has '{}'",
                optimizer_kind(optimizer)
            ),
        });
    }
    let (steps, optimizer_steps, buffers) =
        (count("learner")?, count("optimizer")?, count("buffers")?);
    let params = module
        .params()
        .iter()
        .map(|p| {
            let what = format!("parameter '{}' of {owner}", p.name);
            read_tensor(
                &dir.join(format!("{}.npy", p.name)),
                Some(p.value.shape()),
                &what,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let buffers = (0..buffers as usize)
        .map(|k| {
            read_tensor(
                &optimizer_path(dir, k),
                None,
                &format!("optimizer buffer {k} of {owner}"),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    // Each parameter's buffers, in order, have its shape.
    if !buffers.is_empty() {
        let slots = buffers.len() / params.len().max(1);
        let fits = slots * params.len() == buffers.len()
            && buffers
                .iter()
                .enumerate()
                .all(|(k, b)| b.shape() == params[k / slots].shape());
        if !fits {
            return Err(Error::Checkpoint {
                path: dir.join("optimizer"),
                reason: format!(
                    "holds {} buffers that do not match the {} parameters of {owner}",
                    buffers.len(),
                    params.len()
                ),
            });
        }
    }
    Ok(LearnerState {
        params,
        optimizer: OptimizerState {
            steps: optimizer_steps,
            buffers,
        },
        steps,
    })
}

/// Puts a state read by [`read_learner`] into the learner; `dir` and `owner` name it in
/// errors.
fn apply_learner<F: Float>(
    state: LearnerState<F>,
    module: &mut dyn Module<F>,
    optimizer: &mut dyn Optimizer<F>,
    dir: &Path,
    owner: &str,
) -> Result<u64> {
    optimizer
        .load_state(state.optimizer)
        .map_err(|e| Error::Checkpoint {
            path: dir.join("optimizer"),
            reason: format!("does not fit the optimizer of {owner}: {e}"),
        })?;
    for (p, v) in module.params_mut().into_iter().zip(state.params) {
        *p.value = v;
    }
    Ok(state.steps)
}

/// Reads a learner's state written by [`save_learner`] from `dir` into `module` and
/// `optimizer` (an optimizer of the same kind and settings) and returns the learner's step
/// count; `owner` names the learner in errors. Nothing changes unless every file is read
/// and checked.
///
/// # Errors
/// [`Error::Data`] for a file that is not a valid `.npy` file; [`Error::Checkpoint`] for a
/// missing file, a parameter of another shape or float type, a non-finite value, or
/// optimizer buffers that cannot belong to `optimizer`.
pub fn load_learner<F: Float>(
    dir: &Path,
    module: &mut dyn Module<F>,
    optimizer: &mut dyn Optimizer<F>,
    owner: &str,
) -> Result<u64> {
    let state = read_learner(dir, module, optimizer, owner)?;
    apply_learner(state, module, optimizer, dir, owner)
}

/// Writes the training state of every stage (module, optimizer, step count) into
/// `dir/<stage name>/`; the directory is also a checkpoint for
/// [`load_checkpoint`](crate::load_checkpoint).
///
/// # Errors
/// [`Error::Checkpoint`] naming the file that could not be written.
pub fn save_training_state<F: Float>(stages: &[Stage<F>], dir: &Path) -> Result<()> {
    for stage in stages {
        save_learner(
            &dir.join(stage.name()),
            stage.module(),
            stage.optimizer(),
            stage.steps(),
        )?;
    }
    Ok(())
}

/// Reads the training state written by [`save_training_state`] into `stages` (built as
/// the saved ones were). Nothing changes unless every stage's files are read and checked.
///
/// # Errors
/// As [`load_learner`], naming the stage.
pub fn load_training_state<F: Float>(stages: &mut [Stage<F>], dir: &Path) -> Result<()> {
    let states = stages
        .iter()
        .map(|s| {
            read_learner(
                &dir.join(s.name()),
                s.module(),
                s.optimizer(),
                &format!("stage '{}'", s.name()),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    // Keep what each stage had, to put it back if a later stage's state does not fit.
    let mut applied: Vec<(Vec<Tensor<F>>, OptimizerState<F>, u64)> = Vec::new();
    let mut failure = None;
    for (stage, state) in stages.iter_mut().zip(states) {
        let before = (
            stage
                .module()
                .params()
                .iter()
                .map(|p| p.value.clone())
                .collect(),
            stage.optimizer().state(),
            stage.steps(),
        );
        let dir = dir.join(stage.name());
        let owner = format!("stage '{}'", stage.name());
        let (module, optimizer) = stage.learner_mut();
        match apply_learner(state, module, optimizer, &dir, &owner) {
            Ok(steps) => {
                stage.restore_steps(steps);
                applied.push(before);
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let Some(e) = failure else {
        return Ok(());
    };
    for (stage, (params, optimizer, steps)) in stages.iter_mut().zip(applied) {
        let (module, opt) = stage.learner_mut();
        opt.load_state(optimizer)
            .expect("the state this optimizer had fits it");
        for (p, v) in module.params_mut().into_iter().zip(params) {
            *p.value = v;
        }
        stage.restore_steps(steps);
    }
    Err(e)
}
