//! The pipelined scheduler: every stage on its own thread, bounded channels between them.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use locus_core::{limit_matmul_threads_here, matmul_threads, Float};
use locus_data::{epoch_batches, gather, Dataset};

use crate::actor::{
    feeds_network_input, roles, Activation, ActorSettings, Inbound, Outbound, StageActor,
};
use crate::scheduler::MakeBatch;
use crate::stack_params::StagesView;
use crate::{
    AsyncConfig, EpochEnd, EpochPlan, EpochReport, Error, Observer, Result, Scheduler, Stage,
    StageStep, StepInfo,
};

/// Runs every stage on its own thread (`std::thread::scope`), connected by bounded
/// channels (`std::sync::mpsc::sync_channel`), so that stages work at the same time on
/// different batches.
///
/// Activations (with labels and the batch's identifier) flow up; gradient messages flow
/// down; the top stage's output error is broadcast to the stages that need it (direct
/// feedback alignment). A stage updates as soon as its signal is ready: at once for a
/// local objective or an update-unlocked one (synthetic gradients, Jaderberg et al. 2016),
/// when the global error arrives for DFA (Nøkland 2016), when the gradient from above
/// arrives for a backward-locked one. The same stages run under [`Lockstep`](crate::Lockstep)
/// unchanged; with [`AsyncConfig::in_flight`] = 1 every stage waits for its batch's
/// signal before taking the next, and the result is bit for bit Lockstep's.
///
/// **Backward-locked stages** (backpropagation, feedback alignment) are allowed, as in
/// PipeDream (Narayanan et al. 2019) but without its weight stashing: a stage keeps each
/// batch's forward cache (the activations of the forward pass) until the gradient for it
/// arrives, and then computes the update from that cache and the gradient, while the
/// gradient it sends further down goes through its *current* weights, which may have moved
/// since the forward pass. [`StageStats::staleness_mean`](crate::StageStats) says by how
/// many updates.
///
/// **Memory** is bounded by [`AsyncConfig`]: each stage keeps at most `in_flight`
/// batches, and at most `capacity` batches wait between two stages (a stage sends up only
/// when the stage above has a free slot). When a stage's objective
/// [needs the network input](locus_objectives::LocalObjective::needs_network_input), the
/// data batch travels up with the activations as far as the highest such stage, copied
/// once at the source and shared from there (one more data batch for each batch some
/// stage still holds, whatever the number of stages); otherwise nothing travels. Stages never block on a send: every thread
/// waits in one place, its inbox, so no cycle of waiting threads can form.
///
/// **Failures**: an error or a panic in any stage stops every thread and the epoch
/// returns [`Error::StageFailed`] naming the stage, its step and the batch. No signal
/// handler or panic hook is installed (a panic still prints its message, as usual).
///
/// Thread timing decides the order of events when more than one batch is in flight, so
/// runs with `in_flight > 1` are not bit-reproducible; [`Simulated`](crate::Simulated)
/// runs the same protocol on a virtual clock, reproducibly.
///
/// **Threads**: one per stage, and each stage's matrix products get
/// `MATMUL_NUM_THREADS / stages` threads (at least one;
/// [`limit_matmul_threads_here`]), so that stage threads and matrix threads together do
/// not outnumber the cores.
///
/// Observers are called on the calling thread, as the stages report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pipelined {
    config: AsyncConfig,
}

impl Pipelined {
    /// A pipelined scheduler with the given bounds.
    ///
    /// # Errors
    /// As [`AsyncConfig::check`].
    pub fn new(config: AsyncConfig) -> Result<Self> {
        config.check()?;
        Ok(Pipelined { config })
    }

    /// The bounds.
    pub fn config(&self) -> &AsyncConfig {
        &self.config
    }
}

/// What stage threads tell the calling thread.
enum Notice {
    Step(StageStep),
    TopLoss { samples: usize, loss: f64 },
    Failed(Error),
}

/// Where one stage thread sends things.
struct Links<F> {
    above: Option<SyncSender<Inbound<F>>>,
    below: Option<SyncSender<Inbound<F>>>,
    globals: Vec<SyncSender<Inbound<F>>>,
    notices: mpsc::Sender<Notice>,
}

/// Sends without ever blocking: `Ok(false)` when the receiver has gone (the run is
/// stopping), an error when the inbox is full (the protocol bounds its content).
fn deliver<F>(to: &SyncSender<Inbound<F>>, message: Inbound<F>) -> Result<bool> {
    match to.try_send(message) {
        Ok(()) => Ok(true),
        Err(TrySendError::Disconnected(_)) => Ok(false),
        Err(TrySendError::Full(_)) => Err(Error::Protocol(
            "a stage inbox is full, which the credit protocol should prevent".into(),
        )),
    }
}

impl<F: Float> Links<F> {
    /// Sends everything in `out`; `Ok(false)` when a peer has gone. The first stage's
    /// credits go back to its `feed`.
    fn dispatch(&self, out: &mut Vec<Outbound<F>>, feed: Option<&mut Feed<'_, F>>) -> Result<bool> {
        let mut feed = feed;
        for message in out.drain(..) {
            let delivered = match message {
                Outbound::Up(a) => deliver(above(&self.above)?, Inbound::Up(a))?,
                Outbound::End => deliver(above(&self.above)?, Inbound::End)?,
                Outbound::Down { batch, message } => {
                    let below = self.below.as_ref().ok_or_else(|| {
                        Error::Protocol("the first stage sent a gradient down".into())
                    })?;
                    deliver(below, Inbound::Down { batch, message })?
                }
                // A credit to a stage that has finished is of no use to it.
                Outbound::Credit => match (&self.below, feed.as_deref_mut()) {
                    (Some(below), _) => deliver(below, Inbound::Credit).map(|_| true)?,
                    (None, Some(feed)) => {
                        feed.credit();
                        true
                    }
                    (None, None) => {
                        return Err(Error::Protocol("the first stage has no data feed".into()))
                    }
                },
                Outbound::Global { batch, error } => {
                    let mut all = true;
                    for to in &self.globals {
                        all &= deliver(
                            to,
                            Inbound::Global {
                                batch,
                                error: error.clone(),
                            },
                        )?;
                    }
                    all
                }
                Outbound::Step(step) => self.notices.send(Notice::Step(step)).is_ok(),
                Outbound::TopLoss { samples, loss } => {
                    self.notices.send(Notice::TopLoss { samples, loss }).is_ok()
                }
            };
            if !delivered {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn above<F>(link: &Option<SyncSender<Inbound<F>>>) -> Result<&SyncSender<Inbound<F>>> {
    link.as_ref()
        .ok_or_else(|| Error::Protocol("the top stage sent something up".into()))
}

/// The loop of one stage thread: take in whatever has arrived, do one unit of work, and
/// wait on the inbox only when there is nothing to do. Returns when the stage has
/// finished the epoch or the run is stopping.
fn stage_loop<F: Float>(
    actor: &mut StageActor<'_, F>,
    inbox: &Receiver<Inbound<F>>,
    links: &Links<F>,
    mut feed: Option<Feed<'_, F>>,
    stop: &AtomicBool,
) -> Result<()> {
    let mut out = Vec::new();
    let stopping = || stop.load(Ordering::Relaxed);
    loop {
        if stopping() {
            return Ok(());
        }
        if let Some(feed) = &mut feed {
            feed.fill(actor, &mut out)?;
        }
        loop {
            match inbox.try_recv() {
                Ok(Inbound::Abort) | Err(TryRecvError::Disconnected) => return Ok(()),
                Ok(message) => actor.receive(message, &mut out)?,
                Err(TryRecvError::Empty) => break,
            }
        }
        let started = Instant::now();
        let work = actor.work(&mut out)?;
        if let Some(work) = work {
            if work.computes() {
                actor.add_busy(started.elapsed().as_secs_f64());
            }
        }
        match links.dispatch(&mut out, feed.as_mut()) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(_) if stopping() => return Ok(()),
            Err(e) => return Err(e),
        }
        if actor.is_finished() {
            return Ok(());
        }
        if work.is_none() {
            match inbox.recv() {
                Ok(Inbound::Abort) | Err(_) => return Ok(()),
                Ok(message) => actor.receive(message, &mut out)?,
            }
        }
    }
}

/// Runs one stage thread to its end, turning an error or a panic into a failure notice.
fn run_stage<'s, F: Float>(
    mut actor: StageActor<'s, F>,
    inbox: Receiver<Inbound<F>>,
    links: Links<F>,
    feed: Option<Feed<'_, F>>,
    stop: &AtomicBool,
) -> StageActor<'s, F> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        stage_loop(&mut actor, &inbox, &links, feed, stop)
    }));
    let failure = match result {
        Ok(Ok(())) => None,
        // A batch that cannot be read is the data's fault, not the stage's.
        Ok(Err(e @ Error::Data(_))) => Some(e),
        Ok(Err(e)) => Some(actor.failure(e)),
        Err(payload) => Some(actor.failed(format!("panicked: {}", panic_message(&payload)))),
    };
    if let Some(e) = failure {
        let _ = links.notices.send(Notice::Failed(e));
    }
    actor
}

/// The text of a panic, when it has one.
pub(crate) fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Stops every stage thread: raises the flag they check between units of work and wakes
/// those waiting on their inbox. Also done when the calling thread unwinds (a panicking
/// observer), so that the scope's join cannot hang.
struct Stopper<'a, F> {
    inboxes: &'a [SyncSender<Inbound<F>>],
    stop: &'a AtomicBool,
}

impl<F> Stopper<'_, F> {
    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for inbox in self.inboxes {
            let _ = inbox.try_send(Inbound::Abort);
        }
    }
}

impl<F> Drop for Stopper<'_, F> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.stop();
        }
    }
}

/// The data source, on the first stage's thread: gathers the epoch's batches and hands
/// them to the stage as it frees slots, so that no other thread stands between the data
/// and the first stage. The [`Mpi`](crate::Mpi) scheduler's rank 0 feeds its stage the
/// same way.
pub(crate) struct Feed<'a, F> {
    make: &'a MakeBatch<'a, F>,
    batches: &'a [Vec<usize>],
    next: usize,
    credits: usize,
    end_sent: bool,
    /// Whether to attach the data batch as the network input (some stage needs it).
    network_input: bool,
}

impl<'a, F: Float> Feed<'a, F> {
    /// A feed of `batches` (sample indices, in the epoch's order) made by `make`, with
    /// `capacity` credits to start.
    pub(crate) fn new(
        make: &'a MakeBatch<'a, F>,
        batches: &'a [Vec<usize>],
        capacity: usize,
        network_input: bool,
    ) -> Self {
        Feed {
            make,
            batches,
            next: 0,
            credits: capacity,
            end_sent: false,
            network_input,
        }
    }

    /// One more batch may be fed.
    pub(crate) fn credit(&mut self) {
        self.credits += 1;
    }

    /// Hands the stage every batch it has room for, and the end of the epoch after the
    /// last.
    pub(crate) fn fill(
        &mut self,
        actor: &mut StageActor<'_, F>,
        out: &mut Vec<Outbound<F>>,
    ) -> Result<()> {
        while self.credits > 0 && self.next < self.batches.len() {
            let batch = (self.make)(self.next, &self.batches[self.next])?;
            let activation = Activation {
                batch: self.next as u64,
                network_input: self.network_input.then(|| Arc::new(batch.inputs.clone())),
                input: batch.inputs,
                labels: batch.labels,
            };
            actor.receive(Inbound::Up(activation), out)?;
            self.next += 1;
            self.credits -= 1;
        }
        if self.next == self.batches.len() && !self.end_sent {
            self.end_sent = true;
            actor.receive(Inbound::End, out)?;
        }
        Ok(())
    }
}

impl<F: Float> Scheduler<F> for Pipelined {
    fn name(&self) -> String {
        "pipelined".into()
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

impl Pipelined {
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
        let roles = roles(stages, &self.config)?;
        let network_input = feeds_network_input(&roles);
        let start = Instant::now();
        let batches = epoch_batches(data.len(), plan.batch_size, plan.seed, plan.epoch)?;
        let n = stages.len();
        let settings = ActorSettings {
            epoch: plan.epoch,
            in_flight: self.config.in_flight_for(n),
            capacity: self.config.capacity,
            batches: batches.len(),
            replay: self.config.replay.as_ref().map(|r| (r.batches, r.seed)),
        };
        // Up to `capacity` activations and as many credits, one gradient and one global
        // error per batch in flight, the end of the epoch, and stop requests.
        let inbox_size = 2 * settings.capacity + 2 * settings.in_flight + 4;
        let (inboxes, receivers): (Vec<_>, Vec<_>) = (0..n)
            .map(|_| mpsc::sync_channel::<Inbound<F>>(inbox_size))
            .unzip();
        let (notice_tx, notices) = mpsc::channel::<Notice>();
        // The stages already keep the cores busy: each gets its share for its products.
        let matmul_share = (matmul_threads() / n).max(1);
        let stop = AtomicBool::new(false);
        let mut failure: Option<Error> = None;
        let (mut loss_sum, mut samples, mut top_steps) = (0.0, 0usize, 0usize);

        let actors = thread::scope(|scope| {
            let stopper = Stopper {
                inboxes: &inboxes,
                stop: &stop,
            };
            let mut handles = Vec::with_capacity(n);
            for (i, ((stage, role), inbox)) in
                stages.iter_mut().zip(roles).zip(receivers).enumerate()
            {
                let links = Links {
                    above: inboxes.get(i + 1).cloned(),
                    below: i.checked_sub(1).map(|b| inboxes[b].clone()),
                    globals: role
                        .global_targets
                        .iter()
                        .map(|&j| inboxes[j].clone())
                        .collect(),
                    notices: notice_tx.clone(),
                };
                let actor = StageActor::new(i, stage, role, settings);
                let feed =
                    (i == 0).then(|| Feed::new(make, &batches, settings.capacity, network_input));
                let stop = &stop;
                let spawned = thread::Builder::new()
                    .name(format!("locus-stage-{i}"))
                    .spawn_scoped(scope, move || {
                        limit_matmul_threads_here(matmul_share);
                        run_stage(actor, inbox, links, feed, stop)
                    });
                match spawned {
                    Ok(handle) => handles.push(handle),
                    Err(e) => {
                        failure = Some(Error::Config(format!(
                            "cannot start the thread of stage {i}: {e}"
                        )));
                        stopper.stop();
                        break;
                    }
                }
            }
            drop(notice_tx);
            while let Ok(notice) = notices.recv() {
                match notice {
                    Notice::Step(step) => observer.on_stage_step(&step),
                    Notice::TopLoss {
                        samples: count,
                        loss,
                    } => {
                        observer.on_step(&StepInfo {
                            epoch: plan.epoch,
                            batch: top_steps,
                            batches: batches.len(),
                            loss,
                        });
                        top_steps += 1;
                        loss_sum += loss * count as f64;
                        samples += count;
                    }
                    Notice::Failed(e) => {
                        failure.get_or_insert(e);
                        stopper.stop();
                    }
                }
            }
            handles
                .into_iter()
                .map(|h| {
                    h.join().map_err(|payload| {
                        Error::Protocol(format!(
                            "a stage thread panicked outside its stage: {}",
                            panic_message(&payload)
                        ))
                    })
                })
                .collect::<Result<Vec<_>>>()
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let mut actors = actors?;
        if let Some(a) = actors.iter().find(|a| !a.is_finished()) {
            return Err(Error::Protocol(format!(
                "stage '{}' stopped before the end of the epoch",
                a.name()
            )));
        }
        let elapsed = start.elapsed().as_secs_f64();
        let stats: Vec<_> = actors.iter_mut().map(|a| a.stats(elapsed, false)).collect();
        drop(actors);
        let report = EpochReport {
            epoch: plan.epoch,
            loss: loss_sum / samples.max(1) as f64,
            stage_losses: stats.iter().map(|s| s.mean_loss).collect(),
            samples,
            wall_s: elapsed,
        };
        observer.on_epoch_end(&EpochEnd {
            report: &report,
            stages: &stats,
            params: &StagesView(stages),
        });
        Ok(report)
    }
}
