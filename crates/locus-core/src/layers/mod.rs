//! Layers: each implements [`Module`](crate::Module).

mod activation;
mod flatten;
mod linear;
mod sequential;

pub use activation::Activation;
pub use flatten::Flatten;
pub use linear::{Linear, LinearConfig};
pub use sequential::Sequential;
