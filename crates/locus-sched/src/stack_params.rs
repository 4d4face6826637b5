//! Read access to the weights of a stack of stages whatever their float type, for
//! observers (which are not generic) such as checkpoints.

use locus_core::Float;

use crate::Stage;

/// One parameter tensor of one stage, its values widened to `f64` (exactly: every `f32`
/// is an `f64`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRecord<'a> {
    /// The stage's name.
    pub stage: &'a str,
    /// The parameter's dotted path inside the stage's module (e.g. `"1.weight"`).
    pub name: &'a str,
    /// Its shape.
    pub shape: &'a [usize],
    /// Its values in row-major order.
    pub values: Vec<f64>,
}

/// The weights of a stack of stages, visited without knowing their float type.
pub trait StackParams {
    /// The stages' float type, `"f32"` or `"f64"`.
    fn float_name(&self) -> &'static str;

    /// Calls `visit` for every parameter of every stage, bottom stage first, each module's
    /// parameters in their fixed order.
    fn visit_params(&self, visit: &mut dyn FnMut(ParamRecord<'_>));
}

impl<F: Float> StackParams for [Stage<F>] {
    fn float_name(&self) -> &'static str {
        F::NAME
    }

    fn visit_params(&self, visit: &mut dyn FnMut(ParamRecord<'_>)) {
        for stage in self {
            for p in stage.module().params() {
                visit(ParamRecord {
                    stage: stage.name(),
                    name: &p.name,
                    shape: p.value.shape(),
                    values: p.value.iter().map(|v| v.as_f64()).collect(),
                });
            }
        }
    }
}

/// A stack of stages as a sized value, so that it can be lent as `&dyn StackParams`.
pub(crate) struct StagesView<'a, F: Float>(pub &'a [Stage<F>]);

impl<F: Float> StackParams for StagesView<'_, F> {
    fn float_name(&self) -> &'static str {
        self.0.float_name()
    }

    fn visit_params(&self, visit: &mut dyn FnMut(ParamRecord<'_>)) {
        self.0.visit_params(visit)
    }
}
