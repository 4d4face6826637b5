//! Layers: each implements [`Module`](crate::Module).

mod activation;
mod batch_norm;
mod conv1d;
mod conv2d;
mod feedback;
mod flatten;
mod layer_norm;
mod linear;
mod lstm;
mod lstm_unroll;
mod params;
mod patches;
mod pool;
mod reshape;
mod sequential;
mod sparse_coding;
mod window;

pub use activation::Activation;
pub use batch_norm::{BatchNorm1d, BatchNormConfig};
pub use conv1d::{Conv1d, Conv1dConfig};
pub use conv2d::{Conv2d, Conv2dConfig};
pub use feedback::{Feedback, FeedbackRule};
pub use flatten::Flatten;
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use linear::{Linear, LinearConfig};
pub use lstm::{LstmCell, LstmConfig, LstmState, LstmStepCache, LstmStepGradients};
pub use lstm_unroll::{LstmUnroll, LstmUnrollGradients};
pub use patches::Patches;
pub use pool::{AvgPool2d, MaxPool2d, Pool2dConfig};
pub use reshape::Reshape;
pub use sequential::Sequential;
pub use sparse_coding::{SparseCoding, SparseCodingConfig};
