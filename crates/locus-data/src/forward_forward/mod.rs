//! Positive and negative data for Forward-Forward (Hinton 2022, "The Forward-Forward
//! Algorithm: Some Preliminary Investigations").
//!
//! A Forward-Forward layer learns to give high goodness to *positive* (real) data and low
//! goodness to *negative* data. This module makes both, batch by batch:
//!
//! - supervised ([`NegativeData::WrongLabel`]): the one-hot label is written into each
//!   sample ([`LabelEmbedding`]); positives carry the true label, negatives the same
//!   sample with a label drawn among the *other* classes ([`wrong_label`]; never the true
//!   one, unlike a shuffle of the batch's labels);
//! - unsupervised ([`NegativeData::Hybrid`]): positives are the samples themselves,
//!   negatives are hybrids of two different samples through a mask of large regions
//!   made by blurring random bits ([`hybrid_mask`], [`hybrid`]).
//!
//! [`positive_negative_batch`] puts the positives first and as many negatives after
//! them, the layout `locus_objectives::ForwardForward` expects.

mod batch;
mod hybrid;
mod label_embedding;
mod wrong_label;

pub use batch::{positive_negative_batch, NegativeData};
pub use hybrid::{hybrid, hybrid_mask, MaskConfig};
pub use label_embedding::{LabelEmbedding, LabelPlacement};
pub use wrong_label::{wrong_label, wrong_labels};
