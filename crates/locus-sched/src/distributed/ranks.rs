//! The `mpi` scheduler: the actor protocol of [`Pipelined`](crate::Pipelined), carried
//! between processes by MPI point-to-point messages.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

use mpi::environment::Universe;
use mpi::point_to_point::MatchedReceiveVec;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, Destination, Root, Source};

use locus_core::{Float, StateDict};
use locus_data::{epoch_batches, gather, Dataset};

use super::placement::stage_placement;
use super::wire::{decode, encode, Wire};
use crate::actor::{feeds_network_input, roles, ActorSettings, Inbound, Outbound, StageActor};
use crate::pipelined::{panic_message, Feed};
use crate::scheduler::MakeBatch;
use crate::stack_params::StagesView;
use crate::{
    state_from_bytes, state_to_bytes, AsyncConfig, EpochEnd, EpochPlan, EpochReport, Error,
    Observer, Result, Scheduler, Stage, StageStats, StepInfo, WireBytes,
};

/// Runs the stages on MPI processes (`mpirun -n R`, `R` at most the number of stages):
/// each rank runs a contiguous block of stages ([`stage_placement`]: three stages on two
/// ranks put stages 0 and 1 on rank 0 and stage 2 on rank 1; as many ranks as stages
/// put one on each), with the protocol of [`Pipelined`](crate::Pipelined): the same
/// messages, the same back-pressure ([`AsyncConfig`]: `capacity` credits between two
/// stages, `in_flight` batches a stage may hold), the same statistics, and with
/// `in_flight` = 1 the same parameters as [`Lockstep`](crate::Lockstep), bit for bit.
/// The stages of one rank take turns in its one thread, each doing one unit of work
/// (a forward pass, an update, a send) at a time, and hand each other their messages
/// directly; only messages between ranks cross the wire.
///
/// Every rank builds the whole stack (from the same seed, so the same initial
/// parameters) and calls [`Scheduler::train_epoch`] with it; each trains only its own
/// stages. Rank 0 reads the data and feeds the first stage; labels (and the network
/// input, when a stage above needs it) travel up with the activations. The other ranks
/// read no sample: the data set they pass needs only its length (a
/// [`DatasetShape`](locus_data::DatasetShape), which rank 0 can send them with
/// [`Mpi::share_from_rank0`], will do). Messages are the
/// bytes of the `wire` module, sent point to point with non-blocking sends while the
/// sender keeps receiving, so two ranks sending to each other never wait on each other;
/// the top stage's global error (DFA) goes once to each rank that runs a stage needing
/// it. Rank 0's observer hears every stage's steps and the top stage's losses. At the
/// end of an epoch every rank sends each of its stages' figures and state (as a
/// safetensors file's bytes) to every other, so that all ranks hold the same trained
/// stack: evaluation and reports can run on rank 0 (or anywhere) with the stack as it is.
///
/// **Failures**: a stage that fails (an error or a panic) sends the failure, naming its
/// rank and stage, to every other rank, which stop with [`Error::RankFailed`]; a message
/// that does not decode, or comes from a rank that should not send it, is refused with an
/// error. A rank that dies without a word is MPI's to report: `mpirun` ends the job.
///
/// Built only with the cargo feature `mpi` (rsmpi, over the system's MPI library).
pub struct Mpi {
    config: AsyncConfig,
    world: SimpleCommunicator,
    /// Kept for its drop, which finalises MPI.
    _universe: Universe,
    bytes_sent: u64,
    /// Messages of the next epoch that arrived while this rank was finishing the last: a
    /// rank that has every end of epoch goes on while others still wait for theirs.
    early: VecDeque<(usize, Vec<u8>)>,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mpi")
            .field("config", &self.config)
            .field("rank", &self.rank())
            .field("ranks", &self.ranks())
            .finish()
    }
}

impl Mpi {
    /// Initialises MPI and makes the scheduler; one per process.
    ///
    /// # Errors
    /// As [`AsyncConfig::check`]; [`Error::Config`] when MPI was already initialised in
    /// this process.
    pub fn new(config: AsyncConfig) -> Result<Self> {
        config.check()?;
        let universe = mpi::initialize().ok_or_else(|| {
            Error::Config("MPI is already initialised: make one Mpi scheduler per process".into())
        })?;
        Ok(Mpi {
            config,
            world: universe.world(),
            _universe: universe,
            bytes_sent: 0,
            early: VecDeque::new(),
        })
    }

    /// The bounds.
    pub fn config(&self) -> &AsyncConfig {
        &self.config
    }

    /// This process's rank, from 0.
    pub fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    /// The number of ranks.
    pub fn ranks(&self) -> usize {
        self.world.size() as usize
    }

    /// The name of the machine this rank runs on, as MPI gives it.
    pub fn host(&self) -> String {
        mpi::environment::processor_name().unwrap_or_else(|_| "(unknown)".into())
    }

    /// Every rank's host, by rank, on rank 0 (on the other ranks, only their own).
    /// Collective: every rank must call it, before training.
    pub fn hosts(&self) -> Vec<String> {
        const HOST_TAG: i32 = 7;
        let own = self.host();
        if self.rank() != 0 {
            self.world
                .process_at_rank(0)
                .send_with_tag(own.as_bytes(), HOST_TAG);
            return vec![own];
        }
        let mut hosts = vec![own];
        for j in 1..self.ranks() {
            let (bytes, _) = self
                .world
                .process_at_rank(j as i32)
                .receive_vec_with_tag::<u8>(HOST_TAG);
            hosts.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        hosts
    }

    /// Sends `bytes` from rank 0 to every other rank: every rank gets rank 0's bytes
    /// back (what the others pass is not used). For what rank 0 alone can know, such as
    /// the description of the data it read ([`DatasetShape`](locus_data::DatasetShape)).
    /// Collective: every rank must call it at the same point, outside training (an MPI
    /// broadcast of the length, then of the bytes).
    ///
    /// An associated function rather than a method, so that a program holding the
    /// scheduler as a `Box<dyn Scheduler>` can call it.
    ///
    /// # Errors
    /// [`Error::Config`] when MPI is not initialised in this process (no [`Mpi`] was made).
    pub fn share_from_rank0(bytes: Vec<u8>) -> Result<Vec<u8>> {
        if !mpi::environment::is_initialized() || mpi::environment::is_finalized() {
            return Err(Error::Config(
                "Mpi::share_from_rank0 needs MPI running: make the Mpi scheduler first".into(),
            ));
        }
        let world = SimpleCommunicator::world();
        let root = world.process_at_rank(0);
        let mut len = bytes.len() as u64;
        root.broadcast_into(&mut len);
        let mut shared = bytes;
        if world.rank() != 0 {
            shared = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
        }
        root.broadcast_into(&mut shared[..]);
        Ok(shared)
    }

    /// Bytes this rank has sent so far, all messages included (the end-of-epoch exchange
    /// of figures and stage states too). Each epoch's stage loop, by kind, is in its
    /// [`StageStats::wire`].
    pub fn bytes_sent(&self) -> u64 {
        self.bytes_sent
    }
}

impl<F: Float> Scheduler<F> for Mpi {
    fn name(&self) -> String {
        "mpi".into()
    }

    /// Rank 0 only.
    fn is_main_process(&self) -> bool {
        self.rank() == 0
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

/// One stage's end of the epoch, as its `Done` message said.
struct Done {
    stats: StageStats,
    loss_sum: f64,
    samples: u64,
    state: Vec<u8>,
}

/// Rank 0's running count of the top stage's losses.
#[derive(Default)]
struct Tally {
    loss_sum: f64,
    samples: usize,
    top_steps: usize,
}

/// A failure inside a rank's loop: the local stage it concerns (by position among the
/// rank's stages; `None`: the rank's message handling), and the error.
type Failure = (Option<usize>, Error);

/// One rank's end of the messages: the world, where every stage runs, the messages
/// received and not yet handled, and what the other ranks said at the end of the epoch.
struct Link<'w> {
    world: &'w SimpleCommunicator,
    rank: usize,
    /// Every rank's stages.
    placement: Vec<Range<usize>>,
    /// This rank's stages.
    local: Range<usize>,
    top: usize,
    /// The stages the top stage sends the global error to.
    globals: Vec<usize>,
    /// Messages received (sender, bytes), oldest first.
    inbox: VecDeque<(usize, Vec<u8>)>,
    /// Messages from ranks that have finished this epoch: the next epoch's.
    early: VecDeque<(usize, Vec<u8>)>,
    /// Every stage's end of the epoch, by stage.
    done: Vec<Option<Done>>,
    bytes_sent: u64,
    /// The stage loop's messages, by kind, for each of this rank's stages.
    wire: Vec<WireBytes>,
    epoch: u64,
    batches: usize,
}

impl Link<'_> {
    /// The rank that runs stage `stage`.
    fn owner(&self, stage: usize) -> usize {
        self.placement
            .iter()
            .position(|r| r.contains(&stage))
            .expect("every stage has a rank")
    }

    /// Whether every stage of rank `rank` has sent its end of the epoch.
    fn has_finished(&self, rank: usize) -> bool {
        self.placement
            .get(rank)
            .is_some_and(|stages| stages.clone().all(|s| self.done[s].is_some()))
    }

    /// Receives everything that has arrived, without waiting.
    fn drain(&mut self) {
        let any = self.world.any_process();
        while let Some(matched) = any.immediate_matched_probe() {
            let (bytes, status) = matched.matched_receive_vec::<u8>();
            self.inbox.push_back((status.source_rank() as usize, bytes));
        }
    }

    /// Waits for one message.
    fn wait(&mut self) {
        let (bytes, status) = self
            .world
            .any_process()
            .matched_probe()
            .matched_receive_vec::<u8>();
        self.inbox.push_back((status.source_rank() as usize, bytes));
    }

    /// Sends `message` from this rank's stage `from` to rank `to`, receiving whatever
    /// arrives meanwhile, so that two ranks sending each other large messages never wait
    /// on each other.
    fn send<F: Float>(&mut self, from: usize, to: usize, message: &Wire<F>) {
        let bytes = encode(message);
        let len = bytes.len() as u64;
        self.bytes_sent += len;
        let wire = &mut self.wire[from - self.local.start];
        let kind = match message {
            Wire::Actor(Inbound::Up(_) | Inbound::End) => Some(&mut wire.activations),
            Wire::Actor(Inbound::Down { .. }) => Some(&mut wire.gradients),
            Wire::Actor(Inbound::Global { .. }) => Some(&mut wire.global_errors),
            Wire::Actor(Inbound::Credit) => Some(&mut wire.credits),
            Wire::Step(_) | Wire::TopLoss { .. } => Some(&mut wire.reports),
            Wire::Actor(Inbound::Abort) | Wire::Failed { .. } | Wire::Done { .. } => None,
        };
        if let Some(kind) = kind {
            *kind += len;
            wire.messages += 1;
        }
        let world = self.world;
        mpi::request::scope(|scope| {
            let mut request = world
                .process_at_rank(to as i32)
                .immediate_send(scope, &bytes[..]);
            loop {
                match request.test() {
                    Ok(_) => break,
                    Err(pending) => {
                        request = pending;
                        self.drain();
                        std::thread::yield_now();
                    }
                }
            }
        });
    }

    /// Delivers what this rank's stage `from` (or the feed) asked to send: to a stage of
    /// this rank at once, to another rank's over MPI. A message for several stages of one
    /// rank (the global error) crosses the wire once.
    fn dispatch<F: Float>(
        &mut self,
        from: usize,
        out: &mut Vec<Outbound<F>>,
        actors: &mut [StageActor<'_, F>],
        mut feed: Option<&mut Feed<'_, F>>,
        observer: &mut dyn Observer,
        tally: &mut Tally,
    ) -> Result<()> {
        let mut queue: VecDeque<(usize, Outbound<F>)> = out.drain(..).map(|m| (from, m)).collect();
        while let Some((s, message)) = queue.pop_front() {
            let mut deliver = |link: &mut Self, to: usize, inbound: Inbound<F>| -> Result<()> {
                if link.local.contains(&to) {
                    let mut produced = Vec::new();
                    actors[to - link.local.start].receive(inbound, &mut produced)?;
                    queue.extend(produced.into_iter().map(|m| (to, m)));
                } else {
                    let rank = link.owner(to);
                    link.send(s, rank, &Wire::Actor(inbound));
                }
                Ok(())
            };
            let top = self.top;
            let above = || {
                (s < top)
                    .then_some(s + 1)
                    .ok_or_else(|| Error::Protocol("the top stage sent something up".into()))
            };
            match message {
                Outbound::Up(a) => deliver(self, above()?, Inbound::Up(a))?,
                Outbound::End => deliver(self, above()?, Inbound::End)?,
                Outbound::Down { batch, message } => {
                    let below = s.checked_sub(1).ok_or_else(|| {
                        Error::Protocol("the first stage sent a gradient down".into())
                    })?;
                    deliver(self, below, Inbound::Down { batch, message })?;
                }
                Outbound::Credit => match (s.checked_sub(1), feed.as_deref_mut()) {
                    (Some(below), _) => deliver(self, below, Inbound::Credit)?,
                    (None, Some(feed)) => feed.credit(),
                    (None, None) => {
                        return Err(Error::Protocol("the first stage has no data feed".into()))
                    }
                },
                Outbound::Global { batch, error } => {
                    let mut ranks = Vec::new();
                    for to in self.globals.clone() {
                        if self.local.contains(&to) {
                            let inbound = Inbound::Global {
                                batch,
                                error: error.clone(),
                            };
                            deliver(self, to, inbound)?;
                        } else if !ranks.contains(&self.owner(to)) {
                            ranks.push(self.owner(to));
                        }
                    }
                    let message = Wire::Actor(Inbound::Global { batch, error });
                    for rank in ranks {
                        self.send(s, rank, &message);
                    }
                }
                Outbound::Step(step) if self.rank == 0 => observer.on_stage_step(&step),
                Outbound::Step(step) => self.send::<F>(s, 0, &Wire::Step(step)),
                Outbound::TopLoss { samples, loss } => {
                    tally.loss_sum += loss * samples as f64;
                    tally.samples += samples;
                    if self.rank == 0 {
                        tally.observe(self.epoch, self.batches, loss, observer);
                    } else {
                        let samples = samples as u64;
                        self.send::<F>(s, 0, &Wire::TopLoss { samples, loss });
                    }
                }
            }
        }
        Ok(())
    }

    /// Handles one received message: to the stage it is for (while this rank's stages
    /// run), to rank 0's observer, or the end of another rank's stage's epoch. A message
    /// that does not decode, or comes from a rank that has no business sending it, is
    /// refused.
    fn handle<F: Float>(
        &mut self,
        (from, bytes): (usize, Vec<u8>),
        actors: Option<&mut [StageActor<'_, F>]>,
        observer: &mut dyn Observer,
        tally: &mut Tally,
    ) -> Result<()> {
        let message = decode::<F>(&bytes).map_err(|e| match e {
            Error::Protocol(m) => {
                Error::Protocol(format!("rank {}: from rank {from}: {m}", self.rank))
            }
            other => other,
        })?;
        let (rank, top) = (self.rank, self.top);
        let unexpected = |what: &str| {
            Err(Error::Protocol(format!(
                "rank {rank} received {what} from rank {from}, which should not send it"
            )))
        };
        match message {
            Wire::Failed {
                rank: failed,
                stage,
                reason,
            } => Err(Error::RankFailed {
                rank: failed,
                stage,
                reason,
            }),
            Wire::Done {
                stage,
                stats,
                loss_sum,
                samples,
                state,
            } => {
                let stage = stage as usize;
                let from_owner = stage < self.done.len() && self.owner(stage) == from;
                match self.done.get_mut(stage) {
                    Some(slot @ None) if from_owner && from != rank => {
                        *slot = Some(Done {
                            stats,
                            loss_sum,
                            samples,
                            state,
                        });
                        Ok(())
                    }
                    _ => unexpected(&format!("an end of epoch for stage {stage}")),
                }
            }
            Wire::Step(step)
                if rank == 0 && step.stage < self.done.len() && self.owner(step.stage) == from =>
            {
                observer.on_stage_step(&step);
                Ok(())
            }
            Wire::Step(_) => unexpected("a stage step"),
            // The sums come with the top stage's end of epoch.
            Wire::TopLoss { loss, .. } if rank == 0 && from == self.owner(top) => {
                tally.observe(self.epoch, self.batches, loss, observer);
                Ok(())
            }
            Wire::TopLoss { .. } => unexpected("the top loss"),
            Wire::Actor(inbound) => {
                let (first, last) = (self.local.start, self.local.end - 1);
                // The stages of this rank the message is for.
                let targets: Vec<usize> = match &inbound {
                    Inbound::Up(_) | Inbound::End if from + 1 == rank => vec![first],
                    Inbound::Down { .. } | Inbound::Credit if from == rank + 1 => vec![last],
                    Inbound::Global { .. } if from == self.owner(top) && from != rank => self
                        .globals
                        .iter()
                        .copied()
                        .filter(|s| self.local.contains(s))
                        .collect(),
                    _ => Vec::new(),
                };
                if targets.is_empty() {
                    return unexpected("a stage message");
                }
                let Some(actors) = actors else {
                    // A credit after the stage has finished is of no use to it.
                    return match inbound {
                        Inbound::Credit => Ok(()),
                        _ => unexpected("a stage message after the end of its epoch"),
                    };
                };
                let mut out = Vec::new();
                match inbound {
                    Inbound::Global { batch, error } => {
                        for &s in &targets {
                            let inbound = Inbound::Global {
                                batch,
                                error: error.clone(),
                            };
                            actors[s - first].receive(inbound, &mut out)?;
                            self.dispatch(s, &mut out, actors, None, observer, tally)?;
                        }
                    }
                    inbound => {
                        let s = targets[0];
                        actors[s - first].receive(inbound, &mut out)?;
                        self.dispatch(s, &mut out, actors, None, observer, tally)?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl Tally {
    /// Tells rank 0's observer of the top stage's loss on one more batch.
    fn observe(&mut self, epoch: u64, batches: usize, loss: f64, observer: &mut dyn Observer) {
        observer.on_step(&StepInfo {
            epoch,
            batch: self.top_steps,
            batches,
            loss,
        });
        self.top_steps += 1;
    }
}

/// The loop of this rank's stages, as [`Pipelined`](crate::Pipelined)'s stage threads
/// run them, taking turns: handle what has arrived, let each stage do one unit of work
/// and deliver what it produced, and wait for a message only when no stage has anything
/// to do. `current` names the stage whose turn it is (for a panic's report).
fn stage_loop<F: Float>(
    actors: &mut [StageActor<'_, F>],
    link: &mut Link<'_>,
    mut feed: Option<Feed<'_, F>>,
    observer: &mut dyn Observer,
    tally: &mut Tally,
    current: &mut Option<usize>,
) -> std::result::Result<(), Failure> {
    let first = link.local.start;
    let mut out = Vec::new();
    loop {
        *current = None;
        link.drain();
        while let Some(received) = link.inbox.pop_front() {
            link.handle(received, Some(&mut *actors), observer, tally)
                .map_err(|e| (None, e))?;
        }
        let mut worked = false;
        for i in 0..actors.len() {
            *current = Some(i);
            let failed = |e| (Some(i), e);
            if i == 0 {
                if let Some(feed) = &mut feed {
                    feed.fill(&mut actors[0], &mut out).map_err(failed)?;
                    link.dispatch(first, &mut out, actors, Some(feed), observer, tally)
                        .map_err(failed)?;
                }
            }
            let started = Instant::now();
            let work = actors[i].work(&mut out).map_err(failed)?;
            if work.is_some_and(|w| w.computes()) {
                actors[i].add_busy(started.elapsed().as_secs_f64());
            }
            worked |= work.is_some();
            link.dispatch(first + i, &mut out, actors, feed.as_mut(), observer, tally)
                .map_err(failed)?;
        }
        if actors.iter().all(StageActor::is_finished) {
            return Ok(());
        }
        if !worked && link.inbox.is_empty() {
            link.wait();
        }
    }
}

impl Mpi {
    /// The stages each rank runs for a stack of `stages` ([`stage_placement`] over this
    /// run's ranks).
    ///
    /// # Errors
    /// [`Error::Config`] when the run has more ranks than the stack has stages.
    pub fn placement(&self, stages: usize) -> Result<Vec<Range<usize>>> {
        stage_placement(stages, self.ranks())
    }

    /// [`Scheduler::train_epoch`] with the first stage's batches made by `make`.
    pub(crate) fn train_epoch_with<F: Float>(
        &mut self,
        stages: &mut [Stage<F>],
        data: &dyn Dataset,
        plan: EpochPlan,
        observer: &mut dyn Observer,
        make: &MakeBatch<'_, F>,
    ) -> Result<EpochReport> {
        let (rank, n) = (self.rank(), stages.len());
        let placement = self.placement(n)?;
        let local = placement[rank].clone();
        let roles = roles(stages, &self.config)?;
        let network_input = feeds_network_input(&roles);
        let start = Instant::now();
        let batches = epoch_batches(data.len(), plan.batch_size, plan.seed, plan.epoch)?;
        let settings = ActorSettings {
            epoch: plan.epoch,
            in_flight: self.config.in_flight_for(n),
            capacity: self.config.capacity,
            batches: batches.len(),
            replay: self.config.replay.as_ref().map(|r| (r.batches, r.seed)),
        };
        let mut link = Link {
            world: &self.world,
            rank,
            placement,
            local: local.clone(),
            top: n - 1,
            globals: roles[n - 1].global_targets.clone(),
            inbox: std::mem::take(&mut self.early),
            early: VecDeque::new(),
            done: (0..n).map(|_| None).collect(),
            bytes_sent: 0,
            wire: vec![WireBytes::default(); local.len()],
            epoch: plan.epoch,
            batches: batches.len(),
        };
        let mut tally = Tally::default();
        let run = {
            let names: Vec<String> = stages[local.clone()]
                .iter()
                .map(|s| s.name().to_string())
                .collect();
            let mut actors: Vec<StageActor<'_, F>> = stages[local.clone()]
                .iter_mut()
                .zip(local.clone())
                .map(|(stage, s)| StageActor::new(s, stage, roles[s].clone(), settings))
                .collect();
            let feed =
                (rank == 0).then(|| Feed::new(make, &batches, settings.capacity, network_input));
            let mut current = None;
            let result = catch_unwind(AssertUnwindSafe(|| {
                stage_loop(
                    &mut actors,
                    &mut link,
                    feed,
                    observer,
                    &mut tally,
                    &mut current,
                )
            }));
            // A failure of the rank's message handling is charged to its first stage.
            let at = |i: Option<usize>| i.unwrap_or(0);
            match result {
                Ok(Ok(())) => Ok(actors
                    .iter_mut()
                    .map(|a| a.stats(start.elapsed().as_secs_f64(), false))
                    .collect::<Vec<_>>()),
                Ok(Err((_, e @ Error::RankFailed { .. }))) => Err((e, false, 0)),
                Ok(Err((i, e @ Error::Data(_)))) => Err((e, true, at(i))),
                Ok(Err((i, e))) => Err((actors[at(i)].failure(e), true, at(i))),
                Err(payload) => {
                    let i = at(current);
                    let reason = format!("panicked: {}", panic_message(&payload));
                    Err((actors[i].failed(reason), true, i))
                }
            }
            .map_err(|(e, tell, i)| (e, tell, names[i].clone(), local.start + i))
        };
        let stats = match run {
            Ok(stats) => stats
                .into_iter()
                .zip(&link.wire)
                .map(|(stats, wire)| StageStats {
                    wire: Some(*wire),
                    ..stats
                })
                .collect::<Vec<_>>(),
            Err((e, tell, stage, index)) => {
                if tell {
                    let failed = Wire::<F>::Failed {
                        rank: rank as u32,
                        stage,
                        reason: e.to_string(),
                    };
                    for to in (0..self.ranks()).filter(|&j| j != rank) {
                        link.send(index, to, &failed);
                    }
                }
                self.bytes_sent += link.bytes_sent;
                return Err(e);
            }
        };
        let result = self.finish_epoch(stages, &mut link, stats, &mut tally, observer);
        self.bytes_sent += link.bytes_sent;
        self.early = std::mem::take(&mut link.early);
        let (stats, loss_sum, samples) = result?;
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

    /// Sends the figures and state of each of this rank's stages to every other rank,
    /// waits for theirs and loads their stages' states into this rank's copies: every
    /// rank ends the epoch holding the same stack. Returns every stage's figures and the
    /// top stage's loss sum and sample count.
    fn finish_epoch<F: Float>(
        &self,
        stages: &mut [Stage<F>],
        link: &mut Link<'_>,
        stats: Vec<StageStats>,
        tally: &mut Tally,
        observer: &mut dyn Observer,
    ) -> Result<(Vec<StageStats>, f64, usize)> {
        let (rank, n, top) = (link.rank, stages.len(), link.top);
        let wire_path = Path::new("(stage state sent between MPI ranks)");
        for (s, stats) in link.local.clone().zip(stats) {
            let mut state = StateDict::new();
            stages[s].save_state("", &mut state);
            let (loss_sum, samples) = if s == top {
                (tally.loss_sum, tally.samples as u64)
            } else {
                (0.0, 0)
            };
            let done = Wire::<F>::Done {
                stage: s as u32,
                stats: stats.clone(),
                loss_sum,
                samples,
                state: state_to_bytes(&state, &BTreeMap::new(), wire_path)?,
            };
            for to in (0..self.ranks()).filter(|&j| j != rank) {
                link.send(s, to, &done);
            }
            link.done[s] = Some(Done {
                stats,
                loss_sum,
                samples,
                state: Vec::new(),
            });
        }
        while link.done.iter().any(Option::is_none) {
            if link.inbox.is_empty() {
                link.wait();
            }
            while let Some(received) = link.inbox.pop_front() {
                // Each rank's messages arrive in the order it sent them: after the end
                // of epoch of all its stages, only the next epoch's.
                if link.has_finished(received.0) {
                    link.early.push_back(received);
                } else {
                    link.handle::<F>(received, None, observer, tally)?;
                }
            }
        }
        let mut all = Vec::with_capacity(n);
        let (mut loss_sum, mut samples) = (0.0, 0usize);
        for (j, done) in link.done.iter_mut().enumerate() {
            let done = done.take().expect("every stage's end has arrived");
            if j == top {
                loss_sum = done.loss_sum;
                samples = usize::try_from(done.samples).unwrap_or(usize::MAX);
            }
            if !link.local.contains(&j) {
                let (mut dict, _) = state_from_bytes::<F>(&done.state, wire_path)?;
                stages[j].load_state("", &mut dict)?;
            }
            all.push(done.stats);
        }
        Ok((all, loss_sum, samples))
    }
}
