//! Differential tests: one training step of locus equals an independent reference step
//! written plainly here, with `ndarray::Array2` algebra and loops only (no locus layer,
//! loss or optimizer takes part in a reference), from the same initial weights, feedback
//! matrices and batch.
//!
//! Rules: backpropagation, feedback alignment (Lillicrap et al. 2016), direct feedback
//! alignment (Nøkland 2016), uniform sign symmetry (Liao et al. 2016), synthetic
//! gradients with a linear gradient model (Jaderberg et al. 2016) and one
//! Forward-Forward stage (Hinton 2022). Everything runs in `f64`, plain SGD without
//! momentum, and is driven as a user would: stages from `MlpConfig` /
//! `ForwardForwardMlp` (FA: built from `LinearConfig`, see its test), one
//! `Lockstep::train_batch` per step.
//!
//! What is compared, for every parameter tensor (weights, biases, and the DNI gradient
//! models `M`):
//! * **one step**: the update `Δ = after − before` of locus against the reference's,
//!   `max|Δ_locus − Δ_ref| / max|Δ_ref|` ≤ [`ONE_STEP_TOL`] = 1e-5 (and the loss locus
//!   reports against the hand-computed one, relative, same tolerance). The updates, not
//!   the weights, are compared so that the tolerance bounds the error of the step itself
//!   and not of the much larger weights it is added to.
//! * **ten steps** (a different batch each step, the reference carrying its own state
//!   all along): `max|W_locus − W_ref| / max|W_ref − W_0|` ≤ [`TEN_STEP_TOL`] = 1e-4, and
//!   every reported loss within the same tolerance.
//!
//! Measured (f64, this machine): the MLP rules (bp, fa, usf, dfa, dni) agree **bit for
//! bit** (relative difference 0 after one and after ten steps: locus and the reference
//! happen to do the same operations in the same order); Forward-Forward differs by
//! ~1e-15 (locus's overflow-safe softplus and sigmoid are written differently). The
//! tolerances leave room for a different summation order or matrix-product kernel.
//! `cargo test -p locus --test differential -- --nocapture` prints the measurements.
//!
//! **Every test can fail.** Each reference was perturbed by hand while writing this file,
//! the tests were run and the perturbed one failed, then the perturbation was removed:
//! the `1/batch` of the cross-entropy error dropped (bp, fa, usf, dfa and dni all fail);
//! fa: `W` used instead of `B`; usf: the `mean|W|` factor dropped; dfa: `−B` instead of
//! `B`; dni: the `1/batch` of `ĝ/batch` dropped, and separately the regression target
//! `batch·m` replaced by `m` (only `M`'s update is then wrong: it fails too); ff: the
//! positive and negative halves swapped. Each test also asserts that every reference
//! update is non-zero, so that a rule that silently does nothing cannot pass.

use std::sync::{Arc, Mutex};

use locus::core::init::child_seed;
use locus::core::{
    seeded_rng, Activation, FeedbackRule, LinearConfig, Loss, Module, OptimizerConfig, Result,
    Sequential, SgdConfig, Tensor,
};
use locus::models::{ForwardForwardMlp, MlpConfig};
use locus::objectives::{
    DirectFeedback, ForwardForwardConfig, LocalObjective, LocalSignal, Mode, SgModel, StageContext,
    SupervisedLoss, SyntheticGradient, SyntheticGradientConfig, UpstreamGradient,
};
use locus::sched::{Lockstep, Stage};
use ndarray::{Array1, Array2, ArrayD, Axis};

/// Relative tolerance of one step (see the module documentation for the measure).
const ONE_STEP_TOL: f64 = 1e-5;
/// Relative tolerance after ten steps.
const TEN_STEP_TOL: f64 = 1e-4;
/// Learning rate of every network weight.
const LR: f64 = 0.1;
/// Batch size of the MLP rules.
const BATCH: usize = 8;
/// Widths of the MLP rules: 6 → 5 → 4 → 3, tanh hidden units.
const SIZES: [usize; 4] = [6, 5, 4, 3];
const CLASSES: usize = 3;
const STEPS: usize = 10;

// ---------------------------------------------------------------------------------------
// Plain data and helpers (no locus code).

/// A dense layer of the reference: `y = x W + b`, `W` stored `[in, out]` as locus does.
#[derive(Clone, Debug)]
struct Dense {
    w: Array2<f64>,
    b: Array1<f64>,
}

impl Dense {
    fn tensors(&self) -> Vec<ArrayD<f64>> {
        vec![self.w.clone().into_dyn(), self.b.clone().into_dyn()]
    }
}

/// The weight and bias of a module holding exactly one dense layer (parameter names end
/// in `weight` and `bias`; in `MlpConfig` stages they are `"1.weight"` or `"0.weight"`).
fn dense_of(module: &dyn Module<f64>) -> Dense {
    let params = module.params();
    assert_eq!(
        params.len(),
        2,
        "{}: one weight and one bias",
        module.name()
    );
    let find = |suffix: &str| {
        params
            .iter()
            .find(|p| p.name.ends_with(suffix))
            .unwrap_or_else(|| panic!("{}: no {suffix}", module.name()))
            .value
            .clone()
    };
    Dense {
        w: find("weight").into_dimensionality().unwrap(),
        b: find("bias").into_dimensionality().unwrap(),
    }
}

fn stage_tensors(stages: &[Stage<f64>]) -> Vec<ArrayD<f64>> {
    stages
        .iter()
        .flat_map(|s| dense_of(s.module()).tensors())
        .collect()
}

/// Batch `step`: deterministic inputs spread over roughly `[-1.5, 1.5]`, labels covering
/// every class.
fn batch(step: usize, rows: usize) -> (Array2<f64>, Vec<usize>) {
    let x = Array2::from_shape_fn((rows, SIZES[0]), |(i, j)| {
        let k = (i * SIZES[0] + j) as f64;
        1.5 * (0.91 * k + 1.7 * step as f64 + 0.3).sin() * (0.37 * k + 0.5).cos()
    });
    let labels = (0..rows).map(|i| (i + step) % CLASSES).collect();
    (x, labels)
}

fn sum_rows(a: &Array2<f64>) -> Array1<f64> {
    a.sum_axis(Axis(0))
}

/// `1 - y²`, tanh's derivative through its output.
fn dtanh(h: &Array2<f64>) -> Array2<f64> {
    h.mapv(|y| 1.0 - y * y)
}

/// sign with sign(0) = 0.
fn sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Mean softmax cross-entropy of logits `z` and the error `(softmax(z) − onehot) / batch`,
/// by hand (a max-shifted softmax in a loop).
fn cross_entropy(z: &Array2<f64>, labels: &[usize]) -> (f64, Array2<f64>) {
    let n = z.nrows() as f64;
    let mut e = Array2::zeros(z.raw_dim());
    let mut loss = 0.0;
    for (r, &y) in labels.iter().enumerate() {
        let max = z.row(r).iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = z.row(r).iter().map(|v| (v - max).exp()).sum();
        for c in 0..z.ncols() {
            let p = (z[[r, c]] - max).exp() / total;
            e[[r, c]] = (p - if c == y { 1.0 } else { 0.0 }) / n;
            if c == y {
                loss -= p.ln();
            }
        }
    }
    (loss / n, e)
}

fn sgd(layer: &mut Dense, gw: &Array2<f64>, gb: &Array1<f64>, lr: f64) {
    layer.w.scaled_add(-lr, gw);
    layer.b.scaled_add(-lr, gb);
}

/// What carries the error down in the reference MLP step.
enum Backward {
    /// Backpropagation: `δx = δy Wᵀ`.
    Transpose,
    /// Feedback alignment: `δx = δy Bᵀ`, one `B` per layer (`[in, out]`, like `W`).
    Fixed(Vec<Array2<f64>>),
    /// Uniform sign symmetry as locus defines it: `B = sign(W)·mean|W|` (see the usf test).
    SignSymmetry,
    /// DFA: hidden stage `i` gets `e B_i`, `B_i` `[classes, width_i]`.
    Direct(Vec<Array2<f64>>),
}

/// One SGD step of the tanh MLP with a softmax cross-entropy top, by hand. Every error
/// is computed with the weights before the step, then every layer is updated. Returns the
/// loss.
fn reference_mlp_step(
    net: &mut [Dense],
    x: &Array2<f64>,
    labels: &[usize],
    rule: &Backward,
) -> f64 {
    let layers = net.len();
    // hs[0] = x, hs[l + 1] = output of layer l (tanh for hidden layers, logits on top).
    let mut hs = vec![x.clone()];
    for (l, layer) in net.iter().enumerate() {
        let a = hs[l].dot(&layer.w) + &layer.b;
        hs.push(if l + 1 < layers { a.mapv(f64::tanh) } else { a });
    }
    let (loss, e) = cross_entropy(&hs[layers], labels);
    let mut deltas = vec![Array2::<f64>::zeros((0, 0)); layers];
    deltas[layers - 1] = e.clone();
    for l in (1..layers).rev() {
        // The error at the output of layer l − 1 (before its tanh'), from layer l.
        let message = match rule {
            Backward::Transpose => deltas[l].dot(&net[l].w.t()),
            Backward::Fixed(bs) => deltas[l].dot(&bs[l].t()),
            Backward::SignSymmetry => {
                let w = &net[l].w;
                let mean_abs = w.iter().map(|v| v.abs()).sum::<f64>() / w.len() as f64;
                let b = w.mapv(|v| sign(v) * mean_abs);
                deltas[l].dot(&b.t())
            }
            Backward::Direct(bs) => e.dot(&bs[l - 1]),
        };
        deltas[l - 1] = message * dtanh(&hs[l]);
    }
    for l in 0..layers {
        let gw = hs[l].t().dot(&deltas[l]);
        let gb = sum_rows(&deltas[l]);
        sgd(&mut net[l], &gw, &gb, LR);
    }
    loss
}

// ---------------------------------------------------------------------------------------
// The comparison.

fn max_abs(a: &ArrayD<f64>) -> f64 {
    a.iter().fold(0.0, |m, v| m.max(v.abs()))
}

/// `max|a − b| / max|scale|`.
fn rel(a: &ArrayD<f64>, b: &ArrayD<f64>, scale: &ArrayD<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape());
    max_abs(&(a - b)) / max_abs(scale)
}

#[derive(Debug)]
struct Measured {
    one_step: f64,
    ten_steps: f64,
    worst_loss: f64,
}

/// Runs locus and the reference side by side for [`STEPS`] batches and checks both
/// tolerances. `locus_state` reads every compared tensor from locus, `flatten` the same
/// tensors, in the same order, from the reference state `reference`, which
/// `reference_step` advances by one batch and returns its loss.
fn differential<S>(
    rule: &str,
    stages: &mut [Stage<f64>],
    mut reference: S,
    locus_state: impl Fn(&[Stage<f64>]) -> Vec<ArrayD<f64>>,
    flatten: impl Fn(&S) -> Vec<ArrayD<f64>>,
    mut reference_step: impl FnMut(&mut S, &Array2<f64>, &[usize]) -> f64,
    rows: usize,
) -> Measured {
    let initial = locus_state(stages);
    let start = flatten(&reference);
    assert_eq!(initial.len(), start.len(), "{rule}: tensor count");
    for (a, b) in initial.iter().zip(&start) {
        assert_eq!(a, b, "{rule}: the reference starts from locus's weights");
    }
    let mut measured = Measured {
        one_step: 0.0,
        ten_steps: 0.0,
        worst_loss: 0.0,
    };
    for step in 0..STEPS {
        let (x, labels) = batch(step, rows);
        let report = Lockstep
            .train_batch(stages, &x.clone().into_dyn(), &labels)
            .unwrap();
        let loss = reference_step(&mut reference, &x, &labels);
        let loss_diff = (report.loss - loss).abs() / loss.abs();
        measured.worst_loss = measured.worst_loss.max(loss_diff);
        let tol = if step == 0 {
            ONE_STEP_TOL
        } else {
            TEN_STEP_TOL
        };
        assert!(
            loss_diff <= tol,
            "{rule}, step {}: loss {} vs reference {loss}",
            step + 1,
            report.loss
        );
        if step == 0 {
            let ours = locus_state(stages);
            let theirs = flatten(&reference);
            for (i, ((after, expected), before)) in
                ours.iter().zip(&theirs).zip(&initial).enumerate()
            {
                let d_ref = expected - before;
                assert!(
                    max_abs(&d_ref) > 1e-8,
                    "{rule}: the reference leaves tensor {i} unchanged; the test would prove nothing"
                );
                let r = rel(&(after - before), &d_ref, &d_ref);
                measured.one_step = measured.one_step.max(r);
                assert!(
                    r <= ONE_STEP_TOL,
                    "{rule}: one step, tensor {i}: relative difference {r:e} > {ONE_STEP_TOL:e}\n\
                     locus Δ {:?}\nreference Δ {d_ref:?}",
                    after - before
                );
            }
        }
    }
    let ours = locus_state(stages);
    let theirs = flatten(&reference);
    for (i, ((after, expected), before)) in ours.iter().zip(&theirs).zip(&initial).enumerate() {
        let r = rel(after, expected, &(expected - before));
        measured.ten_steps = measured.ten_steps.max(r);
        assert!(
            r <= TEN_STEP_TOL,
            "{rule}: {STEPS} steps, tensor {i}: relative difference {r:e} > {TEN_STEP_TOL:e}"
        );
    }
    eprintln!("{rule}: {measured:?}");
    measured
}

fn plain_sgd(lr: f64) -> OptimizerConfig {
    OptimizerConfig::Sgd(SgdConfig::new(lr))
}

fn mlp_differential(rule: &str, stages: &mut [Stage<f64>], backward: Backward) -> Measured {
    let net: Vec<Dense> = stages.iter().map(|s| dense_of(s.module())).collect();
    differential(
        rule,
        stages,
        net,
        stage_tensors,
        |net| net.iter().flat_map(Dense::tensors).collect(),
        |net, x, labels| reference_mlp_step(net, x, labels, &backward),
        BATCH,
    )
}

/// An objective shared with the test, so that its state (a DFA matrix, a synthetic
/// gradient model) can be read through its own public accessors while a stage trains
/// with it. Every method forwards to the inner objective.
struct Shared<O>(Arc<Mutex<O>>);

impl<O: LocalObjective<f64>> LocalObjective<f64> for Shared<O> {
    fn name(&self) -> String {
        self.0.lock().unwrap().name()
    }
    fn signal(&mut self, ctx: &StageContext<'_, f64>, mode: Mode) -> Result<LocalSignal<f64>> {
        self.0.lock().unwrap().signal(ctx, mode)
    }
    fn needs_message(&self) -> bool {
        self.0.lock().unwrap().needs_message()
    }
    fn needs_labels(&self) -> bool {
        self.0.lock().unwrap().needs_labels()
    }
    fn is_exact_gradient(&self) -> bool {
        self.0.lock().unwrap().is_exact_gradient()
    }
    fn metrics(&self) -> Vec<(String, f64)> {
        self.0.lock().unwrap().metrics()
    }
    fn needs_global_error(&self) -> bool {
        self.0.lock().unwrap().needs_global_error()
    }
    fn needs_network_input(&self) -> bool {
        self.0.lock().unwrap().needs_network_input()
    }
    fn is_update_unlocked(&self) -> bool {
        self.0.lock().unwrap().is_update_unlocked()
    }
    fn holds_update(&self, step: u64) -> bool {
        self.0.lock().unwrap().holds_update(step)
    }
    fn learn_from_late_message(&mut self, ctx: &StageContext<'_, f64>) -> Result<f64> {
        self.0.lock().unwrap().learn_from_late_message(ctx)
    }
    fn class_scores(&self, output: &Tensor<f64>) -> Option<Result<Tensor<f64>>> {
        self.0.lock().unwrap().class_scores(output)
    }
    fn attach_module(&mut self, module: &dyn Module<f64>) -> Result<()> {
        self.0.lock().unwrap().attach_module(module)
    }
    fn take_module_gradients(&mut self) -> Option<Vec<Tensor<f64>>> {
        self.0.lock().unwrap().take_module_gradients()
    }
    fn passes_message_down(&self) -> bool {
        self.0.lock().unwrap().passes_message_down()
    }
}

fn layerwise(i: usize, n: usize) -> Box<dyn LocalObjective<f64>> {
    if i + 1 == n {
        Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
    } else {
        Box::new(UpstreamGradient)
    }
}

fn mlp(feedback: FeedbackRule) -> MlpConfig {
    MlpConfig::new(SIZES.to_vec())
        .with_activation(Activation::Tanh)
        .with_feedback(feedback)
}

// ---------------------------------------------------------------------------------------
// The rules.

/// Backpropagation: softmax cross-entropy averaged over the batch (`locus_core::Loss`:
/// gradient `(softmax(z) − onehot(y)) / B`), errors sent down through `Wᵀ`.
#[test]
fn bp_step_equals_a_hand_written_backprop_step() {
    let mut stages = mlp(FeedbackRule::Transpose)
        .build::<f64>(11, &plain_sgd(LR), layerwise)
        .unwrap();
    mlp_differential("bp", &mut stages, Backward::Transpose);
}

/// Feedback alignment: the errors go down through fixed random `B`s. No public API reads
/// `B` out of a built stage (a `Stage` holds a `Box<dyn Module>` with no downcast), so the
/// stages are built here as `MlpConfig` builds them (`Sequential[Linear, Tanh]`, the top
/// without activation), from `LinearConfig`, and each `B` is read with the public
/// `Linear::feedback_matrix` before the layer is moved into its stage: it is fixed, so
/// it is the matrix the stage trains with.
#[test]
fn fa_step_equals_a_hand_written_step_through_the_layers_own_b() {
    let mut rng = seeded_rng(12);
    let mut stages = Vec::new();
    let mut bs = Vec::new();
    for l in 0..SIZES.len() - 1 {
        let linear = LinearConfig::new(SIZES[l], SIZES[l + 1])
            .with_feedback(FeedbackRule::FixedRandom)
            .init::<f64>(&mut seeded_rng(child_seed(&mut rng)))
            .unwrap();
        let b: Array2<f64> = linear
            .feedback_matrix()
            .unwrap()
            .into_dimensionality()
            .unwrap();
        assert_eq!(b.dim(), (SIZES[l], SIZES[l + 1]));
        assert_ne!(b.view(), linear.weight(), "B is not W");
        bs.push(b);
        let top = l + 2 == SIZES.len();
        let mut module = Sequential::new().push(linear);
        if !top {
            module = module.push(Activation::Tanh);
        }
        stages.push(Stage::new(
            format!("stage{}", l + 1),
            Box::new(module),
            layerwise(l, SIZES.len() - 1),
            plain_sgd(LR).build::<f64>().unwrap(),
        ));
    }
    mlp_differential("fa", &mut stages, Backward::Fixed(bs));
}

/// Uniform sign symmetry (uSF). Liao et al. send the error down through `sign(W)`; locus
/// documents (`FeedbackRule::SignSymmetry`) that it scales it by `mean|W|` so that the
/// signal has backpropagation's size, and the reference does the same. (The scale is one
/// positive number per layer: it changes the step's size, not its direction.)
#[test]
fn usf_step_equals_a_hand_written_step_through_sign_w() {
    let mut stages = mlp(FeedbackRule::SignSymmetry)
        .build::<f64>(13, &plain_sgd(LR), layerwise)
        .unwrap();
    mlp_differential("usf", &mut stages, Backward::SignSymmetry);
}

/// Direct feedback alignment: hidden stage `i` learns from `δh_i = (e B_i) ⊙ tanh'(a_i)`,
/// `e` the top's error `(softmax − onehot)/B` and `B_i` `[classes, width_i]`, read with
/// the public `DirectFeedback::feedback` from the very objective the stage trains with
/// (it is drawn on the first step, so the reference reads it after locus's first step).
#[test]
fn dfa_step_equals_a_hand_written_step_through_each_stages_b() {
    let handles: Vec<Arc<Mutex<DirectFeedback<f64>>>> = (0..SIZES.len() - 2)
        .map(|i| Arc::new(Mutex::new(DirectFeedback::new(100 + i as u64))))
        .collect();
    let mut stages = mlp(FeedbackRule::Transpose)
        .build::<f64>(14, &plain_sgd(LR), |i, n| -> Box<dyn LocalObjective<f64>> {
            if i + 1 == n {
                Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
            } else {
                Box::new(Shared(handles[i].clone()))
            }
        })
        .unwrap();
    let net: Vec<Dense> = stages.iter().map(|s| dense_of(s.module())).collect();
    let read_bs = || -> Vec<Array2<f64>> {
        handles
            .iter()
            .map(|h| h.lock().unwrap().feedback().expect("drawn").clone())
            .collect()
    };
    let mut checked_shapes = false;
    differential(
        "dfa",
        &mut stages,
        net,
        stage_tensors,
        |net| net.iter().flat_map(Dense::tensors).collect(),
        |net, x, labels| {
            let bs = read_bs();
            if !checked_shapes {
                for (i, b) in bs.iter().enumerate() {
                    assert_eq!(b.dim(), (CLASSES, SIZES[i + 1]));
                }
                assert_ne!(bs[0].row(0), bs[0].row(1));
                checked_shapes = true;
            }
            reference_mlp_step(net, x, labels, &Backward::Direct(bs))
        },
        BATCH,
    );
}

/// The reference state of the DNI test: the network and each hidden stage's linear
/// gradient model `ĝ = h A + c`.
#[derive(Clone)]
struct DniState {
    net: Vec<Dense>,
    models: Vec<Dense>,
}

/// Learning rate of the gradient models `M`.
const SG_LR: f64 = 0.05;

/// Synthetic gradients with a linear gradient model `M: ĝ = h A + c` per hidden stage
/// (`synthetic_gradient.rs`): the stage learns from `ĝ / batch` (M predicts the
/// per-sample gradient), computed with `M` before its step; `M` then takes one SGD step on
/// `‖h A + c − batch·m‖² / (2·batch)`, `m` the message from above: the true gradient
/// below the top, the bootstrapped `(ĝ₂/batch ⊙ tanh') W₂ᵀ` further down. `M` starts at
/// zero, so it is first trained on two arbitrary (h, m) pairs to make the first step's
/// synthetic gradient non-zero; it is read with the public `SyntheticGradient::model`.
#[test]
fn dni_step_equals_a_hand_written_synthetic_gradient_step() {
    let hidden = SIZES.len() - 2;
    let handles: Vec<Arc<Mutex<SyntheticGradient<f64>>>> = (0..hidden)
        .map(|i| {
            let sg = SyntheticGradientConfig::new(i as u64)
                .with_model(SgModel::Linear)
                .with_optimizer(plain_sgd(SG_LR))
                .build::<f64>()
                .unwrap();
            Arc::new(Mutex::new(sg))
        })
        .collect();
    // Warm M up on arbitrary pairs, with the objective's own regression.
    for (i, handle) in handles.iter().enumerate() {
        let width = SIZES[i + 1];
        for k in 0..2 {
            let h = Array2::from_shape_fn((BATCH, width), |(r, c)| {
                ((r * width + c + 3 * k + i) as f64 * 0.7).sin()
            })
            .into_dyn();
            let m = Array2::from_shape_fn((BATCH, width), |(r, c)| {
                0.05 * ((r * 5 + c * 3 + k + 2 * i) as f64 * 1.3).cos()
            })
            .into_dyn();
            handle
                .lock()
                .unwrap()
                .signal(&StageContext::new(&h, &h).with_message(&m), Mode::Learn)
                .unwrap();
        }
    }
    let model_of = |handle: &Arc<Mutex<SyntheticGradient<f64>>>| -> Dense {
        dense_of(
            handle
                .lock()
                .unwrap()
                .model()
                .expect("built by the warm-up"),
        )
    };
    let mut stages = mlp(FeedbackRule::Transpose)
        .build::<f64>(15, &plain_sgd(LR), |i, n| -> Box<dyn LocalObjective<f64>> {
            if i + 1 == n {
                Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
            } else {
                Box::new(Shared(handles[i].clone()))
            }
        })
        .unwrap();
    let state = DniState {
        net: stages.iter().map(|s| dense_of(s.module())).collect(),
        models: handles.iter().map(model_of).collect(),
    };
    for (i, m) in state.models.iter().enumerate() {
        assert_eq!(m.w.dim(), (SIZES[i + 1], SIZES[i + 1]), "A: [width, width]");
        assert!(max_abs(&m.w.clone().into_dyn()) > 0.0, "M is warmed up");
    }
    differential(
        "dni",
        &mut stages,
        state,
        |stages| {
            let mut all = stage_tensors(stages);
            all.extend(handles.iter().flat_map(|h| model_of(h).tensors()));
            all
        },
        |s| {
            let mut all: Vec<_> = s.net.iter().flat_map(Dense::tensors).collect();
            all.extend(s.models.iter().flat_map(Dense::tensors));
            all
        },
        |s, x, labels| {
            let n = x.nrows() as f64;
            let layers = s.net.len();
            let mut hs = vec![x.clone()];
            for (l, layer) in s.net.iter().enumerate() {
                let a = hs[l].dot(&layer.w) + &layer.b;
                hs.push(if l + 1 < layers { a.mapv(f64::tanh) } else { a });
            }
            let (loss, e) = cross_entropy(&hs[layers], labels);
            let mut deltas = vec![Array2::<f64>::zeros((0, 0)); layers];
            deltas[layers - 1] = e;
            // The message to stage l − 1: the input gradient of stage l's own signal.
            let mut message = deltas[layers - 1].dot(&s.net[layers - 1].w.t());
            for l in (0..layers - 1).rev() {
                let h = &hs[l + 1];
                let model = &mut s.models[l];
                let prediction = h.dot(&model.w) + &model.b;
                let synthetic = &prediction / n;
                deltas[l] = synthetic * dtanh(h);
                // Least-squares step of M on the per-sample target batch·m.
                let residual = &prediction - &(&message * n);
                let ga = h.t().dot(&residual) / n;
                let gc = sum_rows(&residual) / n;
                sgd(model, &ga, &gc, SG_LR);
                message = deltas[l].dot(&s.net[l].w.t());
            }
            for l in 0..layers {
                let gw = hs[l].t().dot(&deltas[l]);
                let gb = sum_rows(&deltas[l]);
                sgd(&mut s.net[l], &gw, &gb, LR);
            }
            loss
        },
        BATCH,
    );
}

/// Forward-Forward, one stage `length-normalise → Linear(6→5) → ReLU`
/// (`ForwardForwardMlp`; the normalisation is `x / sqrt(mean(x²) + 1e-5)` per row). Goodness
/// `g = Σ h²`, threshold `θ = threshold · width`, loss the mean over the `2n` rows of
/// `softplus(θ − g)` (rows `0..n`, positive) and `softplus(g − θ)` (rows `n..2n`,
/// negative), one plain SGD step.
#[test]
fn forward_forward_step_equals_a_hand_written_step() {
    const THRESHOLD: f64 = 0.1;
    const FF_LR: f64 = 0.3;
    let width = 5;
    let mut stages = ForwardForwardMlp::new(vec![SIZES[0], width])
        .build::<f64>(16, &plain_sgd(FF_LR), |_, _| {
            Box::new(
                ForwardForwardConfig::default()
                    .with_threshold(THRESHOLD)
                    .build()
                    .unwrap(),
            )
        })
        .unwrap();
    let layer = dense_of(stages[0].module());
    let theta = THRESHOLD * width as f64;
    let softplus = |v: f64| (1.0 + v.exp()).ln();
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    differential(
        "ff",
        &mut stages,
        layer,
        stage_tensors,
        Dense::tensors,
        |layer, x, _labels| {
            let rows = x.nrows();
            let half = rows / 2;
            let mut xn = x.clone();
            for mut row in xn.rows_mut() {
                let ms = row.iter().map(|v| v * v).sum::<f64>() / row.len() as f64;
                row /= (ms + 1e-5).sqrt();
            }
            let a = xn.dot(&layer.w) + &layer.b;
            let h = a.mapv(|v| v.max(0.0));
            let mut loss = 0.0;
            let mut delta = Array2::zeros(h.raw_dim());
            for r in 0..rows {
                let g: f64 = h.row(r).iter().map(|v| v * v).sum();
                // dL/dg for this row's term of the mean.
                let dl_dg = if r < half {
                    loss += softplus(theta - g);
                    -sigmoid(theta - g) / rows as f64
                } else {
                    loss += softplus(g - theta);
                    sigmoid(g - theta) / rows as f64
                };
                for c in 0..h.ncols() {
                    let relu_grad = if a[[r, c]] > 0.0 { 1.0 } else { 0.0 };
                    delta[[r, c]] = 2.0 * h[[r, c]] * dl_dg * relu_grad;
                }
            }
            let gw = xn.t().dot(&delta);
            let gb = sum_rows(&delta);
            sgd(layer, &gw, &gb, FF_LR);
            loss / rows as f64
        },
        2 * BATCH,
    );
}
