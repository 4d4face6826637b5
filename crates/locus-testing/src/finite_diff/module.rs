//! Finite-difference check of a [`Module`]'s input and parameter gradients.

use locus_core::{seeded_rng, Module, Tensor};

use super::{FdFailure, FdOptions, FdReport};
use crate::sample::{coordinates, uniform, unravel};

/// Checks every gradient [`Module::backward`] returns against central finite differences.
///
/// The scalar test loss is `L = ⟨r, y⟩`, where `y` is the module's output for `input`
/// and `r` a fixed random tensor of `y`'s shape (uniform on `[-1, 1)`, seeded by
/// `opts.seed`), so `∂L/∂y = r` exercises every output coordinate with its own weight.
/// The input gradient is checked first (as tensor `"input"`), then each parameter, named
/// as [`Module::params`] names it. A tensor larger than `opts.max_coords_per_tensor` is
/// checked on a seeded random subset of its coordinates.
///
/// Parameters are perturbed in place through [`Module::params_mut`] and each is set back
/// to its exact original value before the next, so the module leaves unchanged.
///
/// Keep `input` (and the pre-activations it produces) away from kinks such as 0 for ReLU
/// by more than `opts.eps`; see [`FdOptions`].
///
/// # Errors
/// [`FdFailure::Mismatch`] naming the tensor, coordinate and both values for the first
/// coordinate out of tolerance; [`FdFailure::Malformed`] when the input gradient is
/// missing or a gradient does not match its tensor's shape or the parameter lists;
/// [`FdFailure::Call`] when `forward` or `backward` fails; [`FdFailure::InvalidOptions`].
///
/// # Example
/// ```
/// use locus_core::{seeded_rng, LinearConfig, Tensor};
/// use locus_testing::finite_diff::{check_module, FdOptions};
///
/// let mut layer = LinearConfig::new(3, 2).init::<f64>(&mut seeded_rng(0)).unwrap();
/// let x = Tensor::from_shape_fn(vec![4, 3], |i| 0.1 * (i[0] + i[1]) as f64 - 0.2);
/// let report = check_module(&mut layer, &x, &FdOptions::default()).unwrap();
/// assert_eq!(report.tensors, ["input", "weight", "bias"]);
/// ```
pub fn check_module(
    module: &mut dyn Module<f64>,
    input: &Tensor<f64>,
    opts: &FdOptions,
) -> Result<FdReport, FdFailure> {
    opts.check()?;
    let mut rng = seeded_rng(opts.seed);
    let (output, cache) = module.forward(input).map_err(FdFailure::call("forward"))?;
    let weights = uniform(output.shape(), -1.0, 1.0, &mut rng);
    let grads = module
        .backward(&cache, &weights, true)
        .map_err(FdFailure::call("backward"))?;
    let grad_input = grads.input.ok_or_else(|| {
        FdFailure::Malformed(
            "backward with need_input_grad = true returned no input gradient".into(),
        )
    })?;
    expect_shape("the input gradient", grad_input.shape(), input.shape())?;
    let params = param_layout(module)?;
    if grads.params.len() != params.len() {
        return Err(FdFailure::Malformed(format!(
            "backward returned {} parameter gradients for {} parameters",
            grads.params.len(),
            params.len()
        )));
    }
    for ((name, shape), grad) in params.iter().zip(&grads.params) {
        expect_shape(&format!("the gradient of {name}"), grad.shape(), shape)?;
    }

    let loss = |module: &dyn Module<f64>, x: &Tensor<f64>| -> Result<f64, FdFailure> {
        let (y, _) = module.forward(x).map_err(FdFailure::call("forward"))?;
        expect_shape("a perturbed forward's output", y.shape(), weights.shape())?;
        Ok(y.iter().zip(weights.iter()).map(|(a, b)| a * b).sum())
    };

    let mut report = FdReport::default();
    let mut x = input.clone();
    for flat in coordinates(x.len(), opts.max_coords_per_tensor, &mut rng) {
        let index = unravel(flat, x.shape());
        let original = x[&index[..]];
        let (plus, minus) = (original + opts.eps, original - opts.eps);
        x[&index[..]] = plus;
        let up = loss(module, &x);
        x[&index[..]] = minus;
        let down = loss(module, &x);
        x[&index[..]] = original;
        let numeric = (up? - down?) / (plus - minus);
        report.compare(
            "input",
            index.clone(),
            grad_input[&index[..]],
            numeric,
            opts,
        )?;
    }

    for (k, ((name, shape), grad)) in params.iter().zip(&grads.params).enumerate() {
        let len = shape.iter().product();
        for flat in coordinates(len, opts.max_coords_per_tensor, &mut rng) {
            let index = unravel(flat, shape);
            let original = set_param(module, k, &index, None);
            let (plus, minus) = (original + opts.eps, original - opts.eps);
            set_param(module, k, &index, Some(plus));
            let up = loss(module, input);
            set_param(module, k, &index, Some(minus));
            let down = loss(module, input);
            set_param(module, k, &index, Some(original));
            let numeric = (up? - down?) / (plus - minus);
            report.compare(name, index.clone(), grad[&index[..]], numeric, opts)?;
        }
    }
    Ok(report)
}

/// The names and shapes of the parameters, after checking that `params_mut` lists the
/// same tensors as `params`.
fn param_layout(module: &mut dyn Module<f64>) -> Result<Vec<(String, Vec<usize>)>, FdFailure> {
    let layout: Vec<(String, Vec<usize>)> = module
        .params()
        .iter()
        .map(|p| (p.name.clone(), p.value.shape().to_vec()))
        .collect();
    let layout_mut: Vec<(String, Vec<usize>)> = module
        .params_mut()
        .iter()
        .map(|p| (p.name.clone(), p.value.shape().to_vec()))
        .collect();
    if layout != layout_mut {
        return Err(FdFailure::Malformed(format!(
            "params() lists {layout:?} but params_mut() lists {layout_mut:?}"
        )));
    }
    Ok(layout)
}

/// Reads parameter `k` at `index` and, when `value` is given, overwrites it; returns the
/// value it held.
fn set_param(module: &mut dyn Module<f64>, k: usize, index: &[usize], value: Option<f64>) -> f64 {
    let mut params = module.params_mut();
    let slot = &mut params[k].value[index];
    let old = *slot;
    if let Some(v) = value {
        *slot = v;
    }
    old
}

fn expect_shape(what: &str, got: &[usize], expected: &[usize]) -> Result<(), FdFailure> {
    if got == expected {
        Ok(())
    } else {
        Err(FdFailure::Malformed(format!(
            "{what} has shape {got:?}, expected {expected:?}"
        )))
    }
}
