//! The checks of the module conformance suite, each returning what it found in words.

use std::collections::HashSet;

use locus_core::{Cache, Gradients, Module, SeededRng, Tensor};

use super::{expect_refusal, first_difference, no_panic};
use crate::sample::uniform;

/// The parameters' names and values at one moment.
pub(super) type Snapshot = Vec<(String, Tensor<f64>)>;

pub(super) fn snapshot(module: &dyn Module<f64>) -> Snapshot {
    module
        .params()
        .into_iter()
        .map(|p| (p.name, p.value.clone()))
        .collect()
}

pub(super) fn param_names(module: &mut dyn Module<f64>) -> Result<(), String> {
    let layout: Vec<(String, Vec<usize>)> = module
        .params()
        .iter()
        .map(|p| (p.name.clone(), p.value.shape().to_vec()))
        .collect();
    let mut seen = HashSet::new();
    for (i, (name, _)) in layout.iter().enumerate() {
        if name.is_empty() {
            return Err(format!("parameter {i} has an empty name"));
        }
        if !seen.insert(name) {
            return Err(format!("parameter name {name:?} is used twice"));
        }
    }
    let layout_mut: Vec<(String, Vec<usize>)> = module
        .params_mut()
        .iter()
        .map(|p| (p.name.clone(), p.value.shape().to_vec()))
        .collect();
    if layout != layout_mut {
        return Err(format!(
            "params() lists {layout:?} but params_mut() lists {layout_mut:?}"
        ));
    }
    Ok(())
}

pub(super) fn reproducible(params: &Snapshot, again: &dyn Module<f64>) -> Result<(), String> {
    let again = snapshot(again);
    if params.len() != again.len() {
        return Err(format!("{} parameters, then {}", params.len(), again.len()));
    }
    for ((name, a), (_, b)) in params.iter().zip(&again) {
        if let Some(diff) = first_difference(a, b) {
            return Err(format!(
                "two builds from the same seed differ in {name} {diff}"
            ));
        }
    }
    Ok(())
}

/// One batch's forward and backward pass: input `x`, output weights `r` (the
/// `grad_output`), output `y` and gradients.
pub(super) struct Pass {
    pub(super) x: Tensor<f64>,
    pub(super) r: Tensor<f64>,
    pub(super) y: Tensor<f64>,
    pub(super) grads: Gradients<f64>,
}

impl Pass {
    fn run(m: &dyn Module<f64>, x: Tensor<f64>, r: Tensor<f64>) -> Result<Pass, String> {
        let (y, cache) = m
            .forward(&x)
            .map_err(|e| format!("forward on an input of shape {:?} failed: {e}", x.shape()))?;
        let grads = m.backward(&cache, &r, true).map_err(|e| {
            format!(
                "backward with a grad_output of shape {:?} failed: {e}",
                r.shape()
            )
        })?;
        Ok(Pass { x, r, y, grads })
    }
}

/// A pass on a valid batch, with random output weights, whose results are all finite.
pub(super) fn valid_input(
    m: &dyn Module<f64>,
    x: Tensor<f64>,
    rng: &mut SeededRng,
) -> Result<Pass, String> {
    let (y, _) = m
        .forward(&x)
        .map_err(|e| format!("forward on an input of shape {:?} failed: {e}", x.shape()))?;
    let r = uniform(y.shape(), -1.0, 1.0, rng);
    let pass = Pass::run(m, x, r)?;
    if !pass.y.iter().all(|v| v.is_finite()) {
        return Err("forward returned a non-finite output for a finite input".into());
    }
    let all_finite = pass
        .grads
        .params
        .iter()
        .chain(&pass.grads.input)
        .all(|g| g.iter().all(|v| v.is_finite()));
    if !all_finite {
        return Err("backward returned a non-finite gradient for finite arguments".into());
    }
    Ok(pass)
}

pub(super) fn param_gradients(m: &dyn Module<f64>, grads: &Gradients<f64>) -> Result<(), String> {
    let params = m.params();
    if grads.params.len() != params.len() {
        return Err(format!(
            "backward returned {} parameter gradients for {} parameters",
            grads.params.len(),
            params.len()
        ));
    }
    for (i, (p, g)) in params.iter().zip(&grads.params).enumerate() {
        if p.value.shape() != g.shape() {
            return Err(format!(
                "gradient {i} has shape {:?}, but parameter {i} ({}) has shape {:?}",
                g.shape(),
                p.name,
                p.value.shape()
            ));
        }
    }
    Ok(())
}

pub(super) fn input_gradient(m: &dyn Module<f64>, a: &Pass) -> Result<(), String> {
    match &a.grads.input {
        None => return Err("need_input_grad = true returned no input gradient".into()),
        Some(g) if g.shape() != a.x.shape() => {
            return Err(format!(
                "the input gradient has shape {:?}, the input {:?}",
                g.shape(),
                a.x.shape()
            ))
        }
        Some(_) => {}
    }
    let (_, cache) = m.forward(&a.x).map_err(|e| e.to_string())?;
    let without = m
        .backward(&cache, &a.r, false)
        .map_err(|e| format!("backward with need_input_grad = false failed: {e}"))?;
    if without.input.is_some() {
        return Err("need_input_grad = false still returned an input gradient".into());
    }
    same_params(
        m,
        "with need_input_grad = false",
        &a.grads.params,
        &without.params,
    )
}

pub(super) fn infer_matches_forward(m: &dyn Module<f64>, a: &Pass) -> Result<(), String> {
    let inferred = m
        .infer(&a.x)
        .map_err(|e| format!("infer failed where forward succeeded: {e}"))?;
    if inferred.shape() != a.y.shape() {
        return Err(format!(
            "infer returned shape {:?}, forward {:?}",
            inferred.shape(),
            a.y.shape()
        ));
    }
    // Infer may take another route (no cache, fused operations), so allow rounding.
    for (flat, (i, f)) in inferred.iter().zip(a.y.iter()).enumerate() {
        let close = (i - f).abs() <= 1e-12 * (1.0 + f.abs());
        if !close {
            let index = crate::sample::unravel(flat, a.y.shape());
            return Err(format!("at {index:?} infer returned {i:e}, forward {f:e}"));
        }
    }
    Ok(())
}

pub(super) fn deterministic(
    m: &dyn Module<f64>,
    a: &Pass,
    params: &Snapshot,
) -> Result<(), String> {
    let again = Pass::run(m, a.x.clone(), a.r.clone())?;
    if let Some(diff) = first_difference(&a.y, &again.y) {
        return Err(format!("a second forward on the same input differs {diff}"));
    }
    same_gradients(m, "a second backward", &a.grads, &again.grads)?;
    if snapshot(m) != *params {
        return Err("forward/backward changed the parameters".into());
    }
    Ok(())
}

/// Forward A, forward B, backward A, backward B, compared with A alone and B alone.
pub(super) fn caller_owned_cache(
    m: &dyn Module<f64>,
    a: &Pass,
    x_b: Tensor<f64>,
    r_b: Tensor<f64>,
) -> Result<(), String> {
    let b = Pass::run(m, x_b, r_b)?;
    let (y_a, cache_a) = m.forward(&a.x).map_err(|e| e.to_string())?;
    let (y_b, cache_b) = m.forward(&b.x).map_err(|e| e.to_string())?;
    let grads_a = m
        .backward(&cache_a, &a.r, true)
        .map_err(|e| e.to_string())?;
    let grads_b = m
        .backward(&cache_b, &b.r, true)
        .map_err(|e| e.to_string())?;
    for (what, alone, in_flight) in [("A", &a.y, &y_a), ("B", &b.y, &y_b)] {
        if let Some(diff) = first_difference(alone, in_flight) {
            return Err(format!(
                "batch {what}'s output with two batches in flight differs {diff}"
            ));
        }
    }
    same_gradients(
        m,
        "batch A's backward after forward B (two batches in flight)",
        &a.grads,
        &grads_a,
    )?;
    same_gradients(
        m,
        "batch B's backward with two batches in flight",
        &b.grads,
        &grads_b,
    )
}

pub(super) fn backward_arguments(m: &dyn Module<f64>, a: &Pass) -> Result<(), String> {
    let y = &a.y;
    let (_, cache) = m.forward(&a.x).map_err(|e| e.to_string())?;
    let mut wrong = y.shape().to_vec();
    if let Some(last) = wrong.last_mut() {
        *last += 1;
    } else {
        wrong.push(2);
    }
    let g = Tensor::zeros(wrong.clone());
    expect_refusal(
        &format!(
            "backward with a grad_output of shape {wrong:?} for an output of shape {:?}",
            y.shape()
        ),
        || m.backward(&cache, &g, true),
    )?;
    let r = Tensor::zeros(y.shape());
    no_panic(|| m.backward(&Cache::empty(), &r, true))
        .map(|_| ())
        .map_err(|message| format!("backward with an empty (foreign) cache panicked: {message}"))
}

fn same_gradients(
    m: &dyn Module<f64>,
    what: &str,
    a: &Gradients<f64>,
    b: &Gradients<f64>,
) -> Result<(), String> {
    match (&a.input, &b.input) {
        (Some(ga), Some(gb)) => {
            if let Some(diff) = first_difference(ga, gb) {
                return Err(format!("{what}: the input gradient differs {diff}"));
            }
        }
        (None, None) => {}
        _ => return Err(format!("{what}: the input gradient is present only once")),
    }
    same_params(m, what, &a.params, &b.params)
}

fn same_params(
    m: &dyn Module<f64>,
    what: &str,
    a: &[Tensor<f64>],
    b: &[Tensor<f64>],
) -> Result<(), String> {
    if a.len() != b.len() {
        return Err(format!(
            "{what}: {} parameter gradients instead of {}",
            b.len(),
            a.len()
        ));
    }
    for (i, (ga, gb)) in a.iter().zip(b).enumerate() {
        if let Some(diff) = first_difference(ga, gb) {
            let name = m
                .params()
                .get(i)
                .map_or_else(|| format!("#{i}"), |p| p.name.clone());
            return Err(format!("{what}: the gradient of {name} differs {diff}"));
        }
    }
    Ok(())
}
