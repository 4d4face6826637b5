//! A stage that fails — an error or a panic in its objective, an error in its module's
//! forward pass, a late message it refuses — stops an asynchronous run, which returns an
//! error naming the stage and its step. The run must always return: no stage thread may
//! be left waiting for a message that will never come.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use locus_core::{
    seeded_rng, Activation, Cache, Error as CoreError, Gradients, LinearConfig, Loss, Module,
    OptimizerConfig, Param, ParamMut, Result as CoreResult, Sequential, SgdConfig, Tensor,
};
use locus_data::{Dataset, InMemoryDataset};
use locus_objectives::{LocalObjective, LocalSignal, Mode, StageContext, SupervisedLoss};
use locus_sched::{
    AsyncConfig, EpochPlan, Error, NoObserver, Observer, Pipelined, Scheduler, Simulated,
    SimulatedConfig, Stage, StepInfo,
};
use proptest::prelude::*;
use support::{hidden, product_data, Rule};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// The objective's signal returns an error at the stage's step `at`.
    SignalError,
    /// The objective's signal panics at step `at`.
    SignalPanic,
    /// The module's forward pass fails at its `at`-th call.
    ForwardError,
    /// The objective refuses the late message of the batch learned at step `at`.
    LateMessageError,
}

/// An objective that behaves like `inner` except at step `at`.
struct FailAt {
    inner: Box<dyn LocalObjective<f64>>,
    at: u64,
    fault: Fault,
}

impl LocalObjective<f64> for FailAt {
    fn name(&self) -> String {
        format!("faulty {}", self.inner.name())
    }
    fn signal(&mut self, ctx: &StageContext<'_, f64>, mode: Mode) -> CoreResult<LocalSignal<f64>> {
        if ctx.step == self.at {
            match self.fault {
                Fault::SignalError => {
                    return Err(CoreError::invalid("injected fault", "none", self.at))
                }
                Fault::SignalPanic => panic!("injected panic at step {}", self.at),
                _ => {}
            }
        }
        self.inner.signal(ctx, mode)
    }
    fn needs_message(&self) -> bool {
        self.inner.needs_message()
    }
    fn needs_labels(&self) -> bool {
        self.inner.needs_labels()
    }
    fn needs_global_error(&self) -> bool {
        self.inner.needs_global_error()
    }
    fn is_update_unlocked(&self) -> bool {
        self.inner.is_update_unlocked()
    }
    fn learn_from_late_message(&mut self, ctx: &StageContext<'_, f64>) -> CoreResult<f64> {
        if ctx.step == self.at && self.fault == Fault::LateMessageError {
            return Err(CoreError::invalid("injected fault", "none", self.at));
        }
        self.inner.learn_from_late_message(ctx)
    }
}

/// A module that behaves like `inner` except that its `at`-th forward pass fails.
struct FailingForward {
    inner: Sequential<f64>,
    at: u64,
    calls: AtomicU64,
}

impl Module<f64> for FailingForward {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn forward(&self, input: &Tensor<f64>) -> CoreResult<(Tensor<f64>, Cache<f64>)> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == self.at {
            return Err(CoreError::invalid("injected fault", "none", self.at));
        }
        self.inner.forward(input)
    }
    fn backward(
        &self,
        cache: &Cache<f64>,
        grad_output: &Tensor<f64>,
        need_input_grad: bool,
    ) -> CoreResult<Gradients<f64>> {
        self.inner.backward(cache, grad_output, need_input_grad)
    }
    fn params(&self) -> Vec<Param<'_, f64>> {
        self.inner.params()
    }
    fn params_mut(&mut self) -> Vec<ParamMut<'_, f64>> {
        self.inner.params_mut()
    }
}

/// An 8-12-10-3 tanh MLP under `rule`, with `fault` injected at step `at` of stage
/// `faulty`.
fn faulty_stack(rule: Rule, faulty: usize, fault: Fault, at: u64) -> Vec<Stage<f64>> {
    let sizes = [8, 12, 10, 3];
    let mut rng = seeded_rng(11);
    (0..3)
        .map(|i| {
            let mut layer = Sequential::new().push(
                LinearConfig::new(sizes[i], sizes[i + 1])
                    .init::<f64>(&mut rng)
                    .unwrap(),
            );
            if i < 2 {
                layer = layer.push(Activation::Tanh);
            }
            let module: Box<dyn Module<f64>> = if i == faulty && fault == Fault::ForwardError {
                Box::new(FailingForward {
                    inner: layer,
                    at,
                    calls: AtomicU64::new(0),
                })
            } else {
                Box::new(layer)
            };
            let mut objective: Box<dyn LocalObjective<f64>> = if i == 2 {
                Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
            } else {
                hidden(rule, i)
            };
            if i == faulty && fault != Fault::ForwardError {
                objective = Box::new(FailAt {
                    inner: objective,
                    at,
                    fault,
                });
            }
            let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.05)).build().unwrap();
            Stage::new(format!("stage{}", i + 1), module, objective, optimizer)
        })
        .collect()
}

/// Runs two epochs (6 batches each) on another thread; panics if they take longer than a
/// generous bound, which only a hang would need.
fn run_with_deadline(
    mut scheduler: Box<dyn Scheduler<f64> + Send>,
    mut stages: Vec<Stage<f64>>,
    data: InMemoryDataset,
) -> Result<(), Error> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let result = (0..2).try_for_each(|epoch| {
            let plan = EpochPlan {
                batch_size: 16,
                seed: 2,
                epoch,
            };
            scheduler
                .train_epoch(&mut stages, &data, plan, &mut NoObserver)
                .map(|_| ())
        });
        let _ = tx.send(result);
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the run did not return within 60 s: a stage thread is stuck")
}

fn scheduler(simulated: bool, in_flight: usize, capacity: usize) -> Box<dyn Scheduler<f64> + Send> {
    let flow = AsyncConfig::default()
        .with_in_flight(in_flight)
        .with_capacity(capacity);
    if simulated {
        Box::new(
            Simulated::new(
                SimulatedConfig::default()
                    .with_flow(flow)
                    .with_link_delay(0.5),
            )
            .unwrap(),
        )
    } else {
        Box::new(Pipelined::new(flow).unwrap())
    }
}

fn check_failure(
    rule: Rule,
    faulty: usize,
    fault: Fault,
    at: u64,
    simulated: bool,
    in_flight: usize,
    capacity: usize,
) -> Result<(), TestCaseError> {
    let stages = faulty_stack(rule, faulty, fault, at);
    let result = run_with_deadline(
        scheduler(simulated, in_flight, capacity),
        stages,
        product_data(90, 1),
    );
    let err = result.expect_err("a stage failed, the run must fail");
    let text = err.to_string();
    let Error::StageFailed {
        stage,
        step,
        reason,
        ..
    } = &err
    else {
        return Err(TestCaseError::fail(format!("not a stage failure: {text}")));
    };
    prop_assert_eq!(stage, &format!("stage{}", faulty + 1), "{}", text);
    let expected = if fault == Fault::SignalPanic {
        "injected panic"
    } else {
        "injected fault"
    };
    prop_assert!(reason.contains(expected), "{}", text);
    prop_assert!(text.contains(&format!("step {step}")), "{}", text);
    match fault {
        // The signal is asked for at the stage's step `at`, before that update.
        Fault::SignalError | Fault::SignalPanic => prop_assert_eq!(*step, at, "{}", text),
        // The forward pass runs ahead of the updates by at most the batches in flight.
        Fault::ForwardError => {
            prop_assert!(*step <= at && at - *step <= in_flight as u64, "{}", text)
        }
        // The late message comes after the update it belongs to, and within the batches
        // in flight.
        Fault::LateMessageError => {
            prop_assert!(*step > at && *step - at <= in_flight as u64, "{}", text)
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn a_failing_stage_stops_the_run_and_is_named(
        rule in prop::sample::select(vec![Rule::Backprop, Rule::DirectFeedback, Rule::Dni, Rule::Local]),
        faulty in 0usize..3,
        fault in prop::sample::select(vec![Fault::SignalError, Fault::SignalPanic, Fault::ForwardError]),
        at in 0u64..12,
        simulated in any::<bool>(),
        in_flight in 1usize..5,
        capacity in 1usize..4,
    ) {
        check_failure(rule, faulty, fault, at, simulated, in_flight, capacity)?;
    }

    /// An update-unlocked stage learns first and takes its message later: a failure in
    /// that second half stops the run too.
    #[test]
    fn a_refused_late_message_stops_the_run(
        faulty in 0usize..2,
        at in 0u64..12,
        simulated in any::<bool>(),
        in_flight in 1usize..5,
        capacity in 1usize..4,
    ) {
        check_failure(Rule::Dni, faulty, Fault::LateMessageError, at, simulated, in_flight, capacity)?;
    }
}

/// A data set whose samples past `len - 3` cannot be read (a broken implementation).
struct Truncated(InMemoryDataset);

impl Dataset for Truncated {
    fn name(&self) -> &str {
        "truncated"
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn sample_shape(&self) -> &[usize] {
        self.0.sample_shape()
    }
    fn num_classes(&self) -> usize {
        self.0.num_classes()
    }
    fn features(&self, index: usize) -> Option<&[f32]> {
        if index + 3 >= self.0.len() {
            None
        } else {
            self.0.features(index)
        }
    }
    fn label(&self, index: usize) -> Option<usize> {
        self.0.label(index)
    }
}

#[test]
fn a_batch_that_cannot_be_read_stops_the_run() {
    for simulated in [false, true] {
        let mut stages = support::stack(Rule::DirectFeedback, &[12, 10], 3);
        let plan = EpochPlan {
            batch_size: 16,
            seed: 2,
            epoch: 0,
        };
        let err = scheduler(simulated, 3, 2)
            .train_epoch(
                &mut stages,
                &Truncated(product_data(90, 1)),
                plan,
                &mut NoObserver,
            )
            .unwrap_err();
        assert!(matches!(err, Error::Data(_)), "{err}");
        assert!(err.to_string().contains("truncated"), "{err}");
    }
}

/// An observer that panics on the calling thread: the panic propagates (it is the
/// caller's), and the stage threads are stopped rather than left waiting.
struct PanickyObserver;

impl Observer for PanickyObserver {
    fn on_step(&mut self, info: &StepInfo) {
        if info.batch == 2 {
            panic!("observer gave up");
        }
    }
}

#[test]
fn a_panicking_observer_does_not_leave_threads_behind() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let caught = std::panic::catch_unwind(|| {
            let mut stages = support::stack(Rule::Backprop, &[12, 10], 3);
            let plan = EpochPlan {
                batch_size: 16,
                seed: 2,
                epoch: 0,
            };
            let _ = Pipelined::default().train_epoch(
                &mut stages,
                &product_data(90, 1),
                plan,
                &mut PanickyObserver,
            );
        });
        let _ = tx.send(caught.is_err());
    });
    let panicked = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("train_epoch did not return after the observer panicked");
    assert!(panicked);
}

/// Helper check: the faults really are injected where the tests say (a fault-free stack
/// trains through both epochs, and each fault fires when it runs alone).
#[test]
fn faults_fire_only_where_injected() {
    let fine = faulty_stack(Rule::Dni, 0, Fault::SignalError, 1000);
    assert!(run_with_deadline(scheduler(false, 3, 2), fine, product_data(90, 1)).is_ok());
    let steps_of = |stages: &[Stage<f64>]| stages.iter().map(Stage::steps).collect::<Vec<_>>();
    let mut stages = faulty_stack(Rule::Local, 1, Fault::ForwardError, 1000);
    let plan = EpochPlan {
        batch_size: 16,
        seed: 2,
        epoch: 0,
    };
    Pipelined::default()
        .train_epoch(&mut stages, &product_data(90, 1), plan, &mut NoObserver)
        .unwrap();
    assert_eq!(steps_of(&stages), vec![6, 6, 6]);
}
