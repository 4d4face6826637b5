//! Layers: each implements [`Module`](crate::Module).

mod activation;
mod linear;
mod sequential;

pub use activation::Activation;
pub use linear::{Linear, LinearConfig};
pub use sequential::Sequential;
