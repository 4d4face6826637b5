//! Every scheduler hands the network input — the data batch the first stage received — to
//! the stages whose objective needs it, and to no other: each test trains a stack of
//! recording objectives and checks, batch by batch, that what a stage saw are the rows of
//! the data set the epoch's shuffle put in that batch, in order, with their labels.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use locus_core::{Error as CoreError, OptimizerConfig, Result, SgdConfig, Tensor};
use locus_data::forward_forward::{LabelEmbedding, LabelPlacement, NegativeData};
use locus_data::{epoch_batches, Dataset, InMemoryDataset};
use locus_models::MlpConfig;
use locus_objectives::{LocalObjective, LocalSignal, Mode, StageContext};
use locus_sched::{
    predict, AsyncConfig, EpochPlan, EpochReport, FeatureSource, ForwardForwardTrainer,
    ForwardUnlocked, Greedy, GreedyConfig, GreedyLayerWise, Lockstep, NoObserver, Pipelined,
    Scheduler, Simulated, SimulatedConfig, Stage, StageBudget, StageTime, SyntheticInputConfig,
};
use support::{product_data, weights};

/// What one stage's objective saw in one learning step.
#[derive(Debug, Clone)]
struct Seen {
    stage: usize,
    input: Tensor<f64>,
    network_input: Option<Tensor<f64>>,
    labels: Vec<usize>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// An objective that records its context. One that needs the network input learns from
/// `Σ_ij h_ij·x_i,(j mod d) / b` (`x` the network input flattened to `d` columns), so the
/// weights depend on it; one that does not, from `½‖h‖²/b`.
struct Recorder {
    stage: usize,
    needs: bool,
    log: Log,
}

impl LocalObjective<f64> for Recorder {
    fn name(&self) -> String {
        format!("recorder (needs the network input: {})", self.needs)
    }

    fn signal(&mut self, ctx: &StageContext<'_, f64>, mode: Mode) -> Result<LocalSignal<f64>> {
        if mode == Mode::Learn {
            self.log.lock().unwrap().push(Seen {
                stage: self.stage,
                input: ctx.input.clone(),
                network_input: ctx.network_input.cloned(),
                labels: ctx.labels.unwrap_or_default().to_vec(),
            });
        }
        let h = ctx.output;
        let b = h.shape()[0] as f64;
        let grad_output = if self.needs {
            let x = ctx.required_network_input("recorder")?;
            let d = x.len() / x.shape()[0];
            let flat = x
                .to_shape((x.shape()[0], d))
                .map_err(|_| CoreError::shape("recorder network input", "[b, …]", x.shape()))?;
            Tensor::from_shape_fn(h.shape(), |i| flat[[i[0], i[1] % d]] / b)
        } else {
            h.mapv(|v| v / b)
        };
        let loss = if self.needs {
            (h * &grad_output).sum()
        } else {
            0.5 * (h * &grad_output).sum()
        };
        Ok(LocalSignal { loss, grad_output })
    }

    fn needs_network_input(&self) -> bool {
        self.needs
    }
}

/// A tanh MLP `width → 6 → 5 → 4` of recorders; stage `i` needs the network input when
/// `needs[i]`.
fn recorders(width: usize, needs: [bool; 3], log: &Log, seed: u64) -> Vec<Stage<f64>> {
    let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.05).with_momentum(0.9));
    MlpConfig::new(vec![width, 6, 5, 4])
        .build::<f64>(seed, &optimizer, |i, _| {
            Box::new(Recorder {
                stage: i,
                needs: needs[i],
                log: log.clone(),
            })
        })
        .unwrap()
}

/// Stage 0 needs nothing, the two above it need the network input: it must travel past a
/// stage that does not keep it.
const ABOVE_THE_FIRST: [bool; 3] = [false, true, true];

fn plan(epoch: u64) -> EpochPlan {
    EpochPlan {
        batch_size: 16,
        seed: 7,
        epoch,
    }
}

fn train(
    scheduler: &mut dyn Scheduler<f64>,
    stages: &mut [Stage<f64>],
    data: &dyn Dataset,
    epochs: u64,
) -> Vec<EpochReport> {
    (0..epochs)
        .map(|epoch| {
            scheduler
                .train_epoch(stages, data, plan(epoch), &mut NoObserver)
                .unwrap()
        })
        .collect()
}

/// The data set's rows, to find which sample a row of a network input is.
struct Samples {
    index: HashMap<Vec<u64>, usize>,
    labels: Vec<usize>,
}

impl Samples {
    fn of(data: &InMemoryDataset) -> Self {
        let width = data.features_all().len() / data.len();
        let index = data
            .features_all()
            .chunks(width)
            .enumerate()
            .map(|(i, row)| (row.iter().map(|&v| f64::from(v).to_bits()).collect(), i))
            .collect();
        let labels = (0..data.len()).map(|i| data.label(i).unwrap()).collect();
        Samples { index, labels }
    }

    /// The sample index of every row of `x`, and that its labels are `labels`.
    fn rows_of(&self, x: &Tensor<f64>, labels: &[usize]) -> Vec<usize> {
        let b = x.shape()[0];
        let flat = x.to_shape((b, x.len() / b)).unwrap();
        let rows: Vec<usize> = flat
            .rows()
            .into_iter()
            .map(|row| {
                let key: Vec<u64> = row.iter().map(|v| v.to_bits()).collect();
                *self
                    .index
                    .get(&key)
                    .expect("a row of the network input is not a sample of the data set")
            })
            .collect();
        let expected: Vec<usize> = rows.iter().map(|&i| self.labels[i]).collect();
        assert_eq!(
            labels, expected,
            "labels do not line up with the network input"
        );
        rows
    }
}

/// Checks what `stage` saw in `epochs` epochs: with `needs`, the data set's rows of every
/// batch of the epoch's shuffle, in order (`learns(epoch)`: whether it learned in that
/// epoch); without, nothing.
fn assert_saw_the_batches(
    log: &[Seen],
    data: &InMemoryDataset,
    stage: usize,
    needs: bool,
    learns: impl Fn(u64) -> bool,
    epochs: u64,
) {
    let seen: Vec<&Seen> = log.iter().filter(|s| s.stage == stage).collect();
    if !needs {
        assert!(
            seen.iter().all(|s| s.network_input.is_none()),
            "stage {stage} does not need the network input but got it"
        );
        return;
    }
    let expected: Vec<Vec<usize>> = (0..epochs)
        .filter(|&e| learns(e))
        .flat_map(|e| epoch_batches(data.len(), 16, 7, e).unwrap())
        .collect();
    let samples = Samples::of(data);
    let got: Vec<Vec<usize>> = seen
        .iter()
        .map(|s| {
            let x = s
                .network_input
                .as_ref()
                .unwrap_or_else(|| panic!("stage {stage} got no network input"));
            assert_eq!(x.shape()[0], s.input.shape()[0], "stage {stage}");
            samples.rows_of(x, &s.labels)
        })
        .collect();
    assert_eq!(
        got, expected,
        "stage {stage}: the batches of its network input"
    );
}

/// Trains the recorder stack under `scheduler` for two epochs and checks every stage.
fn assert_every_stage_saw_its_batches(scheduler: &mut dyn Scheduler<f64>) -> Vec<Stage<f64>> {
    let data = product_data(70, 3);
    let log = Log::default();
    let mut stages = recorders(8, ABOVE_THE_FIRST, &log, 1);
    train(scheduler, &mut stages, &data, 2);
    let log = log.lock().unwrap();
    for (stage, needs) in ABOVE_THE_FIRST.into_iter().enumerate() {
        assert_saw_the_batches(&log, &data, stage, needs, |_| true, 2);
    }
    stages
}

#[test]
fn lockstep_supplies_the_network_input() {
    assert_every_stage_saw_its_batches(&mut Lockstep);
}

#[test]
fn forward_unlocked_supplies_the_data_not_the_synthetic_inputs() {
    let mut scheduler = ForwardUnlocked::new(SyntheticInputConfig::new(4)).unwrap();
    assert_every_stage_saw_its_batches(&mut scheduler);
}

#[test]
fn pipelined_supplies_the_network_input_with_one_batch_in_flight_or_more() {
    for in_flight in [1, 3] {
        let config = AsyncConfig::default()
            .with_in_flight(in_flight)
            .with_capacity(2);
        assert_every_stage_saw_its_batches(&mut Pipelined::new(config).unwrap());
    }
}

#[test]
fn simulated_supplies_the_network_input_whatever_the_delays() {
    for in_flight in [1, 3] {
        let config = SimulatedConfig::default()
            .with_flow(AsyncConfig::default().with_in_flight(in_flight))
            .with_link_delay(1.5)
            .with_stage_times(vec![
                StageTime::dense(2.0),
                StageTime::dense(0.5),
                StageTime::dense(1.0),
            ]);
        assert_every_stage_saw_its_batches(&mut Simulated::new(config).unwrap());
    }
}

/// With one batch in flight the asynchronous schedulers are Lockstep bit for bit, for a
/// stack that learns from the network input too.
#[test]
fn one_batch_in_flight_is_lockstep_with_the_network_input() {
    let data = product_data(70, 3);
    let run = |scheduler: &mut dyn Scheduler<f64>| {
        let log = Log::default();
        let mut stages = recorders(8, ABOVE_THE_FIRST, &log, 5);
        let reports = train(scheduler, &mut stages, &data, 2);
        let losses: Vec<_> = reports
            .iter()
            .map(|r| (r.loss, r.stage_losses.clone()))
            .collect();
        (weights(&stages), losses)
    };
    let expected = run(&mut Lockstep);
    let one = AsyncConfig::default().with_in_flight(1);
    for capacity in [1, 3] {
        let mut pipelined = Pipelined::new(one.clone().with_capacity(capacity)).unwrap();
        assert_eq!(
            run(&mut pipelined),
            expected,
            "pipelined, capacity {capacity}"
        );
    }
    let config = SimulatedConfig::default()
        .with_flow(one)
        .with_link_delay(2.0);
    assert_eq!(run(&mut Simulated::new(config).unwrap()), expected);
    // The network input does reach the weights: learning from the stage input instead
    // would give others.
    let log = Log::default();
    let mut own_input = recorders(8, [false; 3], &log, 5);
    train(&mut Lockstep, &mut own_input, &data, 2);
    assert_ne!(weights(&own_input), expected.0);
}

/// Greedy layer-wise: the active stage gets the data batch whether the frozen stages run
/// on every batch or their outputs come from a cache (which holds no data: the samples
/// are gathered again by index).
#[test]
fn greedy_layer_wise_supplies_the_data_with_and_without_cached_inputs() {
    let data = product_data(70, 3);
    let needs = [true, true, true];
    let mut trained = Vec::new();
    for cached in [false, true] {
        let log = Log::default();
        let mut stages = recorders(8, needs, &log, 2);
        let mut scheduler = GreedyLayerWise::new(StageBudget::Each(1)).unwrap();
        if cached {
            scheduler = scheduler.with_cached_inputs(32).unwrap();
        }
        train(&mut scheduler, &mut stages, &data, 4);
        let log = log.lock().unwrap();
        for stage in 0..3 {
            // Stage k learns in epoch k; the top also in every epoch after.
            let learns = |epoch: u64| epoch == stage as u64 || (stage == 2 && epoch > 2);
            assert_saw_the_batches(&log, &data, stage, true, learns, 4);
        }
        // With the cache, stage 2 trains on inputs stored in f32; without, on f64 ones.
        let in_f32 = log
            .iter()
            .filter(|s| s.stage == 2)
            .all(|s| s.input.iter().all(|&v| f64::from(v as f32) == v));
        assert_eq!(in_f32, cached);
        assert_eq!(scheduler.largest_cache_bytes() > 0, cached);
        trained.push(weights(&stages));
    }
    // Up to the f32 rounding of the cached inputs, the same training.
    for (a, b) in trained[0].iter().zip(&trained[1]) {
        let gap = (a - b).iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(gap < 1e-5, "cached and recomputed inputs differ by {gap}");
    }
}

/// The phased greedy trainer: each stage in training gets the data batch, whether the
/// frozen stages' features are cached or recomputed, lined up with its own input (the
/// frozen stages' output on exactly those samples).
#[test]
fn greedy_phases_supply_the_data_with_cached_and_streamed_features() {
    let data = product_data(70, 3);
    let samples = Samples::of(&data);
    for features in [FeatureSource::Cache, FeatureSource::Stream] {
        let log = Log::default();
        let mut stages = recorders(8, [true; 3], &log, 4);
        let optimizer = OptimizerConfig::Sgd(SgdConfig::new(0.05));
        let config = GreedyConfig {
            batch_size: 16,
            features,
            ..GreedyConfig::new(1, optimizer)
        };
        let mut greedy = Greedy::new(config).unwrap();
        for epoch in 0..greedy.epochs(stages.len()) {
            let plan = EpochPlan {
                batch_size: 16,
                seed: 0,
                epoch,
            };
            greedy
                .train_epoch(&mut stages, &data, plan, &mut NoObserver)
                .unwrap();
        }
        let log = log.lock().unwrap();
        for stage in 0..3 {
            let mut seen_rows = Vec::new();
            for seen in log.iter().filter(|s| s.stage == stage) {
                let x = seen.network_input.as_ref().expect("a network input");
                seen_rows.extend(samples.rows_of(x, &seen.labels));
                // Each stage trains after the ones below it, which stay frozen after.
                let below = predict(&stages[..stage], x).unwrap();
                let gap = (&below - &seen.input)
                    .iter()
                    .fold(0.0f64, |m, v| m.max(v.abs()));
                assert!(
                    gap < 1e-12,
                    "{features:?}, stage {stage}: input off by {gap}"
                );
            }
            seen_rows.sort_unstable();
            assert_eq!(seen_rows, (0..70).collect::<Vec<_>>(), "{features:?}");
        }
    }
}

/// Forward-Forward: the network input is the positive-and-negative batch the first stage
/// runs on, with the label written into each sample.
#[test]
fn the_forward_forward_trainer_supplies_its_positive_and_negative_batch() {
    let data = product_data(40, 3);
    let log = Log::default();
    let mut stages = recorders(11, ABOVE_THE_FIRST, &log, 3);
    let embedding = LabelEmbedding::new(LabelPlacement::Prepend, 3).unwrap();
    let mut trainer = ForwardForwardTrainer::new(NegativeData::WrongLabel(embedding));
    train(&mut trainer, &mut stages, &data, 2);
    let log = log.lock().unwrap();
    // Lockstep order: every batch gives the stages' records top-down.
    assert_eq!(log.len() % 3, 0);
    for batch in log.chunks(3) {
        let stages: Vec<usize> = batch.iter().map(|s| s.stage).collect();
        assert_eq!(stages, [2, 1, 0]);
        assert!(batch[2].network_input.is_none(), "stage 0 needs nothing");
        let data_rows = &batch[2].input;
        assert_eq!(data_rows.shape()[1], 11, "the label is prepended");
        for seen in &batch[..2] {
            assert_eq!(seen.network_input.as_ref(), Some(data_rows));
            assert_eq!(seen.labels, batch[2].labels);
        }
    }
}

/// A stage that needs the network input and does not get it is refused, naming the stage
/// and the need, not left to fail inside its objective.
#[test]
fn a_stage_without_its_network_input_is_refused_by_name() {
    let log = Log::default();
    let mut stages = recorders(8, ABOVE_THE_FIRST, &log, 0);
    let x = Tensor::<f64>::zeros(vec![4, 8]);
    let (h0, _) = stages[0].forward(&x).unwrap();
    let (h1, cache) = stages[1].forward(&h0).unwrap();
    let signals = locus_sched::Signals {
        labels: Some(&[0, 1, 2, 0]),
        ..Default::default()
    };
    let e = stages[1]
        .learn(&h0, &h1, &cache, signals, false)
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, locus_sched::Error::Config(_)), "{text}");
    assert!(
        text.contains("stage2") && text.contains("needs the network input"),
        "{text}"
    );
    assert_eq!(stages[1].steps(), 0, "nothing was learned");
}
