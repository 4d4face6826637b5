//! The `mpi` scheduler under `mpirun --oversubscribe` on this machine: with one batch in
//! flight it ends with Lockstep's parameters bit for bit on 2 and 3 ranks, one stage per
//! rank or several (DFA, local classifiers as in DGL, DNI); more ranks than stages are
//! refused; a stage that fails makes every rank stop with an error
//! naming the rank and the stage; a rank that dies ends the whole job, non-zero, in
//! bounded time.
//!
//! Each test runs itself again under `mpirun`: the parent starts the ranks (this test
//! binary, filtered to the one test, with `LOCUS_MPI_TEST_CHILD` set) and checks how
//! they ended; the ranks run the body. Without `mpirun` the tests say so and pass,
//! unless `LOCUS_REQUIRE_MPI` is set (CI sets it).

mod support;

use std::time::Duration;

use locus_core::{
    seeded_rng, Activation, Error as CoreError, LinearConfig, Loss, OptimizerConfig,
    Result as CoreResult, Sequential, SgdConfig,
};
use locus_data::{Dataset, DatasetShape};
use locus_objectives::{LocalObjective, LocalSignal, Mode, StageContext, SupervisedLoss};
use locus_sched::{
    AsyncConfig, EpochPlan, Error, Lockstep, Mpi, NoObserver, Scheduler, Stage, StageStats,
    StatsLog, WireBytes,
};
use support::{hidden, objective_metrics, product_data, stack, weights, Rule};

const CHILD: &str = "LOCUS_MPI_TEST_CHILD";

/// Runs `test` of this binary on `ranks` ranks; `None` (the test is skipped) when there
/// is no `mpirun`. Kills the job and fails past `deadline`, which only a hang needs.
/// Returns whether it succeeded and everything it printed.
fn mpirun(test: &str, ranks: usize, deadline: Duration) -> Option<(bool, String)> {
    let exe = std::env::current_exe().unwrap();
    let args: Vec<String> = [
        "-n",
        &ranks.to_string(),
        exe.to_str().unwrap(),
        "--exact",
        test,
        "--nocapture",
        "--test-threads=1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let what = format!("{test} on {ranks} ranks");
    let job = locus_testing::mpi_job::mpirun(&what, &args, &[(CHILD, "1")], deadline)?;
    Some((job.success, job.output()))
}

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn plan(epoch: u64) -> EpochPlan {
    EpochPlan {
        batch_size: 16,
        seed: 5,
        epoch,
    }
}

/// On every rank: each rule trained two epochs under Mpi with one batch in flight ends
/// with Lockstep's weights, objective state and losses. Only rank 0 gives the scheduler
/// the samples: the others train from the data set's description, which rank 0 sends
/// them ([`Mpi::share_from_rank0`]) and which has no sample to read.
fn like_lockstep(widths: &[usize]) {
    let data = product_data(90, 1);
    let mut mpi = Mpi::new(AsyncConfig::default().with_in_flight(1)).unwrap();
    let sent = match mpi.rank() {
        0 => serde_json::to_vec(&DatasetShape::of(&data)).unwrap(),
        _ => Vec::new(),
    };
    let shape: DatasetShape =
        serde_json::from_slice(&Mpi::share_from_rank0(sent).unwrap()).unwrap();
    assert_eq!(shape, DatasetShape::of(&data), "rank {}", mpi.rank());
    let held: &dyn Dataset = if mpi.rank() == 0 { &data } else { &shape };
    for rule in [Rule::DirectFeedback, Rule::Local, Rule::Dni] {
        let mut reference = stack(rule, widths, 3);
        let mut stages = stack(rule, widths, 3);
        for epoch in 0..2 {
            let expected = Lockstep
                .train_epoch(&mut reference, &data, plan(epoch), &mut NoObserver)
                .unwrap();
            let mut log = StatsLog::default();
            let got = mpi
                .train_epoch(&mut stages, held, plan(epoch), &mut log)
                .unwrap();
            if widths.len() == 1 {
                bytes_as_the_wire_format_says(rule, widths[0], log.last().unwrap());
            }
            assert_eq!(
                (got.loss, &got.stage_losses, got.samples),
                (expected.loss, &expected.stage_losses, expected.samples),
                "{rule:?}, epoch {epoch}, rank {}",
                mpi.rank()
            );
        }
        let rank = mpi.rank();
        assert_eq!(
            weights(&stages),
            weights(&reference),
            "{rule:?}, rank {rank}"
        );
        assert_eq!(
            objective_metrics(&stages),
            objective_metrics(&reference),
            "{rule:?}, rank {rank}"
        );
        println!("rank {rank}: {rule:?} matches lockstep");
        // Each line reaches mpirun's output as it is printed.
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
}

/// On two ranks (90 samples in batches of 16, f64, `8 → width → 3`): each rank sent the
/// bytes the wire format gives. A message is the magic and a kind (5 bytes) then its
/// fields; a tensor is 2 bytes, 8 per axis, then its values. Per batch of `b` samples,
/// rank 0 sends its activation up (batch id 8, label count 4, labels 8b, a 2-axis tensor
/// 18 + 8b·width, the network-input flag 1) and one end of epoch; rank 1 sends a credit
/// down for every batch, its step and the top loss to rank 0 (62 + 21 bytes), and under
/// DFA the output error (batch id 8, tensor 18 + 8b·3), under DNI the gradient (18 +
/// 8b·width) to train rank 0's gradient model; local classifiers send nothing down.
fn bytes_as_the_wire_format_says(rule: Rule, width: usize, stats: &[StageStats]) {
    let batches = [16, 16, 16, 16, 16, 10];
    let each = |per_batch: &dyn Fn(usize) -> usize| {
        batches.iter().map(|&b| per_batch(b) as u64).sum::<u64>()
    };
    let width = if rule == Rule::Local { 3 } else { width };
    let up = each(&|b| 5 + 8 + 4 + 8 * b + 18 + 8 * b * width + 1) + 5;
    let down = match rule {
        Rule::Dni => each(&|b| 5 + 8 + 18 + 8 * b * width),
        _ => 0,
    };
    let global = match rule {
        Rule::DirectFeedback => each(&|b| 5 + 8 + 18 + 8 * b * 3),
        _ => 0,
    };
    let n = batches.len() as u64;
    let expected = [
        WireBytes {
            activations: up,
            messages: n + 1,
            ..WireBytes::default()
        },
        WireBytes {
            gradients: down,
            global_errors: global,
            credits: 5 * n,
            reports: (62 + 21) * n,
            messages: n * (3 + u64::from(down > 0) + u64::from(global > 0)),
            activations: 0,
        },
    ];
    let got: Vec<WireBytes> = stats.iter().map(|s| s.wire.unwrap()).collect();
    assert_eq!(got, expected, "{rule:?}");
}

#[test]
fn two_ranks_with_one_batch_in_flight_are_lockstep() {
    if in_child() {
        return like_lockstep(&[12]);
    }
    let test = "two_ranks_with_one_batch_in_flight_are_lockstep";
    if let Some((ok, output)) = mpirun(test, 2, Duration::from_secs(120)) {
        assert!(ok, "{output}");
        assert_eq!(output.matches("matches lockstep").count(), 6, "{output}");
    }
}

#[test]
fn three_ranks_with_one_batch_in_flight_are_lockstep() {
    if in_child() {
        return like_lockstep(&[12, 10]);
    }
    let test = "three_ranks_with_one_batch_in_flight_are_lockstep";
    if let Some((ok, output)) = mpirun(test, 3, Duration::from_secs(120)) {
        assert!(ok, "{output}");
        assert_eq!(output.matches("matches lockstep").count(), 9, "{output}");
    }
}

#[test]
fn three_stages_on_two_ranks_are_lockstep() {
    // Rank 0 runs stages 0 and 1, handing each other their messages; rank 1 stage 2.
    if in_child() {
        return like_lockstep(&[12, 10]);
    }
    let test = "three_stages_on_two_ranks_are_lockstep";
    if let Some((ok, output)) = mpirun(test, 2, Duration::from_secs(120)) {
        assert!(ok, "{output}");
        assert_eq!(output.matches("matches lockstep").count(), 6, "{output}");
    }
}

#[test]
fn four_stages_on_two_ranks_are_lockstep() {
    // Two stages on each rank: DFA's error reaches rank 0's two stages in one message.
    if in_child() {
        return like_lockstep(&[12, 10, 8]);
    }
    let test = "four_stages_on_two_ranks_are_lockstep";
    if let Some((ok, output)) = mpirun(test, 2, Duration::from_secs(120)) {
        assert!(ok, "{output}");
        assert_eq!(output.matches("matches lockstep").count(), 6, "{output}");
    }
}

#[test]
fn more_ranks_than_stages_are_refused() {
    if in_child() {
        let mut mpi = Mpi::new(AsyncConfig::default()).unwrap();
        let mut stages = stack(Rule::DirectFeedback, &[12], 3);
        let e = mpi
            .train_epoch(&mut stages, &product_data(20, 1), plan(0), &mut NoObserver)
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 stages but the run has 3 ranks"), "{e}");
        println!("refused: {e}");
        return;
    }
    if let Some((ok, output)) = mpirun(
        "more_ranks_than_stages_are_refused",
        3,
        Duration::from_secs(60),
    ) {
        assert!(ok, "{output}");
        assert_eq!(output.matches("refused: ").count(), 3, "{output}");
    }
}

/// What the faulty stage does at its step `at`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    /// Its signal returns an error.
    Error,
    /// Its process dies at once, as if killed.
    Die,
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
                Fault::Error => return Err(CoreError::invalid("injected fault", "none", self.at)),
                Fault::Die => std::process::abort(),
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
}

/// Three DFA stages, the middle one (`stage2`, rank 1) faulty at its step 3.
fn faulty_stack(fault: Fault) -> Vec<Stage<f64>> {
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
            let mut objective: Box<dyn LocalObjective<f64>> = if i == 2 {
                Box::new(SupervisedLoss::new(Loss::SoftmaxCrossEntropy))
            } else {
                hidden(Rule::DirectFeedback, i)
            };
            if i == 1 {
                objective = Box::new(FailAt {
                    inner: objective,
                    at: 3,
                    fault,
                });
            }
            let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.05)).build().unwrap();
            Stage::new(
                format!("stage{}", i + 1),
                Box::new(layer),
                objective,
                optimizer,
            )
        })
        .collect()
}

/// Runs the faulty stack for two epochs on this rank; returns the error.
fn run_faulty(fault: Fault) -> (usize, Error) {
    let mut mpi = Mpi::new(AsyncConfig::default()).unwrap();
    let mut stages = faulty_stack(fault);
    let data = product_data(90, 1);
    for epoch in 0..2 {
        if let Err(e) = mpi.train_epoch(&mut stages, &data, plan(epoch), &mut NoObserver) {
            return (mpi.rank(), e);
        }
    }
    panic!("rank {}: the faulty run did not fail", mpi.rank());
}

#[test]
fn a_failing_stage_stops_every_rank_with_its_rank_and_name() {
    if in_child() {
        let (rank, e) = run_faulty(Fault::Error);
        let text = e.to_string();
        if rank == 1 {
            assert!(matches!(e, Error::StageFailed { .. }), "{text}");
            assert!(text.contains("stage 'stage2' failed at step 3"), "{text}");
        } else {
            assert!(matches!(e, Error::RankFailed { rank: 1, .. }), "{text}");
            assert!(text.contains("rank 1 (stage 'stage2') failed"), "{text}");
            assert!(text.contains("injected fault"), "{text}");
        }
        println!("rank {rank} stopped: {text}");
        return;
    }
    let test = "a_failing_stage_stops_every_rank_with_its_rank_and_name";
    if let Some((ok, output)) = mpirun(test, 3, Duration::from_secs(60)) {
        assert!(ok, "{output}");
        assert_eq!(output.matches(" stopped: ").count(), 3, "{output}");
    }
}

#[test]
fn a_rank_that_dies_ends_the_job_in_bounded_time() {
    if in_child() {
        let (rank, e) = run_faulty(Fault::Die);
        panic!("rank {rank} returned instead of being ended: {e}");
    }
    let test = "a_rank_that_dies_ends_the_job_in_bounded_time";
    if let Some((ok, output)) = mpirun(test, 3, Duration::from_secs(60)) {
        assert!(!ok, "the job succeeded although rank 1 died:\n{output}");
        assert!(
            output.contains("rank 1"),
            "mpirun does not name the rank:\n{output}"
        );
        assert!(!output.contains("returned instead"), "{output}");
    }
}
