//! The bytes of the messages ranks send each other under the [`Mpi`](super::Mpi)
//! scheduler, and their strict decoding: a message that is truncated, too long, of the
//! wrong element type, mis-shaped or holding a non-finite value is refused with an error
//! naming what is wrong, never a panic (a rank must not trust its peers' bytes).
//!
//! Layout (little-endian): the magic `LCM1`, a kind byte, then the kind's fields. A
//! tensor is its element width in bytes (4 or 8, that of the run's float type), its
//! number of axes (at most [`MAX_AXES`]), each axis's length as `u64`, then its values;
//! a string or byte blob is a `u32` length then the bytes; a list of labels is a `u32`
//! count then one `u64` each.

use std::sync::Arc;

use locus_core::{Float, Tensor};
use ndarray::IxDyn;

use crate::actor::{Activation, Inbound};
use crate::{Error, Result, StageStats, StageStep, StepKind, WireBytes};

/// The first bytes of every message.
const MAGIC: &[u8; 4] = b"LCM1";
/// The most axes a tensor may have on the wire.
pub(crate) const MAX_AXES: usize = 8;

const UP: u8 = 1;
const END: u8 = 2;
const DOWN: u8 = 3;
const GLOBAL: u8 = 4;
const CREDIT: u8 = 5;
const FAILED: u8 = 6;
const STEP: u8 = 7;
const TOP_LOSS: u8 = 8;
const DONE: u8 = 9;

/// One message between ranks.
#[derive(Debug)]
pub(crate) enum Wire<F> {
    /// For a stage actor: an activation, the end of the epoch, a gradient, a global
    /// error or a credit (never [`Inbound::Abort`], which is [`Wire::Failed`] here).
    Actor(Inbound<F>),
    /// A rank failed: every other rank stops with this error.
    Failed {
        /// The failing rank.
        rank: u32,
        /// The stage it ran.
        stage: String,
        /// What went wrong.
        reason: String,
    },
    /// A stage's step, for rank 0's observer.
    Step(StageStep),
    /// The top stage's loss on a batch, for rank 0's observer.
    TopLoss {
        /// Samples in the batch.
        samples: u64,
        /// The loss.
        loss: f64,
    },
    /// The end of the epoch of one of a rank's stages: its figures, the top stage's loss
    /// sums (zero elsewhere) and its state (a safetensors file's bytes). A rank sends one
    /// per stage it runs, bottom first.
    Done {
        /// The stage's index in the stack.
        stage: u32,
        /// The stage's figures.
        stats: StageStats,
        /// Sum of the top loss times samples (top stage only).
        loss_sum: f64,
        /// Samples the top stage learned from (top stage only).
        samples: u64,
        /// The stage's state.
        state: Vec<u8>,
    },
}

/// A decoding error: the message is refused.
fn refused(what: impl std::fmt::Display) -> Error {
    Error::Protocol(format!("malformed message from another rank: {what}"))
}

/// Encodes `message`.
pub(crate) fn encode<F: Float>(message: &Wire<F>) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64));
    w.0.extend_from_slice(MAGIC);
    match message {
        Wire::Actor(Inbound::Up(a)) => {
            w.u8(UP);
            w.u64(a.batch);
            w.u32(a.labels.len() as u32);
            for &l in &a.labels {
                w.u64(l as u64);
            }
            w.tensor(&a.input);
            match &a.network_input {
                Some(t) => {
                    w.u8(1);
                    w.tensor(t);
                }
                None => w.u8(0),
            }
        }
        Wire::Actor(Inbound::End) => w.u8(END),
        Wire::Actor(Inbound::Down { batch, message }) => {
            w.u8(DOWN);
            w.u64(*batch);
            w.tensor(message);
        }
        Wire::Actor(Inbound::Global { batch, error }) => {
            w.u8(GLOBAL);
            w.u64(*batch);
            w.tensor(error);
        }
        Wire::Actor(Inbound::Credit) => w.u8(CREDIT),
        // Never sent as such: a failing rank sends `Failed`, which names it.
        Wire::Actor(Inbound::Abort) => {
            w.u8(FAILED);
            w.u32(u32::MAX);
            w.str("");
            w.str("aborted");
        }
        Wire::Failed {
            rank,
            stage,
            reason,
        } => {
            w.u8(FAILED);
            w.u32(*rank);
            w.str(stage);
            w.str(reason);
        }
        Wire::Step(s) => {
            w.u8(STEP);
            w.u64(s.epoch);
            w.u64(s.stage as u64);
            w.u64(s.batch);
            w.u64(s.step);
            w.u64(s.samples as u64);
            w.f64(s.loss);
            w.u64(s.staleness);
            w.u8(match s.kind {
                StepKind::Update => 0,
                StepKind::LateMessage => 1,
            });
        }
        Wire::TopLoss { samples, loss } => {
            w.u8(TOP_LOSS);
            w.u64(*samples);
            w.f64(*loss);
        }
        Wire::Done {
            stage,
            stats,
            loss_sum,
            samples,
            state,
        } => {
            w.u8(DONE);
            w.u32(*stage);
            w.str(&stats.stage);
            w.u64(stats.updates);
            w.u64(stats.inputs);
            w.u64(stats.samples as u64);
            w.f64(stats.mean_loss);
            w.f64(stats.staleness_mean);
            w.u64(stats.staleness_max);
            match stats.message_staleness_mean {
                Some(m) => {
                    w.u8(1);
                    w.f64(m);
                }
                None => w.u8(0),
            }
            w.u64(stats.peak_in_flight as u64);
            w.u64(stats.replay_unused);
            w.f64(stats.busy);
            w.f64(stats.elapsed);
            w.u8(stats.virtual_time as u8);
            match &stats.wire {
                Some(b) => {
                    w.u8(1);
                    for v in [
                        b.activations,
                        b.gradients,
                        b.global_errors,
                        b.credits,
                        b.reports,
                        b.messages,
                    ] {
                        w.u64(v);
                    }
                }
                None => w.u8(0),
            }
            w.f64(*loss_sum);
            w.u64(*samples);
            w.bytes(state);
        }
    }
    w.0
}

/// The length of [`encode`]'s bytes for a stage actor's message, without encoding it:
/// what the message costs on a link (the [`Simulated`](crate::Simulated) scheduler's
/// bandwidth model charges it).
pub(crate) fn encoded_len<F: Float>(message: &Inbound<F>) -> usize {
    let tensor = |t: &Tensor<F>| 2 + 8 * t.ndim() + t.len() * std::mem::size_of::<F>();
    let head = MAGIC.len() + 1;
    head + match message {
        Inbound::Up(a) => {
            8 + 4
                + 8 * a.labels.len()
                + tensor(&a.input)
                + 1
                + a.network_input.as_deref().map_or(0, tensor)
        }
        Inbound::End | Inbound::Credit => 0,
        Inbound::Down { message: t, .. } | Inbound::Global { error: t, .. } => 8 + tensor(t),
        // Sent as a failure with an empty stage name and "aborted".
        Inbound::Abort => 4 + 4 + 4 + "aborted".len(),
    }
}

/// Decodes a message, refusing anything that does not follow the layout exactly.
///
/// # Errors
/// [`Error::Protocol`] saying what is wrong: a bad magic or kind, a truncated or
/// over-long message, a tensor of the wrong element type, with too many axes, whose
/// shape does not match its values or whose values are not finite, an activation whose
/// labels do not match its batch dimension, a string that is not UTF-8.
pub(crate) fn decode<F: Float>(bytes: &[u8]) -> Result<Wire<F>> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4, "magic")? != MAGIC {
        return Err(refused("it does not start with the magic 'LCM1'"));
    }
    let kind = r.u8("kind")?;
    let message = match kind {
        UP => {
            let batch = r.u64("batch")?;
            let count = r.u32("label count")? as usize;
            // Each label takes 8 bytes: refuse a count the message cannot hold before
            // allocating for it.
            if count.saturating_mul(8) > r.left() {
                return Err(refused(format!(
                    "{count} labels announced, {} bytes left",
                    r.left()
                )));
            }
            let labels = (0..count)
                .map(|_| {
                    let l = r.u64("label")?;
                    usize::try_from(l).map_err(|_| refused(format!("label {l} is too large")))
                })
                .collect::<Result<Vec<_>>>()?;
            let input = r.tensor::<F>("activation")?;
            if input.ndim() == 0 || input.shape()[0] != labels.len() {
                return Err(refused(format!(
                    "an activation of shape {:?} for {} labels (batch {batch})",
                    input.shape(),
                    labels.len()
                )));
            }
            let network_input = match r.u8("network-input flag")? {
                0 => None,
                1 => {
                    let t = r.tensor::<F>("network input")?;
                    if t.ndim() == 0 || t.shape()[0] != labels.len() {
                        return Err(refused(format!(
                            "a network input of shape {:?} for {} labels (batch {batch})",
                            t.shape(),
                            labels.len()
                        )));
                    }
                    Some(Arc::new(t))
                }
                f => return Err(refused(format!("network-input flag {f}, not 0 or 1"))),
            };
            Wire::Actor(Inbound::Up(Activation {
                batch,
                input,
                labels,
                network_input,
            }))
        }
        END => Wire::Actor(Inbound::End),
        DOWN => {
            let batch = r.u64("batch")?;
            let message = r.tensor::<F>("gradient message")?;
            Wire::Actor(Inbound::Down { batch, message })
        }
        GLOBAL => {
            let batch = r.u64("batch")?;
            let error = r.tensor::<F>("global error")?;
            Wire::Actor(Inbound::Global { batch, error })
        }
        CREDIT => Wire::Actor(Inbound::Credit),
        FAILED => Wire::Failed {
            rank: r.u32("rank")?,
            stage: r.str("stage")?,
            reason: r.str("reason")?,
        },
        STEP => Wire::Step(StageStep {
            epoch: r.u64("epoch")?,
            stage: r.usize("stage")?,
            batch: r.u64("batch")?,
            step: r.u64("step")?,
            samples: r.usize("samples")?,
            loss: r.f64("loss")?,
            staleness: r.u64("staleness")?,
            kind: match r.u8("step kind")? {
                0 => StepKind::Update,
                1 => StepKind::LateMessage,
                k => return Err(refused(format!("step kind {k}, not 0 or 1"))),
            },
        }),
        TOP_LOSS => Wire::TopLoss {
            samples: r.u64("samples")?,
            loss: r.f64("loss")?,
        },
        DONE => {
            let stage = r.u32("stage index")?;
            let stats = StageStats {
                stage: r.str("stage")?,
                updates: r.u64("updates")?,
                inputs: r.u64("inputs")?,
                samples: r.usize("samples")?,
                mean_loss: r.f64("mean loss")?,
                staleness_mean: r.f64("staleness mean")?,
                staleness_max: r.u64("staleness max")?,
                message_staleness_mean: match r.u8("message-staleness flag")? {
                    0 => None,
                    1 => Some(r.f64("message staleness")?),
                    f => return Err(refused(format!("message-staleness flag {f}"))),
                },
                peak_in_flight: r.usize("peak in flight")?,
                replay_unused: r.u64("replay unused")?,
                busy: r.f64("busy")?,
                elapsed: r.f64("elapsed")?,
                virtual_time: match r.u8("virtual-time flag")? {
                    0 => false,
                    1 => true,
                    f => return Err(refused(format!("virtual-time flag {f}"))),
                },
                wire: match r.u8("wire-bytes flag")? {
                    0 => None,
                    1 => Some(WireBytes {
                        activations: r.u64("activation bytes")?,
                        gradients: r.u64("gradient bytes")?,
                        global_errors: r.u64("global-error bytes")?,
                        credits: r.u64("credit bytes")?,
                        reports: r.u64("report bytes")?,
                        messages: r.u64("message count")?,
                    }),
                    f => return Err(refused(format!("wire-bytes flag {f}"))),
                },
            };
            Wire::Done {
                stage,
                stats,
                loss_sum: r.f64("loss sum")?,
                samples: r.u64("samples")?,
                state: r.blob("state")?.to_vec(),
            }
        }
        k => return Err(refused(format!("unknown kind {k}"))),
    };
    if r.left() > 0 {
        return Err(refused(format!(
            "{} bytes past the end of a message of kind {kind}",
            r.left()
        )));
    }
    Ok(message)
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn tensor<F: Float>(&mut self, t: &Tensor<F>) {
        let width = std::mem::size_of::<F>();
        self.u8(width as u8);
        self.u8(t.ndim() as u8);
        for &d in t.shape() {
            self.u64(d as u64);
        }
        self.0.reserve(t.len() * width);
        for &v in t.iter() {
            // Through f64, exactly: f32 → f64 → f32 is the identity on finite values.
            if width == 4 {
                self.0.extend_from_slice(&(v.as_f64() as f32).to_le_bytes());
            } else {
                self.0.extend_from_slice(&v.as_f64().to_le_bytes());
            }
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.left() {
            return Err(refused(format!(
                "truncated in the {what}: {n} bytes needed at offset {}, {} left",
                self.at,
                self.left()
            )));
        }
        let slice = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn usize(&mut self, what: &str) -> Result<usize> {
        let v = self.u64(what)?;
        usize::try_from(v).map_err(|_| refused(format!("{what} {v} is too large")))
    }
    fn f64(&mut self, what: &str) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }
    fn blob(&mut self, what: &str) -> Result<&'a [u8]> {
        let n = self.u32(what)? as usize;
        self.take(n, what)
    }
    fn str(&mut self, what: &str) -> Result<String> {
        let b = self.blob(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| refused(format!("the {what} is not UTF-8")))
    }

    fn tensor<F: Float>(&mut self, what: &str) -> Result<Tensor<F>> {
        let width = self.u8(what)? as usize;
        if width != std::mem::size_of::<F>() {
            return Err(refused(format!(
                "the {what} has {width}-byte values, this run uses {} ({})",
                std::mem::size_of::<F>(),
                F::NAME
            )));
        }
        let axes = self.u8(what)? as usize;
        if axes > MAX_AXES {
            return Err(refused(format!(
                "the {what} has {axes} axes, at most {MAX_AXES} are allowed"
            )));
        }
        let mut shape = Vec::with_capacity(axes);
        for _ in 0..axes {
            shape.push(self.usize(what)?);
        }
        let values = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .filter(|&n| n.checked_mul(width).is_some_and(|b| b <= self.left()))
            .ok_or_else(|| {
                refused(format!(
                    "the {what} of shape {shape:?} needs more than the {} bytes left",
                    self.left()
                ))
            })?;
        let raw = self.take(values * width, what)?;
        let data: Vec<F> = if width == 4 {
            raw.chunks_exact(4)
                .map(|c| F::cast(f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64))
                .collect()
        } else {
            raw.chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    F::cast(f64::from_le_bytes(b))
                })
                .collect()
        };
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(refused(format!(
                "the {what} holds a non-finite value at flat index {i}"
            )));
        }
        Tensor::from_shape_vec(IxDyn(&shape), data)
            .map_err(|e| refused(format!("the {what} of shape {shape:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, Dimension};

    fn tensor(shape: &[usize], offset: f64) -> Tensor<f32> {
        ArrayD::from_shape_fn(IxDyn(shape), |i| {
            (i.slice().iter().sum::<usize>() as f64 * 0.37 + offset) as f32
        })
    }

    fn up() -> Wire<f32> {
        Wire::Actor(Inbound::Up(Activation {
            batch: 7,
            input: tensor(&[3, 4], 0.1),
            labels: vec![0, 9, 4],
            network_input: Some(Arc::new(tensor(&[3, 2, 2], -1.5))),
        }))
    }

    fn all() -> Vec<Wire<f32>> {
        vec![
            up(),
            Wire::Actor(Inbound::End),
            Wire::Actor(Inbound::Credit),
            Wire::Actor(Inbound::Down {
                batch: 3,
                message: tensor(&[2, 5], 1e-7),
            }),
            Wire::Actor(Inbound::Global {
                batch: u64::MAX,
                error: tensor(&[2, 10], -3.0),
            }),
            Wire::Failed {
                rank: 2,
                stage: "stage2".into(),
                reason: "non-finite loss ✗".into(),
            },
            Wire::Step(StageStep {
                epoch: 1,
                stage: 2,
                batch: 3,
                step: 4,
                samples: 5,
                loss: 0.25,
                staleness: 6,
                kind: StepKind::LateMessage,
            }),
            Wire::TopLoss {
                samples: 32,
                loss: 2.5,
            },
            Wire::Done {
                stage: 1,
                stats: StageStats {
                    stage: "stage1".into(),
                    updates: 10,
                    inputs: 11,
                    samples: 320,
                    mean_loss: 0.5,
                    staleness_mean: 0.25,
                    staleness_max: 2,
                    message_staleness_mean: Some(1.5),
                    peak_in_flight: 3,
                    replay_unused: 0,
                    busy: 1.25,
                    elapsed: 2.5,
                    virtual_time: false,
                    wire: Some(WireBytes {
                        activations: 1,
                        gradients: 2,
                        global_errors: 3,
                        credits: 4,
                        reports: 5,
                        messages: 6,
                    }),
                },
                loss_sum: 12.0,
                samples: 320,
                state: vec![1, 2, 3, 255],
            },
        ]
    }

    #[test]
    fn every_message_comes_back_as_it_was_sent() {
        for message in all() {
            let bytes = encode(&message);
            let back = decode::<f32>(&bytes).unwrap();
            // Debug shows every field, values included, with their exact digits.
            assert_eq!(format!("{back:?}"), format!("{message:?}"));
        }
    }

    #[test]
    fn encoded_len_is_the_length_of_the_bytes() {
        for message in all().into_iter().chain([Wire::Actor(Inbound::Abort)]) {
            if let Wire::Actor(inbound) = &message {
                assert_eq!(encoded_len(inbound), encode(&message).len(), "{message:?}");
            }
        }
        let f64_down = Wire::Actor(Inbound::Down {
            batch: 1,
            message: ArrayD::<f64>::zeros(IxDyn(&[4, 3])),
        });
        if let Wire::Actor(inbound) = &f64_down {
            assert_eq!(encoded_len(inbound), encode(&f64_down).len());
        }
    }

    #[test]
    fn f64_values_keep_every_bit() {
        let t = ArrayD::from_shape_fn(IxDyn(&[2, 3]), |i| 1.0 / (1 + i[0] * 3 + i[1]) as f64);
        let bytes = encode(&Wire::Actor(Inbound::Down {
            batch: 1,
            message: t.clone(),
        }));
        let Ok(Wire::Actor(Inbound::Down { message, .. })) = decode::<f64>(&bytes) else {
            panic!("not a gradient message");
        };
        assert_eq!(message, t);
    }

    #[test]
    fn every_truncation_and_every_extension_is_refused() {
        for message in all() {
            let bytes = encode(&message);
            for cut in 0..bytes.len() {
                let e = decode::<f32>(&bytes[..cut]).unwrap_err().to_string();
                assert!(e.contains("malformed message"), "{e}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            let e = decode::<f32>(&longer).unwrap_err().to_string();
            assert!(e.contains("bytes past the end"), "{e}");
        }
    }

    #[test]
    fn flipped_bytes_never_panic() {
        // Every byte of every message set to a few values: decode must answer, Ok or Err.
        for message in all() {
            let bytes = encode(&message);
            for i in 0..bytes.len() {
                for v in [0u8, 1, 4, 8, 9, 0x7f, 0xff] {
                    let mut b = bytes.clone();
                    b[i] = v;
                    let _ = decode::<f32>(&b);
                    let _ = decode::<f64>(&b);
                }
            }
        }
    }

    /// The offset of the activation's tensor header in `up()`'s bytes.
    const UP_TENSOR: usize = 4 + 1 + 8 + 4 + 3 * 8;

    #[test]
    fn mis_shaped_tensors_are_refused() {
        let bytes = encode(&up());
        // Labels that do not match the batch dimension.
        let mut b = bytes.clone();
        b[UP_TENSOR + 2] = 2; // first axis 3 → 2: 8 values, 4 bytes... left over
        let e = decode::<f32>(&b).unwrap_err().to_string();
        assert!(e.contains("malformed"), "{e}");
        // A shape whose product overflows.
        let mut b = bytes.clone();
        b[UP_TENSOR + 2..UP_TENSOR + 10].copy_from_slice(&u64::MAX.to_le_bytes());
        let e = decode::<f32>(&b).unwrap_err().to_string();
        assert!(e.contains("needs more than"), "{e}");
        // Too many axes.
        let mut b = bytes.clone();
        b[UP_TENSOR + 1] = 9;
        let e = decode::<f32>(&b).unwrap_err().to_string();
        assert!(e.contains("9 axes"), "{e}");
        // The wrong float type.
        let e = decode::<f64>(&bytes).unwrap_err().to_string();
        assert!(e.contains("4-byte values") && e.contains("f64"), "{e}");
        // A shape consistent with its values but not with the labels.
        let bad = Wire::Actor(Inbound::Up(Activation {
            batch: 1,
            input: tensor(&[2, 6], 0.0),
            labels: vec![1, 2, 3],
            network_input: None,
        }));
        let e = decode::<f32>(&encode(&bad)).unwrap_err().to_string();
        assert!(e.contains("[2, 6] for 3 labels"), "{e}");
    }

    #[test]
    fn non_finite_values_are_refused() {
        let mut t = tensor(&[2, 2], 0.0);
        t[[1, 0]] = f32::NAN;
        let bytes = encode(&Wire::Actor(Inbound::Global { batch: 0, error: t }));
        let e = decode::<f32>(&bytes).unwrap_err().to_string();
        assert!(e.contains("non-finite value at flat index 2"), "{e}");
    }

    #[test]
    fn a_wrong_magic_or_kind_is_refused() {
        let mut b = encode(&Wire::<f32>::Actor(Inbound::End));
        b[4] = 42;
        assert!(decode::<f32>(&b)
            .unwrap_err()
            .to_string()
            .contains("unknown kind 42"));
        b[0] = b'X';
        assert!(decode::<f32>(&b).unwrap_err().to_string().contains("magic"));
    }
}
