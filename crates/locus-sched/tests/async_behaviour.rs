//! What the asynchronous schedulers measure and bound: staleness, batches held, replay
//! buffers, and what observers are told.

mod support;

use locus_sched::{
    AsyncConfig, EpochPlan, Error, Lockstep, Observer, Pipelined, ReplayConfig, Scheduler,
    Simulated, SimulatedConfig, Stage, StageStats, StageStep, StageTime, StatsLog, StepInfo,
    StepKind, StepLog,
};
use support::{product_data, stack, Rule, RULES};

const BATCHES: usize = 12; // 190 samples in batches of 16

fn epoch(
    scheduler: &mut dyn Scheduler<f64>,
    stages: &mut [Stage<f64>],
    observer: &mut dyn Observer,
) -> Result<(), Error> {
    let plan = EpochPlan {
        batch_size: 16,
        seed: 4,
        epoch: 0,
    };
    scheduler
        .train_epoch(stages, &product_data(190, 1), plan, observer)
        .map(|_| ())
}

fn stats_of(scheduler: &mut dyn Scheduler<f64>, rule: Rule) -> Vec<StageStats> {
    let mut stages = stack(rule, &[12, 10], 3);
    let mut log = StatsLog::default();
    epoch(scheduler, &mut stages, &mut log).unwrap();
    log.last().unwrap().to_vec()
}

/// [`stats_of`] over an epoch of 63 batches.
fn long_stats(scheduler: &mut dyn Scheduler<f64>, rule: Rule) -> Vec<StageStats> {
    let mut stages = stack(rule, &[12, 10], 3);
    let mut log = StatsLog::default();
    let plan = EpochPlan {
        batch_size: 16,
        seed: 4,
        epoch: 0,
    };
    scheduler
        .train_epoch(&mut stages, &product_data(1000, 1), plan, &mut log)
        .unwrap();
    log.last().unwrap().to_vec()
}

fn simulated(in_flight: usize, delay: f64) -> Simulated {
    simulated_with(in_flight, 2, delay)
}

fn simulated_with(in_flight: usize, capacity: usize, delay: f64) -> Simulated {
    Simulated::new(
        SimulatedConfig::default()
            .with_flow(
                AsyncConfig::default()
                    .with_in_flight(in_flight)
                    .with_capacity(capacity),
            )
            .with_link_delay(delay)
            .with_broadcast_delay(delay),
    )
    .unwrap()
}

#[test]
fn staleness_and_memory_stay_within_the_batches_in_flight() {
    for rule in RULES {
        for in_flight in [1, 2, 5] {
            let flow = AsyncConfig::default().with_in_flight(in_flight);
            let mut schedulers: Vec<Box<dyn Scheduler<f64>>> = vec![
                Box::new(Pipelined::new(flow.clone()).unwrap()),
                Box::new(simulated(in_flight, 3.0)),
            ];
            for scheduler in &mut schedulers {
                for s in stats_of(scheduler.as_mut(), rule) {
                    let what = format!("{rule:?}, {} in flight: {s:?}", in_flight);
                    assert_eq!(s.updates, BATCHES as u64, "{what}");
                    assert!(s.staleness_max < in_flight as u64, "{what}");
                    assert!(s.peak_in_flight <= in_flight, "{what}");
                    assert!(s.staleness_mean <= s.staleness_max as f64, "{what}");
                    assert!((0.0..=1.0).contains(&s.busy_fraction()), "{what}");
                }
            }
        }
    }
}

/// Under the simulated clock, longer links make the global error (DFA) and the gradient
/// (backprop) come back later, so stages learn from older forward passes, until the
/// batches in flight cap it. Update-unlocked stages (DNI) never wait: their updates are
/// fresh, and only their gradient model's targets age.
///
/// The channels must be wide enough for the delay and the epoch long enough to reach a
/// steady state: credits travel the links too, so a link carries at most `capacity`
/// batches per round trip (with a capacity of 2 the staleness of DFA's bottom stage stayed
/// near 3 at delays 0, 2 and 8), and the batches in flight cap the staleness (with 8 it
/// stopped growing from delay 1 on, at 6.6 for DFA).
#[test]
fn simulated_staleness_grows_with_the_delay() {
    let in_flight = 16;
    for rule in [Rule::DirectFeedback, Rule::Backprop, Rule::Dni] {
        let bottom = |delay| long_stats(&mut simulated_with(in_flight, 32, delay), rule)[0].clone();
        let (none, some, long) = (bottom(0.0), bottom(1.0), bottom(3.0));
        if rule == Rule::Dni {
            for s in [&none, &some, &long] {
                assert_eq!(s.staleness_max, 0, "{s:?}");
            }
            let age = |s: &StageStats| s.message_staleness_mean.unwrap();
            assert!(
                age(&none) < age(&some) && age(&some) < age(&long),
                "{rule:?}"
            );
        } else {
            assert!(
                none.staleness_mean < some.staleness_mean
                    && some.staleness_mean < long.staleness_mean,
                "{rule:?}: {} {} {}",
                none.staleness_mean,
                some.staleness_mean,
                long.staleness_mean
            );
            assert!(long.staleness_max < in_flight as u64);
        }
    }
}

/// A link slower than the stages limits the simulated pipeline: the bottom stage's link
/// carries one activation after another, so the epoch lasts at least their bytes over the
/// bandwidth; the messages' timing never changes what is learnt at one batch in flight.
#[test]
fn a_slow_link_limits_the_simulated_pipeline() {
    let run = |bandwidth: Option<f64>, in_flight: usize| {
        let flow = AsyncConfig::default().with_in_flight(in_flight);
        let mut config = SimulatedConfig::default().with_flow(flow);
        if let Some(b) = bandwidth {
            config = config.with_link_bandwidth(b);
        }
        let mut stages = stack(Rule::DirectFeedback, &[12, 10], 3);
        let mut log = StatsLog::default();
        epoch(&mut Simulated::new(config).unwrap(), &mut stages, &mut log).unwrap();
        (log.last().unwrap()[0].elapsed, support::weights(&stages))
    };
    // A batch of 16 × 12 f64 activations (with labels and headers) is over 1,600 bytes:
    // over 100 time units at 16 bytes per unit, against 3 units of compute per stage.
    let (slow, _) = run(Some(16.0), 4);
    let (fast, _) = run(None, 4);
    assert!(slow > (BATCHES - 1) as f64 * 100.0, "{slow}");
    assert!(fast < 100.0, "{fast}");
    let mut lockstep = stack(Rule::DirectFeedback, &[12, 10], 3);
    epoch(&mut Lockstep, &mut lockstep, &mut locus_sched::NoObserver).unwrap();
    assert_eq!(run(Some(16.0), 1).1, support::weights(&lockstep));
    let e = Simulated::new(SimulatedConfig::default().with_link_bandwidth(0.0)).unwrap_err();
    assert!(e.to_string().contains("link bandwidth"), "{e}");
}

/// With every stage equally fast and no delays, the simulated stages overlap: each is busy
/// most of the time, which a sequential schedule cannot do.
#[test]
fn simulated_stages_overlap() {
    let stats = stats_of(&mut simulated(4, 0.0), Rule::DirectFeedback);
    let total: f64 = stats.iter().map(StageStats::busy_fraction).sum();
    assert!(total > 1.5, "{stats:?}");
    assert!(stats.iter().all(|s| s.virtual_time));
    // Lockstep runs one stage at a time: its busy fractions add up to at most 1.
    let stats = stats_of(&mut Lockstep, Rule::DirectFeedback);
    let total: f64 = stats.iter().map(StageStats::busy_fraction).sum();
    assert!(total <= 1.0 && total > 0.0, "{stats:?}");
    assert!(stats
        .iter()
        .all(|s| s.staleness_max == 0 && !s.virtual_time));
}

/// Counts what an observer is told.
#[derive(Default)]
struct Counter {
    steps: Vec<StepInfo>,
    stage_steps: StepLog,
    epochs: usize,
}

impl Observer for Counter {
    fn on_step(&mut self, info: &StepInfo) {
        self.steps.push(*info);
    }
    fn on_stage_step(&mut self, info: &StageStep) {
        self.stage_steps.on_stage_step(info);
    }
    fn on_epoch_end(&mut self, info: &locus_sched::EpochEnd<'_>) {
        self.epochs += 1;
        assert_eq!(info.stages.len(), 3);
        let mut params = 0;
        info.params.visit_params(&mut |_| params += 1);
        assert_eq!(params, 6, "a weight and a bias per stage");
    }
}

#[test]
fn every_scheduler_tells_observers_the_same_things() {
    for rule in [Rule::Backprop, Rule::DirectFeedback, Rule::Dni] {
        let mut schedulers: Vec<(&str, Box<dyn Scheduler<f64>>)> = vec![
            ("lockstep", Box::new(Lockstep)),
            ("pipelined", Box::new(Pipelined::default())),
            ("simulated", Box::new(simulated(3, 1.0))),
        ];
        for (name, scheduler) in &mut schedulers {
            let mut stages = stack(rule, &[12, 10], 3);
            let mut counter = Counter::default();
            epoch(scheduler.as_mut(), &mut stages, &mut counter).unwrap();
            let what = format!("{rule:?} under {name}");
            assert_eq!(counter.epochs, 1, "{what}");
            let batches: Vec<usize> = counter.steps.iter().map(|s| s.batch).collect();
            assert_eq!(batches, (0..BATCHES).collect::<Vec<_>>(), "{what}");
            assert!(counter
                .steps
                .iter()
                .all(|s| s.batches == BATCHES && s.loss > 0.0));
            let steps = &counter.stage_steps.steps;
            for stage in 0..3 {
                let updates: Vec<u64> = steps
                    .iter()
                    .filter(|s| s.stage == stage && s.kind == StepKind::Update)
                    .map(|s| s.step)
                    .collect();
                assert_eq!(updates, (0..BATCHES as u64).collect::<Vec<_>>(), "{what}");
            }
            // Late messages reach the update-unlocked stages, one per batch, under the
            // asynchronous schedulers; Lockstep delivers the message with the update.
            let late = steps
                .iter()
                .filter(|s| s.kind == StepKind::LateMessage)
                .count();
            let expected = if rule == Rule::Dni && *name != "lockstep" {
                2 * BATCHES
            } else {
                0
            };
            assert_eq!(late, expected, "{what}");
        }
    }
}

fn replay_flow(batches: usize) -> AsyncConfig {
    AsyncConfig::default()
        .with_in_flight(2)
        .with_replay(batches, 7)
}

#[test]
fn replay_buffers_sit_above_stages_that_learn_locally() {
    // Every stage of the local stack but the first draws from a buffer.
    let slow_middle = SimulatedConfig::default()
        .with_flow(replay_flow(2))
        .with_stage_times(vec![
            StageTime::dense(1.0),
            StageTime::dense(4.0),
            StageTime::dense(1.0),
        ]);
    let run = || {
        let mut stages = stack(Rule::Local, &[3, 3], 3);
        let mut log = StatsLog::default();
        epoch(
            &mut Simulated::new(slow_middle.clone()).unwrap(),
            &mut stages,
            &mut log,
        )
        .unwrap();
        (log.last().unwrap().to_vec(), support::weights(&stages))
    };
    let (stats, weights) = run();
    assert_eq!(run().1, weights, "replay draws are seeded");
    for s in &stats {
        assert_eq!(s.updates, BATCHES as u64, "{s:?}");
    }
    assert_eq!(stats[0].replay_unused, 0, "the first stage has no buffer");
    // The slow middle stage cannot keep up with the first: most of what it receives is
    // evicted before it is drawn. The fast top stage draws some of its inputs twice and
    // others never.
    assert!(
        stats[1].replay_unused > BATCHES as u64 / 2,
        "{:?}",
        stats[1]
    );
    assert_eq!(stats[1].inputs, BATCHES as u64);
    assert!(stats[2].replay_unused > 0, "{:?}", stats[2]);
    // The same buffers under threads: every stage still makes one update per batch.
    let mut stages = stack(Rule::Local, &[3, 3], 3);
    let mut log = StatsLog::default();
    epoch(
        &mut Pipelined::new(replay_flow(2)).unwrap(),
        &mut stages,
        &mut log,
    )
    .unwrap();
    assert!(log
        .last()
        .unwrap()
        .iter()
        .all(|s| s.updates == BATCHES as u64));
}

#[test]
fn replay_buffers_are_refused_where_batches_must_come_back() {
    let err = |flow: AsyncConfig, rule: Rule| {
        let mut stages = stack(rule, &[12, 10], 3);
        let e = epoch(
            &mut Pipelined::new(flow.clone()).unwrap(),
            &mut stages,
            &mut locus_sched::NoObserver,
        )
        .unwrap_err();
        let sim = epoch(
            &mut Simulated::new(SimulatedConfig::default().with_flow(flow)).unwrap(),
            &mut stages,
            &mut locus_sched::NoObserver,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), sim.to_string());
        e.to_string()
    };
    for rule in [Rule::Backprop, Rule::DirectFeedback, Rule::Dni] {
        let e = err(replay_flow(2), rule);
        assert!(
            e.contains("no stage can have one") && e.contains("stage1"),
            "{e}"
        );
    }
    let at = |stages: Vec<usize>| AsyncConfig {
        replay: Some(ReplayConfig {
            batches: 2,
            stages: Some(stages),
            seed: 0,
        }),
        ..AsyncConfig::default()
    };
    let e = err(at(vec![0]), Rule::Local);
    assert!(e.contains("first stage"), "{e}");
    let e = err(at(vec![5]), Rule::Local);
    assert!(e.contains("index 5"), "{e}");
    let e = err(at(vec![2]), Rule::DirectFeedback);
    assert!(e.contains("stage3") && e.contains("stage1"), "{e}");
}

#[test]
fn bad_configurations_are_named() {
    let bad = |flow: AsyncConfig| Pipelined::new(flow).unwrap_err().to_string();
    assert!(bad(AsyncConfig::default().with_capacity(0)).contains("capacity"));
    assert!(bad(AsyncConfig::default().with_in_flight(0)).contains("in flight"));
    assert!(bad(AsyncConfig::default().with_replay(0, 0)).contains("replay buffer size"));
    let bad = |config: SimulatedConfig| Simulated::new(config).unwrap_err().to_string();
    let e = bad(SimulatedConfig::default().with_link_delay(-1.0));
    assert!(e.contains("link delay") && e.contains("-1"), "{e}");
    let e = bad(SimulatedConfig::default().with_broadcast_delay(f64::NAN));
    assert!(e.contains("broadcast delay") && e.contains("NaN"), "{e}");
    let e = bad(SimulatedConfig::default().with_stage_times(vec![StageTime::dense(-2.0)]));
    assert!(e.contains("forward time"), "{e}");
    let e = bad(SimulatedConfig::default().with_stage_times(vec![]));
    assert!(e.contains("empty"), "{e}");
    // Two entries for three stages: named when the stages are known.
    let mut two = Simulated::new(
        SimulatedConfig::default()
            .with_stage_times(vec![StageTime::dense(1.0), StageTime::dense(2.0)]),
    )
    .unwrap();
    let mut stages = stack(Rule::Backprop, &[12, 10], 3);
    let e = epoch(&mut two, &mut stages, &mut locus_sched::NoObserver).unwrap_err();
    assert!(e.to_string().contains("2 entries for 3 stages"), "{e}");
}

#[test]
fn a_top_stage_that_waits_is_refused() {
    for rule in [Rule::Backprop, Rule::DirectFeedback] {
        // Give the top stage a hidden objective: there is nothing above it.
        let mut stages = locus_models::MlpConfig::new(vec![8, 5, 3])
            .build::<f64>(
                0,
                &locus_core::OptimizerConfig::Sgd(locus_core::SgdConfig::new(0.1)),
                |i, _| support::hidden(rule, i),
            )
            .unwrap();
        for scheduler in [
            &mut Pipelined::default() as &mut dyn Scheduler<f64>,
            &mut Simulated::default(),
        ] {
            let e = epoch(scheduler, &mut stages, &mut locus_sched::NoObserver).unwrap_err();
            assert!(
                e.to_string().contains("top stage 'stage2'"),
                "{rule:?}: {e}"
            );
        }
    }
}
