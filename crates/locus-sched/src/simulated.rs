//! The simulated scheduler: the pipelined protocol on a virtual clock, one thread,
//! reproducible bit for bit.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use locus_core::Float;
use locus_data::{epoch_batches, gather, Dataset};
use serde::{Deserialize, Serialize};

use crate::actor::{
    feeds_network_input, roles, Activation, ActorSettings, Inbound, Outbound, StageActor, Work,
};
use crate::distributed::wire::encoded_len;
use crate::pipelined::panic_message;
use crate::scheduler::MakeBatch;
use crate::stack_params::StagesView;
use crate::{
    AsyncConfig, EpochEnd, EpochPlan, EpochReport, Error, Observer, Result, Scheduler, Stage,
    StepInfo,
};

/// How long one stage takes for each kind of work, in virtual time units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    /// A forward pass.
    pub forward: f64,
    /// An update (the backward pass and the optimizer step).
    pub learn: f64,
    /// Handing a late message to an update-unlocked objective (a gradient model's step).
    pub late_message: f64,
}

impl StageTime {
    /// The costs of a dense stage whose forward pass takes `forward`: its update takes
    /// twice as long (the backward pass of a dense layer is two matrix products of the
    /// forward pass's size, one for the weights and one for the input), and a late message
    /// as long as a forward pass.
    pub fn dense(forward: f64) -> Self {
        StageTime {
            forward,
            learn: 2.0 * forward,
            late_message: forward,
        }
    }

    fn cost(&self, work: Work) -> f64 {
        match work {
            Work::Forward { learned: false } => self.forward,
            Work::Forward { learned: true } => self.forward + self.learn,
            Work::Learn => self.learn,
            Work::LateMessage => self.late_message,
            Work::Send => 0.0,
        }
    }
}

/// Configuration of [`Simulated`], checked by [`SimulatedConfig::check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimulatedConfig {
    /// Channel capacity, batches in flight and replay buffers, as for
    /// [`Pipelined`](crate::Pipelined).
    pub flow: AsyncConfig,
    /// Each stage's costs, bottom first; a single entry applies to every stage (default:
    /// one entry, [`StageTime::dense`]`(1.0)`).
    pub stage_times: Vec<StageTime>,
    /// Time a message takes between two neighbouring stages, either way: activations,
    /// gradients, credits and the end of the epoch (default 0).
    pub link_delay: f64,
    /// Time the global error takes from the top stage to any stage (default 0).
    pub broadcast_delay: f64,
    /// Bytes a stage's link carries per time unit, or `None` for a link of unlimited
    /// bandwidth (the default). With a bandwidth, each stage sends its messages one after
    /// another (one network interface per stage, first in, first out), each taking its
    /// size in the `mpi` scheduler's wire format divided by the bandwidth, before the
    /// link delay (or broadcast delay) is added: a message waits while the messages sent
    /// before it leave, so a link slower than the stages limits the pipeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_bandwidth: Option<f64>,
}

impl Default for SimulatedConfig {
    fn default() -> Self {
        SimulatedConfig {
            flow: AsyncConfig::default(),
            stage_times: vec![StageTime::dense(1.0)],
            link_delay: 0.0,
            broadcast_delay: 0.0,
            link_bandwidth: None,
        }
    }
}

impl SimulatedConfig {
    /// Sets the link delay.
    pub fn with_link_delay(mut self, delay: f64) -> Self {
        self.link_delay = delay;
        self
    }

    /// Sets the broadcast delay of the global error.
    pub fn with_broadcast_delay(mut self, delay: f64) -> Self {
        self.broadcast_delay = delay;
        self
    }

    /// Sets the bytes a stage's link carries per time unit (see
    /// [`SimulatedConfig::link_bandwidth`]).
    pub fn with_link_bandwidth(mut self, bytes_per_unit: f64) -> Self {
        self.link_bandwidth = Some(bytes_per_unit);
        self
    }

    /// Sets every stage's costs (one entry: the same for all).
    pub fn with_stage_times(mut self, times: Vec<StageTime>) -> Self {
        self.stage_times = times;
        self
    }

    /// Sets the channel capacity, batches in flight and replay buffers.
    pub fn with_flow(mut self, flow: AsyncConfig) -> Self {
        self.flow = flow;
        self
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad value: a time or delay that is negative or not
    /// finite, a bandwidth that is not finite and positive, no stage times at all, or a
    /// bad [`AsyncConfig`].
    pub fn check(&self) -> Result<()> {
        self.flow.check()?;
        if self.stage_times.is_empty() {
            return Err(Error::Config(
                "simulated stage times: the list is empty; give one entry for every stage, \
                 or one for all"
                    .into(),
            ));
        }
        let valid = |v: f64| v.is_finite() && v >= 0.0;
        for (i, t) in self.stage_times.iter().enumerate() {
            for (what, v) in [
                ("forward", t.forward),
                ("learn", t.learn),
                ("late-message", t.late_message),
            ] {
                if !valid(v) {
                    return Err(Error::Config(format!(
                        "simulated {what} time of stage time entry {i} should be finite and \
                         >= 0, but it is {v}"
                    )));
                }
            }
        }
        for (what, v) in [
            ("link delay", self.link_delay),
            ("broadcast delay", self.broadcast_delay),
        ] {
            if !valid(v) {
                return Err(Error::Config(format!(
                    "simulated {what} should be finite and >= 0, but it is {v}"
                )));
            }
        }
        if let Some(b) = self.link_bandwidth {
            if !(b.is_finite() && b > 0.0) {
                return Err(Error::Config(format!(
                    "simulated link bandwidth should be finite and > 0 (bytes per time unit), \
                     but it is {b}"
                )));
            }
        }
        Ok(())
    }

    /// The costs of each of `stages` stages.
    ///
    /// # Errors
    /// [`Error::Config`] when there are several entries but not one per stage.
    pub fn times_for(&self, stages: usize) -> Result<Vec<StageTime>> {
        match self.stage_times.len() {
            1 => Ok(vec![self.stage_times[0]; stages]),
            n if n == stages => Ok(self.stage_times.clone()),
            n => Err(Error::Config(format!(
                "simulated stage times: {n} entries for {stages} stages; give one per stage, \
                 or one for all"
            ))),
        }
    }
}

/// Runs the protocol of [`Pipelined`](crate::Pipelined) — the same stages, messages,
/// credits, batches in flight and replay buffers — on a virtual clock, in one thread:
/// each stage takes the configured time for each forward pass, update and late message,
/// and each message the configured delay. Events at the same virtual time are taken in the
/// order they were scheduled, so a seed fixes the whole run: asynchrony and staleness
/// experiments are reproducible bit for bit, on any machine, at any load.
///
/// [`StageStats`](crate::StageStats) of a simulated epoch are in virtual time: the busy
/// fraction says how well the stages would overlap on a machine with one core per stage.
/// With [`AsyncConfig::in_flight`] = 1 the result is Lockstep's whatever the delays.
///
/// A failing stage stops the run with [`Error::StageFailed`], as under `Pipelined`; a
/// protocol that could not finish (which would be a bug) is reported as
/// [`Error::Protocol`] instead of waiting forever.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Simulated {
    config: SimulatedConfig,
}

impl Simulated {
    /// A simulated scheduler.
    ///
    /// # Errors
    /// As [`SimulatedConfig::check`].
    pub fn new(config: SimulatedConfig) -> Result<Self> {
        config.check()?;
        Ok(Simulated { config })
    }

    /// The configuration.
    pub fn config(&self) -> &SimulatedConfig {
        &self.config
    }
}

enum Target {
    Stage(usize),
    Source,
}

enum What<F> {
    Deliver { to: Target, message: Inbound<F> },
    Wake(usize),
}

/// An event on the virtual clock; the heap pops the earliest, ties in scheduling order.
struct Event<F> {
    time: f64,
    seq: u64,
    what: What<F>,
}

impl<F> PartialEq for Event<F> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<F> Eq for Event<F> {}

impl<F> PartialOrd for Event<F> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<F> Ord for Event<F> {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .time
            .total_cmp(&self.time)
            .then(other.seq.cmp(&self.seq))
    }
}

/// The state of one simulated epoch.
struct Run<'o, F> {
    queue: BinaryHeap<Event<F>>,
    seq: u64,
    link_delay: f64,
    broadcast_delay: f64,
    link_bandwidth: Option<f64>,
    /// When each stage's link is next free to send (with a bandwidth).
    link_free: Vec<f64>,
    global_targets: Vec<usize>,
    observer: &'o mut dyn Observer,
    epoch: u64,
    batches: usize,
    top_steps: usize,
    loss_sum: f64,
    samples: usize,
}

impl<F: Float> Run<'_, F> {
    fn at(&mut self, time: f64, what: What<F>) {
        self.seq += 1;
        self.queue.push(Event {
            time,
            seq: self.seq,
            what,
        });
    }

    fn deliver(&mut self, time: f64, to: Target, message: Inbound<F>) {
        self.at(time, What::Deliver { to, message });
    }

    /// Sends `message` from stage `from` to stage `to` at `time`: it arrives `delay`
    /// after it has left `from`'s link.
    fn send(&mut self, from: usize, to: usize, message: Inbound<F>, time: f64, delay: f64) {
        let left = match self.link_bandwidth {
            Some(bandwidth) => {
                let start = time.max(self.link_free[from]);
                self.link_free[from] = start + encoded_len(&message) as f64 / bandwidth;
                self.link_free[from]
            }
            None => time,
        };
        self.deliver(left + delay, Target::Stage(to), message);
    }

    /// Schedules what stage `from` sent, as of `time` (the end of the work that made it).
    fn route(&mut self, from: usize, out: Vec<Outbound<F>>, time: f64) {
        let link = self.link_delay;
        for message in out {
            match message {
                Outbound::Up(a) => self.send(from, from + 1, Inbound::Up(a), time, link),
                Outbound::End => self.send(from, from + 1, Inbound::End, time, link),
                Outbound::Down { batch, message } => {
                    self.send(from, from - 1, Inbound::Down { batch, message }, time, link)
                }
                Outbound::Credit if from == 0 => {
                    self.deliver(time, Target::Source, Inbound::Credit)
                }
                Outbound::Credit => self.send(from, from - 1, Inbound::Credit, time, link),
                Outbound::Global { batch, error } => {
                    for j in self.global_targets.clone() {
                        let error = Inbound::Global {
                            batch,
                            error: error.clone(),
                        };
                        self.send(from, j, error, time, self.broadcast_delay);
                    }
                }
                Outbound::Step(step) => self.observer.on_stage_step(&step),
                Outbound::TopLoss { samples, loss } => {
                    self.observer.on_step(&StepInfo {
                        epoch: self.epoch,
                        batch: self.top_steps,
                        batches: self.batches,
                        loss,
                    });
                    self.top_steps += 1;
                    self.loss_sum += loss * samples as f64;
                    self.samples += samples;
                }
            }
        }
    }
}

/// Stage `j` works from `now` until it is busy or has nothing to do.
fn run_stage<F: Float>(
    run: &mut Run<'_, F>,
    actor: &mut StageActor<'_, F>,
    j: usize,
    time: &StageTime,
    busy_until: &mut f64,
    now: f64,
) -> Result<()> {
    if *busy_until > now {
        return Ok(());
    }
    loop {
        let mut out = Vec::new();
        let work = match catch_unwind(AssertUnwindSafe(|| actor.work(&mut out))) {
            Ok(Ok(work)) => work,
            Ok(Err(e)) => return Err(actor.failure(e)),
            Err(payload) => {
                return Err(actor.failed(format!("panicked: {}", panic_message(&payload))))
            }
        };
        let Some(work) = work else {
            run.route(j, out, now);
            return Ok(());
        };
        let cost = time.cost(work);
        run.route(j, out, now + cost);
        if cost > 0.0 {
            actor.add_busy(cost);
            *busy_until = now + cost;
            run.at(now + cost, What::Wake(j));
            return Ok(());
        }
    }
}

impl<F: Float> Scheduler<F> for Simulated {
    fn name(&self) -> String {
        "simulated".into()
    }

    fn train_epoch(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        plan: EpochPlan,
        observer: &mut dyn Observer,
    ) -> Result<EpochReport> {
        self.train_epoch_with(stages, data, plan, observer, &|_, indices| {
            Ok(gather::<F>(data, indices)?)
        })
    }
}

impl Simulated {
    /// [`Scheduler::train_epoch`] with the first stage's batches made by `make` from
    /// the samples of `data` the plan draws.
    pub(crate) fn train_epoch_with<F: Float>(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        plan: EpochPlan,
        observer: &mut dyn Observer,
        make: &MakeBatch<'_, F>,
    ) -> Result<EpochReport> {
        let roles = roles(stages, &self.config.flow)?;
        let network_input = feeds_network_input(&roles);
        let n = stages.len();
        let times = self.config.times_for(n)?;
        let start = Instant::now();
        let batches = epoch_batches(data.len(), plan.batch_size, plan.seed, plan.epoch)?;
        let settings = ActorSettings {
            epoch: plan.epoch,
            in_flight: self.config.flow.in_flight_for(n),
            capacity: self.config.flow.capacity,
            batches: batches.len(),
            replay: self
                .config
                .flow
                .replay
                .as_ref()
                .map(|r| (r.batches, r.seed)),
        };
        let global_targets = roles[n - 1].global_targets.clone();
        let mut actors: Vec<StageActor<'_, F>> = stages
            .iter_mut()
            .zip(roles)
            .enumerate()
            .map(|(i, (stage, role))| StageActor::new(i, stage, role, settings))
            .collect();
        let mut run = Run {
            queue: BinaryHeap::new(),
            seq: 0,
            link_delay: self.config.link_delay,
            broadcast_delay: self.config.broadcast_delay,
            link_bandwidth: self.config.link_bandwidth,
            link_free: vec![0.0; n],
            global_targets,
            observer: &mut *observer,
            epoch: plan.epoch,
            batches: batches.len(),
            top_steps: 0,
            loss_sum: 0.0,
            samples: 0,
        };
        let mut busy_until = vec![0.0; n];
        let (mut next, mut credits, mut end_sent) = (0usize, settings.capacity, false);
        let mut now = 0.0;
        // The data source sends a batch whenever the first stage has a free slot.
        let mut feed = |run: &mut Run<'_, F>, credits: &mut usize, now: f64| -> Result<()> {
            while *credits > 0 && next < batches.len() {
                let batch = make(next, &batches[next])?;
                run.deliver(
                    now,
                    Target::Stage(0),
                    Inbound::Up(Activation {
                        batch: next as u64,
                        network_input: network_input.then(|| Arc::new(batch.inputs.clone())),
                        input: batch.inputs,
                        labels: batch.labels,
                    }),
                );
                next += 1;
                *credits -= 1;
            }
            if next == batches.len() && !end_sent {
                end_sent = true;
                run.deliver(now, Target::Stage(0), Inbound::End);
            }
            Ok(())
        };
        feed(&mut run, &mut credits, 0.0)?;
        while let Some(event) = run.queue.pop() {
            now = event.time;
            match event.what {
                What::Deliver {
                    to: Target::Source, ..
                } => {
                    credits += 1;
                    feed(&mut run, &mut credits, now)?;
                }
                What::Deliver {
                    to: Target::Stage(j),
                    message,
                } => {
                    let mut out = Vec::new();
                    actors[j]
                        .receive(message, &mut out)
                        .map_err(|e| actors[j].failure(e))?;
                    run.route(j, out, now);
                    run_stage(
                        &mut run,
                        &mut actors[j],
                        j,
                        &times[j],
                        &mut busy_until[j],
                        now,
                    )?;
                }
                What::Wake(j) => run_stage(
                    &mut run,
                    &mut actors[j],
                    j,
                    &times[j],
                    &mut busy_until[j],
                    now,
                )?,
            }
        }
        if let Some(stalled) = actors.iter().find(|a| !a.is_finished()) {
            return Err(Error::Protocol(format!(
                "the simulation ran out of events at virtual time {now} while stage '{}' \
                 still had work",
                stalled.name()
            )));
        }
        let (loss_sum, samples) = (run.loss_sum, run.samples);
        let stats: Vec<_> = actors.iter_mut().map(|a| a.stats(now, true)).collect();
        drop(actors);
        let report = EpochReport {
            epoch: plan.epoch,
            loss: loss_sum / samples.max(1) as f64,
            stage_losses: stats.iter().map(|s| s.mean_loss).collect(),
            samples,
            wall_s: start.elapsed().as_secs_f64(),
        };
        observer.on_epoch_end(&EpochEnd {
            report: &report,
            stages: &stats,
            params: &StagesView(stages),
        });
        Ok(report)
    }
}
