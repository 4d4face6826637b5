//! Turning a list of modules into named stages, each with its objective and optimizer.

use locus_core::{Float, Module, OptimizerConfig, Sequential};
use locus_objectives::LocalObjective;

use locus_sched::{Error, Result, Stage};

/// Stages `stage1, stage2, …` from `modules`, bottom first: `objective_for(i, count)` gives
/// stage `i` its objective and each gets a fresh optimizer from `optimizer`.
pub(crate) fn stages_from_modules<F: Float>(
    modules: Vec<Sequential<F>>,
    optimizer: &OptimizerConfig,
    mut objective_for: impl FnMut(usize, usize) -> Box<dyn LocalObjective<F>>,
) -> Result<Vec<Stage<F>>> {
    let count = modules.len();
    modules
        .into_iter()
        .enumerate()
        .map(|(i, module)| {
            let name = format!("stage{}", i + 1);
            let optimizer = optimizer.build::<F>().map_err(|e| Error::Stage {
                stage: name.clone(),
                source: e,
            })?;
            let module: Box<dyn Module<F>> = Box::new(module);
            Ok(Stage::new(name, module, objective_for(i, count), optimizer))
        })
        .collect()
}
