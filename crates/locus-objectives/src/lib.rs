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
//! trained on the message when it arrives. [`Reconstruction`] makes a stage regress its
//! own input through a decoder (autoencoders, SARM), the signal of greedy layer-wise
//! pretraining.
//!
//! Two rules need no message and no global error at all: [`ForwardForward`] (each stage
//! separates positive from negative data by its [`Goodness`]) and [`LocalClassifier`]
//! (decoupled greedy learning: each stage trains a small [`ClassifierHead`] on its output
//! and learns from that head's loss).
//!
//! [`InfoNce`] needs neither labels nor a message: a stage learns by predicting its own
//! representation a few positions ahead against negatives (Greedy InfoMax, CPC). The
//! same loss is available on its own as a mutual-information estimator: [`info_nce`] on a
//! score matrix, [`info_nce_estimate`] on two sets of embeddings and a [`Critic`]. Beside
//! it, on the same critics, the other variational bounds of Poole et al. 2019: NWJ
//! ([`nwj_estimate`]), Donsker–Varadhan ([`dv_estimate`], with MINE's bias-corrected
//! gradient in [`MineState`]) and Deep InfoMax's Jensen–Shannon surrogate ([`js_estimate`]).
//!
//! HSIC, the Hilbert–Schmidt independence criterion, measures the dependence of two
//! representations of one batch through their [`Kernel`] matrices, the signal of the HSIC
//! bottleneck (Ma et al. 2020): [`hsic_biased`] (Gretton et al. 2005), [`hsic_unbiased`]
//! (Song et al. 2012, eq. 5), [`nhsic`] (the cosine-normalised form) and [`nhsic_cca`]
//! (the regularised normalisation of the HSIC bottleneck's code), each with exact
//! gradients: [`hsic_matrix_grad`] with respect to the kernel matrices, [`hsic_with_grad`]
//! with respect to the representation's rows. Each kernel matrix of a batch of `b` rows
//! holds `b²` entries (8 MB in `f64` for `b = 1024`), and the estimators keep several.
//! [`HsicBottleneck`] trains a stage with them: its output should depend on the labels
//! and not on the network's input, the one objective here that
//! [needs the network input](LocalObjective::needs_network_input).
#![warn(missing_docs)]

mod classifier_head;
mod corruption;
mod critic;
mod direct_feedback;
mod forward_forward;
mod goodness;
mod hsic;
mod hsic_bottleneck;
mod hsic_cca;
mod info_nce;
mod info_nce_objective;
mod kernel;
mod local_classifier;
mod mi_bounds;
mod mi_estimate;
mod mine;
mod negatives;
mod objective;
mod reconstruction;
mod reconstruction_loss;
mod ridge;
mod supervised;
mod synthetic_gradient;
mod upstream;

pub use classifier_head::{ClassifierHead, HeadKind, HeadPass};
pub use corruption::Corruption;
pub use critic::{BilinearCritic, Critic, CriticGradients, DotProductCritic};
pub use direct_feedback::{DfaFeedbackInit, DirectFeedback};
pub use forward_forward::{ForwardForward, ForwardForwardConfig};
pub use goodness::Goodness;
pub use hsic::{
    hsic_biased, hsic_matrix_grad, hsic_unbiased, hsic_with_grad, nhsic, HsicEstimator,
    HsicGradients,
};
pub use hsic_bottleneck::{BottleneckKernel, HsicBottleneck, HsicBottleneckConfig};
pub use hsic_cca::nhsic_cca;
pub use info_nce::{info_nce, InfoNceBound, Positives};
pub use info_nce_objective::{InfoNce, InfoNceConfig};
pub use kernel::{kernel_grad, kernel_matrix, Kernel};
pub use local_classifier::{LocalClassifier, LocalClassifierConfig};
pub use mi_bounds::{
    dv_bound, dv_estimate, js_bound, js_estimate, nwj_bound, nwj_estimate, CriticBound,
};
pub use mi_estimate::{info_nce_estimate, MiEstimate};
pub use mine::MineState;
pub use negatives::NegativeSampling;
pub use objective::{LocalObjective, LocalSignal, Mode, StageContext};
pub use reconstruction::{Decoder, Reconstruction, ReconstructionConfig};
pub use reconstruction_loss::ReconstructionLoss;
pub use supervised::SupervisedLoss;
pub use synthetic_gradient::{SgModel, SgTarget, SyntheticGradient, SyntheticGradientConfig};
pub use upstream::UpstreamGradient;
