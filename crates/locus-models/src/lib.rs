//! Network builders.
//!
//! Each builder turns a configuration into a stack of gradient-isolated
//! [`Stage`](locus_sched::Stage)s, bottom first, ready for any of locus-sched's
//! schedulers: `build(seed, optimizer, objective_for)` draws the weights from `seed`, gives
//! every stage a fresh optimizer and lets `objective_for(i, num_stages)` choose stage `i`'s
//! local objective, so the same network trains end to end or from purely local signals.
//!
//! - [`MlpConfig`]: a multi-layer perceptron, one stage per layer or one for the whole
//!   network ([`StageLayout`]);
//! - [`LeNetConfig`]: a LeNet-5-style convolutional network;
//! - [`ForwardForwardMlp`]: the normalised dense network of Forward-Forward;
//! - [`PatchEncoderConfig`]: an encoder of image patches (Greedy InfoMax, CPC);
//! - [`SequenceEncoderConfig`]: a 1-D convolutional encoder of sequences, one
//!   [`Conv1dStage`] per stage.
//!
//! Errors are locus-sched's [`Error`](locus_sched::Error).
#![warn(missing_docs)]

mod build_stages;
mod ff_mlp;
mod lenet;
mod mlp;
mod patch_encoder;
mod sequence_encoder;

pub use ff_mlp::ForwardForwardMlp;
pub use lenet::LeNetConfig;
pub use mlp::{MlpConfig, StageLayout};
pub use patch_encoder::PatchEncoderConfig;
pub use sequence_encoder::{Conv1dStage, SequenceEncoderConfig};
