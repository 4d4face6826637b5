//! The `mpi` scheduler: the actor protocol of [`Pipelined`](crate::Pipelined), carried
//! between processes by MPI point-to-point messages.

use std::collections::{BTreeMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::Instant;

use mpi::environment::Universe;
use mpi::point_to_point::MatchedReceiveVec;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, Destination, Source};

use locus_core::{Float, StateDict};
use locus_data::{epoch_batches, gather, Dataset};

use super::wire::{decode, encode, Wire};
use crate::actor::{feeds_network_input, roles, ActorSettings, Inbound, Outbound, StageActor};
use crate::pipelined::{panic_message, Feed};
use crate::scheduler::MakeBatch;
use crate::stack_params::StagesView;
use crate::{
    state_from_bytes, state_to_bytes, AsyncConfig, EpochEnd, EpochPlan, EpochReport, Error,
    Observer, Result, Scheduler, Stage, StageStats, StepInfo, WireBytes,
};

/// Runs each stage in its own MPI process (`mpirun -n K`, one stage per rank: rank `i`
/// runs stage `i`, and a stack of K stages needs exactly K ranks), with the protocol of
/// [`Pipelined`](crate::Pipelined): the same messages, the same back-pressure
/// ([`AsyncConfig`]: `capacity` credits between two stages, `in_flight` batches a stage
/// may hold), the same statistics, and with `in_flight` = 1 the same parameters as
/// [`Lockstep`](crate::Lockstep), bit for bit.
///
/// Every rank builds the whole stack (from the same seed, so the same initial
/// parameters) and calls [`Scheduler::train_epoch`] with it; each trains only its own
/// stage. Rank 0 reads the data and feeds the first stage; labels (and the network input,
/// when a stage above needs it) travel up with the activations. Messages are the bytes of
/// the `wire` module, sent point to point with non-blocking sends while the sender keeps
/// receiving, so two ranks sending to each other never wait on each other. Rank 0's
/// observer hears every stage's steps and the top stage's losses. At the end of an epoch
/// every rank sends its stage's figures and state (as a safetensors file's bytes) to every
/// other, so that all ranks hold the same trained stack: evaluation and reports can run
/// on rank 0 (or anywhere) with the stack as it is.
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

/// A rank's end of the epoch, as its `Done` message said.
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

/// One rank's end of the messages: the world, the messages received and not yet
/// handled, and what the other ranks said at the end of the epoch.
struct Link<'w> {
    world: &'w SimpleCommunicator,
    rank: usize,
    top: usize,
    /// The stages the top stage sends the global error to.
    globals: Vec<usize>,
    /// Messages received (sender, bytes), oldest first.
    inbox: VecDeque<(usize, Vec<u8>)>,
    /// Messages from ranks that have finished this epoch: the next epoch's.
    early: VecDeque<(usize, Vec<u8>)>,
    done: Vec<Option<Done>>,
    bytes_sent: u64,
    /// The stage loop's messages, by kind.
    wire: WireBytes,
    epoch: u64,
    batches: usize,
}

impl Link<'_> {
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

    /// Sends `message` to rank `to`, receiving whatever arrives meanwhile, so that two
    /// ranks sending each other large messages never wait on each other.
    fn send<F: Float>(&mut self, to: usize, message: &Wire<F>) {
        let bytes = encode(message);
        let len = bytes.len() as u64;
        self.bytes_sent += len;
        let kind = match message {
            Wire::Actor(Inbound::Up(_) | Inbound::End) => Some(&mut self.wire.activations),
            Wire::Actor(Inbound::Down { .. }) => Some(&mut self.wire.gradients),
            Wire::Actor(Inbound::Global { .. }) => Some(&mut self.wire.global_errors),
            Wire::Actor(Inbound::Credit) => Some(&mut self.wire.credits),
            Wire::Step(_) | Wire::TopLoss { .. } => Some(&mut self.wire.reports),
            Wire::Actor(Inbound::Abort) | Wire::Failed { .. } | Wire::Done { .. } => None,
        };
        if let Some(kind) = kind {
            *kind += len;
            self.wire.messages += 1;
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

    /// Delivers what the stage actor (or the feed) asked to send.
    fn dispatch<F: Float>(
        &mut self,
        out: &mut Vec<Outbound<F>>,
        mut feed: Option<&mut Feed<'_, F>>,
        observer: &mut dyn Observer,
        tally: &mut Tally,
    ) -> Result<()> {
        for message in out.drain(..) {
            let (rank, top) = (self.rank, self.top);
            let above = || {
                (rank < top)
                    .then_some(rank + 1)
                    .ok_or_else(|| Error::Protocol("the top stage sent something up".into()))
            };
            match message {
                Outbound::Up(a) => self.send(above()?, &Wire::Actor(Inbound::Up(a))),
                Outbound::End => self.send::<F>(above()?, &Wire::Actor(Inbound::End)),
                Outbound::Down { batch, message } => {
                    let below = rank.checked_sub(1).ok_or_else(|| {
                        Error::Protocol("the first stage sent a gradient down".into())
                    })?;
                    self.send(below, &Wire::Actor(Inbound::Down { batch, message }));
                }
                Outbound::Credit => match (rank.checked_sub(1), feed.as_deref_mut()) {
                    (Some(below), _) => self.send::<F>(below, &Wire::Actor(Inbound::Credit)),
                    (None, Some(feed)) => feed.credit(),
                    (None, None) => {
                        return Err(Error::Protocol("the first stage has no data feed".into()))
                    }
                },
                Outbound::Global { batch, error } => {
                    let message = Wire::Actor(Inbound::Global { batch, error });
                    for to in self.globals.clone() {
                        self.send(to, &message);
                    }
                }
                Outbound::Step(step) if rank == 0 => observer.on_stage_step(&step),
                Outbound::Step(step) => self.send::<F>(0, &Wire::Step(step)),
                Outbound::TopLoss { samples, loss } => {
                    tally.loss_sum += loss * samples as f64;
                    tally.samples += samples;
                    if rank == 0 {
                        tally.observe(self.epoch, self.batches, loss, observer);
                    } else {
                        let samples = samples as u64;
                        self.send::<F>(0, &Wire::TopLoss { samples, loss });
                    }
                }
            }
        }
        Ok(())
    }

    /// Handles one received message: to the actor (while it runs), to rank 0's observer,
    /// or the end of another rank's epoch. A message that does not decode, or comes from
    /// a rank that has no business sending it, is refused.
    fn handle<F: Float>(
        &mut self,
        (from, bytes): (usize, Vec<u8>),
        actor: Option<(&mut StageActor<'_, F>, &mut Vec<Outbound<F>>)>,
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
                stats,
                loss_sum,
                samples,
                state,
            } => match self.done.get_mut(from) {
                Some(slot @ None) if from != rank => {
                    *slot = Some(Done {
                        stats,
                        loss_sum,
                        samples,
                        state,
                    });
                    Ok(())
                }
                _ => unexpected("a second end of epoch"),
            },
            Wire::Step(step) if rank == 0 && step.stage == from => {
                observer.on_stage_step(&step);
                Ok(())
            }
            Wire::Step(_) => unexpected("a stage step"),
            // The sums come with the top rank's end of epoch.
            Wire::TopLoss { loss, .. } if rank == 0 && from == top => {
                tally.observe(self.epoch, self.batches, loss, observer);
                Ok(())
            }
            Wire::TopLoss { .. } => unexpected("the top loss"),
            Wire::Actor(inbound) => {
                let expected = match &inbound {
                    Inbound::Up(_) | Inbound::End => from + 1 == rank,
                    Inbound::Down { .. } | Inbound::Credit => from == rank + 1,
                    Inbound::Global { .. } => from == top && rank < top,
                    Inbound::Abort => false,
                };
                if !expected {
                    return unexpected("a stage message");
                }
                match (actor, inbound) {
                    (Some((actor, out)), inbound) => actor.receive(inbound, out),
                    // A credit after the stage has finished is of no use to it.
                    (None, Inbound::Credit) => Ok(()),
                    (None, _) => unexpected("a stage message after the end of its epoch"),
                }
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

/// The loop of this rank's stage, as [`Pipelined`](crate::Pipelined)'s stage threads
/// run it: handle what has arrived, do one unit of work, send what it produced, and
/// wait for a message only when there is nothing to do.
fn stage_loop<F: Float>(
    actor: &mut StageActor<'_, F>,
    link: &mut Link<'_>,
    mut feed: Option<Feed<'_, F>>,
    observer: &mut dyn Observer,
    tally: &mut Tally,
) -> Result<()> {
    let mut out = Vec::new();
    loop {
        link.drain();
        while let Some(received) = link.inbox.pop_front() {
            link.handle(received, Some((&mut *actor, &mut out)), observer, tally)?;
        }
        if let Some(feed) = &mut feed {
            feed.fill(actor, &mut out)?;
        }
        let started = Instant::now();
        let work = actor.work(&mut out)?;
        if work.is_some_and(|w| w.computes()) {
            actor.add_busy(started.elapsed().as_secs_f64());
        }
        link.dispatch(&mut out, feed.as_mut(), observer, tally)?;
        if actor.is_finished() {
            return Ok(());
        }
        if work.is_none() && link.inbox.is_empty() {
            link.wait();
        }
    }
}

impl Mpi {
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
        if n != self.ranks() {
            return Err(Error::Config(format!(
                "the mpi scheduler runs one stage per rank: the stack has {n} stages but the \
                 run has {} ranks (start it with mpirun -n {n})",
                self.ranks()
            )));
        }
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
        let role = roles[rank].clone();
        let mut link = Link {
            world: &self.world,
            rank,
            top: n - 1,
            globals: roles[n - 1].global_targets.clone(),
            inbox: std::mem::take(&mut self.early),
            early: VecDeque::new(),
            done: (0..n).map(|_| None).collect(),
            bytes_sent: 0,
            wire: WireBytes::default(),
            epoch: plan.epoch,
            batches: batches.len(),
        };
        let mut tally = Tally::default();
        let run = {
            let stage_name = stages[rank].name().to_string();
            let mut actor = StageActor::new(rank, &mut stages[rank], role, settings);
            let feed =
                (rank == 0).then(|| Feed::new(make, &batches, settings.capacity, network_input));
            let result = catch_unwind(AssertUnwindSafe(|| {
                stage_loop(&mut actor, &mut link, feed, observer, &mut tally)
            }));
            match result {
                Ok(Ok(())) => Ok(actor.stats(start.elapsed().as_secs_f64(), false)),
                Ok(Err(e @ Error::RankFailed { .. })) => Err((e, false)),
                Ok(Err(e @ Error::Data(_))) => Err((e, true)),
                Ok(Err(e)) => Err((actor.failure(e), true)),
                Err(payload) => Err((
                    actor.failed(format!("panicked: {}", panic_message(&payload))),
                    true,
                )),
            }
            .map_err(|(e, tell)| (e, tell, stage_name))
        };
        let stats = match run {
            Ok(stats) => StageStats {
                wire: Some(link.wire),
                ..stats
            },
            Err((e, tell, stage)) => {
                if tell {
                    let failed = Wire::<F>::Failed {
                        rank: rank as u32,
                        stage,
                        reason: e.to_string(),
                    };
                    for to in (0..n).filter(|&j| j != rank) {
                        link.send(to, &failed);
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

    /// Sends this rank's figures and stage state to every other rank, waits for theirs
    /// and loads their stages' states into this rank's copies: every rank ends the epoch
    /// holding the same stack. Returns every stage's figures and the top stage's loss
    /// sum and sample count.
    fn finish_epoch<F: Float>(
        &self,
        stages: &mut [Stage<F>],
        link: &mut Link<'_>,
        stats: StageStats,
        tally: &mut Tally,
        observer: &mut dyn Observer,
    ) -> Result<(Vec<StageStats>, f64, usize)> {
        let (rank, n) = (link.rank, stages.len());
        let wire_path = Path::new("(stage state sent between MPI ranks)");
        let mut state = StateDict::new();
        stages[rank].save_state("", &mut state);
        let done = Wire::<F>::Done {
            stats: stats.clone(),
            loss_sum: tally.loss_sum,
            samples: tally.samples as u64,
            state: state_to_bytes(&state, &BTreeMap::new(), wire_path)?,
        };
        for to in (0..n).filter(|&j| j != rank) {
            link.send(to, &done);
        }
        let own = Done {
            stats,
            loss_sum: tally.loss_sum,
            samples: tally.samples as u64,
            state: Vec::new(),
        };
        link.done[rank] = Some(own);
        while link.done.iter().any(Option::is_none) {
            if link.inbox.is_empty() {
                link.wait();
            }
            while let Some(received) = link.inbox.pop_front() {
                // Each rank's messages arrive in the order it sent them: after its end
                // of epoch, only the next epoch's.
                if link.done.get(received.0).is_some_and(Option::is_some) {
                    link.early.push_back(received);
                } else {
                    link.handle::<F>(received, None, observer, tally)?;
                }
            }
        }
        let mut all = Vec::with_capacity(n);
        let (mut loss_sum, mut samples) = (0.0, 0usize);
        for (j, done) in link.done.iter_mut().enumerate() {
            let done = done.take().expect("every rank's end has arrived");
            if j == n - 1 {
                loss_sum = done.loss_sum;
                samples = usize::try_from(done.samples).unwrap_or(usize::MAX);
            }
            if j != rank {
                let (mut dict, _) = state_from_bytes::<F>(&done.state, wire_path)?;
                stages[j].load_state("", &mut dict)?;
            }
            all.push(done.stats);
        }
        Ok((all, loss_sum, samples))
    }
}
