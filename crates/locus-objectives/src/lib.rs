//! Local objectives: what a gradient-isolated stage learns from.
//!
//! A [`LocalObjective`] looks at one stage's [`StageContext`] (its input, its output, the
//! labels, a global error, a gradient message from the stage above) and returns a
//! [`LocalSignal`]: a loss and the gradient of that loss with respect to the stage's
//! output. The stage's module turns that gradient into weight updates.
//!
//! End-to-end backpropagation is the special case where every stage but the top one uses
//! [`UpstreamGradient`] (backward-locked: it waits for the message from above) and the top
//! one uses [`SupervisedLoss`]. Feedback alignment and sign symmetry keep that pairing and
//! change only the layers' backward rule (`locus_core::FeedbackRule`); direct feedback
//! alignment replaces the message by [`DirectFeedback`], a fixed random projection of the
//! output error. [`SyntheticGradient`] (DNI, cDNI) replaces it by a learned prediction,
//! trained on the message when it arrives.
//!
//! [`InfoNce`] needs neither labels nor a message: a stage learns by predicting its own
//! representation a few positions ahead against negatives (Greedy InfoMax, CPC). The
//! same loss is available on its own as a mutual-information estimator: [`info_nce`] on a
//! score matrix, [`info_nce_estimate`] on two sets of embeddings and a [`Critic`].
#![warn(missing_docs)]

mod critic;
mod direct_feedback;
mod info_nce;
mod info_nce_objective;
mod mi_estimate;
mod negatives;
mod objective;
mod supervised;
mod synthetic_gradient;
mod upstream;

pub use critic::{BilinearCritic, Critic, CriticGradients, DotProductCritic};
pub use direct_feedback::DirectFeedback;
pub use info_nce::{info_nce, InfoNceBound, Positives};
pub use info_nce_objective::{InfoNce, InfoNceConfig};
pub use mi_estimate::{info_nce_estimate, MiEstimate};
pub use negatives::NegativeSampling;
pub use objective::{LocalObjective, LocalSignal, Mode, StageContext};
pub use supervised::SupervisedLoss;
pub use synthetic_gradient::{SgModel, SyntheticGradient, SyntheticGradientConfig};
pub use upstream::UpstreamGradient;
