//! One stage under an asynchronous schedule, as a state machine: it receives messages
//! ([`Inbound`]), does one unit of work at a time and says what to send ([`Outbound`]).
//! The transport around it decides only *when* things happen: real threads and bounded
//! channels in [`Pipelined`](crate::Pipelined), a virtual clock in
//! [`Simulated`](crate::Simulated). Both therefore run the same protocol:
//!
//! - a batch comes up from below; the stage runs its forward pass, sends the output up
//!   (when the stage above has room: one *credit* per free slot, `capacity` in all) and
//!   learns at once if its objective needs nothing more, or keeps the batch (input, output,
//!   forward cache) until the gradient from above or the global error arrives. At most
//!   `in_flight` batches are kept; the stage takes no new batch while it holds that many.
//! - an update-unlocked stage learns at once from its prediction and keeps only the
//!   output until the gradient from above arrives to train its objective.
//! - when some stage needs the network input, the data source attaches the data batch to
//!   what it feeds the first stage, and each stage passes it up with its output as long as
//!   a stage above needs it, and keeps it with a batch when it needs it itself. It is
//!   copied once, at the source, and shared (`Arc`) from there: one more data batch for
//!   each batch alive anywhere in the pipeline. When no stage needs it, nothing is
//!   attached.
//! - the top stage learns at once, sends its input gradient down when the stage below
//!   needs it and its output error to every stage that needs the global error.
//!
//! Ready updates come before new forward passes, oldest batch first.

mod message;
mod role;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use locus_core::{Cache, Float, Tensor};

pub(crate) use message::{Activation, Inbound, Outbound, Work};
pub(crate) use role::{feeds_network_input, roles, Role};

use crate::{
    Error, ReplayBuffer, Result, Signals, Stage, StageStats, StageStep, StageUpdate, StatsRecorder,
    StepKind,
};

/// What a stage actor needs besides its stage and role.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActorSettings {
    /// The epoch, for reports.
    pub epoch: u64,
    /// Batches a stage may hold while waiting for messages.
    pub in_flight: usize,
    /// Slots in the queue of the stage above.
    pub capacity: usize,
    /// Batches in the epoch: the number of draws of a replay stage.
    pub batches: usize,
    /// Size of a replay buffer, and the seed of its draws.
    pub replay: Option<(usize, u64)>,
}

/// A batch a stage has forwarded and still needs for learning.
struct Pending<F> {
    input: Tensor<F>,
    output: Tensor<F>,
    cache: Option<Cache<F>>,
    labels: Vec<usize>,
    /// The data batch, when the stage's objective needs the network input.
    network_input: Option<Arc<Tensor<F>>>,
    forward_step: u64,
    /// The stage's step when it made its update (update-unlocked stages keep the batch
    /// after that, for the late message).
    learned_at: Option<u64>,
    message: Option<Tensor<F>>,
    message_staleness: u64,
    global: Option<Tensor<F>>,
}

struct Replay<F> {
    buffer: ReplayBuffer<Activation<F>>,
    draws: usize,
    drawn: usize,
}

/// One stage of an asynchronous schedule.
pub(crate) struct StageActor<'a, F: Float> {
    index: usize,
    settings: ActorSettings,
    stage: &'a mut Stage<F>,
    role: Role,
    credits: usize,
    queue: VecDeque<Activation<F>>,
    replay: Option<Replay<F>>,
    outgoing: Option<Activation<F>>,
    pending: BTreeMap<u64, Pending<F>>,
    ended: bool,
    finished: bool,
    current_batch: Option<u64>,
    stats: StatsRecorder,
}

/// An internal error: the protocol was broken (a bug, never the user's input).
fn protocol(stage: &str, what: String) -> Error {
    Error::Protocol(format!("stage '{stage}': {what}"))
}

impl<'a, F: Float> StageActor<'a, F> {
    /// Stage `index`, with its role and settings.
    pub fn new(index: usize, stage: &'a mut Stage<F>, role: Role, settings: ActorSettings) -> Self {
        let replay = match (role.replay, settings.replay) {
            (true, Some((batches, seed))) => {
                let mix = settings.epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ (index as u64 + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                Some(Replay {
                    buffer: ReplayBuffer::new(batches, seed ^ mix),
                    draws: settings.batches,
                    drawn: 0,
                })
            }
            _ => None,
        };
        StageActor {
            index,
            settings,
            stage,
            role,
            credits: settings.capacity,
            queue: VecDeque::new(),
            replay,
            outgoing: None,
            pending: BTreeMap::new(),
            ended: false,
            finished: false,
            current_batch: None,
            stats: StatsRecorder::default(),
        }
    }

    /// The stage's name.
    pub fn name(&self) -> &str {
        self.stage.name()
    }

    /// Whether the stage has done all its work for the epoch (and said so to the stage
    /// above).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Adds computing time (seconds, or virtual units).
    pub fn add_busy(&mut self, amount: f64) {
        self.stats.busy(amount);
    }

    /// The epoch's figures.
    pub fn stats(&mut self, elapsed: f64, virtual_time: bool) -> StageStats {
        if let Some(r) = &self.replay {
            self.stats.replay_unused(r.buffer.never_drawn());
        }
        self.stats.finish(self.stage.name(), elapsed, virtual_time)
    }

    /// `error`, turned into [`Error::StageFailed`] naming this stage, its step and the
    /// batch it was working on.
    pub fn failure(&self, error: Error) -> Error {
        let reason = match error {
            Error::Stage { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        self.failed(reason)
    }

    /// [`Error::StageFailed`] naming this stage, its step and the batch it was working
    /// on, for `reason`.
    pub fn failed(&self, reason: String) -> Error {
        Error::StageFailed {
            stage: self.stage.name().to_string(),
            epoch: self.settings.epoch,
            batch: self.current_batch,
            step: self.stage.steps(),
            reason,
        }
    }

    /// Takes in one message; only bookkeeping, no computation (a replay stage returns its
    /// credit at once, since its buffer never makes the stage below wait).
    ///
    /// # Errors
    /// [`Error::Protocol`] for a message the protocol does not allow (a bug).
    pub fn receive(&mut self, message: Inbound<F>, out: &mut Vec<Outbound<F>>) -> Result<()> {
        match message {
            Inbound::Up(activation) => {
                self.stats.input();
                if let Some(replay) = &mut self.replay {
                    replay.buffer.push(activation);
                    out.push(Outbound::Credit);
                } else {
                    self.queue.push_back(activation);
                }
            }
            Inbound::End => self.ended = true,
            Inbound::Credit => self.credits += 1,
            Inbound::Down { batch, message } => {
                let steps = self.stage.steps();
                let name = self.stage.name();
                let expected = self.role.waits_message || self.role.late_message;
                let entry = self.pending.get_mut(&batch).filter(|_| expected);
                let Some(entry) = entry.filter(|e| e.message.is_none()) else {
                    return Err(protocol(
                        name,
                        format!("unexpected gradient message for batch {batch}"),
                    ));
                };
                if message.shape() != entry.output.shape() {
                    return Err(protocol(
                        name,
                        format!(
                            "a gradient message of shape {:?} for batch {batch}, whose \
                             output has shape {:?}",
                            message.shape(),
                            entry.output.shape()
                        ),
                    ));
                }
                entry.message_staleness = steps - entry.forward_step;
                entry.message = Some(message);
                self.stats.message(steps - entry.forward_step);
            }
            Inbound::Global { batch, error } => {
                let steps = self.stage.steps();
                let name = self.stage.name();
                let expected = self.role.waits_global;
                let entry = self.pending.get_mut(&batch).filter(|_| expected);
                let Some(entry) = entry.filter(|e| e.global.is_none() && e.learned_at.is_none())
                else {
                    return Err(protocol(
                        name,
                        format!("unexpected global error for batch {batch}"),
                    ));
                };
                if error.shape().first() != Some(&entry.labels.len()) {
                    return Err(protocol(
                        name,
                        format!(
                            "a global error of shape {:?} for batch {batch} of {} samples",
                            error.shape(),
                            entry.labels.len()
                        ),
                    ));
                }
                entry.global = Some(error);
                self.stats.message(steps - entry.forward_step);
            }
            Inbound::Abort => {}
        }
        Ok(())
    }

    /// Does at most one unit of work, pushing what it sends onto `out`; `None` when there
    /// is nothing to do until another message arrives.
    ///
    /// # Errors
    /// The stage's error when its forward pass, objective or optimizer fails (turn it into
    /// a report with [`StageActor::failure`]); [`Error::Protocol`] for a bug.
    pub fn work(&mut self, out: &mut Vec<Outbound<F>>) -> Result<Option<Work>> {
        if self.finished {
            return Ok(None);
        }
        if self.outgoing.is_some() && self.credits > 0 {
            self.credits -= 1;
            out.push(Outbound::Up(self.outgoing.take().expect("checked")));
            return Ok(Some(Work::Send));
        }
        let ready = self
            .pending
            .iter()
            .find(|(_, p)| self.is_ready(p))
            .map(|(&b, _)| b);
        if let Some(batch) = ready {
            return self.resolve(batch, out).map(Some);
        }
        if self.outgoing.is_none() && self.pending.len() < self.settings.in_flight {
            if let Some(activation) = self.next_input(out) {
                return self.forward(activation, out).map(Some);
            }
        }
        let replay_done = self.replay.as_ref().is_none_or(|r| r.drawn >= r.draws);
        if self.ended
            && replay_done
            && self.queue.is_empty()
            && self.outgoing.is_none()
            && self.pending.is_empty()
        {
            self.finished = true;
            if !self.role.is_top {
                out.push(Outbound::End);
            }
            return Ok(Some(Work::Send));
        }
        Ok(None)
    }

    fn is_ready(&self, p: &Pending<F>) -> bool {
        match p.learned_at {
            None => {
                (!self.role.waits_message || p.message.is_some())
                    && (!self.role.waits_global || p.global.is_some())
            }
            Some(_) => p.message.is_some(),
        }
    }

    fn next_input(&mut self, out: &mut Vec<Outbound<F>>) -> Option<Activation<F>> {
        if let Some(replay) = &mut self.replay {
            if replay.drawn >= replay.draws {
                return None;
            }
            let mut activation = replay.buffer.sample()?;
            activation.batch = replay.drawn as u64;
            replay.drawn += 1;
            Some(activation)
        } else {
            let activation = self.queue.pop_front()?;
            out.push(Outbound::Credit);
            Some(activation)
        }
    }

    fn forward(&mut self, activation: Activation<F>, out: &mut Vec<Outbound<F>>) -> Result<Work> {
        let Activation {
            batch,
            input,
            labels,
            network_input,
        } = activation;
        self.current_batch = Some(batch);
        let (output, cache) = self.stage.forward(&input)?;
        let forward_step = self.stage.steps();
        let immediate = !self.role.waits_message && !self.role.waits_global;
        if immediate {
            let signals = Signals {
                labels: Some(&labels),
                network_input: network_input.as_deref(),
                ..Signals::default()
            };
            let made = update(self.stage, &self.role, (&input, &output, &cache), signals)?;
            self.after_update(batch, &labels, 0, made, out)?;
        }
        let keep = !immediate || self.role.late_message;
        let (kept, up) = match (keep, self.role.is_top) {
            (true, false) => (Some(output.clone()), Some(output)),
            (true, true) => (Some(output), None),
            (false, false) => (None, Some(output)),
            (false, true) => (None, None),
        };
        if let Some(up) = up {
            self.outgoing = Some(Activation {
                batch,
                input: up,
                labels: labels.clone(),
                network_input: network_input
                    .as_ref()
                    .filter(|_| self.role.sends_network_input)
                    .cloned(),
            });
        }
        if let Some(output) = kept {
            let entry = Pending {
                input,
                output,
                cache: (!immediate).then_some(cache),
                labels,
                network_input: network_input.filter(|_| self.role.needs_network_input),
                forward_step,
                learned_at: immediate.then_some(forward_step),
                message: None,
                message_staleness: 0,
                global: None,
            };
            self.pending.insert(batch, entry);
            self.stats.in_flight(self.pending.len());
        }
        Ok(Work::Forward { learned: immediate })
    }

    /// Learns from a kept batch whose messages have all arrived, or hands a late message
    /// to an update-unlocked objective.
    fn resolve(&mut self, batch: u64, out: &mut Vec<Outbound<F>>) -> Result<Work> {
        self.current_batch = Some(batch);
        let mut entry = self.pending.remove(&batch).expect("a ready batch is kept");
        if let Some(learned_at) = entry.learned_at {
            let message = entry.message.take().expect("ready: the message arrived");
            let loss = self
                .stage
                .learn_from_late_message(
                    &entry.input,
                    &entry.output,
                    Some(&entry.labels),
                    entry.network_input.as_deref(),
                    &message,
                    learned_at,
                )?
                .as_f64();
            let samples = entry.labels.len();
            self.stats.loss(loss, samples);
            out.push(Outbound::Step(StageStep {
                epoch: self.settings.epoch,
                stage: self.index,
                batch,
                step: learned_at,
                samples,
                loss,
                staleness: entry.message_staleness,
                kind: StepKind::LateMessage,
            }));
            return Ok(Work::LateMessage);
        }
        let staleness = self.stage.steps() - entry.forward_step;
        let cache = entry.cache.take().expect("kept until the update");
        let message = entry.message.take();
        let global = entry.global.take();
        let signals = Signals {
            labels: Some(&entry.labels),
            message: message.as_ref(),
            global_error: global.as_ref(),
            network_input: entry.network_input.as_deref(),
        };
        let made = update(
            self.stage,
            &self.role,
            (&entry.input, &entry.output, &cache),
            signals,
        )?;
        self.after_update(batch, &entry.labels, staleness, made, out)?;
        if self.role.late_message {
            entry.learned_at = Some(self.stage.steps() - 1);
            entry.message = message;
            self.pending.insert(batch, entry);
        }
        Ok(Work::Learn)
    }

    /// Records an update and sends what it produced: the input gradient down, and for the
    /// top stage the global error and the network's loss.
    fn after_update(
        &mut self,
        batch: u64,
        labels: &[usize],
        staleness: u64,
        made: StageUpdate<F>,
        out: &mut Vec<Outbound<F>>,
    ) -> Result<()> {
        let samples = labels.len();
        let loss = made.loss.as_f64();
        self.stats.update(samples, staleness);
        if !self.role.late_message {
            self.stats.loss(loss, samples);
        }
        out.push(Outbound::Step(StageStep {
            epoch: self.settings.epoch,
            stage: self.index,
            batch,
            step: self.stage.steps() - 1,
            samples,
            loss,
            staleness,
            kind: StepKind::Update,
        }));
        if self.role.below_needs_message {
            let message = made.grad_input.ok_or_else(|| {
                protocol(
                    self.stage.name(),
                    format!("no input gradient for batch {batch}"),
                )
            })?;
            out.push(Outbound::Down { batch, message });
        }
        if self.role.is_top {
            if !self.role.global_targets.is_empty() {
                out.push(Outbound::Global {
                    batch,
                    error: made.grad_output,
                });
            }
            out.push(Outbound::TopLoss { samples, loss });
        }
        Ok(())
    }
}

/// One update of `stage` from a batch's input, output and forward cache: `learn` for
/// stages that had all they need, or `learn_unlocked` for update-unlocked ones.
fn update<F: Float>(
    stage: &mut Stage<F>,
    role: &Role,
    pending: (&Tensor<F>, &Tensor<F>, &Cache<F>),
    signals: Signals<'_, F>,
) -> Result<StageUpdate<F>> {
    let (input, output, cache) = pending;
    if role.late_message {
        stage.learn_unlocked(input, output, cache, signals, role.below_needs_message)
    } else {
        stage.learn(input, output, cache, signals, role.below_needs_message)
    }
}
