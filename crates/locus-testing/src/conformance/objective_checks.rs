//! The checks of the objective conformance suite, each returning what it found in words.

use locus_core::{seeded_rng, Tensor};
use locus_objectives::{LocalObjective, LocalSignal, Mode, StageContext};

use super::{expect_refusal, first_difference, no_panic, ObjectiveConformance};
use crate::sample::{labels, uniform};

/// Salt that keeps the suite's data stream apart from the objective's own seed.
const DATA_SALT: u64 = 0x0b1e_c71e;

/// How messages name the complete test context.
pub(super) const FULL: &str = "a full context";

/// Builds a fresh objective (the same one every time).
type Fresh<'a> = &'a dyn Fn() -> Box<dyn LocalObjective<f64>>;

/// The owned tensors a full stage context borrows.
pub(super) struct ContextData {
    input: Tensor<f64>,
    output: Tensor<f64>,
    labels: Vec<usize>,
    message: Tensor<f64>,
    global_error: Option<Tensor<f64>>,
    network_input: Tensor<f64>,
}

impl ContextData {
    pub(super) fn draw(suite: &ObjectiveConformance) -> Self {
        let mut rng = seeded_rng(suite.seed ^ DATA_SALT);
        let (lo, hi) = suite.output_range;
        ContextData {
            input: uniform(&suite.input_shape, -1.0, 1.0, &mut rng),
            output: uniform(&suite.output_shape, lo, hi, &mut rng),
            labels: labels(suite.output_shape[0], suite.classes, &mut rng),
            message: uniform(&suite.output_shape, -1.0, 1.0, &mut rng),
            global_error: suite
                .global_error_shape
                .as_ref()
                .map(|shape| uniform(shape, -1.0, 1.0, &mut rng)),
            network_input: uniform(&suite.network_input_shape, -1.0, 1.0, &mut rng),
        }
    }

    pub(super) fn context(&self) -> StageContext<'_, f64> {
        let ctx = StageContext::new(&self.input, &self.output)
            .with_labels(&self.labels)
            .with_message(&self.message)
            .with_network_input(&self.network_input)
            .with_step(3);
        match &self.global_error {
            Some(error) => ctx.with_global_error(error),
            None => ctx,
        }
    }
}

pub(super) fn signal_of(
    objective: &mut dyn LocalObjective<f64>,
    ctx: &StageContext<'_, f64>,
    mode: Mode,
    context: &str,
) -> Result<LocalSignal<f64>, String> {
    objective
        .signal(ctx, mode)
        .map_err(|e| format!("signal ({mode:?}) on {context} failed: {e}"))
}

pub(super) fn valid_signal(
    objective: &mut dyn LocalObjective<f64>,
    ctx: &StageContext<'_, f64>,
) -> Result<LocalSignal<f64>, String> {
    let evaluated = signal_of(objective, ctx, Mode::Evaluate, FULL)?;
    let learned = signal_of(objective, ctx, Mode::Learn, FULL)?;
    for (mode, s) in [("Evaluate", &evaluated), ("Learn", &learned)] {
        if s.grad_output.shape() != ctx.output.shape() {
            return Err(format!(
                "signal ({mode}) returned grad_output of shape {:?} for an output of shape {:?}",
                s.grad_output.shape(),
                ctx.output.shape()
            ));
        }
        if !s.loss.is_finite() || !s.grad_output.iter().all(|v| v.is_finite()) {
            return Err(format!(
                "signal ({mode}) returned a non-finite loss ({}) or gradient for a finite context",
                s.loss
            ));
        }
    }
    Ok(evaluated)
}

pub(super) fn evaluate_is_pure(
    objective: &mut dyn LocalObjective<f64>,
    ctx: &StageContext<'_, f64>,
) -> Result<(), String> {
    let first = signal_of(objective, ctx, Mode::Evaluate, FULL)?;
    let second = signal_of(objective, ctx, Mode::Evaluate, FULL)?;
    same_signal("a second Mode::Evaluate call", &first, &second)
}

pub(super) fn same_signal(
    what: &str,
    a: &LocalSignal<f64>,
    b: &LocalSignal<f64>,
) -> Result<(), String> {
    if a.loss.to_bits() != b.loss.to_bits() {
        return Err(format!(
            "{what} returned loss {:e} instead of {:e}",
            b.loss, a.loss
        ));
    }
    match first_difference(&a.grad_output, &b.grad_output) {
        Some(diff) => Err(format!("{what} returned a grad_output that differs {diff}")),
        None => Ok(()),
    }
}

/// Labels are refused when missing, of the wrong length or out of range if
/// `needs_labels()`, and not needed otherwise.
pub(super) fn labels_checked(
    fresh: Fresh<'_>,
    data: &ContextData,
    classes: usize,
) -> Result<(), String> {
    let full = data.context();
    let without = StageContext {
        labels: None,
        ..full
    };
    if !fresh().needs_labels() {
        return signal_of(
            fresh().as_mut(),
            &without,
            Mode::Evaluate,
            "a context without labels",
        )
        .map(|_| ())
        .map_err(|e| format!("needs_labels() is false, but {e}"));
    }
    let mut too_many = data.labels.clone();
    too_many.push(0);
    let mut out_of_range = data.labels.clone();
    out_of_range[0] = classes;
    expect_refusal("a context without labels", || {
        fresh().signal(&without, Mode::Evaluate)
    })?;
    expect_refusal(
        &format!(
            "{} labels for a batch of {}",
            too_many.len(),
            data.labels.len()
        ),
        || fresh().signal(&full.with_labels(&too_many), Mode::Evaluate),
    )?;
    expect_refusal(&format!("label {classes} with {classes} classes"), || {
        fresh().signal(&full.with_labels(&out_of_range), Mode::Evaluate)
    })
}

/// If `needs_message()`: a missing message is refused in `Mode::Learn` (where the message
/// is what the objective learns from); in `Mode::Evaluate` the objective may refuse it or
/// predict without it (a synthetic gradient), and then must return a valid signal; a
/// message of the wrong shape is refused in both modes. Otherwise the message is not
/// needed at all.
pub(super) fn message_checked(fresh: Fresh<'_>, data: &ContextData) -> Result<(), String> {
    let full = data.context();
    let without = StageContext {
        message: None,
        ..full
    };
    if !fresh().needs_message() {
        return signal_of(
            fresh().as_mut(),
            &without,
            Mode::Evaluate,
            "a context without a message",
        )
        .map(|_| ())
        .map_err(|e| format!("needs_message() is false, but {e}"));
    }
    let mut shape = data.output.shape().to_vec();
    *shape.last_mut().expect("the output has a batch axis") += 1;
    let wrong = Tensor::zeros(shape.clone());
    expect_refusal("a context without a message (Mode::Learn)", || {
        fresh().signal(&without, Mode::Learn)
    })?;
    if let Ok(Ok(s)) = no_panic(|| fresh().signal(&without, Mode::Evaluate)) {
        if s.grad_output.shape() != data.output.shape()
            || !s.loss.is_finite()
            || !s.grad_output.iter().all(|v| v.is_finite())
        {
            return Err(format!(
                "a context without a message (Mode::Evaluate) was accepted, but the signal \
                 has shape {:?} for an output of shape {:?}, or is not finite",
                s.grad_output.shape(),
                data.output.shape()
            ));
        }
    }
    for mode in [Mode::Evaluate, Mode::Learn] {
        expect_refusal(
            &format!(
                "a message of shape {shape:?} for an output of shape {:?} ({mode:?})",
                data.output.shape()
            ),
            || fresh().signal(&full.with_message(&wrong), mode),
        )?;
    }
    Ok(())
}

/// A NaN in the output (in both modes), or in a message the objective needs, is refused.
pub(super) fn nan_refused(fresh: Fresh<'_>, data: &ContextData) -> Result<(), String> {
    let full = data.context();
    let corner = vec![0; data.output.ndim()];
    let mut nan_output = data.output.clone();
    nan_output[&corner[..]] = f64::NAN;
    let with_nan_output = StageContext {
        output: &nan_output,
        ..full
    };
    for mode in [Mode::Evaluate, Mode::Learn] {
        expect_refusal(&format!("an output holding a NaN ({mode:?})"), || {
            fresh().signal(&with_nan_output, mode)
        })?;
    }
    if fresh().needs_message() {
        let mut nan_message = data.message.clone();
        nan_message[&corner[..]] = f64::NAN;
        expect_refusal("a message holding a NaN", || {
            fresh().signal(&full.with_message(&nan_message), Mode::Evaluate)
        })?;
    }
    Ok(())
}

/// If `needs_network_input()`: a context without the network input, with one of another
/// batch size, or with a NaN in it is refused in both modes. Otherwise the network input
/// is not needed at all.
pub(super) fn network_input_checked(fresh: Fresh<'_>, data: &ContextData) -> Result<(), String> {
    let full = data.context();
    let without = StageContext {
        network_input: None,
        ..full
    };
    if !fresh().needs_network_input() {
        return signal_of(
            fresh().as_mut(),
            &without,
            Mode::Evaluate,
            "a context without the network input",
        )
        .map(|_| ())
        .map_err(|e| format!("needs_network_input() is false, but {e}"));
    }
    let mut shape = data.network_input.shape().to_vec();
    shape[0] += 1;
    let taller = Tensor::zeros(shape.clone());
    let corner = vec![0; data.network_input.ndim()];
    let mut with_nan = data.network_input.clone();
    with_nan[&corner[..]] = f64::NAN;
    for mode in [Mode::Evaluate, Mode::Learn] {
        expect_refusal(
            &format!("a context without the network input ({mode:?})"),
            || fresh().signal(&without, mode),
        )?;
        expect_refusal(
            &format!(
                "a network input of shape {shape:?} for an output of shape {:?} ({mode:?})",
                data.output.shape()
            ),
            || fresh().signal(&full.with_network_input(&taller), mode),
        )?;
        expect_refusal(&format!("a network input holding a NaN ({mode:?})"), || {
            fresh().signal(&full.with_network_input(&with_nan), mode)
        })?;
    }
    Ok(())
}
